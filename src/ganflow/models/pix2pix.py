"""pix2pix (Isola et al. 2017): U-Net generator, PatchGAN discriminator on (input, output) pairs.

L_D = 1/2 [gan(D(x, y), real) + gan(D(x, G(x)), fake)]
L_G = gan(D(x, G(x)), real) + lambda_rec * rec(G(x), y)      rec: L1, L2, or both (the homework)

The paper's options, as junyanz's pix2pix names them: ``generator`` unet (U-Net-256 at 256 px,
U-Net-128 at 128 px: always down to a 1 x 1 bottleneck) or resnet_9blocks / resnet_6blocks;
``n_layers_d`` 3 for the 70 x 70 PatchGAN, 1 for 16 x 16, 5 for 286 x 286, 0 for the 1 x 1
PixelGAN; ``norm`` batch or instance; ``spectral_norm`` on D's weights (off by default; it keeps
D's ``norm``, as SPADE's spectrally normalised PatchGAN does) and ``gan_loss: hinge``; ``lr_policy: linear`` keeps the rate for the first
``decay_from`` of training and then lowers it linearly towards zero (the paper: 100 + 100 epochs).
Random jitter and mirroring are data options of the training loop (train.<exp>.load_size,
augment_flip), not of the model.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, NetConfig, TwoPlayerGAN
from ganflow.nn.losses import gan_loss, generator_loss
from ganflow.nn.norm import init_weights
from ganflow.nn.patchgan import PatchDiscriminator, PixelDiscriminator
from ganflow.nn.resnet import ResnetGenerator
from ganflow.nn.spectral import maybe_spectral_normed
from ganflow.nn.unet import UNetGenerator
from ganflow.train.schedules import linear_decay


class Pix2PixConfig(NetConfig):
    generator: Literal["unet", "resnet_9blocks", "resnet_6blocks"] = "unet"
    ngf: PositiveInt = 64
    ndf: PositiveInt = 64
    n_layers_d: int = Field(3, ge=0)  # 3: 70 x 70 PatchGAN; 1: 16 x 16; 5: 286 x 286; 0: 1 x 1 PixelGAN
    norm: Literal["batch", "instance"] = "batch"
    gan_loss: Literal["vanilla", "lsgan", "hinge"] = "vanilla"
    spectral_norm: bool = False  # every D weight divided by its largest singular value (nn/spectral.py)
    lambda_rec: float = Field(100.0, ge=0)
    rec_loss: Literal["l1", "l2", "l1+l2"] = "l1"
    dropout: bool = True
    lr_policy: Literal["constant", "linear"] = "constant"
    decay_from: float = Field(0.5, ge=0, le=1)  # linear: the fraction of training after which the rate decays


def reconstruction(fake: torch.Tensor, real: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(fake, real)
    if kind == "l2":
        return F.mse_loss(fake, real)
    return F.l1_loss(fake, real) + F.mse_loss(fake, real)


@register("pix2pix", task="inpaint")
class Pix2Pix(TwoPlayerGAN):
    Config = Pix2PixConfig

    def __init__(self, cfg: Pix2PixConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        c = info.channels
        if cfg.generator == "unet":
            G = UNetGenerator(c, c, info.image_size, cfg.ngf, norm=cfg.norm, dropout=cfg.dropout)
        else:  # junyanz's resnet_9blocks / resnet_6blocks: two downsamplings, n residual blocks
            G = ResnetGenerator(c, c, cfg.ngf, n_blocks=int(cfg.generator[7]), norm=cfg.norm, dropout=cfg.dropout)
        if cfg.n_layers_d == 0:
            D = PixelDiscriminator(2 * c, cfg.ndf, norm=cfg.norm)
        else:
            D = PatchDiscriminator(2 * c, cfg.ndf, cfg.n_layers_d, norm=cfg.norm)
        self.set_players(init_weights(G), maybe_spectral_normed(init_weights(D), cfg.spectral_norm))
        self._fake: torch.Tensor | None = None

    def schedulers(self, total_steps: int):
        if self.cfg.lr_policy == "constant":
            return {}
        return linear_decay(self.optimizers(), total_steps, self.cfg.decay_from)

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["A"], batch["B"]
        # One generator forward per step, shared by both phases: D sees it detached, G keeps the graph.
        self._fake = self.G(x)
        real = gan_loss(self.D(torch.cat([x, y], 1)), True, self.cfg.gan_loss)
        fake = gan_loss(self.D(torch.cat([x, self._fake.detach()], 1)), False, self.cfg.gan_loss)
        return {"total": 0.5 * (real + fake), "real": real, "fake": fake}

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["A"], batch["B"]
        fake = self._fake if self._fake is not None else self.G(x)
        self._fake = None
        adv = generator_loss(self.D(torch.cat([x, fake], 1)), self.cfg.gan_loss)
        rec = reconstruction(fake, y, self.cfg.rec_loss)
        return {"total": adv + self.cfg.lambda_rec * rec, "gan": adv, "rec": rec}

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.G(batch["A"])
