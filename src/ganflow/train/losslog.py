"""The loss terms of every step, kept on the device until a step that logs.

Converting a term to a Python float waits for the device to finish everything queued before it
(a host-device sync); doing it for every term of every step kept a GPU idle between kernels.
So each step's terms are only stacked into one small tensor on the device (no sync), and
:meth:`LossLog.check` -- called on steps that log and before a checkpoint is written -- copies
everything since the last check to the host in one transfer.  It is also where finiteness is
checked: on the host, over every step since the last check, so a NaN that appeared and vanished
between two logged steps is still caught, and the error names the first bad term and step.

Why not check on every step (one ``.item()`` of an accumulated ``isfinite`` flag): that is a sync
per step, the cost this module removes.  The price of checking late is at most ``log_every``
wasted steps after a NaN; no checkpoint is written past one (the loop checks before saving), so
the last good checkpoint stays the last good one.
"""
from __future__ import annotations

import math

import torch

from ganflow.errors import TrainingError


class NonFiniteLoss(TrainingError, RuntimeError):
    pass


class LossLog:
    """``add(step, terms)`` every step (device only); ``check()`` to get the latest values.

    ``reduce``: applied to the flat tensor of pending values before the copy (under torchrun: the
    mean over the ranks, so every rank sees the same numbers and a non-finite loss on one rank
    stops all of them at once); ``where``: appended to the error (the checkpoint that is kept).
    """

    def __init__(self, reduce=None, where: str = ""):
        self.reduce, self.where = reduce, where
        self._pending: list[tuple[int, tuple[str, ...], torch.Tensor]] = []

    def add(self, step: int, terms: dict[str, torch.Tensor]) -> None:
        # float32 for every term (autocast may give bf16 / fp16 ones); .float() on a float32
        # tensor is itself, and the stack copies the bits, so the logged values are exactly float(v).
        flat = torch.stack([v.detach().float().reshape(()) for v in terms.values()])
        self._pending.append((step, tuple(terms), flat))

    def check(self) -> dict[str, float]:
        """The host sync: the last added step's values; raises NonFiniteLoss naming the first
        non-finite term (and its step) among all steps added since the last check."""
        if not self._pending:
            return {}
        pending, self._pending = self._pending, []
        flat = torch.cat([values for _, _, values in pending])
        if self.reduce is not None:
            flat = self.reduce(flat)
        host = flat.tolist()
        offset = 0
        for step, names, _ in pending:
            row = dict(zip(names, host[offset:offset + len(names)]))
            offset += len(names)
            for name, value in row.items():
                if not math.isfinite(value):
                    raise NonFiniteLoss(f"loss {name} became {value} at step {step}{self.where}")
        return row
