"""What every GAN offers the one training loop: networks, optimisers, and a list of phases.

A phase is one optimiser step on one loss: ``D`` then ``G`` for most GANs, ``D`` n_critic times
for WGAN-GP.  The loop (train/loop.py) owns stepping, AMP, logging, checkpoints and snapshots;
a model owns only its networks and its losses.  One step of all phases is train/step.py's
``train_step``, which also freezes what a phase does not update.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

Batch = dict[str, torch.Tensor]


class NetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Phase:
    name: str                                        # "D" or "G": the prefix of its terms in losses.csv
    opt: torch.optim.Optimizer
    loss: Callable[[Batch], dict[str, torch.Tensor]]  # must contain "total"
    # What it updates (None: all of opt's parameters).  train/step.py differentiates only these, so
    # every other parameter gets no gradient during the phase (frozen meanwhile).
    params: list[nn.Parameter] | None = None
    # Called after the optimiser step (e.g. an EMA of G's weights follows G's new weights).
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build its networks."""
    channels: int
    image_size: int
    n_classes: int = 0
    text_dim: int = 0  # length of a caption embedding (captioned data), 0 when there is none


class GAN(nn.Module):
    name: ClassVar[str] = "?"
    task: ClassVar[str] = "?"  # set by models.register: the stages/tasks/<task>.py module it runs under
    Config: ClassVar[type[NetConfig]] = NetConfig

    def __init__(self, cfg: NetConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__()
        self.cfg, self.info, self.lr, self.betas = cfg, info, lr, betas

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def phases(self, step: int) -> list[Phase]:
        raise NotImplementedError

    def schedulers(self, total_steps: int) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """Learning-rate schedulers the loop steps once per training step (none by default)."""
        return {}

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        """Generator output in [-1, 1] for a batch (the sample stage's entry point)."""
        raise NotImplementedError

    def adam(self, params) -> torch.optim.Adam:
        """Adam with torch's fused kernel: one pass over each parameter's weight, gradient and two
        moments instead of the ~10 elementwise ops of the default single-tensor loop (on CPU
        torch's default is that loop).  The update rule is Adam's; only the rounding differs.
        On the U-Net-256 the optimiser was a third of a CPU training step (benchmarks/bench_train.py)."""
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas, fused=True)


class TwoPlayerGAN(GAN):
    """The common shape: one generator ``G`` and one discriminator ``D``, each with its own Adam,
    and every step D's phase, then G's.  A subclass builds its networks, hands them to
    :meth:`set_players`, and writes ``d_loss`` and ``g_loss``."""

    def set_players(self, G: nn.Module, D: nn.Module) -> None:
        self.G, self.D = G, D
        self.opt_G, self.opt_D = self.adam(G.parameters()), self.adam(D.parameters())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def d_phase(self) -> Phase:
        return Phase("D", self.opt_D, self.d_loss, list(self.D.parameters()))

    def g_phase(self) -> Phase:
        return Phase("G", self.opt_G, self.g_loss, list(self.G.parameters()))

    def phases(self, step: int) -> list[Phase]:
        return [self.d_phase(), self.g_phase()]

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError
