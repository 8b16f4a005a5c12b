"""Image sets read a block of rows at a time: an array, PNG files, an .npz member, a subset of one.

Evaluation walks these instead of stacking a whole split or all samples in memory, so that a
50,000-image FID costs one block of pixels at a time.  Every source yields float32 [0, 1] images
(N, H, W) or (N, H, W, C) in a fixed order, and its blocks always start at multiples of the
block size, so the same set cut into the same blocks gives the same batches to a network.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ganflow.data.images import ImageError, load_image
from ganflow.data.npz_stream import iter_npz_rows, npz_shape
from ganflow.errors import DataError

# Rows per block when a walk's block size is this module's choice (take, a subset of a stream).
READ_BLOCK = 256


class ImageSource:
    """An ordered image set: ``len``, ``shape``, ``blocks(rows)`` and ``take(indices)``."""

    label: str = "images"

    def __len__(self) -> int:
        raise NotImplementedError

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.image_shape)

    @property
    def image_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def take(self, indices) -> np.ndarray:
        """The images at ``indices`` (any order, repeats allowed), in one ordered walk."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"{self.label}: index out of range 0..{len(self) - 1}")
        out = np.empty((len(indices), *self.image_shape), np.float32)
        order = np.argsort(indices, kind="stable")
        wanted, pos, start = indices[order], 0, 0
        for block in self.blocks(READ_BLOCK):
            end = start + len(block)
            while pos < len(wanted) and wanted[pos] < end:
                out[order[pos]] = block[wanted[pos] - start]
                pos += 1
            start = end
            if pos == len(wanted):
                break
        return out

    def __getitem__(self, i: int) -> np.ndarray:
        return self.take([int(i)])[0]


class ArrayImages(ImageSource):
    """An array already in memory (the small-set and the other tasks' case)."""

    def __init__(self, images, label: str = "images") -> None:
        self.images = np.asarray(images)
        self.label = label

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self.images), rows):
            yield np.asarray(self.images[start:start + rows], dtype=np.float32)

    def take(self, indices) -> np.ndarray:
        return np.asarray(self.images[np.asarray(indices, dtype=np.int64)], dtype=np.float32)


class FileImages(ImageSource):
    """Image files (e.g. a split's rows of data/pairs/<ds>/manifest.csv), decoded a block at a time;
    errors name ``where`` (the manifest) and the file."""

    def __init__(self, files: Sequence[Path | str], where: str, label: str | None = None) -> None:
        if not files:
            raise DataError(f"{where}: no images")
        self.files = [Path(f) for f in files]
        self.where = where
        self.label = label or where
        self._shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path) -> np.ndarray:
        try:
            img = load_image(path)
        except (ImageError, FileNotFoundError) as e:
            raise DataError(f"{self.where}: {e}") from None
        if self._shape is None:
            self._shape = tuple(img.shape)
        elif tuple(img.shape) != self._shape:
            raise DataError(f"{self.where}: {path} is {img.shape}, the set's first image {self._shape}")
        return img

    @property
    def image_shape(self) -> tuple[int, ...]:
        if self._shape is None:
            self._load(self.files[0])
        return self._shape

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self.files), rows):
            yield np.stack([self._load(f) for f in self.files[start:start + rows]]).astype(np.float32, copy=False)

    def take(self, indices) -> np.ndarray:
        if len(indices) == 0:
            return np.empty((0, *self.image_shape), np.float32)
        return np.stack([self._load(self.files[int(i)]) for i in indices]).astype(np.float32, copy=False)


class NpzImages(ImageSource):
    """One array of an .npz (samples/outputs.npz:images), inflated a block at a time."""

    def __init__(self, path: Path | str, key: str = "images", label: str | None = None) -> None:
        self.path, self.key = Path(path), key
        self.label = label or f"{path}:{key}"
        shape, dtype = npz_shape(self.path, key)
        if len(shape) not in (3, 4) or dtype.kind != "f":
            raise DataError(f"{self.label}: expected float images (N, H, W[, C]), found {dtype} {shape}")
        self._shape = shape

    def __len__(self) -> int:
        return self._shape[0]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self._shape[1:])

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        for block in iter_npz_rows(self.path, self.key, rows):
            yield block.astype(np.float32, copy=False)


class Subset(ImageSource):
    """The rows of ``base`` at sorted, distinct ``indices``, re-cut into blocks of the asked size."""

    def __init__(self, base: ImageSource, indices, label: str | None = None) -> None:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (np.diff(idx) <= 0).any():
            raise ValueError("subset indices must be strictly increasing")
        if idx.size and (idx[0] < 0 or idx[-1] >= len(base)):
            raise IndexError(f"{base.label}: subset index out of range 0..{len(base) - 1}")
        self.base, self.indices = base, idx
        self.label = label or f"{base.label} ({len(idx)} of {len(base)})"

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.base.image_shape

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        if isinstance(self.base, (ArrayImages, FileImages)):  # random access: read only the rows wanted
            for start in range(0, len(self.indices), rows):
                yield self.base.take(self.indices[start:start + rows])
            return
        pending: list[np.ndarray] = []
        have, pos, start = 0, 0, 0
        for block in self.base.blocks(max(rows, READ_BLOCK)):
            end = start + len(block)
            stop = np.searchsorted(self.indices, end)
            if stop > pos:
                pending.append(block[self.indices[pos:stop] - start])
                have += stop - pos
                pos = stop
            start = end
            while have >= rows:
                joined = np.concatenate(pending)
                yield joined[:rows]
                pending, have = [joined[rows:]], have - rows
            if pos == len(self.indices):
                break
        if have:
            yield np.concatenate(pending)

    def take(self, indices) -> np.ndarray:
        return self.base.take(self.indices[np.asarray(indices, dtype=np.int64)])


def seeded_subset(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted distinct indices of ``size`` of ``n`` rows (all of them when size >= n), from ``seed``."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
