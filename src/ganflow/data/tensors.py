"""Image folders -> tensors in [-1, 1], and a seeded, resumable stream of training batches."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganflow.data.images import list_images, load_image
from ganflow.errors import DataError


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """[0,1] H x W (x 3) arrays -> N x C x H x W float32 in [-1, 1]."""
    arr = np.stack([im[None] if im.ndim == 2 else im.transpose(2, 0, 1) for im in images])
    return torch.from_numpy(arr.astype(np.float32)) * 2 - 1


def to_images(t: torch.Tensor) -> list[np.ndarray]:
    """N x C x H x W in [-1, 1] -> [0,1] float32 arrays (H x W for one channel)."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    return [a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0) for a in arr]


def load_paired_folders(a_dir: Path, b_dir: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, A, B) from two folders whose images are matched by file name."""
    a_files = {p.stem: p for p in list_images(a_dir)}
    b_files = {p.stem: p for p in list_images(b_dir)}
    unmatched = sorted(set(a_files) ^ set(b_files))
    if unmatched:
        raise DataError(f"{a_dir} and {b_dir} do not match by name; unmatched: {unmatched[:10]}")
    ids = sorted(a_files)
    return ids, to_tensor([load_image(a_files[i]) for i in ids]), to_tensor([load_image(b_files[i]) for i in ids])


class BatchStream:
    """Endless batches drawn by a seeded permutation per epoch; its state is part of a checkpoint.

    Small sets live in memory as tensors (the whole LFW default is 100 x 64 x 64): no worker
    processes, no per-step file I/O.  ``flip`` mirrors every tensor of a batch together.

    ``load_size`` is pix2pix's random jitter: every image tensor is resized (bicubic) to
    load_size x load_size once, and each batch is a random crop of the original size from it,
    at the same place in every tensor of one example (input and target stay aligned).  The
    offsets come from the stream's own generator, so batches stay a function of seed and step.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, seed: int, flip: bool = False,
                 load_size: int | None = None):
        self.flip, self.crop = flip, None
        if load_size is not None:
            sizes = {tuple(v.shape[-2:]) for v in tensors.values() if v.ndim == 4}
            if len(sizes) != 1 or len(set(*sizes)) != 1:
                raise ValueError(f"random jitter needs square images of one size, got {sorted(sizes)}")
            (self.crop, _), = sizes
            if load_size < self.crop:
                raise ValueError(f"load_size {load_size} is below the image size {self.crop}: it must be at least that")
            tensors = {k: _resized(v, load_size) if v.ndim == 4 else v for k, v in tensors.items()}
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))
        self.batch_size = min(batch_size, self.n)
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(self.n, generator=self.gen)
        self.pos = 0

    def __next__(self) -> dict[str, torch.Tensor]:
        if self.pos + self.batch_size > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        batch = {k: v[idx] for k, v in self.tensors.items()}
        if self.flip:
            mirror = torch.rand(len(idx), generator=self.gen) < 0.5
            for k, v in batch.items():
                if v.ndim == 4:
                    v[mirror] = v[mirror].flip(-1)
        if self.crop is not None:
            batch = self._random_crop(batch)
        return batch

    def _random_crop(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        n = len(next(iter(batch.values())))
        room = next(v for v in batch.values() if v.ndim == 4).shape[-1] - self.crop + 1
        top, left = torch.randint(0, room, (2, n), generator=self.gen)
        c = self.crop
        return {k: torch.stack([v[i, :, t:t + c, l:l + c] for i, (t, l) in enumerate(zip(top.tolist(), left.tolist()))])
                if v.ndim == 4 else v for k, v in batch.items()}

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "order": self.order.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"], int(state["pos"])


def _resized(t: torch.Tensor, size: int) -> torch.Tensor:
    """N x C x H x W in [-1, 1] resized bicubically to size x size (kept in [-1, 1])."""
    if t.shape[-1] == size:
        return t
    return F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False).clamp_(-1, 1)
