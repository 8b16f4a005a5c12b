"""scikit-learn's handwritten digits: the offline default for dcgan, cgan and text2img.

    datasets:
      digits:                    # "labelled" layout: image, label, label_name
        source: sklearn_digits
        image_size: 32
      digits_captioned:          # "captioned" layout: + captions measured on each image
        source: sklearn_digits_captioned
        image_size: 32

``load_digits()`` ships 1,797 digits of 8 x 8 pixels, intensities 0..16 (UCI "optdigits": 32 x 32
bitmaps of 43 writers, counted in 4 x 4 blocks), 10 classes of about 180 each.  fetch stores them
as data/raw/<dataset>/digits.npz (images uint8 0..16, target); pair scales each to [0, 1]
(intensity / 16) and upsamples it bicubically (PIL on float32) to image_size, white ink on black.

Captions (data/captions.py): thickness, slant and width are measured on the bicubic 32 x 32
version of each digit whatever image_size is (so the words do not depend on the stored size),
turned into words by the terciles of the digit's class, and written in ``captions_per_image``
phrasings.  The thresholds land in dataset.json under "captions".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from ganflow.data import captions as cap
from ganflow.data import layouts
from ganflow.data.images import resize
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source
from ganflow.errors import DataError, MissingInputError

RAW_FILE = "digits.npz"
CLASSES = [str(d) for d in range(10)]
MEASURE_SIZE = 32  # the resolution the caption properties are measured at


class DigitsCaptionOptions(CommonOptions):
    captions_per_image: int = Field(4, ge=1, le=len(cap.TEMPLATES))
    caption_seed: int = 0  # draws the phrasing and synonyms of each caption


def fetch_digits(options, raw_dir: Path, downloads: Path | None = None) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez_compressed(raw_dir / RAW_FILE, images=d.images.astype(np.uint8), target=d.target.astype(np.int64))


def read_raw(raw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 in [0, 1] (N, 8, 8), labels (N,)) from digits.npz, checked."""
    path = Path(raw_dir) / RAW_FILE
    if not path.is_file():
        raise MissingInputError(f"pair: {path} is missing; run `ganflow fetch` for this data set first")
    try:
        with np.load(path) as f:
            images, target = f["images"], f["target"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"pair: {path}: not a digits archive with 'images' and 'target' ({e})") from None
    if images.ndim != 3 or len(images) != len(target) or target.ndim != 1:
        raise DataError(f"pair: {path}: images {images.shape} and target {target.shape} do not match "
                         f"(expected (N, H, W) and (N,))")
    if images.min() < 0 or images.max() > 16:
        raise DataError(f"pair: {path}: intensities must lie in 0..16, found {images.min()}..{images.max()}")
    if target.min() < 0 or target.max() > 9:
        raise DataError(f"pair: {path}: labels must be digits 0..9, found {target.min()}..{target.max()}")
    return images.astype(np.float32) / 16.0, target.astype(np.int64)


def _rows(images: np.ndarray, labels: np.ndarray) -> list[layouts.Row]:
    return [layouts.Row(f"digit_{i:04d}", None, {"image": layouts.Img(f"{RAW_FILE}[{i}]", array=img)},
                        {"label": int(label)})
            for i, (img, label) in enumerate(zip(images, labels))]


def _table(options: CommonOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    images, labels = read_raw(raw_dir)
    return layouts.Table("labelled", _rows(images, labels), Path(raw_dir), None, channels=1,
                         classes=CLASSES)


def caption_table(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[list[list[str]], dict]:
    """Captions per image and the record of how they were made (thresholds per class)."""
    props = [cap.measure(resize(im, MEASURE_SIZE)) for im in images]
    thresholds = {}
    for c in np.unique(labels):
        thresholds[int(c)] = cap.tercile_thresholds([props[i] for i in np.flatnonzero(labels == c)])
    texts = [cap.captions(int(lab), cap.levels(p, thresholds[int(lab)]), np.random.default_rng([seed, i]), n)
             for i, (lab, p) in enumerate(zip(labels, props))]
    record = {
        "rule": "label + stroke thickness, slant and width measured on the bicubic "
                f"{MEASURE_SIZE}x{MEASURE_SIZE} image (see ganflow/data/captions.py); words by the terciles "
                "of the digit's own class; several phrasings per image",
        "per_image": n, "seed": seed, "join": cap.JOIN, "measure_size": MEASURE_SIZE,
        "thresholds": {CLASSES[c]: {k: list(v) for k, v in t.items()} for c, t in thresholds.items()},
        "units": {"thickness": "pixels at 32x32", "slant": "degrees right of vertical", "width": "fraction of the image"},
    }
    return texts, record


def _captioned_table(options: DigitsCaptionOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    images, labels = read_raw(raw_dir)
    texts, record = caption_table(images, labels, options.captions_per_image, options.caption_seed)
    rows = _rows(images, labels)
    for row, t in zip(rows, texts):
        row.fields["captions"] = t
    return layouts.Table("captioned", rows, Path(raw_dir), None, channels=1, classes=CLASSES,
                         extra={"captions": record})


_COMMON = dict(
    offline=True,
    size="1,797 images of 8x8, 30 KB",
    licence="UCI optdigits (Alpaydin & Kaynak 1998), CC BY 4.0; shipped with scikit-learn (BSD)",
    fetch=fetch_digits,
)

register_source(Source(
    name="sklearn_digits",
    description="scikit-learn's 1,797 handwritten 8x8 digits, 10 classes, upsampled bicubically",
    layout="labelled", table=_table, **_COMMON,
))

register_source(Source(
    name="sklearn_digits_captioned",
    description="scikit-learn's digits with captions from each digit's label, thickness, slant and width",
    layout="captioned", table=_captioned_table, options=DigitsCaptionOptions, **_COMMON,
))
