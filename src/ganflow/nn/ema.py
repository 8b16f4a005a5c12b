"""An exponential moving average of a generator's weights, used for sampling (Karras et al. 2018,
ProGAN; Brock et al. 2019, BigGAN; Yazici et al. 2019 on why averaging helps GANs).

G's weights keep circling the equilibrium instead of settling; their running average sits nearer
its centre, and an averaged G often draws sharper and more varied images than the last iterate.
The copy is a frozen submodule beside G, so it lives in the checkpoint with the other weights.

The decay ramps up as (1 + t) / (10 + t) until it reaches ``decay`` (TensorFlow's
ExponentialMovingAverage with num_updates): a fixed 0.999 from step 0 would keep the random
initial weights in the average for thousands of steps, longer than the whole default run.
Buffers (batch norm's running statistics) are copied, not averaged: they belong to the current
weights' activations, and the copy is what stylegan2-ada does.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def frozen_copy(net: nn.Module) -> nn.Module:
    """A deep copy of ``net`` that autograd and the optimisers never touch, in eval mode for good."""
    twin = copy.deepcopy(net)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin.eval()


def ema_decay(decay: float, updates: int) -> float:
    """The decay used at the ``updates``-th update (0-based), warmed up from 0.1."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


@torch.no_grad()
def update_ema(average: nn.Module, live: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * live for every parameter; buffers copied."""
    for a, p in zip(average.parameters(), live.parameters(), strict=True):
        a.lerp_(p.detach().to(a.dtype), 1.0 - decay)
    for a, b in zip(average.buffers(), live.buffers(), strict=True):
        a.copy_(b)


class EMAGenerator(nn.Module):
    """Holds the average of ``live`` and how many updates it has had (a buffer: it is checkpointed
    and resumes with the weights)."""

    def __init__(self, live: nn.Module, decay: float):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.net = frozen_copy(live)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> "EMAGenerator":
        super().train(mode)
        self.net.eval()  # the average is only ever sampled from: its batch norm uses running statistics
        return self

    def update(self, live: nn.Module) -> None:
        update_ema(self.net, live, ema_decay(self.decay, int(self.updates)))
        self.updates += 1

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.net(*args, **kwargs)
