"""The batch plan: which examples each training step sees, mirrored or not, cropped where.

A plan is drawn in the main process from one seeded torch.Generator, in the order the
in-memory BatchStream has always drawn it (a permutation per epoch, then the mirror coins, then
the crop offsets), so that every batch is a function of (seed, step) whatever store or worker
process later fetches the pixels.  Only the plan is random: a store that applies a plan item
(data/stores.py) is deterministic, which is why worker processes cannot change a bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PlanItem:
    """One batch's recipe: example indices, and per example a mirror flag and crop offsets."""

    idx: torch.Tensor                 # int64, the rows of the store
    mirror: torch.Tensor | None       # bool per row, None without augment_flip
    top: torch.Tensor | None          # crop offsets per row, None without random jitter
    left: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.idx)

    def share(self, rank: int, world: int) -> PlanItem:
        """Rank ``rank``'s contiguous share of the global batch (Distributed.shard's slice)."""
        n = len(self.idx)
        if n % world:
            raise ValueError(f"global batch of {n} does not split over {world} processes; "
                             f"make train.<exp>.batch_size a multiple of {world}")
        k = n // world
        part = slice(rank * k, (rank + 1) * k)
        return PlanItem(self.idx[part], None if self.mirror is None else self.mirror[part],
                        None if self.top is None else self.top[part], None if self.left is None else self.left[part])


@dataclass(frozen=True)
class PlanState:
    """Where a plan stands: cheap to keep one per batch in flight (``order`` is shared, never
    written in place: a new epoch makes a new permutation)."""

    gen: torch.Tensor
    order: torch.Tensor
    pos: int

    def as_dict(self) -> dict:
        # The keys BatchStream's checkpoints have always had, so older resume files still load.
        return {"gen": self.gen, "order": self.order.clone(), "pos": self.pos}


class BatchPlan:
    """Endless plan items of ``batch_size`` rows out of ``n``; ``room`` is the number of crop
    positions per side (load_size - crop + 1) or None without jitter."""

    def __init__(self, n: int, batch_size: int, seed: int, flip: bool = False, room: int | None = None):
        self.n, self.batch_size, self.flip, self.room = n, min(batch_size, n), flip, room
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def __iter__(self) -> BatchPlan:
        return self

    def __next__(self) -> PlanItem:
        if self.pos + self.batch_size > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        mirror = torch.rand(len(idx), generator=self.gen) < 0.5 if self.flip else None
        top = left = None
        if self.room is not None:
            top, left = torch.randint(0, self.room, (2, len(idx)), generator=self.gen)
        return PlanItem(idx, mirror, top, left)

    def state(self) -> PlanState:
        return PlanState(self.gen.get_state(), self.order, self.pos)

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"], int(state["pos"])
