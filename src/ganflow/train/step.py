"""One training step: every phase of a model, as the loop, the tests and the benchmarks all run it.

For each phase: its loss (under autocast when mixed precision is on), its optimiser's gradients
zeroed, a backward pass that computes gradients for the phase's own parameters only, the
optimiser step, and the phase's ``after`` hook if it has one (an EMA of G's weights).  The terms come back as detached tensors still on the device: nothing here
waits for the device, so a step that does not log never stops to copy a number to the host
(train/losslog.py does that, on the steps that log).

How "others are frozen meanwhile" (Phase.params) is done: ``backward(inputs=phase's params)``
rather than ``requires_grad_(False)`` on everything else around the phase.  Both make autograd
skip the frozen weights' gradients -- the engine runs only the graph that leads to the inputs and
asks each node for just those outputs, so G's phase computes no weight gradients for D's
convolutions, and D's phase leaves G's ``.grad`` as it was.  But a requires_grad freeze acts at
forward time, and the two-player models (pix2pix, dcgan, cgan, text2img) compute G's fake once in
D's phase and reuse its graph in G's: freezing G there would cut that graph (G would learn
nothing, or need a second forward that changes the dropout draws and batch-norm statistics).
``inputs=`` acts at backward time, so the shared forward stays, nothing is toggled and restored
(an exception cannot leave a network frozen), and a torch.compile'd network sees no
requires_grad change to recompile for.
"""
from __future__ import annotations

import torch

from ganflow.models.base import GAN, Batch, Phase
from ganflow.train.device import autocast


def phase_params(phase: Phase) -> list[torch.nn.Parameter]:
    """What the phase updates: ``phase.params``, or all of its optimiser's parameters when unset;
    parameters frozen for good (requires_grad False) are left out, since autograd cannot
    differentiate with respect to them."""
    params = phase.params if phase.params is not None else \
        [p for group in phase.opt.param_groups for p in group["params"]]
    return [p for p in params if p.requires_grad]


def train_step(model: GAN, batch: Batch, step: int, scaler: torch.amp.GradScaler | None = None,
               dtype: torch.dtype | None = None, ddp=None) -> dict[str, torch.Tensor]:
    """Run every phase of ``model.phases(step)`` on ``batch`` (already on the model's device).

    ``dtype``: the autocast dtype (None: full precision); ``scaler``: the GradScaler for fp16
    (None or disabled otherwise); ``ddp``: a train.distributed.Distributed whose ranks average
    each phase's gradients before its optimiser steps.  Returns {"<phase>_<term>": detached
    tensor}, on the device, in phase order.
    """
    scaler = scaler if scaler is not None else _NO_SCALER
    device = next(iter(batch.values())).device
    out: dict[str, torch.Tensor] = {}
    for phase in model.phases(step):
        with autocast(device, dtype):
            terms = phase.loss(batch)
        phase.opt.zero_grad(set_to_none=True)
        scaler.scale(terms["total"]).backward(inputs=phase_params(phase))
        if ddp is not None:
            ddp.average_grads(phase.opt)
        scaler.step(phase.opt)
        if phase.after is not None:
            phase.after()
        out.update({f"{phase.name}_{k}": v.detach() for k, v in terms.items()})
    scaler.update()
    return out


# A disabled scaler is the identity: scale() returns the loss, step() calls opt.step(), update()
# does nothing -- one code path for fp32, bf16 and fp16.
_NO_SCALER = torch.amp.GradScaler("cpu", enabled=False)
