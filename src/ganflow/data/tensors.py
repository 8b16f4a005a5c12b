"""Image folders -> tensors in [-1, 1], and a seeded, resumable stream of training batches."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ganflow.data.images import list_images, load_image
from ganflow.data.plan import BatchPlan, PlanItem, PlanState
from ganflow.data.stores import DiskStore, MemoryStore
from ganflow.errors import DataError


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """[0,1] H x W (x 3) arrays -> N x C x H x W float32 in [-1, 1]."""
    arr = np.stack([im[None] if im.ndim == 2 else im.transpose(2, 0, 1) for im in images])
    return torch.from_numpy(arr.astype(np.float32)) * 2 - 1


def to_images(t: torch.Tensor) -> list[np.ndarray]:
    """N x C x H x W in [-1, 1] -> [0,1] float32 arrays (H x W for one channel)."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    return [a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0) for a in arr]


def paired_files(a_dir: Path, b_dir: Path) -> tuple[list[str], list[Path], list[Path]]:
    """(ids, A files, B files) of two folders whose images are matched by file name, by id."""
    a_files = {p.stem: p for p in list_images(a_dir)}
    b_files = {p.stem: p for p in list_images(b_dir)}
    unmatched = sorted(set(a_files) ^ set(b_files))
    if unmatched:
        raise DataError(f"{a_dir} and {b_dir} do not match by name; unmatched: {unmatched[:10]}")
    ids = sorted(a_files)
    return ids, [a_files[i] for i in ids], [b_files[i] for i in ids]


def load_paired_folders(a_dir: Path, b_dir: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, A, B) from two folders whose images are matched by file name."""
    ids, a_files, b_files = paired_files(a_dir, b_dir)
    return ids, to_tensor([load_image(f) for f in a_files]), to_tensor([load_image(f) for f in b_files])


class BatchStream:
    """Endless training batches: a seeded plan (data/plan.py) applied by an example store.

    The plan is a permutation per epoch (+ mirror coins with ``flip``, + crop offsets with
    ``load_size``: pix2pix's random jitter, the images resized to load_size and cropped back at
    the same place in every tensor of one example), drawn in this process; batches are a function
    of seed and step whatever the store.  ``tensors`` is a dict of tensors (kept in memory: the
    whole LFW default is 100 x 64 x 64, no worker processes, no per-step I/O) or a DiskStore,
    which a DataLoader reads with ``workers`` processes (0: in this process), in plan order,
    ``prefetch`` batches ahead per worker.  ``share=(rank, world)``: only this rank's slice of
    every global batch is read (under torchrun), the same tensors as slicing the global batch.

    state_dict() is the plan's state after the last batch handed out by ``next``, not after the
    batches the workers have fetched ahead, so a checkpoint resumes exactly.
    """

    def __init__(self, tensors: dict[str, torch.Tensor] | DiskStore, batch_size: int, seed: int, flip: bool = False,
                 load_size: int | None = None, workers: int = 0, pin_memory: bool = False, prefetch: int = 2,
                 share: tuple[int, int] | None = None):
        self.store = tensors if isinstance(tensors, DiskStore) else MemoryStore(tensors, load_size)
        if isinstance(tensors, DiskStore) and tensors.load_size != load_size:
            raise ValueError(f"the disk store was made for load_size {tensors.load_size}, the stream for {load_size}")
        self.n, self.crop = self.store.n, self.store.crop
        self.plan = BatchPlan(self.n, batch_size, seed, flip=flip,
                              room=None if self.crop is None else load_size - self.crop + 1)
        self.batch_size = self.plan.batch_size
        self.share = share
        if share is not None and self.batch_size % share[1]:
            raise ValueError(f"global batch of {self.batch_size} does not split over {share[1]} processes; "
                             f"make train.<exp>.batch_size a multiple of {share[1]}")
        self.workers, self.pin_memory, self.prefetch = workers, pin_memory, prefetch
        self._loader = self._batches = None
        self._in_flight: deque[PlanState] = deque()  # plan states after each item the loader has drawn
        self._consumed: PlanState | None = None       # None: nothing in flight, the plan's own state

    @property
    def shares_ranks(self) -> bool:
        """Whether batches are already this rank's share (the loop then slices nothing)."""
        return self.share is not None

    def _next_item(self) -> PlanItem:
        item = next(self.plan)
        return item if self.share is None else item.share(*self.share)

    def _planned(self) -> Iterator[PlanItem]:
        """The plan as a DataLoader sampler sees it; runs in this process, ahead of the step."""
        while True:
            item = self._next_item()
            self._in_flight.append(self.plan.state())
            yield item

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        if isinstance(self.store, MemoryStore):
            return self.store.batch(self._next_item())
        if self._batches is None:
            self._consumed = self.plan.state()  # where a close() rewinds to, until a batch is out
            self._loader = DataLoader(_Planned(self.store), batch_size=None, sampler=_Sampler(self._planned),
                                      num_workers=self.workers, pin_memory=self.pin_memory,
                                      persistent_workers=self.workers > 0,
                                      prefetch_factor=self.prefetch if self.workers > 0 else None)
            self._batches = iter(self._loader)
        batch = next(self._batches)
        self._consumed = self._in_flight.popleft()
        return batch

    def state_dict(self) -> dict:
        return (self._consumed or self.plan.state()).as_dict()

    def load_state_dict(self, state: dict) -> None:
        self.close()  # batches fetched ahead belong to the old position
        self.plan.load_state_dict(state)

    def close(self) -> None:
        """Stop the worker processes (a later ``next`` starts new ones where the plan stands)."""
        if self._consumed is not None:
            self.plan.load_state_dict(self._consumed.as_dict())
        shutdown = getattr(self._batches, "_shutdown_workers", None)  # multi-process iterators only
        if shutdown is not None:
            shutdown()
        self._loader = self._batches = None
        self._in_flight.clear()
        self._consumed = None


class _Planned(Dataset):
    """A DataLoader "dataset" whose keys are plan items: dataset[item] is that item's batch."""

    def __init__(self, store: DiskStore):
        self.store = store

    def __getitem__(self, item: PlanItem) -> dict[str, torch.Tensor]:
        return self.store.batch(item)


class _Sampler(Sampler):
    def __init__(self, planned):
        self.planned = planned

    def __iter__(self):
        return self.planned()
