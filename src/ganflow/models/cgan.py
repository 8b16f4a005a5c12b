"""Class-conditional DCGAN: G(z, y) and D(x, y), with three ways for D to use the class.

G always takes [z, one-hot(y)] (Mirza & Osindero 2014); with ``class_bn`` every batch norm of G is
also class-conditional (a gain and bias per class, as Miyato & Koyama's generator), so the class
reaches every layer.  D, by ``conditioning``:
  concat      one-hot(y) as extra constant input planes beside the image (Mirza & Osindero)
  projection  score = psi(phi(x)) + <embed(y), phi(x)>, phi(x) the pooled 4x4 features
              (Miyato & Koyama 2018): the class enters as an inner product, not an input
  acgan       D does not see y; it scores real/fake and also classifies the class
              (Odena et al. 2017): L_D += lambda_cls [CE(real, y) + CE(fake, y)], L_G += lambda_cls CE(fake, y)

Projection works as its paper trains it: projection D with ``spectral_norm``, ``gan_loss: hinge``
and global sum pooling (``projection_pool: sum``), G with ``class_bn`` (params.yaml's
cgan_projection experiment; measured there).  With mean pooling the class term stays too small
against the plain score and G learns to (nearly) ignore y.

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
from ganflow.models.dcgan import DCGANConfig, dcgan_features
from ganflow.nn.dcgan import DCGANGenerator, ScoreHead, adversarial_terms, fixed_noise
from ganflow.nn.losses import generator_loss
from ganflow.nn.norm import init_weights
from ganflow.nn.spectral import maybe_spectral_normed


class CGANConfig(DCGANConfig):
    # acgan by default: on the 32 px digits at 1,500 steps it made 93.5% of samples the requested
    # class (domain classifier), where plain projection made 19.6% -- its G had learnt to ignore y.
    # Projection with its paper's partners (spectral_norm, hinge, class_bn, projection_pool: sum)
    # reaches 91.4%: close, not better, so it is the cgan_projection experiment, not the default.
    conditioning: Literal["acgan", "projection", "concat"] = "acgan"
    lambda_cls: float = Field(1.0, ge=0)  # AC-GAN's class term weight (other variants ignore it)
    class_bn: bool = False                # G: class-conditional batch norm besides the one-hot input
    # projection: pool D's 4 x 4 features by their mean (the class term starts on the plain score's
    # scale) or their sum (Miyato & Koyama's global sum pooling: a class term 16x larger)
    projection_pool: Literal["mean", "sum"] = "mean"


class ConditionalDiscriminator(nn.Module):
    """(x, y) -> (raw score (N,), class logits (N, K) for acgan else None)."""

    def __init__(self, channels: int, image_size: int, n_classes: int, cfg: CGANConfig):
        super().__init__()
        self.kind, self.n_classes, self.pool = cfg.conditioning, n_classes, cfg.projection_pool
        extra = n_classes if self.kind == "concat" else 0
        self.features = dcgan_features(channels + extra, image_size, cfg)
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
            # Mean pooling keeps the inner product on the scale of the plain score at init; sum (the
            # paper's) gives the class 16x the weight, which a spectrally normalised embedding needs.
            pooled = h.mean((2, 3)) if self.pool == "mean" else h.sum((2, 3))
            score = score + (self.embed(y) * pooled).sum(1)
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
        G = init_weights(DCGANGenerator(cfg.z_dim + k, c, s, cfg.ngf, cfg.upsample,
                                        n_classes=k if cfg.class_bn else 0))
        D = init_weights(ConditionalDiscriminator(c, s, k, cfg))
        if cfg.conditioning == "projection":
            nn.init.xavier_uniform_(D.embed.weight)
        self.set_players(G, maybe_spectral_normed(D, cfg.spectral_norm))  # SN after every init (nn/spectral.py)
        self._fake: torch.Tensor | None = None

    def g_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, F.one_hot(y, self.info.n_classes).to(z.dtype)], 1)

    def fake(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        v = self.g_input(z, y)
        return self.G(v, y) if self.cfg.class_bn else self.G(v)

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch["y"]
        self._fake = self.fake(torch.randn(len(x), self.cfg.z_dim, device=x.device), y)
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
            self.fake(torch.randn(len(x), self.cfg.z_dim, device=x.device), y)
        self._fake = None
        scores, logits = self.D(fake, y)
        adv = generator_loss(scores, self.cfg.gan_loss)
        terms = {"total": adv, "gan": adv}
        if logits is not None:
            cls = F.cross_entropy(logits, y)
            terms.update(total=adv + self.cfg.lambda_cls * cls, cls=cls)
        return terms

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.fake(batch["z"], batch["y"])

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """Fixed noise with classes 0, 1, ..., K-1, 0, 1, ... so every class shows in each grid."""
        n = len(fixed["y"])
        device = next(self.parameters()).device
        y = torch.arange(n, device=device) % self.info.n_classes
        return self.generate({"z": fixed_noise(n, self.cfg.z_dim).to(device), "y": y})
