"""MNIST: 70,000 handwritten digits (28 x 28 grayscale), the four idx files, md5-pinned.

    datasets:
      mnist:
        source: mnist
        image_size: 32           # powers of two only; 28 -> 32 bicubic

Mirrors and md5s as torchvision lists them (torchvision/datasets/mnist.py).  The .gz files are
kept as downloaded in data/raw/<dataset>/; ``pair`` parses them (no other reader is trusted
with the byte layout) into the "labelled" layout: train = the 60,000, test = the 10,000 (t10k).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ganflow.data import layouts
from ganflow.data.sources import Source, SplitSpec, register_source
from ganflow.data.sources.common import DownloadOptions, RemoteFile, fetch_remote, place
from ganflow.errors import DataError

MIRRORS = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    RemoteFile("train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432"),
    RemoteFile("t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c"),
)


# Words, not "0".."9": pandas would read digit names back from manifest.csv as integers.
CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class MnistOptions(DownloadOptions):
    pass


def _fetch(options: MnistOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    records = []
    for f in FILES:
        path, record = fetch_remote(f, list(MIRRORS), options, downloads / "mnist")
        place(path, raw_dir / f.name)
        records.append(record)
    return records


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip-compressed or not) as a uint8 array of its declared shape.

    Format: two zero bytes, a type byte (0x08 = unsigned byte, the only one MNIST uses), a byte
    with the number of dimensions, one big-endian uint32 per dimension, then the data.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"pair: {path}: cannot read ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"pair: {path}: not an idx file (bad magic number)")
    if data[2] != 0x08:
        raise DataError(f"pair: {path}: idx type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"pair: {path}: {len(data) - header} data bytes, the header declares shape {shape} "
                         f"({int(np.prod(shape))} bytes); truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _table(options: MnistOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    rows = []
    for prefix, split_name in (("train", "train"), ("t10k", "test")):
        img_file, lab_file = raw_dir / f"{prefix}-images-idx3-ubyte.gz", raw_dir / f"{prefix}-labels-idx1-ubyte.gz"
        images, labels = read_idx(img_file), read_idx(lab_file)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"pair: {img_file} has shape {images.shape} but {lab_file} has {labels.shape}")
        if labels.max(initial=0) > 9:
            raise DataError(f"pair: {lab_file}: label {int(labels.max())} is not a digit")
        for i, (img, label) in enumerate(zip(images, labels)):
            rows.append(layouts.Row(f"{split_name}_{i:05d}", split_name,
                                    {"image": layouts.Img(f"{img_file.name}[{i}]", array=img)}, {"label": int(label)}))
    return layouts.Table("labelled", rows, raw_dir, "upstream: train-* -> train (60,000), t10k-* -> test (10,000)",
                         channels=1, classes=list(CLASSES))


register_source(Source(
    name="mnist",
    description="MNIST handwritten digits, 28x28 grayscale, 10 classes",
    offline=False,
    size="4 files, ~11 MB compressed (70,000 images)",
    licence="Yann LeCun and Corinna Cortes; CC BY-SA 3.0 as commonly cited",
    fetch=_fetch,
    layout="labelled",
    urls=MIRRORS,
    options=MnistOptions,
    table=_table,
))
