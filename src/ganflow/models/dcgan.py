"""DCGAN (Radford et al. 2016): G(z) from 100-d normal noise, D(x) a convolutional real/fake score.

L_D = 1/2 [gan(D(x), real) + gan(D(G(z)), fake)]
L_G = gan(D(G(z)), real)                       gan: BCE (vanilla) or least squares (lsgan)

Batches carry "x" (real images in [-1, 1]); generate() takes "z" (N, z_dim).
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveInt

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, NetConfig, TwoPlayerGAN
from ganflow.nn.dcgan import DCGANFeatures, DCGANGenerator, ScoreHead, adversarial_terms, fixed_noise
from ganflow.nn.losses import gan_loss
from ganflow.nn.norm import init_weights


class DCGANConfig(NetConfig):
    z_dim: PositiveInt = 100
    ngf: PositiveInt = 64
    ndf: PositiveInt = 64
    gan_loss: Literal["vanilla", "lsgan"] = "vanilla"
    upsample: Literal["transpose", "nearest"] = "transpose"  # nearest: upsample + 3x3 conv
    d_dropout: float = Field(0.0, ge=0, lt=1)                 # the course's Keras variant uses 0.4


class Discriminator(torch.nn.Module):
    def __init__(self, channels: int, image_size: int, ndf: int, dropout: float):
        super().__init__()
        self.features = DCGANFeatures(channels, image_size, ndf, dropout)
        self.head = ScoreHead(self.features.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register("dcgan", task="unconditional")
class DCGAN(TwoPlayerGAN):
    Config = DCGANConfig

    def __init__(self, cfg: DCGANConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        c, s = info.channels, info.image_size
        self.set_players(init_weights(DCGANGenerator(cfg.z_dim, c, s, cfg.ngf, cfg.upsample)),
                         init_weights(Discriminator(c, s, cfg.ndf, cfg.d_dropout)))
        self._fake: torch.Tensor | None = None

    def noise(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=device)

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        # One generator forward per step, shared by both phases: D sees it detached, G keeps the graph.
        self._fake = self.G(self.noise(len(x), x.device))
        return adversarial_terms(self.D(x), self.D(self._fake.detach()), self.cfg.gan_loss)

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake = self._fake if self._fake is not None else self.G(self.noise(len(batch["x"]), batch["x"].device))
        self._fake = None
        adv = gan_loss(self.D(fake), True, self.cfg.gan_loss)
        return {"total": adv, "gan": adv}

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.G(batch["z"])

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """The same noise at every snapshot, so the grids show one set of samples changing over time."""
        n = len(next(iter(fixed.values())))
        return self.G(fixed_noise(n, self.cfg.z_dim).to(next(self.parameters()).device))
