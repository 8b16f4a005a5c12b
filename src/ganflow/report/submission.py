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

Reading a submission treats it as data only (no pickle, no eval) and is bounded: the size limit
is checked before a byte is read, the file is decoded as strict UTF-8, the header is split by the
csv module, and the numbers are parsed by pandas' C parser at an explicit float64 dtype.  When
that fast path fails, a per-cell pass names the lines and columns at fault.  Every problem is a
``Finding``; a file with any "error" finding yields no images.

Lines are numbered as a text editor shows them: the header is line 1, pixel id 0 is line 2.
"""
from __future__ import annotations

import csv
import io
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ganflow.atomic import write_text
from ganflow.data.images import list_images

ID = "id"
ERROR, INTEGRITY, REVIEW, NOTE = "error", "integrity", "review", "note"
MAX_LISTED = 5          # positions quoted in one finding's message
MAX_SCANNED = 1000      # bad cells the slow pass collects before it stops counting
DECIMALS = 6            # written precision: 5e-7 at most per pixel, far below any RMSE that matters
BOM = b"\xef\xbb\xbf"
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

def read_submission(path: Path | str, layout: Layout, max_bytes: int) -> Parsed:
    """Validate and read one submission file; never raises for bad content, only reports it."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        return Parsed(None, [Finding("unreadable", ERROR, "file", f"cannot read the file: {e.strerror}")])
    if not stat.S_ISREG(st.st_mode):
        return Parsed(None, [Finding("not_a_file", ERROR, "file", "not a regular file (a folder, device or pipe)")])
    if st.st_size > max_bytes:
        # Checked before reading a byte: the limit bounds the parser's time and memory.
        return Parsed(None, [Finding("file_too_large", ERROR, "file",
                                     f"{st.st_size:,} bytes, over the limit of {max_bytes:,}",
                                     {"size_bytes": st.st_size, "limit_bytes": max_bytes})])
    chunks, size = [], 0
    with open(path, "rb") as f:
        while size <= max_bytes and (chunk := f.read(min(1 << 20, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # grew after the stat
        return Parsed(None, [Finding("file_too_large", ERROR, "file", f"over the limit of {max_bytes:,} bytes",
                                     {"limit_bytes": max_bytes})])
    return parse_submission(data, layout)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _listing(items: list[str], total: int) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {total - MAX_LISTED} more" if total > MAX_LISTED else "")


def _decode(data: bytes) -> tuple[str | None, list[Finding]]:
    """Bytes -> text, or the finding that says why not; spreadsheet harmless variations noted."""
    if not data:
        return None, [Finding("empty_file", ERROR, "file", "the file is empty (0 bytes)")]
    for bom, name in ((b"\xff\xfe", "UTF-16 little-endian"), (b"\xfe\xff", "UTF-16 big-endian")):
        if data.startswith(bom):
            return None, [Finding("not_utf8", ERROR, "file", f"encoded as {name} (byte-order mark "
                                  f"{bom.hex(' ').upper()}); save the CSV as UTF-8", {"encoding": name})]
    nul = data.find(b"\0")
    if nul >= 0:
        return None, [Finding("binary_file", ERROR, f"line {_line_of(data, nul)}",
                              f"binary content (a NUL byte at byte {nul}): not a text CSV file "
                              "(an Excel workbook, a NumPy file, a zip?)", {"offset": nul})]
    found = []
    if data.startswith(BOM):
        found.append(Finding("utf8_bom", NOTE, "line 1", "starts with a UTF-8 byte-order mark (accepted)"))
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        byte = data[e.start:e.start + 1].hex().upper()
        return None, found + [Finding("not_utf8", ERROR, f"line {_line_of(data, e.start)}",
                                      f"not UTF-8: byte 0x{byte} at line {_line_of(data, e.start)} "
                                      f"(byte {e.start}); save the CSV as UTF-8", {"offset": e.start})]
    return text, found


def _split_lines(text: str) -> tuple[list[str] | None, list[Finding]]:
    found = []
    if "\r\n" in text:
        found.append(Finding("crlf_line_ends", NOTE, "file", "Windows line ends (CRLF) (accepted)"))
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        line = text.count("\n", 0, text.index("\r")) + 1
        return None, found + [Finding("bad_line_ends", ERROR, f"line {line}",
                                      f"a carriage return without a line feed at line {line} (old Mac line "
                                      "ends?); save with LF or CRLF line ends")]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it is not a line of its own
    blank_tail = 0
    while lines and not lines[-1].strip():
        lines.pop()
        blank_tail += 1
    if not lines:
        return None, [Finding("empty_file", ERROR, "file", "the file holds only blank lines")]
    if blank_tail:
        found.append(Finding("trailing_blank_lines", NOTE, f"line {len(lines) + 1}",
                             f"{blank_tail} blank line(s) at the end (ignored)"))
    return lines, found


def _is_number(cell: str) -> bool:
    return NUMBER.fullmatch(cell) is not None


def _header(line: str, layout: Layout) -> tuple[int, int, list[int] | None, list[Finding]]:
    """(index of the first data line, fields per row the header announces, column order as
    positions into layout.ids, findings)."""
    head = next(csv.reader([line]))
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


def _cell_findings(body: list[str], first_line: int, layout: Layout, order) -> list[Finding]:
    """The slow pass: which cells are not numbers, and which are NaN / inf (bounded by MAX_SCANNED)."""
    bad: dict[str, list[str]] = {"non_numeric": [], "non_finite": []}
    count = {"non_numeric": 0, "non_finite": 0}
    for i, line in enumerate(body):
        for j, cell in enumerate(line.split(",")):
            c = cell.strip()
            if len(c) >= 2 and c[0] == c[-1] == '"':
                c = c[1:-1].strip()
            if _is_number(c):
                continue
            kind = "non_finite" if c.lower() in NON_FINITE else "non_numeric"
            count[kind] += 1
            if len(bad[kind]) < MAX_LISTED:
                bad[kind].append(f"line {first_line + i}, {_column_name(j, layout, order)}: {cell[:20]!r}")
        if sum(count.values()) >= MAX_SCANNED:
            break
    found = []
    more = "+" if sum(count.values()) >= MAX_SCANNED else ""
    if count["non_numeric"]:
        found.append(Finding("non_numeric", ERROR, bad["non_numeric"][0].split(":")[0],
                             f"{count['non_numeric']}{more} cells are not numbers: "
                             f"{_listing(bad['non_numeric'], count['non_numeric'])}",
                             {"count": count["non_numeric"], "cells": bad["non_numeric"]}))
    if count["non_finite"]:
        found.append(Finding("non_finite", ERROR, bad["non_finite"][0].split(":")[0],
                             f"{count['non_finite']}{more} cells are NaN or infinite: "
                             f"{_listing(bad['non_finite'], count['non_finite'])}",
                             {"count": count["non_finite"], "cells": bad["non_finite"]}))
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


def _commas_per_line(text: str) -> np.ndarray:
    """The number of commas on each line of ``text`` (lines split at "\\n"), counted in numpy."""
    b = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(b == ord("\n"))
    commas = np.concatenate([[0], np.cumsum(b == ord(","))])  # commas[p]: commas in b[:p]
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(b)]])
    return commas[ends] - commas[starts]


def parse_submission(data: bytes, layout: Layout) -> Parsed:
    """Validate the bytes of one submission against ``layout``; the images if valid, and every finding."""
    text, found = _decode(data)
    if text is None:
        return Parsed(None, found)
    lines, more = _split_lines(text)
    found += more
    if lines is None:
        return Parsed(None, found)

    start, n_fields, order, more = _header(lines[0], layout)
    found += more
    body = lines[start:]
    first_line = start + 1  # the file line of body[0]
    if len(body) != layout.n_rows:
        found.append(Finding("wrong_row_count", ERROR, f"line {first_line + len(body) - 1}",
                             f"{len(body)} data rows, expected {layout.n_rows} (one per pixel of a "
                             f"{' x '.join(map(str, layout.image_shape))} image)",
                             {"rows": len(body), "expected": layout.n_rows}))
    # Rows are held to the header's own width: a header with the wrong width is one finding, not one per row.
    joined = "\n".join(body)
    odd = np.flatnonzero(_commas_per_line(joined) != n_fields - 1)  # vectorised: 16k lines in ~1 ms
    blank = [first_line + i for i in odd if not body[i].strip()]
    if blank:
        found.append(Finding("blank_lines", ERROR, f"line {blank[0]}",
                             f"{len(blank)} blank lines inside the data: lines {_listing(list(map(str, blank)), len(blank))}",
                             {"lines": blank[:50]}))
    ragged = [int(i) for i in odd if body[i].strip()]
    if ragged:
        shown = [f"line {first_line + i} has {body[i].count(',') + 1}" for i in ragged[:MAX_LISTED]]
        found.append(Finding("wrong_field_count", ERROR, f"line {first_line + ragged[0]}",
                             f"{len(ragged)} rows do not have the header's {n_fields} values: "
                             f"{_listing(shown, len(ragged))}", {"count": len(ragged), "lines": shown}))
    if any(f.severity == ERROR for f in found):
        return Parsed(None, found)  # values are only checked once the structure is right

    try:
        arr = pd.read_csv(io.StringIO(joined), header=None, dtype=np.float64, engine="c",
                          na_filter=False, skip_blank_lines=False).to_numpy()
    except (ValueError, pd.errors.ParserError) as e:
        cells = _cell_findings(body, first_line, layout, order)
        return Parsed(None, found + (cells or [Finding("unparseable", ERROR, "file", f"could not parse: {e}")]))
    found += _value_findings(arr, first_line, layout, order)
    if any(f.severity == ERROR for f in found):
        return Parsed(None, found)

    rows = np.argsort(arr[:, 0], kind="stable")
    if (rows != np.arange(len(rows))).any():
        found.append(Finding("rows_reordered", NOTE, f"column 1 ({ID})", "rows not in id order: matched by id (accepted)"))
    values = arr[rows, 1:]
    images = np.empty((len(layout.ids), layout.n_rows), dtype=np.float32)
    images[order] = values.T
    return Parsed(images.reshape(len(layout.ids), *layout.image_shape), found)
