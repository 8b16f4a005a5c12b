"""Example stores: where a plan item's pixels come from, in memory or read from disk per batch.

Both apply a plan item (data/plan.py) the same way: take the rows, resize them for pix2pix's
random jitter, mirror the rows the plan says, crop at the plan's offsets.  Every tensor of four
dimensions (images and masks alike) is augmented, the same place in every one, as BatchStream
always did; one- or two-dimensional ones (labels) are only indexed.

* MemoryStore holds the decoded training split (today's tensors): no per-step I/O.
* DiskStore holds file names: a batch decodes only its own rows (load_image, then to_tensor,
  the same calls the in-memory path made), so a CelebA-size split needs no tens of GB, and a
  DataLoader's worker processes can decode ahead of the training step (data/tensors.py).
  Resizing a subset of rows gives the same bits as resizing the whole set and taking the rows
  (bicubic interpolation works image by image), which tests/test_data_loader.py checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from ganflow.data.images import ImageError, load_image
from ganflow.data.masking import box_mask
from ganflow.data.plan import PlanItem
from ganflow.errors import DataError


def resized(t: torch.Tensor, size: int) -> torch.Tensor:
    """N x C x H x W in [-1, 1] resized bicubically to size x size (kept in [-1, 1])."""
    if t.shape[-1] == size:
        return t
    return F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False).clamp_(-1, 1)


def augment(batch: dict[str, torch.Tensor], item: PlanItem, crop: int | None) -> dict[str, torch.Tensor]:
    """The plan's mirroring and crops applied to a batch of its rows (mirrors in place)."""
    if item.mirror is not None:
        for v in batch.values():
            if v.ndim == 4:
                v[item.mirror] = v[item.mirror].flip(-1)
    if crop is not None:
        c, offsets = crop, list(zip(item.top.tolist(), item.left.tolist()))
        batch = {k: torch.stack([v[i, :, t:t + c, l:l + c] for i, (t, l) in enumerate(offsets)])
                 if v.ndim == 4 else v for k, v in batch.items()}
    return batch


def jitter_crop(sizes: set[tuple[int, int]], load_size: int | None) -> int | None:
    """The crop size of random jitter (the images' own size), checked; None without jitter."""
    if load_size is None:
        return None
    if len(sizes) != 1 or len(set(*sizes)) != 1:
        raise ValueError(f"random jitter needs square images of one size, got {sorted(sizes)}")
    (crop, _), = sizes
    if load_size < crop:
        raise ValueError(f"load_size {load_size} is below the image size {crop}: it must be at least that")
    return crop


class Store(Protocol):
    n: int
    crop: int | None

    def batch(self, item: PlanItem) -> dict[str, torch.Tensor]: ...
    def head(self, k: int) -> dict[str, torch.Tensor]: ...


class MemoryStore:
    """The whole split as tensors; with jitter, resized once up front (as BatchStream did)."""

    kind = "memory"

    def __init__(self, tensors: dict[str, torch.Tensor], load_size: int | None = None):
        self.originals = tensors
        self.crop = jitter_crop({tuple(v.shape[-2:]) for v in tensors.values() if v.ndim == 4}, load_size)
        self.tensors = tensors if load_size is None else \
            {k: resized(v, load_size) if v.ndim == 4 else v for k, v in tensors.items()}
        self.n = len(next(iter(tensors.values())))

    def batch(self, item: PlanItem) -> dict[str, torch.Tensor]:
        return augment({k: v[item.idx] for k, v in self.tensors.items()}, item, self.crop)

    def head(self, k: int) -> dict[str, torch.Tensor]:
        """The first k rows as they are on disk (not resized): the fixed snapshot inputs."""
        return {name: v[:k] for name, v in self.originals.items()}


# -- what a disk store reads: one column per tensor name ---------------------------------------


@dataclass(frozen=True)
class ImageColumn:
    """Image files, one per row, read as ``to_tensor([load_image(path, channels)])`` would."""

    files: list[Path]
    channels: int | None = None      # None keeps the file's mode (L or RGB), as load_image does
    where: list[str] = field(default_factory=list)  # per row: the manifest line / id, for errors

    def __len__(self) -> int:
        return len(self.files)

    def take(self, rows: list[int]) -> torch.Tensor:
        from ganflow.data.tensors import to_tensor

        images = []
        for i in rows:
            try:
                images.append(load_image(self.files[i], self.channels))
            except ImageError as e:
                if not self.where:
                    raise
                raise DataError(f"{e} ({self.where[i]})") from None
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise DataError(f"images of different shapes {sorted(shapes)} among "
                            f"{[str(self.files[i]) for i in rows][:4]}...: re-run `ganflow pair`")
        return to_tensor(images)


@dataclass(frozen=True)
class BoxMaskColumn:
    """1 inside each row's box, as the inpaint task's split_tensors builds its mask."""

    boxes: list[tuple[int, int, int, int]]
    size: int

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, rows: list[int]) -> torch.Tensor:
        return torch.stack([torch.from_numpy(box_mask(self.boxes[i], self.size)) for i in rows]).unsqueeze(1).float()


@dataclass(frozen=True)
class TensorColumn:
    """A small per-row tensor (labels) kept whole: indexing it is all a batch needs."""

    values: torch.Tensor

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: list[int]) -> torch.Tensor:
        return self.values[torch.as_tensor(rows, dtype=torch.long)]


Column = ImageColumn | BoxMaskColumn | TensorColumn


class DiskStore:
    """Reads only the rows a plan item names; picklable, so DataLoader workers each hold a copy
    (file names and labels, not pixels)."""

    kind = "disk"

    def __init__(self, columns: dict[str, Column], load_size: int | None = None):
        lengths = {k: len(c) for k, c in columns.items()}
        if len(set(lengths.values())) != 1 or not next(iter(lengths.values())):
            raise DataError(f"training columns of unequal or zero length: {lengths}")
        self.columns, self.load_size = columns, load_size
        self.n = next(iter(lengths.values()))
        first = self.rows([0])
        self.row_bytes = {k: v[0].numel() * v.element_size() for k, v in first.items()}
        self.images = [k for k, v in first.items() if v.ndim == 4]  # what jitter resizes
        self.crop = jitter_crop({tuple(v.shape[-2:]) for v in first.values() if v.ndim == 4}, load_size)

    def rows(self, rows: list[int]) -> dict[str, torch.Tensor]:
        return {k: c.take(rows) for k, c in self.columns.items()}

    def batch(self, item: PlanItem) -> dict[str, torch.Tensor]:
        batch = self.rows(item.idx.tolist())
        if self.load_size is not None:
            batch = {k: resized(v, self.load_size) if v.ndim == 4 else v for k, v in batch.items()}
        return augment(batch, item, self.crop)

    def head(self, k: int) -> dict[str, torch.Tensor]:
        return self.rows(list(range(min(k, self.n))))

    def decoded_bytes(self) -> int:
        """What MemoryStore would hold for this split: every row decoded to float32, plus the
        resized copy that random jitter keeps."""
        total = self.n * sum(self.row_bytes.values())
        if self.load_size is not None and self.crop is not None:
            grow = (self.load_size / self.crop) ** 2
            total += int(self.n * grow * sum(self.row_bytes[k] for k in self.images))
        return total
