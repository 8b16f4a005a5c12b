"""CycleGAN (Zhu et al. 2017): unpaired translation A <-> B with two generators and two critics.

G_A: A -> B and G_B: B -> A (ResNet generators, or U-Nets); D_A judges B-images (real B vs
G_A(a)), D_B judges A-images (real A vs G_B(b)); both PatchGAN.  With a = batch["A"], b = batch["B"]:

L_G = gan(D_A(G_A(a)), real) + gan(D_B(G_B(b)), real)                              adversarial (lsgan)
    + lambda_A |G_B(G_A(a)) - a|_1 + lambda_B |G_A(G_B(b)) - b|_1                  cycle consistency
    + lambda_idt (lambda_B |G_A(b) - b|_1 + lambda_A |G_B(a) - a|_1)               identity (optional)
L_D = 1/2 [gan(D_A(b), real) + gan(D_A(pool_B(G_A(a))), fake)]
    + 1/2 [gan(D_B(a), real) + gan(D_B(pool_A(G_B(b))), fake)]

As in junyanz's implementation, G steps first, then D on fakes drawn from a pool of the last 50
(nn/pool.py); the learning rate stays constant for the first half of training and falls
linearly towards zero over the second (train/schedules.py).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeInt, PositiveInt

from ganflow.models import register
from ganflow.models.base import GAN, Batch, DataInfo, NetConfig, Phase
from ganflow.nn.losses import gan_loss, generator_loss
from ganflow.nn.norm import init_weights
from ganflow.nn.patchgan import PatchDiscriminator
from ganflow.nn.pool import ImagePool
from ganflow.nn.resnet import ResnetGenerator
from ganflow.nn.spectral import maybe_spectral_normed
from ganflow.nn.unet import UNetGenerator
from ganflow.train.schedules import linear_decay


class CycleGANConfig(NetConfig):
    generator: Literal["resnet", "unet"] = "resnet"
    n_blocks: PositiveInt = 9            # ResNet blocks: 9 for 256 px, 6 for 128 px, fewer for tiny images
    ngf: PositiveInt = 64
    ndf: PositiveInt = 64
    n_layers_d: PositiveInt = 3
    norm: Literal["instance", "batch"] = "instance"
    gan_loss: Literal["lsgan", "vanilla", "hinge"] = "lsgan"
    spectral_norm: bool = False          # every PatchGAN weight divided by its largest singular value
    lambda_A: float = Field(10.0, ge=0)  # cycle A -> B -> A
    lambda_B: float = Field(10.0, ge=0)  # cycle B -> A -> B
    lambda_idt: float = Field(0.0, ge=0)  # identity weight relative to lambda_A/B; the paper's option is 0.5
    pool_size: NonNegativeInt = 50
    decay_from: float = Field(0.5, ge=0, le=1)  # fraction of training after which the rate decays linearly


@register("cyclegan", task="unpaired")
class CycleGAN(GAN):
    Config = CycleGANConfig

    def __init__(self, cfg: CycleGANConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        c, s = info.channels, info.image_size
        self.G_A, self.G_B = (init_weights(self._generator(cfg, c, s)) for _ in range(2))
        self.D_A, self.D_B = (maybe_spectral_normed(init_weights(PatchDiscriminator(c, cfg.ndf, cfg.n_layers_d,
                                                                                    norm=cfg.norm)), cfg.spectral_norm)
                              for _ in range(2))
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size, (c, s, s)), ImagePool(cfg.pool_size, (c, s, s))
        self.opt_G = self.adam(list(self.G_A.parameters()) + list(self.G_B.parameters()))
        self.opt_D = self.adam(list(self.D_A.parameters()) + list(self.D_B.parameters()))
        self._fakes: tuple[torch.Tensor, torch.Tensor] | None = None

    @staticmethod
    def _generator(cfg: CycleGANConfig, c: int, size: int) -> torch.nn.Module:
        if cfg.generator == "unet":
            return UNetGenerator(c, c, size, cfg.ngf, norm=cfg.norm, dropout=False)
        return ResnetGenerator(c, c, cfg.ngf, cfg.n_blocks, norm=cfg.norm)

    @property
    def G(self) -> torch.nn.ModuleList:  # for the run record's parameter count
        return torch.nn.ModuleList([self.G_A, self.G_B])

    @property
    def D(self) -> torch.nn.ModuleList:
        return torch.nn.ModuleList([self.D_A, self.D_B])

    def optimizers(self):
        return {"G": self.opt_G, "D": self.opt_D}

    def schedulers(self, total_steps: int):
        return linear_decay(self.optimizers(), total_steps, self.cfg.decay_from)

    def phases(self, step: int) -> list[Phase]:
        return [Phase("G", self.opt_G, self.g_loss, list(self.G.parameters())),
                Phase("D", self.opt_D, self.d_loss, list(self.D.parameters()))]

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["A"], batch["B"]
        cfg = self.cfg
        # The critics are fixed here: train_step differentiates only this phase's parameters (G's).
        fake_b, fake_a = self.G_A(a), self.G_B(b)
        rec_a, rec_b = self.G_B(fake_b), self.G_A(fake_a)
        adv_a = generator_loss(self.D_A(fake_b), cfg.gan_loss)
        adv_b = generator_loss(self.D_B(fake_a), cfg.gan_loss)
        cyc_a, cyc_b = F.l1_loss(rec_a, a), F.l1_loss(rec_b, b)
        total = adv_a + adv_b + cfg.lambda_A * cyc_a + cfg.lambda_B * cyc_b
        terms = {"gan_A": adv_a, "gan_B": adv_b, "cycle_A": cyc_a, "cycle_B": cyc_b}
        if cfg.lambda_idt > 0:
            idt_a, idt_b = F.l1_loss(self.G_A(b), b), F.l1_loss(self.G_B(a), a)
            total = total + cfg.lambda_idt * (cfg.lambda_B * idt_a + cfg.lambda_A * idt_b)
            terms.update(idt_A=idt_a, idt_B=idt_b)
        self._fakes = (fake_a.detach(), fake_b.detach())
        return {"total": total, **terms}

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["A"], batch["B"]
        if self._fakes is None:  # D without a preceding G phase (not the usual order)
            with torch.no_grad():
                self._fakes = (self.G_B(b), self.G_A(a))
        fake_a, fake_b = self._fakes
        self._fakes = None
        fake_b, fake_a = self.pool_B.query(fake_b), self.pool_A.query(fake_a)
        kind = self.cfg.gan_loss
        d_a = 0.5 * (gan_loss(self.D_A(b), True, kind) + gan_loss(self.D_A(fake_b), False, kind))
        d_b = 0.5 * (gan_loss(self.D_B(a), True, kind) + gan_loss(self.D_B(fake_a), False, kind))
        return {"total": d_a + d_b, "A": d_a, "B": d_b}

    @torch.no_grad()
    def translate(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Both directions and their cycles for whatever domains the batch holds, in [-1, 1]."""
        out = {}
        if "A" in batch:
            out["fake_B"] = self.G_A(batch["A"])
            out["rec_A"] = self.G_B(out["fake_B"])
        if "B" in batch:
            out["fake_A"] = self.G_B(batch["B"])
            out["rec_B"] = self.G_A(out["fake_A"])
        return out

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.G_A(batch["A"])

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """Rows: A, G_A(A), G_B(G_A(A)), B, G_B(B), G_A(G_B(B))."""
        t = self.translate(fixed)
        return torch.cat([fixed["A"], t["fake_B"], t["rec_A"], fixed["B"], t["fake_A"], t["rec_B"]])
