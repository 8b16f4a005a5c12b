"""The course's submission CSV: images <-> one row per pixel, one column per test image; validation.

Layout (what ``ganflow export`` writes, ``ganflow answer_key`` writes for staff, ``ganflow grade``
reads)::

    id,<test id 1>,<test id 2>,...,<test id n>      header: "id", then the test images' ids in
    0,0.512345,0.498765,...                          test-set order (sorted file names)
    1,...
    ...
    H*W*C - 1,...

One data row per pixel value: the row-major (C-order) flattening of each H x W (x C) image, so
the pixel at (row r, column c) has id ``r*W + c``; for RGB images the id is ``(r*W + c)*3 + k``
with channel k in R, G, B order.  Values are grey levels in [0, 1].  This is the course's own
recipe -- predictions (n, M, N) reshaped to (n, M*N) and transposed to (M*N, n) -- with the
pandas index written as a column named "id" and the columns named by image.  What pandas'
``to_csv`` writes by default (an unnamed index column, columns named 0..n-1) is accepted too.

Reading a submission treats it as data only (no pickle, no eval) and in bounded memory: the file
is opened without following links, its size limit checked before a byte is read, then streamed
one line at a time (report/bounded_lines.py) with a byte bound per line derived from the layout
(``MAX_CELL_BYTES`` per field), each line checked as strict UTF-8 and for its field count, and the
numbers parsed by pandas' C parser at float64, ``BLOCK_LINES`` lines at a time, into an array the
layout sizes.  Far more rows than pixels are counted, not kept.  When the fast parser refuses a
block, a per-cell pass names the lines and columns at fault.  Every problem is a ``Finding``; a
file with any "error" finding yields no images.

Lines are numbered as a text editor shows them: the header is line 1, pixel id 0 is line 2.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ganflow.atomic import write_text
from ganflow.report.bounded_lines import BoundedLines, LineProblem
from ganflow.data.images import list_images

ID = "id"
ERROR, INTEGRITY, REVIEW, NOTE = "error", "integrity", "review", "note"
MAX_LISTED = 5          # positions quoted in one finding's message
MAX_SCANNED = 1000      # bad cells the slow pass collects before it stops counting; extra rows looked at
MAX_CELL_BYTES = 40     # the widest field a data row may hold (a full float64 repr is 22; quotes, spaces)
BLOCK_LINES = 4096      # data lines handed to the C parser at a time: bounds the memory of parsing
DECIMALS = 6            # written precision: 5e-7 at most per pixel, far below any RMSE that matters
NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
FORBIDDEN_IN_IDS = set(',"\r\n')


@dataclass(frozen=True)
class Finding:
    """One thing a check found. ``where`` names the line, column or file; ``evidence`` holds numbers."""
    code: str
    severity: str  # error: invalid, score 0 | integrity: valid but scores 0 | review: flagged | note: accepted
    where: str
    message: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Layout:
    """What a valid submission looks like: the test ids (columns) and each image's shape."""
    ids: tuple[str, ...]
    height: int
    width: int
    channels: int = 1

    def __post_init__(self):
        if not self.ids:
            raise ValueError("layout: no test images")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"layout: duplicate test ids {sorted({i for i in self.ids if self.ids.count(i) > 1})}")
        for i in self.ids:
            if i == ID or i != i.strip() or not i or FORBIDDEN_IN_IDS & set(i):
                raise ValueError(f"layout: test id {i!r} cannot be a CSV column name (reserved, blank, "
                                 "or holds a comma, quote or line break)")
        if self.channels not in (1, 3):
            raise ValueError(f"layout: channels must be 1 or 3, got {self.channels}")

    @property
    def n_rows(self) -> int:
        return self.height * self.width * self.channels

    @property
    def header(self) -> list[str]:
        return [ID, *self.ids]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (self.height, self.width) if self.channels == 1 else (self.height, self.width, self.channels)

    @classmethod
    def of(cls, images: np.ndarray, ids) -> "Layout":
        arr = np.asarray(images)
        if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in (1, 3)):
            raise ValueError(f"images must be (n, H, W) or (n, H, W, 3), got shape {arr.shape}")
        if len(ids) != arr.shape[0]:
            raise ValueError(f"{len(ids)} ids for {arr.shape[0]} images")
        return cls(tuple(str(i) for i in ids), arr.shape[1], arr.shape[2], 1 if arr.ndim == 3 else arr.shape[3])

    def to_dict(self) -> dict:
        return {"ids": list(self.ids), "height": self.height, "width": self.width, "channels": self.channels}

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls(tuple(d["ids"]), int(d["height"]), int(d["width"]), int(d.get("channels", 1)))


@dataclass
class Parsed:
    """A read submission: its images (n, H, W[, C]) float32 when valid, else None; and every finding."""
    images: np.ndarray | None
    findings: list[Finding]
    file: dict = field(default_factory=dict)  # size_bytes and sha256 of what was read, when a file was read

    @property
    def ok(self) -> bool:
        return self.images is not None


# ---------------------------------------------------------------------------------------- writing

def ordered_test_ids(folder: Path | str) -> list[str]:
    """Test-set order: the images' file names (without suffix), sorted, as every stage loads them."""
    return [p.stem for p in list_images(Path(folder))]


def reorder(images: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    """``images`` (listed in order ``have``) rearranged into order ``want``; the two sets must agree."""
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra or len(have) != len(set(have)):
        raise ValueError(f"image ids do not match the test set: missing {missing[:10]}, unexpected {extra[:10]}"
                         + (", duplicates" if len(have) != len(set(have)) else ""))
    pos = {i: k for k, i in enumerate(have)}
    return np.asarray(images)[[pos[i] for i in want]]


def images_to_frame(images: np.ndarray, ids) -> pd.DataFrame:
    """(n, H, W[, C]) images in [0, 1] -> the submission frame: id column + one column per image."""
    layout = Layout.of(images, ids)
    arr = np.asarray(images, dtype=np.float64).reshape(len(layout.ids), -1)
    if not np.isfinite(arr).all():
        raise ValueError("images hold NaN or inf")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"image values must lie in [0, 1], found [{arr.min():.6g}, {arr.max():.6g}]")
    frame = pd.DataFrame(arr.T, columns=list(layout.ids))
    frame.insert(0, ID, np.arange(layout.n_rows))
    return frame


def frame_to_images(frame: pd.DataFrame, layout: Layout) -> np.ndarray:
    """The inverse of images_to_frame: rows ordered by id, columns by the layout's ids."""
    if list(frame.columns) != layout.header:
        raise ValueError(f"frame columns {list(frame.columns)[:4]}... differ from {layout.header[:4]}...")
    values = frame.sort_values(ID)[list(layout.ids)].to_numpy(dtype=np.float32)
    if values.shape[0] != layout.n_rows:
        raise ValueError(f"{values.shape[0]} rows, expected {layout.n_rows}")
    return values.T.reshape(len(layout.ids), *layout.image_shape)


def to_csv_text(images: np.ndarray, ids) -> str:
    return images_to_frame(images, ids).to_csv(index=False, float_format=f"%.{DECIMALS}f", lineterminator="\n")


def write_submission(path: Path | str, images: np.ndarray, ids) -> None:
    """Write the submission CSV atomically (UTF-8, LF line ends, a final newline)."""
    write_text(path, to_csv_text(images, ids))


# ---------------------------------------------------------------------------------------- reading

def read_submission(path: Path | str, layout: Layout, max_bytes: int, follow_links: bool = False) -> Parsed:
    """Validate and read one submission file; never raises for bad content, only reports it.

    The file is opened without following a symbolic link (``O_NOFOLLOW``) and without blocking on a
    pipe, and its type and size are checked on the open descriptor, so what is checked is what is
    read.  The size limit is checked before a byte is read.  ``follow_links`` is for the staff's own
    files (DVC may check the answer key out as a link into its cache), never for submissions.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return Parsed(None, [Finding("symlink_refused", ERROR, "file",
                                         "a symbolic link: links are never followed; hand in the file itself")])
        if e.errno == errno.EISDIR:
            return Parsed(None, [Finding("not_a_file", ERROR, "file", "not a regular file (a folder, device or pipe)")])
        return Parsed(None, [Finding("unreadable", ERROR, "file", f"cannot read the file: {e.strerror}")])
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return Parsed(None, [Finding("not_a_file", ERROR, "file", "not a regular file (a folder, device or pipe)")])
    with os.fdopen(fd, "rb", buffering=1 << 16) as f:
        if st.st_size > max_bytes:
            # Checked before reading a byte: the limit bounds the parser's time.
            return Parsed(None, [Finding("file_too_large", ERROR, "file",
                                         f"{st.st_size:,} bytes, over the limit of {max_bytes:,}",
                                         {"size_bytes": st.st_size, "limit_bytes": max_bytes})])
        parsed = parse_stream(f, layout, max_bytes)
        # Hashed from the same open descriptor: what is recorded is what was parsed, even if the
        # name is swapped for a link meanwhile.
        f.seek(0)
        digest, size = hashlib.sha256(), 0
        while size <= max_bytes and (chunk := f.read(1 << 20)):
            digest.update(chunk)
            size += len(chunk)
        parsed.file = {"size_bytes": size, "sha256": digest.hexdigest()}
        return parsed


def parse_submission(data: bytes, layout: Layout) -> Parsed:
    """Validate the bytes of one submission against ``layout``; the images if valid, and every finding."""
    return parse_stream(io.BytesIO(data), layout, None)


def _listing(items: list[str], total: int) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {total - MAX_LISTED} more" if total > MAX_LISTED else "")


def _is_number(cell: str) -> bool:
    return NUMBER.fullmatch(cell) is not None


def _header(line: str, layout: Layout) -> tuple[int, int, list[int] | None, list[Finding]]:
    """(index of the first data line, fields per row the header announces, column order as
    positions into layout.ids, findings)."""
    try:
        head = next(csv.reader([line]), [])
    except csv.Error as e:  # the line is bounded, so this is a malformed quote, not a huge cell
        return 1, 1, None, [Finding("wrong_header", ERROR, "line 1", f"line 1 is not a CSV header: {e}")]
    n, expected = len(layout.ids), layout.header
    if all(_is_number(c) for c in head):
        return 0, len(expected), None, [Finding("missing_header", ERROR, "line 1",
                                 f"line 1 holds numbers, not the header; the first line must be "
                                 f"'{','.join(expected[:3])},...' (id, then the {n} test ids)")]
    if len(head) == 1 and ";" in line:
        return 1, line.count(",") + 1, None, [Finding("wrong_header", ERROR, "line 1",
                                 "fields separated by ';' (a spreadsheet's regional setting): use ','",
                                 {"header": line[:200]})]
    names = [h.strip() for h in head]
    if len(names) != len(expected):
        unknown = [h for h in names[1:] if h not in layout.ids]
        absent = [i for i in layout.ids if i not in names]
        return 1, len(names), None, [Finding("wrong_column_count", ERROR, "line 1",
                                 f"the header has {len(names)} columns, expected {len(expected)} (id + {n} test "
                                 f"images); missing: {_listing(absent, len(absent)) or 'none'}; "
                                 f"unexpected: {_listing(unknown, len(unknown)) or 'none'}",
                                 {"columns": len(names), "expected": len(expected),
                                  "missing": absent, "unexpected": unknown[:50]})]
    found = []
    if names[0] == "":
        found.append(Finding("unnamed_id_column", NOTE, "line 1, column 1",
                             "the id column has no name (pandas' default index header) (accepted)"))
    elif names[0] != ID:
        found.append(Finding("wrong_header", ERROR, "line 1, column 1",
                             f"column 1 is named {names[0]!r}; it must be {ID!r} (the pixel id)"))
    rest = names[1:]
    if rest == list(layout.ids):
        order = list(range(n))
    elif rest == [str(k) for k in range(n)]:
        order = list(range(n))
        found.append(Finding("positional_header", NOTE, "line 1",
                             f"image columns named 0..{n - 1} (pandas' default): read in test-set order (accepted)"))
    elif sorted(rest) == sorted(layout.ids) and len(set(rest)) == n:
        order = [layout.ids.index(h) for h in rest]
        found.append(Finding("columns_reordered", NOTE, "line 1",
                             "image columns in another order than the test set: matched by name (accepted)"))
    else:
        order = None
        bad = [f"column {k + 2} {h!r}" for k, h in enumerate(rest) if h not in layout.ids or rest.count(h) > 1]
        absent = [i for i in layout.ids if i not in rest]
        found.append(Finding("wrong_header", ERROR, "line 1",
                             f"image columns do not match the test ids: {_listing(bad, len(bad))} "
                             f"(unknown or repeated); missing: {_listing(absent, len(absent)) or 'none'}",
                             {"unknown_or_repeated": bad[:50], "missing": absent}))
    return 1, len(expected), order, found


def _column_name(j: int, layout: Layout, order: list[int] | None) -> str:
    if j == 0:
        return f"column 1 ({ID})"
    name = layout.ids[order[j - 1]] if order is not None else None
    return f"column {j + 1}" + (f" ({name})" if name else "")


class _CellScan:
    """The slow pass over rows the fast parser refused: which cells are not numbers, which are NaN or
    infinite.  It stops looking after MAX_SCANNED bad cells, over all the blocks it is given."""

    def __init__(self, layout: Layout, order):
        self.layout, self.order = layout, order
        self.bad: dict[str, list[str]] = {"non_numeric": [], "non_finite": []}
        self.count = {"non_numeric": 0, "non_finite": 0}

    @property
    def full(self) -> bool:
        return sum(self.count.values()) >= MAX_SCANNED

    def scan(self, lines: list[bytes], first_line: int) -> None:
        for i, raw in enumerate(lines):
            if self.full:
                return
            for j, cell in enumerate(raw.decode("utf-8").split(",")):
                c = cell.strip()
                if len(c) >= 2 and c[0] == c[-1] == '"':
                    c = c[1:-1].strip()
                if _is_number(c):
                    continue
                kind = "non_finite" if c.lower() in NON_FINITE else "non_numeric"
                self.count[kind] += 1
                if len(self.bad[kind]) < MAX_LISTED:
                    self.bad[kind].append(f"line {first_line + i}, {_column_name(j, self.layout, self.order)}: "
                                          f"{cell[:20]!r}")

    def findings(self) -> list[Finding]:
        found, more = [], "+" if self.full else ""
        for kind, what in (("non_numeric", "are not numbers"), ("non_finite", "are NaN or infinite")):
            if self.count[kind]:
                found.append(Finding(kind, ERROR, self.bad[kind][0].split(":")[0],
                                     f"{self.count[kind]}{more} cells {what}: "
                                     f"{_listing(self.bad[kind], self.count[kind])}",
                                     {"count": self.count[kind], "cells": self.bad[kind]}))
        return found


def _positions(mask: np.ndarray, first_line: int, layout: Layout, order) -> tuple[list[str], int]:
    where = np.argwhere(mask)
    return [f"line {first_line + i}, {_column_name(j, layout, order)}" for i, j in where[:MAX_LISTED]], len(where)


def _value_findings(arr: np.ndarray, first_line: int, layout: Layout, order) -> list[Finding]:
    """Checks on the parsed numbers: finite, ids 0..R-1 each once, values in [0, 1]."""
    found = []
    finite = np.isfinite(arr)
    if not finite.all():
        shown, total = _positions(~finite, first_line, layout, order)
        found.append(Finding("non_finite", ERROR, shown[0], f"{total} cells are NaN or infinite: "
                             f"{_listing(shown, total)}", {"count": total, "cells": shown}))
    ids = arr[:, 0]
    ok_ids = np.isfinite(ids) & (ids == np.round(ids)) & (ids >= 0) & (ids < layout.n_rows)
    if not ok_ids.all():
        rows = np.flatnonzero(~ok_ids)
        shown = [f"line {first_line + i}: {ids[i]:g}" for i in rows[:MAX_LISTED]]
        found.append(Finding("bad_ids", ERROR, f"line {first_line + rows[0]}, column 1 ({ID})",
                             f"{len(rows)} ids are not whole numbers in 0..{layout.n_rows - 1}: "
                             f"{_listing(shown, len(rows))}", {"count": int(len(rows)), "cells": shown}))
    else:
        ints = ids.astype(np.int64)
        seen = np.bincount(ints, minlength=layout.n_rows)
        dup = np.flatnonzero(seen > 1)
        if dup.size:
            lines = {int(v): [first_line + int(i) for i in np.flatnonzero(ints == v)[:3]] for v in dup[:MAX_LISTED]}
            shown = [f"id {v} on lines {', '.join(map(str, ls))}" for v, ls in lines.items()]
            found.append(Finding("duplicate_ids", ERROR, f"line {lines[int(dup[0])][1]}, column 1 ({ID})",
                                 f"{dup.size} ids appear more than once: {_listing(shown, dup.size)}",
                                 {"count": int(dup.size), "ids": [int(v) for v in dup[:50]]}))
        missing = np.flatnonzero(seen == 0)
        if missing.size:
            found.append(Finding("missing_ids", ERROR, f"column 1 ({ID})",
                                 f"{missing.size} pixel ids are missing: "
                                 f"{_listing([str(v) for v in missing[:MAX_LISTED]], missing.size)}",
                                 {"count": int(missing.size), "ids": [int(v) for v in missing[:50]]}))
    values = arr[:, 1:]
    outside = finite[:, 1:] & ((values < 0) | (values > 1))
    if outside.any():
        shown, total = _positions(np.pad(outside, ((0, 0), (1, 0))), first_line, layout, order)
        found.append(Finding("out_of_range", ERROR, shown[0],
                             f"{total} values lie outside [0, 1] (range found: {np.nanmin(values[finite[:, 1:]]):.6g} "
                             f"to {np.nanmax(values[finite[:, 1:]]):.6g}): {_listing(shown, total)}; rescale a "
                             "tanh output with (x + 1) / 2", {"count": total, "cells": shown}))
    return found


def _line_bounds(layout: Layout) -> tuple[int, int]:
    """(longest header line, longest data line) in bytes that a submission of ``layout`` may hold.

    The header: every id quoted and padded, with room to spare for a misspelt one.  A data row:
    ``MAX_CELL_BYTES`` per field (a float64 written in full, "1.1102230246251565e-16", is 22).
    """
    header = 2 * sum(len(i.encode("utf-8")) + 4 for i in layout.header) + 256
    return header, MAX_CELL_BYTES * (len(layout.header) + 1)


class _Rows:
    """The data rows, as they stream past: structure checks per line, values parsed by pandas' C
    parser one block of lines at a time into an array whose size the layout fixes."""

    def __init__(self, layout: Layout, n_fields: int, order):
        self.layout, self.n_fields = layout, n_fields
        self.values = np.empty((layout.n_rows, n_fields), dtype=np.float64)
        self.rows = 0                  # data rows seen (blank lines inside the data count as rows)
        self.first_line = None
        # Blank lines not yet known to be inside the data (a run: its first line and its length;
        # never a list, or 67 M line feeds would cost gigabytes).
        self.pending_first, self.pending = 0, 0
        self.blank: list[int] = []
        self.n_blank = 0
        self.ragged: list[str] = []
        self.n_ragged = 0
        self.block: list[bytes] = []
        self.block_line = 0
        self.cells = _CellScan(layout, order)
        self.unparseable: str | None = None

    @property
    def broken(self) -> bool:
        return bool(self.n_blank or self.n_ragged)

    def add(self, number: int, line: bytes) -> None:
        if self.first_line is None:
            self.first_line = number
        if not line.strip():
            if not self.pending:
                self.pending_first = number
            self.pending += 1
            return
        if self.pending:  # blank lines followed by data: inside the data
            self.n_blank += self.pending
            take = max(0, 50 - len(self.blank))
            self.blank += list(range(self.pending_first, self.pending_first + min(take, self.pending)))
            self.rows += self.pending
            self.pending = 0
        self.rows += 1
        commas = line.count(b",")
        if commas != self.n_fields - 1:
            self.n_ragged += 1
            if len(self.ragged) < 50:
                self.ragged.append(f"line {number} has {commas + 1}")
        if self.broken or self.rows > self.layout.n_rows:
            self.block = []    # values are only parsed while the structure is right
            return
        if not self.block:
            self.block_line = number
        self.block.append(line)
        if len(self.block) >= BLOCK_LINES:
            self.flush()

    def flush(self) -> None:
        if not self.block or self.broken:
            self.block = []
            return
        at = self.rows - len(self.block)  # index of the block's first row
        try:
            arr = pd.read_csv(io.BytesIO(b"\n".join(self.block)), header=None, dtype=np.float64, engine="c",
                              na_filter=False, skip_blank_lines=False).to_numpy()
            if arr.shape != (len(self.block), self.n_fields):
                raise ValueError(f"{arr.shape[0]} x {arr.shape[1]} values in a block of {len(self.block)} lines")
            self.values[at:at + len(self.block)] = arr
        except (ValueError, pd.errors.ParserError) as e:
            self.cells.scan(self.block, self.block_line)
            if not (self.cells.count["non_numeric"] or self.cells.count["non_finite"]):
                self.unparseable = self.unparseable or f"lines {self.block_line}-{self.block_line + len(self.block) - 1}: {e}"
        self.block = []


def parse_stream(f, layout: Layout, max_bytes: int | None) -> Parsed:
    """Validate one submission read from the binary stream ``f``, in memory bounded by the layout."""
    header_bound, row_bound = _line_bounds(layout)
    lines = BoundedLines(f, header_bound, max_bytes)
    notes: list[Finding] = []

    def with_notes(found: list[Finding]) -> list[Finding]:
        early = []
        if lines.bom:
            early.append(Finding("utf8_bom", NOTE, "line 1", "starts with a UTF-8 byte-order mark (accepted)"))
        if lines.crlf:
            early.append(Finding("crlf_line_ends", NOTE, "file", "Windows line ends (CRLF) (accepted)"))
        return early + found

    head, rows, extra_lines, content = None, None, 0, False
    found: list[Finding] = []
    try:
        for number, line in lines:
            content = content or bool(line.strip())
            if head is None:
                head = _header(line.decode("utf-8"), layout)
                start, n_fields, order, found = head
                lines.max_line = max(row_bound, MAX_CELL_BYTES * (n_fields + 1))
                rows = _Rows(layout, n_fields, order)
                if start == 1:
                    continue
            rows.add(number, line)
            if rows.rows + rows.pending > layout.n_rows + MAX_SCANNED:
                # Far more rows than pixels: count the rest without looking at them.
                extra_lines = lines.count_rest()
                break
    except LineProblem as p:
        return Parsed(None, with_notes(found + [Finding(p.code, ERROR, p.where, p.message, p.evidence)]))
    if lines.number == 0:
        return Parsed(None, [Finding("empty_file", ERROR, "file", "the file is empty (0 bytes)")])
    if not content and not extra_lines:
        return Parsed(None, [Finding("empty_file", ERROR, "file", "the file holds only blank lines")])
    rows.flush()
    start = head[0]
    n_rows = rows.rows + extra_lines
    if extra_lines:  # counted without being looked at: blank or not, each is a row
        rows.rows += rows.pending
    elif rows.pending:
        notes.append(Finding("trailing_blank_lines", NOTE, f"line {rows.pending_first}",
                             f"{rows.pending} blank line(s) at the end (ignored)"))
    found = with_notes(notes + found)
    first_line = start + 1 if start == 1 else 1
    if n_rows != layout.n_rows:
        last = first_line + n_rows - 1
        found.append(Finding("wrong_row_count", ERROR, f"line {last}",
                             f"{'at least ' if extra_lines else ''}{n_rows:,} data rows, expected {layout.n_rows} "
                             f"(one per pixel of a {' x '.join(map(str, layout.image_shape))} image)",
                             {"rows": n_rows, "expected": layout.n_rows}))
    if rows.n_blank:
        found.append(Finding("blank_lines", ERROR, f"line {rows.blank[0]}",
                             f"{rows.n_blank} blank lines inside the data: lines "
                             f"{_listing(list(map(str, rows.blank)), rows.n_blank)}", {"lines": rows.blank}))
    if rows.n_ragged:
        found.append(Finding("wrong_field_count", ERROR, rows.ragged[0].split(" has")[0],
                             f"{rows.n_ragged} rows do not have the header's {rows.n_fields} values: "
                             f"{_listing(rows.ragged, rows.n_ragged)}", {"count": rows.n_ragged, "lines": rows.ragged[:MAX_LISTED]}))
    if any(f.severity == ERROR for f in found):
        return Parsed(None, found)  # values are only checked once the structure is right
    cells = rows.cells.findings()
    if cells or rows.unparseable:
        return Parsed(None, found + (cells or [Finding("unparseable", ERROR, "file", f"could not parse: {rows.unparseable}")]))
    arr = rows.values
    order = head[2]
    found += _value_findings(arr, first_line, layout, order)
    if any(f.severity == ERROR for f in found):
        return Parsed(None, found)

    sort = np.argsort(arr[:, 0], kind="stable")
    if (sort != np.arange(len(sort))).any():
        found.append(Finding("rows_reordered", NOTE, f"column 1 ({ID})", "rows not in id order: matched by id (accepted)"))
    values = arr[sort, 1:]
    images = np.empty((len(layout.ids), layout.n_rows), dtype=np.float32)
    images[order] = values.T
    return Parsed(images.reshape(len(layout.ids), *layout.image_shape), found)
