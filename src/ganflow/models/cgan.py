"""Class-conditional DCGAN: G(z, y) and D(x, y), with three ways for D to use the class.

G always takes [z, one-hot(y)] (Mirza & Osindero 2014).  D, by ``conditioning``:
  concat      one-hot(y) as extra constant input planes beside the image (Mirza & Osindero)
  projection  score = psi(phi(x)) + <embed(y), phi(x)>, phi(x) the pooled 4x4 features
              (Miyato & Koyama 2018): the class enters as an inner product, not an input
  acgan       D does not see y; it scores real/fake and also classifies the class
              (Odena et al. 2017): L_D += lambda_cls [CE(real, y) + CE(fake, y)], L_G += lambda_cls CE(fake, y)

Fakes use the real batch's labels, so the classes of G's training draws follow the data's.
Batches carry "x" and "y" (long); generate() takes "z" and "y".
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, TwoPlayerGAN
from ganflow.models.dcgan import DCGANConfig
from ganflow.nn.dcgan import DCGANFeatures, DCGANGenerator, ScoreHead, adversarial_terms, fixed_noise
from ganflow.nn.losses import gan_loss
from ganflow.nn.norm import init_weights


class CGANConfig(DCGANConfig):
    # acgan by default: on the 32 px digits at 1,500 steps it made 93.5% of samples the requested
    # class (domain classifier), where projection made 19.6% -- its G had learnt to ignore y.
    conditioning: Literal["acgan", "projection", "concat"] = "acgan"
    lambda_cls: float = Field(1.0, ge=0)  # AC-GAN's class term weight (other variants ignore it)


class ConditionalDiscriminator(nn.Module):
    """(x, y) -> (raw score (N,), class logits (N, K) for acgan else None)."""

    def __init__(self, channels: int, image_size: int, n_classes: int, cfg: CGANConfig):
        super().__init__()
        self.kind, self.n_classes = cfg.conditioning, n_classes
        extra = n_classes if self.kind == "concat" else 0
        self.features = DCGANFeatures(channels + extra, image_size, cfg.ndf, cfg.d_dropout)
        width = self.features.out_channels
        self.head = ScoreHead(width)
        if self.kind == "projection":
            self.embed = nn.Embedding(n_classes, width)
        if self.kind == "acgan":
            self.classify = nn.Linear(width * 16, n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.kind == "concat":
            planes = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, planes], 1)
        h = self.features(x)
        score = self.head(h)
        if self.kind == "projection":
            # Mean pooling (not sum) keeps the inner product on the scale of the plain score at init.
            score = score + (self.embed(y) * h.mean((2, 3))).sum(1)
            return score, None
        if self.kind == "acgan":
            return score, self.classify(h.flatten(1))
        return score, None


@register("cgan", task="labelled")
class CGAN(TwoPlayerGAN):
    Config = CGANConfig

    def __init__(self, cfg: CGANConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        if info.n_classes < 2:
            raise ValueError(f"cgan needs a labelled data set with >= 2 classes, got n_classes={info.n_classes}")
        c, s, k = info.channels, info.image_size, info.n_classes
        self.set_players(init_weights(DCGANGenerator(cfg.z_dim + k, c, s, cfg.ngf, cfg.upsample)),
                         init_weights(ConditionalDiscriminator(c, s, k, cfg)))
        if cfg.conditioning == "projection":
            nn.init.xavier_uniform_(self.D.embed.weight)
        self._fake: torch.Tensor | None = None

    def g_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, F.one_hot(y, self.info.n_classes).to(z.dtype)], 1)

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch["y"]
        self._fake = self.G(self.g_input(torch.randn(len(x), self.cfg.z_dim, device=x.device), y))
        real_s, real_c = self.D(x, y)
        fake_s, fake_c = self.D(self._fake.detach(), y)
        terms = adversarial_terms(real_s, fake_s, self.cfg.gan_loss)
        if real_c is not None:
            cls_real, cls_fake = F.cross_entropy(real_c, y), F.cross_entropy(fake_c, y)
            terms["total"] = terms["total"] + self.cfg.lambda_cls * (cls_real + cls_fake)
            terms.update(cls_real=cls_real, cls_fake=cls_fake)
        return terms

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch["y"]
        fake = self._fake if self._fake is not None else \
            self.G(self.g_input(torch.randn(len(x), self.cfg.z_dim, device=x.device), y))
        self._fake = None
        scores, logits = self.D(fake, y)
        adv = gan_loss(scores, True, self.cfg.gan_loss)
        terms = {"total": adv, "gan": adv}
        if logits is not None:
            cls = F.cross_entropy(logits, y)
            terms.update(total=adv + self.cfg.lambda_cls * cls, cls=cls)
        return terms

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.G(self.g_input(batch["z"], batch["y"]))

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """Fixed noise with classes 0, 1, ..., K-1, 0, 1, ... so every class shows in each grid."""
        n = len(fixed["y"])
        device = next(self.parameters()).device
        y = torch.arange(n, device=device) % self.info.n_classes
        return self.generate({"z": fixed_noise(n, self.cfg.z_dim).to(device), "y": y})
