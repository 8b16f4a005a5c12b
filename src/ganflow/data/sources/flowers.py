"""Oxford 102 Flowers (8,189 images, 102 classes), optionally with the text-to-image captions.

    datasets:
      flowers:
        source: flowers102            # "labelled" layout
      flowers_text:
        source: flowers102_captions   # "captioned" layout, for the text-to-image model
        options:
          captions: downloads/cvpr2016_flowers.tar.gz     # or a folder, or a URL
          captions_sha256: <sha256 of that archive>

Images, labels and the official split (setid.mat: trnid 1,020 / valid 1,020 / tstid 6,149) come
from the VGG host, md5-pinned as torchvision pins them (torchvision/datasets/flowers102.py).

Captions: ten per image, from Reed et al.'s release (github.com/reedscot/cvpr2016, the
``cvpr2016_flowers`` archive on Google Drive, text_c10/class_*/image_*.txt).  Its authors publish
no checksum and its Drive link is not a stable URL we can pin, so ganflow does not download it
on its own: the user points ``options.captions`` at the archive (a path, a folder or a URL such
as that Drive link) and pins it with ``options.captions_sha256``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from pydantic import model_validator

from ganflow.data import layouts
from ganflow.data.layouts import Problem
from ganflow.data.sources import Source, SplitSpec, register_source
from ganflow.data.sources.common import ArchiveOptions, RemoteFile, Sha256, extract, fetch_remote, place, user_input
from ganflow.errors import DataError

MIRRORS = ("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",)
IMAGES = RemoteFile("102flowers.tgz", md5="52808999861908f626f3c1f4e79d11fa")
LABELS = RemoteFile("imagelabels.mat", md5="e0620be6f572b9609742df49c70aed4d")
SETID = RemoteFile("setid.mat", md5="a5357ecc9cb78c4bef273ce3793fc85c")
SPLIT_KEYS = {"trnid": "train", "valid": "val", "tstid": "test"}
CAPTION_FILE = re.compile(r"image_(\d{5})\.txt")


class FlowersOptions(ArchiveOptions):
    pass


class FlowersCaptionOptions(ArchiveOptions):
    captions: str                         # archive path, folder or URL of the captions release
    captions_sha256: Sha256 | None = None  # required for an archive or URL

    @model_validator(mode="after")
    def _pinned(self):
        if self.captions_sha256 is None and not Path(self.captions).expanduser().is_dir():
            raise ValueError("captions_sha256 is required when captions is an archive or a URL")
        return self


def _fetch(options: FlowersOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    records = []
    for f in (IMAGES, LABELS, SETID):
        path, record = fetch_remote(f, list(MIRRORS), options, downloads / "flowers102")
        records.append(record)
        if f is IMAGES:
            extract(path, raw_dir / "data", options)
        else:
            place(path, raw_dir / f.name)
    if not (raw_dir / "data" / "jpg").is_dir():
        raise DataError(f"fetch: {IMAGES.name} has no jpg/ folder")
    return records


def _fetch_with_captions(options: FlowersCaptionOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    records = _fetch(options, raw_dir, downloads)
    records.append(user_input(options.captions, options.captions_sha256, "captions", "captions_sha256",
                              downloads / "flowers102", raw_dir / "captions", options))
    return records


def _mat(path: Path, key: str):
    from scipy.io import loadmat  # scipy is heavy; only pair needs it

    try:
        data = loadmat(path, squeeze_me=True)
    except Exception as e:  # scipy raises several types for a damaged file
        raise DataError(f"pair: {path}: not a readable .mat file ({e.__class__.__name__}: {e})") from None
    if key not in data:
        raise DataError(f"pair: {path}: no variable {key!r} (has {sorted(k for k in data if not k.startswith('__'))})")
    return data[key]


def _rows(raw_dir: Path) -> tuple[list[layouts.Row], list[str]]:
    labels = [int(v) for v in np.atleast_1d(_mat(raw_dir / LABELS.name, "labels")).ravel()]
    if not labels or min(labels) < 1:
        raise DataError(f"pair: {raw_dir / LABELS.name}: labels must be 1..102")
    n_classes = max(labels)
    rows, seen = [], set()
    for key, split in SPLIT_KEYS.items():
        for image_id in (int(v) for v in np.atleast_1d(_mat(raw_dir / SETID.name, key)).ravel()):
            if not 1 <= image_id <= len(labels):
                raise DataError(f"pair: {raw_dir / SETID.name}: {key} names image {image_id}, "
                                 f"but imagelabels.mat has {len(labels)} labels")
            if image_id in seen:
                raise DataError(f"pair: {raw_dir / SETID.name}: image {image_id} is in two splits")
            seen.add(image_id)
            path = raw_dir / "data" / "jpg" / f"image_{image_id:05d}.jpg"
            rows.append(layouts.Row(f"image_{image_id:05d}", split, {"image": layouts.Img(str(path), path)},
                                    {"label": labels[image_id - 1] - 1}))
    return rows, [f"class_{k:03d}" for k in range(1, n_classes + 1)]


def _table(options: FlowersOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    rows, classes = _rows(raw_dir)
    return layouts.Table("labelled", rows, raw_dir, "upstream: setid.mat (trnid train, valid val, tstid test)",
                         channels=3, classes=classes)


def read_captions(folder: Path) -> dict[str, list[str]]:
    """{image id: captions} from every image_NNNNN.txt under ``folder`` (one caption per line)."""
    out = {}
    for p in sorted(folder.rglob("image_*.txt")):
        m = CAPTION_FILE.fullmatch(p.name)
        if m:
            lines = [" ".join(line.split()) for line in p.read_text(errors="replace").splitlines()]
            out[f"image_{m[1]}"] = [line for line in lines if line]
    return out


def _table_with_captions(options: FlowersCaptionOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    rows, classes = _rows(raw_dir)
    captions = read_captions(raw_dir / "captions")
    if not captions:
        raise DataError(f"pair: no image_NNNNN.txt caption files under {raw_dir / 'captions'} "
                         f"(expected the text_c10/class_*/image_*.txt layout)")
    kept, problems = [], []
    for row in rows:
        if captions.get(row.id):
            row.fields["captions"] = captions[row.id]
            kept.append(row)
        else:
            problems.append(Problem(row.images["image"].name, "no captions (no non-empty image_*.txt)", row.id))
    return layouts.Table("captioned", kept, raw_dir, "upstream: setid.mat (trnid train, valid val, tstid test)",
                         channels=3, classes=classes, problems=problems)


LICENCE = "Oxford VGG (Nilsback & Zisserman): research use; captions: Reed et al. 2016, research use"

register_source(Source(
    name="flowers102",
    description="Oxford 102 Flowers with class labels and the official split",
    offline=False,
    size="102flowers.tgz ~330 MB (8,189 JPEGs) + two .mat files",
    licence=LICENCE,
    fetch=_fetch,
    layout="labelled",
    urls=MIRRORS,
    options=FlowersOptions,
    table=_table,
))

register_source(Source(
    name="flowers102_captions",
    description="Oxford 102 Flowers with ten captions per image (user-supplied caption archive, sha256-pinned)",
    offline=False,
    size="as flowers102, plus the caption archive you supply",
    licence=LICENCE,
    fetch=_fetch_with_captions,
    layout="captioned",
    urls=MIRRORS,
    options=FlowersCaptionOptions,
    table=_table_with_captions,
))
