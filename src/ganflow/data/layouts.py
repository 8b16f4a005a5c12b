"""Pairing layouts: raw files listed as rows -> resized PNGs + manifest.csv + dataset.json.

A source lists its raw data as a :class:`Table` (rows of image references plus labels,
captions, attributes...), without reading any pixels; :func:`write` then reads every image
once, checks it, crops and resizes it, and writes the contract of ``data/pairs/<dataset>/``:

manifest.csv   id, split (train|val|test), then per layout
                 single      image
                 paired      a, b                (direction applied: a is the input; b is empty
                                                  when the set has no target, e.g. homework Test/)
                 unpaired    domain (A|B), image (+ label, label_name when the source labels its rows)
                 labelled    image, label (0..K-1), label_name
                 captioned   image, label, label_name, captions (joined by " | ")
                 attributes  image, one 0/1 column per selected attribute
dataset.json   dataset, source, layout, image_size, channels, resize, split_rule, n_<split>,
               classes (labelled/captioned, labelled unpaired), attributes (attributes)
landmarks.csv  id, lx, ly, rx, ry: mouth corners in pixels of the resized image (when known)
skipped.csv    file, id, problem: what ``on_bad: skip`` left out

Image rule: the largest centred square is cut out (a no-op for square images; for CelebA's
178 x 218 faces it is the 178 x 178 centre, StarGAN's CenterCrop(178)), then resized bicubic
to image_size x image_size (PIL on float32, no 8-bit round trip) and written as 8-bit PNG.

The second half of this module reads the local-folder layouts (side-by-side images, A/B
folders, the homework folders, class sub-folders, a plain image folder) into Tables.
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ganflow import errors
from ganflow.atomic import write_json
from ganflow.data import parallel
from ganflow.data.images import (IMAGE_SUFFIXES, ImageError, current_pixel_limit, list_images, load_image,
                                  pixel_limit, resize, save_image)
from ganflow.data.split import seeded_split, split_rule
from ganflow.errors import DataError

LAYOUTS = ("single", "paired", "unpaired", "labelled", "captioned", "attributes")
SPLITS = ("train", "val", "test")
RESIZE_RULE = "bicubic (PIL, float32)"
CROP_RULE = "largest centred square (top = (h - s) // 2, left = (w - s) // 2, s = min(h, w))"
CAPTION_JOIN = " | "
_MAX_LISTED = 200  # problems printed in one error; the rest are counted
_MANIFEST_CHUNK = 10_000  # manifest rows turned into a DataFrame at a time (bounded memory)


class LayoutError(errors.DataError, ValueError):
    """Raw data that does not have the layout a source expects; the message names the path."""


# ----------------------------------------------------------------------------------- rows
# A table lists every image of a set before any is read, so its rows are kept small (slots, no
# per-row empty dicts, paths as plain strings): a CelebA-sized listing is then ~0.5 KB per image.


@dataclass(frozen=True, eq=False, slots=True)
class Img:
    """Where one image comes from: a file, one half of a side-by-side file, or an array in memory."""
    name: str                                  # for messages: a path, or "file[index]"
    path: Path | str | None = None             # a str may be the very object ``name`` is
    half: Literal["left", "right"] | None = None
    array: np.ndarray | None = None            # uint8 or float in [0, 1]

    def load(self, channels: int | None) -> np.ndarray:
        """Float32 in [0, 1]; ``channels`` 1 or 3 converts, None keeps what the file has."""
        if self.array is not None:
            arr = np.asarray(self.array)
            arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
            if channels == 3 and arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            elif channels == 1 and arr.ndim == 3:
                arr = arr.mean(axis=2)
            return arr
        arr = load_image(self.path, channels)
        if self.half is None:
            return arr
        w = arr.shape[1]
        if w % 2:
            raise ImageError(f"{self.path}: width {w} is odd, so it cannot be split into A|B halves")
        return arr[:, : w // 2] if self.half == "left" else arr[:, w // 2:]


class _NoFields(Mapping):
    """The read-only empty fields of a row that has none: one object shared by every such row
    (a dict each would be 64 bytes per image), pickled by name so workers share theirs too."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __reduce__(self) -> str:
        return "_NO_FIELDS"


_NO_FIELDS = _NoFields()


@dataclass(slots=True)
class Row:
    id: str
    split: str | None                          # None: the seeded train/test rule decides
    images: dict[str, Img | None]              # "image", or "a" and "b"; None: no such image
    # domain, label, captions, attributes; rows without fields share one read-only empty mapping
    fields: Mapping[str, Any] = field(default_factory=lambda: _NO_FIELDS)
    landmarks: tuple[float, float, float, float] | None = None  # lx, ly, rx, ry in raw pixels


@dataclass(frozen=True)
class Problem:
    file: str
    problem: str
    id: str | None = None


@dataclass
class Table:
    layout: str
    rows: list[Row]
    root: Path                                 # the raw folder, for messages
    split_rule: str | None = None              # None: apply the seeded rule (train/test)
    channels: int | None = None                # 1 or 3: convert every image; None: all must agree
    classes: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # found while listing (no row made)
    extra: dict[str, Any] = field(default_factory=dict)    # more dataset.json fields (direction...)


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
# Ids pandas.read_csv would not read back as the same string (numbers are handled by the letter rule).
_PANDAS_SPECIAL = {"na", "nan", "null", "none", "inf", "infinity", "true", "false"}


def safe_id(text: str) -> str:
    """A file-name-safe id that reads back from CSV as the same string.

    Runs of characters other than letters, digits, '.', '_', '-' become one '_'; an id that does
    not start with a letter, or that pandas reads as NaN/bool/inf, gets the prefix "id_" (CelebA's
    "000001" would otherwise come back from manifest.csv as the integer 1).
    """
    out = _SAFE.sub("_", text).strip("._-")
    if not out[:1].isalpha() or out.lower() in _PANDAS_SPECIAL:
        out = "id_" + out
    return out


# ---------------------------------------------------------------------------------- write


def write(table: Table, out: Path, *, dataset: str, source: str, image_size: int,
          test_fraction: float, split_seed: int, on_bad: str = "error",
          max_images: int | None = None, progress: bool = True, workers: int | None = None) -> dict:
    """Read, check, crop, resize and write every row of ``table`` under ``out``; return dataset.json.

    All problems (found while listing, unreadable files, partners of different sizes,
    duplicate ids) are collected in one pass; with ``on_bad="error"`` they are raised together
    as one DataError, with ``"skip"`` their rows are left out and listed in skipped.csv.

    Rows are read and written by ``workers`` processes (None: every core; see data/parallel.py),
    in order, so every file written and every message is the same for any number of workers.
    """
    if table.layout not in LAYOUTS:
        raise ValueError(f"unknown layout {table.layout!r}; known: {LAYOUTS}")
    problems = list(table.problems)
    rows = _unique(table.rows, problems)
    rule = table.split_rule
    if rule is None:
        _assign_seeded_split(rows, test_fraction, split_seed)
        rule = split_rule(test_fraction, split_seed)
    n_available = len(rows)
    has_val = any(r.split == "val" for r in rows)
    if max_images is not None and max_images < len(rows):
        keep = np.sort(np.random.default_rng(split_seed).choice(len(rows), max_images, replace=False))
        rows = [rows[i] for i in keep]
        rule += f"; then a random subset of {max_images} of the {n_available} rows (numpy.random.default_rng({split_seed}))"

    for row in rows:
        if row.split not in SPLITS:
            raise ValueError(f"row {row.id!r}: split {row.split!r} is not one of {SPLITS}")

    job = _RowJob(table.layout, table.channels, image_size, Path(out), current_pixel_limit())
    # What was written is kept as the rows themselves (the manifest is derived from them at the
    # end), so the parent's memory per image is a pointer, not a manifest record.
    written, channels_seen, landmarks, cropped = [], {}, [], False
    n_workers = parallel.worker_count(workers, len(rows))
    with parallel.Workers(n_workers) as pool:
        if problems and on_bad == "error":
            pool.stop()  # keep checking to list every problem, but writing is wasted work now
        done = pool.map(functools.partial(_pair_row, job), rows, desc=f"pair {dataset}", progress=progress)
        for row, (row_problems, result) in zip(rows, done, strict=True):
            if row_problems:
                problems += row_problems
                if on_bad == "error":
                    pool.stop()
                continue
            if result is None or (problems and on_bad == "error"):
                continue  # not written, or written before the stop arrived: the run fails anyway
            for ndim in result.ndims:
                channels_seen.setdefault(1 if ndim == 2 else 3, []).append(row.id)
            cropped |= result.cropped
            if result.landmarks is not None:
                landmarks.append({"id": row.id, **result.landmarks})
            written.append(row)

    if problems and on_bad == "error":
        raise DataError(_problem_message(dataset, table.root, problems))
    if len(channels_seen) > 1:  # only possible when table.channels is None (no conversion)
        gray = channels_seen[1]
        more = f" (and {len(gray) - 10} more)" if len(gray) > 10 else ""
        raise DataError(f"pair: mixed grayscale and colour images in {table.root}; grayscale ones: "
                         f"{gray[:10]}{more}; where the source has the option, set "
                         f"datasets.{dataset}.options.channels to 1 or 3 to convert them all")
    if len(written) < 2:
        raise DataError(f"pair: {dataset}: {len(written)} usable image(s) in {table.root}; need at least 2")
    counts = {s: sum(r.split == s for r in written) for s in SPLITS}
    if not counts["train"]:
        raise DataError(f"pair: {dataset}: no training images left in {table.root}")

    import pandas as pd  # here, not at the top: every pair worker imports this module

    _write_manifest(out / "manifest.csv", table, written)
    if landmarks:
        pd.DataFrame(landmarks, columns=["id", "lx", "ly", "rx", "ry"]).to_csv(out / "landmarks.csv", index=False)
    if problems:
        pd.DataFrame([{"file": p.file, "id": p.id, "problem": p.problem} for p in problems],
                     columns=["file", "id", "problem"]).to_csv(out / "skipped.csv", index=False)
        print(f"pair: {dataset}: skipped {len(problems)} bad input(s), listed in skipped.csv")

    channels = table.channels or next(iter(channels_seen))
    meta = {"dataset": dataset, "source": source, "layout": table.layout, "image_size": image_size,
            "channels": channels, "resize": RESIZE_RULE}
    if cropped:
        meta["crop"] = CROP_RULE
    meta["split_rule"] = rule
    for s in SPLITS:
        if s != "val" or has_val:  # n_val only for sets that have a validation split
            meta[f"n_{s}"] = counts[s]
    if table.layout in ("labelled", "captioned") or _labelled_unpaired(table):
        meta["classes"] = list(table.classes)
    if table.layout == "attributes":
        meta["attributes"] = list(table.attributes)
    if max_images is not None:
        meta["max_images"] = max_images
        meta["n_available"] = n_available
    if problems:
        meta["n_skipped"] = len(problems)
    meta.update(table.extra)
    write_json(out / "dataset.json", meta)
    return meta


@dataclass(frozen=True)
class _RowJob:
    """What a worker needs besides the row (sent with each task, so it stays small)."""
    layout: str
    channels: int | None
    image_size: int
    out: Path
    max_pixels: int


@dataclass(frozen=True)
class _Written:
    ndims: tuple[int, ...]              # each image's ndim as read (2: grayscale, 3: colour)
    cropped: bool
    landmarks: dict | None


def _pair_row(job: _RowJob, row: Row) -> tuple[list[Problem], _Written | None]:
    """Read and check one row's images, then crop, resize and write them (in a worker process).

    Returns the row's problems, and what was written (None when there were problems, or when the
    parent asked to stop writing because the run will fail anyway)."""
    with pixel_limit(job.max_pixels):
        loaded, row_problems = {}, []
        for col, img in row.images.items():
            if img is None:
                continue
            try:
                loaded[col] = img.load(job.channels)
            except ImageError as e:
                row_problems.append(Problem(img.name, f"unreadable: {e}", row.id))
    if "a" in loaded and "b" in loaded and loaded["a"].shape[:2] != loaded["b"].shape[:2]:
        (ha, wa), (hb, wb) = loaded["a"].shape[:2], loaded["b"].shape[:2]
        row_problems.append(Problem(f"{row.images['a'].name} + {row.images['b'].name}",
                                    f"size mismatch between partners: {ha}x{wa} vs {hb}x{wb} (height x width)", row.id))
    if row_problems or parallel.stop_requested():
        return row_problems, None
    ndims, cropped, moved = [], False, None
    for col, arr in loaded.items():
        ndims.append(arr.ndim)
        square, (top, left, side) = centre_square(arr)
        cropped |= square.shape != arr.shape
        save_image(job.out / _rel_path(job.layout, row, col), resize(square, job.image_size), atomic=False)
        if col == "image" and row.landmarks is not None:
            moved = _moved_landmarks(row.landmarks, top, left, side, job.image_size)
    return [], _Written(tuple(ndims), cropped, moved)


def centre_square(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The largest centred square of ``arr`` and its (top, left, side)."""
    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return arr[top:top + s, left:left + s], (top, left, s)


def _moved_landmarks(lm, top: int, left: int, side: int, size: int) -> dict:
    """Raw pixel coordinates -> pixels of the cropped, resized image.

    Pixel centres are at integer coordinates on both sides, so x' = (x - left + 0.5) * k - 0.5
    with k = size / side (the mapping PIL's resize uses).
    """
    k = size / side
    lx, ly, rx, ry = lm
    return {"lx": (lx - left + 0.5) * k - 0.5, "ly": (ly - top + 0.5) * k - 0.5,
            "rx": (rx - left + 0.5) * k - 0.5, "ry": (ry - top + 0.5) * k - 0.5}


def _unique(rows: list[Row], problems: list[Problem]) -> list[Row]:
    seen: dict[str, Row] = {}
    for r in rows:
        if not _ID.fullmatch(r.id) or r.id.lower() in _PANDAS_SPECIAL:
            raise ValueError(f"row id {r.id!r} is not file-name safe (use layouts.safe_id)")
        if r.id in seen:
            first = next(i.name for i in seen[r.id].images.values() if i is not None)
            for img in r.images.values():
                if img is not None:
                    problems.append(Problem(img.name, f"duplicate id {r.id!r} (also used by {first})", r.id))
            continue
        seen[r.id] = r
    return list(seen.values())


def _assign_seeded_split(rows: list[Row], test_fraction: float, split_seed: int) -> None:
    """Set each row's split by the seeded rule (the id -> split map is dropped on return)."""
    split = seeded_split([r.id for r in rows], test_fraction, split_seed)
    for r in rows:
        r.split = split[r.id]


def _write_manifest(path: Path, table: Table, rows: list[Row]) -> None:
    """manifest.csv from the written rows, a chunk of rows at a time: the same bytes as one
    DataFrame of them all, without holding a record per image."""
    import pandas as pd

    columns = ["id", "split", *_layout_columns(table)]
    with open(path, "w", newline="") as f:
        for start in range(0, len(rows), _MANIFEST_CHUNK):
            chunk = [_manifest_row(table, row, _written_paths(table.layout, row))
                     for row in rows[start:start + _MANIFEST_CHUNK]]
            pd.DataFrame(chunk, columns=columns).to_csv(f, index=False, header=start == 0)


def _written_paths(layout: str, row: Row) -> dict[str, str]:
    """column -> path under out of each image of a written row (what _pair_row wrote)."""
    return {col: _rel_path(layout, row, col) for col, img in row.images.items() if img is not None}


def _rel_path(layout: str, row: Row, col: str) -> str:
    if layout == "paired":
        return f"{row.split}/{col.upper()}/{row.id}.png"
    if layout == "unpaired":
        return f"{row.split}/{row.fields['domain']}/{row.id}.png"
    return f"{row.split}/{row.id}.png"


def _labelled_unpaired(table: Table) -> bool:
    """An unpaired set whose rows also carry a class (digit_fonts: scoring a translation needs it)."""
    return table.layout == "unpaired" and bool(table.classes)


def _layout_columns(table: Table) -> list[str]:
    if _labelled_unpaired(table):
        return ["domain", "image", "label", "label_name"]
    return {"single": ["image"], "paired": ["a", "b"], "unpaired": ["domain", "image"],
            "labelled": ["image", "label", "label_name"],
            "captioned": ["image", "label", "label_name", "captions"],
            "attributes": ["image", *table.attributes]}[table.layout]


def _manifest_row(table: Table, row: Row, rel: dict[str, str]) -> dict:
    out = {"id": row.id, "split": row.split}
    if table.layout == "paired":
        out.update(a=rel["a"], b=rel.get("b", ""))
        return out
    out["image"] = rel["image"]
    if table.layout == "unpaired":
        out["domain"] = row.fields["domain"]
    if table.layout in ("labelled", "captioned") or _labelled_unpaired(table):
        out["label"] = int(row.fields["label"])
        out["label_name"] = table.classes[int(row.fields["label"])]
    if table.layout == "captioned":
        # " | " joins the captions, so a "|" inside one becomes "/"; newlines become spaces.
        out["captions"] = CAPTION_JOIN.join(" ".join(c.replace("|", "/").split()) for c in row.fields["captions"])
    if table.layout == "attributes":
        out.update({a: int(row.fields[a]) for a in table.attributes})
    return out


def _problem_message(dataset: str, root: Path, problems: list[Problem]) -> str:
    lines = [f"  {p.file}: {p.problem}" for p in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        lines.append(f"  ... and {len(problems) - _MAX_LISTED} more")
    return (f"pair: {dataset}: {len(problems)} bad input(s) under {root}:\n" + "\n".join(lines)
            + f"\nFix them, or set datasets.{dataset}.options.on_bad: skip to leave them out "
              f"(they are then listed in data/pairs/{dataset}/skipped.csv).")


# ------------------------------------------------------------------ reading local layouts


def split_folders(folder: Path) -> dict[str, Path] | None:
    """{split: sub-folder} when ``folder`` is divided into train/val/test sub-folders, else None."""
    # os.scandir: the entry's type comes with the listing, no stat per file of a 200,000-image folder
    with os.scandir(folder) as entries:
        subs = {e.name.lower(): Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir()}
    found = {s: subs[s] for s in SPLITS if s in subs}
    return found if "train" in found else None


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix; hidden files are ignored), sorted."""
    if not Path(folder).is_dir():
        raise LayoutError(f"{folder}: no such folder")
    return [p for p in list_images(folder) if not p.name.startswith(".")]


def descend(root: Path) -> Path:
    """Skip wrapper folders: while ``root`` holds exactly one visible entry and it is a folder."""
    root = Path(root)
    while True:
        with os.scandir(root) as listing:
            entries = [e for e in listing if not e.name.startswith(".") and e.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir():
            root = Path(entries[0].path)
        else:
            return root


def _by_split(root: Path) -> list[tuple[str | None, Path]]:
    splits = split_folders(root)
    return list(splits.items()) if splits else [(None, root)]


def _rule(splits_used: bool, what: str) -> str | None:
    return f"upstream: {what}" if splits_used else None


def side_by_side_table(root: Path, direction: str, *, channels: int | None = None) -> Table:
    """Images holding A|B side by side (pix2pix's format), optionally in train/val/test folders."""
    rows = []
    parts = _by_split(root)
    for split, folder in parts:
        for p in image_files(folder):
            left, right = Img(str(p), p, "left"), Img(str(p), p, "right")
            a, b = (left, right) if direction == "AtoB" else (right, left)
            rid = safe_id(f"{split}_{p.stem}" if split else p.stem)
            rows.append(Row(rid, split, {"a": a, "b": b}))
    if not rows:
        raise LayoutError(f"{root}: no images found (expected A|B side-by-side images)")
    return Table("paired", rows, Path(root), _rule(parts[0][0] is not None, "the set's train/val/test folders"),
                 channels, extra={"direction": direction})


def _match(a_files: list[Path], b_files: list[Path], a_label: str, b_label: str,
           problems: list[Problem]) -> list[tuple[str, Path, Path]]:
    """(stem, a, b) for stems in both lists; the others become 'unmatched' problems."""
    a_map, b_map = {p.stem: p for p in a_files}, {p.stem: p for p in b_files}
    for stem in sorted(set(a_map) - set(b_map)):
        problems.append(Problem(str(a_map[stem]), f"unmatched: no partner named {stem}.* in {b_label}"))
    for stem in sorted(set(b_map) - set(a_map)):
        problems.append(Problem(str(b_map[stem]), f"unmatched: no partner named {stem}.* in {a_label}"))
    return [(s, a_map[s], b_map[s]) for s in sorted(set(a_map) & set(b_map))]


def paired_folders_table(root: Path, a_dir: str, b_dir: str, direction: str, *,
                         channels: int | None = None) -> Table:
    """Two folders of partner images matched by file name (stem), optionally split into folders."""
    a_root, b_root = Path(root) / a_dir, Path(root) / b_dir
    for f in (a_root, b_root):
        if not f.is_dir():
            raise LayoutError(f"{f}: no such folder (expected {a_dir}/ and {b_dir}/ under {root})")
    a_parts, b_parts = dict(_by_split(a_root)), dict(_by_split(b_root))
    if set(a_parts) != set(b_parts):
        raise LayoutError(f"{root}: {a_dir}/ is divided into {sorted(map(str, a_parts))} but "
                          f"{b_dir}/ into {sorted(map(str, b_parts))}")
    rows, problems = [], []
    for split in a_parts:
        for stem, pa, pb in _match(image_files(a_parts[split]), image_files(b_parts[split]),
                                   str(a_parts[split]), str(b_parts[split]), problems):
            a, b = Img(str(pa), pa), Img(str(pb), pb)
            if direction == "BtoA":
                a, b = b, a
            rows.append(Row(safe_id(f"{split}_{stem}" if split else stem), split, {"a": a, "b": b}))
    splits_used = None not in a_parts
    return Table("paired", rows, Path(root), _rule(splits_used, f"{a_dir}/ and {b_dir}/ split folders"),
                 channels, problems=problems, extra={"direction": direction})


def homework_table(root: Path, *, channels: int | None = None) -> Table:
    """The course's folders: Training/Real + Training/White (pairs), Test/White (+ Test/Real).

    a is the whitened input, b the real face; Test rows have an empty b unless Test/Real exists.
    """
    root = Path(root)
    need = [root / "Training" / "Real", root / "Training" / "White", root / "Test" / "White"]
    missing = [str(p) for p in need if not p.is_dir()]
    if missing:
        raise LayoutError(f"{root}: not the homework layout; missing folder(s): {missing}")
    rows, problems = [], []
    for stem, white, real in _match(image_files(need[1]), image_files(need[0]), str(need[1]), str(need[0]),
                                    problems):
        rows.append(Row(safe_id(f"train_{stem}"), "train", {"a": Img(str(white), white), "b": Img(str(real), real)}))
    test_real = root / "Test" / "Real"
    if test_real.is_dir():
        for stem, white, real in _match(image_files(need[2]), image_files(test_real), str(need[2]), str(test_real),
                                        problems):
            rows.append(Row(safe_id(f"test_{stem}"), "test", {"a": Img(str(white), white), "b": Img(str(real), real)}))
    else:
        for p in image_files(need[2]):
            rows.append(Row(safe_id(f"test_{p.stem}"), "test", {"a": Img(str(p), p), "b": None}))
    return Table("paired", rows, root, "upstream: Training/ -> train, Test/ -> test (homework folders)",
                 channels, problems=problems, extra={"direction": "White->Real"})


def class_folders_table(root: Path, *, channels: int | None = None) -> Table:
    """One sub-folder per class (sorted names give labels 0..K-1), optionally inside split folders."""
    parts = _by_split(root)
    classes = sorted({d.name for _, f in parts for d in f.iterdir() if d.is_dir() and not d.name.startswith(".")})
    if not classes:
        raise LayoutError(f"{root}: no class sub-folders found")
    rows, problems = [], []
    for split, folder in parts:
        for p in image_files(folder):
            problems.append(Problem(str(p), "not inside a class folder"))
        for label, name in enumerate(classes):
            if not (folder / name).is_dir():
                continue
            for p in image_files(folder / name):
                rid = safe_id(f"{split}_{name}_{p.stem}" if split else f"{name}_{p.stem}")
                rows.append(Row(rid, split, {"image": Img(str(p), p)}, {"label": label}))
    return Table("labelled", rows, Path(root), _rule(parts[0][0] is not None, "the set's split folders"),
                 channels, classes=classes, problems=problems)


def image_folder_table(root: Path, *, channels: int | None = None) -> Table:
    """Every image under ``root`` (recursively), optionally inside train/val/test folders."""
    parts = _by_split(root)
    rows = []
    for split, folder in parts:
        # Sorted by path components (a/x before a-b/x), as sorted(pathlib.Path) orders them.
        for rel in sorted(_image_files_below(str(folder)), key=lambda r: r.split("/")):
            path = os.path.join(str(folder), rel)   # one str serves as the name and the path
            stem = os.path.splitext(rel)[0]
            rows.append(Row(safe_id(f"{split}_{stem}" if split else stem), split, {"image": Img(path, path)}))
    if not rows:
        raise LayoutError(f"{root}: no images found")
    return Table("single", rows, Path(root), _rule(parts[0][0] is not None, "the set's split folders"), channels)


def _image_files_below(folder: str, prefix: str = "") -> Iterator[str]:
    """Paths ("sub/name.jpg", relative to ``folder``) of the image files below it, any depth;
    hidden files and folders are skipped, symbolic links to folders are not followed.  Plain
    strings from os.scandir, so a listing of 200,000 files builds no Path objects."""
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                yield from _image_files_below(e.path, f"{prefix}{e.name}/")
            elif os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and e.is_file():
                yield prefix + e.name


def unpaired_table(root: Path, *, channels: int | None = None) -> Table:
    """CycleGAN's folders: trainA, trainB, testA, testB (valA/valB too when present)."""
    root = Path(root)
    rows = []
    for split in SPLITS:
        for domain in ("A", "B"):
            folder = root / f"{split}{domain}"
            if not folder.is_dir():
                if split == "train":
                    raise LayoutError(f"{root}: no {split}{domain}/ folder (expected trainA, trainB, testA, testB)")
                continue
            for p in image_files(folder):
                rows.append(Row(safe_id(f"{split}{domain}_{p.stem}"), split, {"image": Img(str(p), p)},
                                {"domain": domain}))
    return Table("unpaired", rows, root, "upstream: trainA/trainB -> train, testA/testB -> test", channels)

