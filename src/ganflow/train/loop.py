"""The one training loop: every GAN trains here, whatever its phases and losses.

It owns what models should not: mixed precision, the loss log, non-finite-loss checks,
checkpoints for resume, and fixed-input sample snapshots; one step of the optimisers is
train/step.py's train_step, which the tests and benchmarks call too.  The loss terms stay on the
device between logged steps (train/losslog.py): a step that neither logs nor checkpoints makes
no host-device sync.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ganflow.data.tensors import BatchStream
from ganflow.models.base import GAN
from ganflow.train.checkpoint import save_checkpoint
from ganflow.train.device import amp_dtype
from ganflow.train.distributed import Distributed
from ganflow.train.losslog import LossLog, NonFiniteLoss  # noqa: F401  (NonFiniteLoss: the loop's error)
from ganflow.train.progress import Progress
from ganflow.train.step import train_step


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    log_every: int
    snapshot_every: int
    checkpoint_every: int
    device: torch.device
    amp: bool | str  # train.<exp>.amp: true, false or "bf16" (train/device.py amp_dtype)
    channels_last: bool = False  # NHWC weights and batches (train.<exp>.channels_last)


def _to(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    if channels_last:
        return {k: v.to(device, non_blocking=True, memory_format=torch.channels_last) if v.ndim == 4
                else v.to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train(model: GAN, batches: BatchStream, s: LoopSettings, ckpt_path: Path, meta: dict,
          snapshot: Callable[[int], None], start: dict | None = None, ddp: Distributed | None = None) -> dict:
    """Train from ``start`` (a loaded checkpoint) or from scratch; returns the final state dict.

    ``meta`` (model name, params, code version...) is stored in every checkpoint.
    ``snapshot(step)`` is called every ``snapshot_every`` steps and at the end.
    ``ddp`` (under torchrun): each rank trains on its slice of the global batch, gradients and
    logged losses are averaged over the ranks, and only rank 0 writes (train/distributed.py).
    """
    main = ddp is None or ddp.is_main
    model.to(s.device).train()
    if s.channels_last:
        model.to(memory_format=torch.channels_last)
    dtype = amp_dtype(s.device, s.amp)
    scaler = torch.amp.GradScaler(s.device.type, enabled=dtype == torch.float16)
    step, rows, wall0 = 0, [], 0.0
    scheds = model.schedulers(s.steps)  # made before a resume restores the optimisers' rates
    if start is not None:
        model.load_state_dict(start["model"])
        for name, opt in model.optimizers().items():
            opt.load_state_dict(start["optimizers"][name])
        for name, sched in scheds.items():
            sched.load_state_dict(start["schedulers"][name])
        batches.load_state_dict(start["data"])
        torch.set_rng_state(start["rng"]["torch"])
        if s.device.type == "cuda" and start["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(start["rng"]["cuda"])
        step, rows, wall0 = start["step"], list(start["losses"]), float(start.get("wall_time", 0.0))

    def state() -> dict:
        return {**meta, "step": step, "model": model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in model.optimizers().items()},
                "schedulers": {k: v.state_dict() for k, v in scheds.items()},
                "data": batches.state_dict(),
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if s.device.type == "cuda" else []},
                "losses": rows, "wall_time": wall0 + time.perf_counter() - t0}

    losses = LossLog(reduce=None if ddp is None else ddp.mean,
                     where=f"; the last good checkpoint is kept at {ckpt_path}")
    t0 = time.perf_counter()
    # a bar on a terminal, a line every 4% in a log (train/progress.py)
    progress = Progress(s.steps, step, f"train {meta.get('experiment', '')}", enabled=main)
    while step < s.steps:
        batch = next(batches)
        if ddp is not None and not getattr(batches, "shares_ranks", False):
            batch = ddp.shard(batch)  # a stream that read the global batch: this rank's slice of it
        batch = _to(batch, s.device, s.channels_last)
        losses.add(step, train_step(model, batch, step, scaler, dtype, ddp))
        with warnings.catch_warnings():
            # A model may skip an optimiser on some steps (StarGAN's G: one step in n_critic);
            # the schedule is a function of the step all the same.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for sched in scheds.values():
                sched.step()
        step += 1
        log_now = step % s.log_every == 0 or step == s.steps
        save_now = step % s.checkpoint_every == 0 and step < s.steps
        # The host sync; raises on NaN / inf.  Before a checkpoint too, so that none holds weights
        # a non-finite loss has touched; on every rank alike (under torchrun it is a collective).
        logged = losses.check() if log_now or save_now else None
        if log_now:
            rows.append({"step": step, "wall_time": round(wall0 + time.perf_counter() - t0, 3), **logged})
        progress.update(step, logged if log_now else None)
        if main and (step % s.snapshot_every == 0 or step == s.steps):
            model.eval()
            snapshot(step)
            model.train()
        if main and save_now:
            save_checkpoint(ckpt_path, state())
    progress.close()
    final = state()
    if main:
        save_checkpoint(ckpt_path, final)
    return final
