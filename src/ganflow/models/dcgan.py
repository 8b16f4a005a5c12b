"""DCGAN (Radford et al. 2016): G(z) from 100-d normal noise, D(x) a convolutional real/fake score.

L_D = 1/2 [gan(D(x), real) + gan(D(G(z)), fake)]
L_G = gan(D(G(z)), real)                       gan: BCE (vanilla) or least squares (lsgan)
                                               hinge: L_D's margins, L_G = -E[D(G(z))] (nn/losses.py)

D's options shared by dcgan, cgan and text2img: ``spectral_norm`` (every D weight divided by its
largest singular value, and no batch norm in D: Miyato et al. 2018) and ``minibatch_stddev``
(ProGAN's batch-variety feature, against mode dropping).

dcgan's own options (NoiseConfig), all label-free: ``ema`` (sample from a moving average of G's
weights, nn/ema.py), ``lr_d`` / ``lr_g`` (two time-scale learning rates, Heusel et al. 2017) and
``translate`` (DiffAugment's differentiable translation of what D sees, nn/diffaugment.py) and
``pack`` (PacGAN, Lin et al. 2018: D judges m images at once, stacked as channels, so a G that
draws the same few digits over and over is easy to spot from the pack) and ``r1`` (Mescheder et
al.'s zero-centred penalty on D's gradient at real images, StyleGAN's regulariser; logged as D_r1).

Batches carry "x" (real images in [-1, 1]); generate() takes "z" (N, z_dim).
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveFloat, PositiveInt

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, NetConfig, Phase, TwoPlayerGAN
from ganflow.nn.dcgan import DCGANFeatures, DCGANGenerator, ScoreHead, adversarial_terms, fixed_noise
from ganflow.nn.diffaugment import translate
from ganflow.nn.ema import EMAGenerator
from ganflow.nn.losses import generator_loss, r1_penalty
from ganflow.nn.norm import init_weights
from ganflow.nn.spectral import maybe_spectral_normed


class DCGANConfig(NetConfig):
    z_dim: PositiveInt = 100
    ngf: PositiveInt = 64
    ndf: PositiveInt = 64
    gan_loss: Literal["vanilla", "lsgan", "hinge"] = "vanilla"
    upsample: Literal["transpose", "nearest"] = "transpose"  # nearest: upsample + 3x3 conv
    d_dropout: float = Field(0.0, ge=0, lt=1)                 # the course's Keras variant uses 0.4
    spectral_norm: bool = False                               # SN on every D weight, and no BN in D
    minibatch_stddev: bool = False                            # ProGAN's batch-std plane before D's score


class NoiseConfig(DCGANConfig):
    """dcgan's options beyond the blocks cgan and text2img share (they do not implement these)."""
    ema: float = Field(0.0, ge=0, lt=1)           # decay of G's weight average sampled from; 0: off
    lr_d: PositiveFloat | None = None             # D's learning rate (null: train.<exp>.lr)
    lr_g: PositiveFloat | None = None             # G's learning rate (null: train.<exp>.lr)
    translate: float = Field(0.0, ge=0, le=0.5)   # D sees real and fake shifted by up to this x size
    pack: PositiveInt = 1                         # PacGAN: D scores packs of this many images of one kind
    r1: float = Field(0.0, ge=0)                  # R1 gamma: D's loss += gamma / 2 * E||grad D(real)||^2; 0: off


def dcgan_features(channels: int, image_size: int, cfg: DCGANConfig) -> DCGANFeatures:
    """D's convolutional trunk as the config asks (one place, so dcgan, cgan and text2img agree)."""
    return DCGANFeatures(channels, image_size, cfg.ndf, cfg.d_dropout,
                         batch_norm=not cfg.spectral_norm, minibatch_stddev=cfg.minibatch_stddev)


class Discriminator(torch.nn.Module):
    def __init__(self, channels: int, image_size: int, cfg: DCGANConfig):
        super().__init__()
        self.features = dcgan_features(channels, image_size, cfg)
        self.head = ScoreHead(self.features.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register("dcgan", task="unconditional")
class DCGAN(TwoPlayerGAN):
    Config = NoiseConfig

    def __init__(self, cfg: NoiseConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        c, s = info.channels, info.image_size
        self.set_players(init_weights(DCGANGenerator(cfg.z_dim, c, s, cfg.ngf, cfg.upsample)),
                         maybe_spectral_normed(init_weights(Discriminator(c * cfg.pack, s, cfg)),
                                               cfg.spectral_norm))
        for opt, own in ((self.opt_D, cfg.lr_d), (self.opt_G, cfg.lr_g)):
            for group in opt.param_groups:
                group["lr"] = own if own is not None else lr
        # A submodule, so its weights are in state_dict and the checkpoint beside G's.
        self.G_ema = EMAGenerator(self.G, cfg.ema) if cfg.ema > 0 else None
        self._fake: torch.Tensor | None = None

    def sampler(self) -> torch.nn.Module:
        """The generator samples come from: the weight average when net.ema is on, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    def g_phase(self) -> Phase:
        phase = super().g_phase()
        if self.G_ema is not None:
            phase.after = lambda: self.G_ema.update(self.G)
        return phase

    def seen_by_d(self, x: torch.Tensor) -> torch.Tensor:
        """What D reads of a batch: translated (net.translate), then packed (net.pack) into
        (N // m, m * C, H, W); a remainder of fewer than m images is left out."""
        x = translate(x, self.cfg.translate)
        m = self.cfg.pack
        if m == 1:
            return x
        n = len(x) - len(x) % m
        if n == 0:
            raise ValueError(f"net.pack {m} needs batches of at least {m} images, got {len(x)}")
        return x[:n].reshape(n // m, m * x.shape[1], *x.shape[2:])

    def noise(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=device)

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        # One generator forward per step, shared by both phases: D sees it detached, G keeps the graph.
        self._fake = self.G(self.noise(len(x), x.device))
        real_in = self.seen_by_d(x)
        if self.cfg.r1 > 0:   # the gradient is taken at what D reads (translated, packed)
            real_in = real_in.detach().requires_grad_(True)
        real_scores = self.D(real_in)
        terms = adversarial_terms(real_scores, self.D(self.seen_by_d(self._fake.detach())), self.cfg.gan_loss)
        if self.cfg.r1 > 0:
            terms["r1"] = r1_penalty(real_scores, real_in)
            terms["total"] = terms["total"] + 0.5 * self.cfg.r1 * terms["r1"]
        return terms

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake = self._fake if self._fake is not None else self.G(self.noise(len(batch["x"]), batch["x"].device))
        self._fake = None
        adv = generator_loss(self.D(self.seen_by_d(fake)), self.cfg.gan_loss)
        return {"total": adv, "gan": adv}

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.sampler()(batch["z"])

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """The same noise at every snapshot, so the grids show one set of samples changing over time."""
        n = len(next(iter(fixed.values())))
        return self.sampler()(fixed_noise(n, self.cfg.z_dim).to(next(self.parameters()).device))
