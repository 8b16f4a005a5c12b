"""scikit-learn's handwritten digits as StarGAN domains: one 0/1 column per digit class.

    datasets:
      digit_domains:
        source: sklearn_digit_domains
        image_size: 16

The 1,797 digits of ``sklearn.datasets.load_digits()`` (8 x 8, intensities 0..16, about 180 per
class) in the "attributes" layout: manifest.csv has ``digit_0`` .. ``digit_9``, exactly one of
them 1 per row, so the domains are mutually exclusive (dataset.json says ``"exclusive": true``;
StarGAN then uses a cross-entropy domain loss, as on RaFD).  Which digits are the domains is
the model's choice (``train.<exp>.net.domains``).  Images: intensity / 16, white ink on black,
upsampled bicubically to image_size by the pairing code; split by the seeded rule.

fetch writes data/raw/<dataset>/digits.npz (images uint8 0..16, target), as the package holds them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganflow.data import layouts
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source

RAW_FILE = "digits.npz"
ATTRIBUTES = [f"digit_{d}" for d in range(10)]


def _fetch(options: CommonOptions, raw_dir: Path, downloads: Path | None = None) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez_compressed(Path(raw_dir) / RAW_FILE, images=d.images.astype(np.uint8), target=d.target.astype(np.int64))


def read_digits(raw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 in [0, 1] of shape (N, 8, 8), labels (N,)) from digits.npz, checked."""
    path = Path(raw_dir) / RAW_FILE
    if not path.is_file():
        raise SystemExit(f"pair: {path} is missing; run `ganflow fetch` for this data set first")
    try:
        with np.load(path) as f:
            images, target = f["images"], f["target"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"pair: {path}: not a digits archive with 'images' and 'target' ({e})") from None
    if images.ndim != 3 or target.ndim != 1 or len(images) != len(target):
        raise SystemExit(f"pair: {path}: images {images.shape} and target {target.shape} do not match")
    if images.min() < 0 or images.max() > 16:
        raise SystemExit(f"pair: {path}: intensities must lie in 0..16, found {images.min()}..{images.max()}")
    if target.min() < 0 or target.max() > 9:
        raise SystemExit(f"pair: {path}: labels must be digits 0..9, found {target.min()}..{target.max()}")
    return images.astype(np.float32) / 16.0, target.astype(np.int64)


def _table(options: CommonOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    images, labels = read_digits(raw_dir)
    rows = [layouts.Row(f"digit_{i:04d}", None, {"image": layouts.Img(f"{RAW_FILE}[{i}]", array=img)},
                        {a: int(label == d) for d, a in enumerate(ATTRIBUTES)})
            for i, (img, label) in enumerate(zip(images, labels))]
    return layouts.Table("attributes", rows, Path(raw_dir), None, channels=1, attributes=list(ATTRIBUTES),
                         extra={"exclusive": True, "attribute_rule": "digit_k is 1 where the label is k"})


register_source(Source(
    name="sklearn_digit_domains",
    description="scikit-learn's 1,797 handwritten 8x8 digits, one 0/1 domain column per class (StarGAN)",
    offline=True,
    size="1,797 images of 8x8, 30 KB",
    licence="UCI optdigits (Alpaydin & Kaynak 1998), CC BY 4.0; shipped with scikit-learn (BSD)",
    fetch=_fetch,
    layout="attributes",
    table=_table,
))
