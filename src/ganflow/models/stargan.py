"""StarGAN (Choi et al. 2018): one generator for many domains, one critic that also classifies.

G(x, c) takes the image and the target-domain label c, replicated over the image plane as
extra input channels.  D(x) -> (src, cls): a patch map of WGAN critic scores and domain logits.
With x real of label c_org and c_trg a target (the labels of the batch, shuffled):

L_D = -mean D_src(x) + mean D_src(G(x, c_trg)) + lambda_cls cls(D_cls(x), c_org) + lambda_gp GP
L_G = -mean D_src(G(x, c_trg)) + lambda_cls cls(D_cls(G(x, c_trg)), c_trg)
      + lambda_rec |x - G(G(x, c_trg), c_org)|_1

GP is WGAN-GP's gradient penalty on interpolates of real and fake images (nn/losses.py).  cls
is cross-entropy for mutually exclusive domains (digit classes; StarGAN's RaFD setting) or a
binary cross-entropy per attribute for multi-label ones (CelebA's hair colour, Male, Young).
Every training step trains D on a new batch; G trains on every n_critic-th step.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt, field_validator
from torch import nn

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, NetConfig, Phase, TwoPlayerGAN
from ganflow.nn.losses import gradient_penalty
from ganflow.nn.resnet import ResnetGenerator
from ganflow.train.schedules import linear_decay


class StarGANConfig(NetConfig):
    # Which of the dataset's attribute columns (or classes) are the domains; None: all of them.
    domains: list[str] | None = None
    labels: Literal["exclusive", "multi"] = "exclusive"   # one domain per image, or independent attributes
    g_conv_dim: PositiveInt = 64
    d_conv_dim: PositiveInt = 64
    g_repeat_num: PositiveInt = 6        # residual blocks in G
    d_repeat_num: PositiveInt = 6        # stride-2 convolutions in D (6 for 128 px); capped by the image size
    lambda_cls: float = Field(1.0, ge=0)
    lambda_rec: float = Field(10.0, ge=0)
    lambda_gp: float = Field(10.0, ge=0)
    n_critic: PositiveInt = 5
    lr_decay: bool = True                # linear decay over the second half, as StarGAN does
    decay_from: float = Field(0.5, ge=0, le=1)

    @field_validator("domains")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("must name at least one domain, each once")
        return v


class StarDiscriminator(nn.Module):
    """PatchGAN-like critic without normalisation (the gradient penalty is per sample).

    d_repeat_num stride-2 4 x 4 convolutions with LeakyReLU(0.01) take the image down to
    size / 2^n; a 3 x 3 convolution gives the src score map, a convolution spanning the whole
    remaining map the domain logits.
    """

    def __init__(self, channels: int, image_size: int, n_domains: int, conv_dim: int, repeat_num: int):
        super().__init__()
        repeat_num = min(repeat_num, int(math.log2(image_size)) - 1)  # keep at least a 2 x 2 map
        layers: list[nn.Module] = [nn.Conv2d(channels, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        width = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            width *= 2
        self.main = nn.Sequential(*layers)
        k = image_size // 2 ** repeat_num
        self.src = nn.Conv2d(width, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(width, n_domains, k, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)


class StarGenerator(nn.Module):
    """The ResNet generator with the label planes concatenated to the image.

    Its first convolution is not normalised: instance norm would subtract the constant the label
    planes add to each channel and so erase the label.  (StarGAN's own code normalises there and
    keeps the label only through the zero padding's border effects.)
    """

    def __init__(self, channels: int, n_domains: int, conv_dim: int, repeat_num: int):
        super().__init__()
        self.net = ResnetGenerator(channels + n_domains, channels, conv_dim, repeat_num, norm="instance",
                                   norm_first=False)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        planes = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, planes], dim=1))


@register("stargan", task="domains")
class StarGAN(TwoPlayerGAN):
    Config = StarGANConfig

    def __init__(self, cfg: StarGANConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        if info.n_classes < 1:
            raise ValueError("stargan needs at least one domain (DataInfo.n_classes >= 1)")
        n = info.n_classes
        self.set_players(StarGenerator(info.channels, n, cfg.g_conv_dim, cfg.g_repeat_num),
                         StarDiscriminator(info.channels, info.image_size, n, cfg.d_conv_dim, cfg.d_repeat_num))

    def schedulers(self, total_steps: int):
        return linear_decay(self.optimizers(), total_steps, self.cfg.decay_from) if self.cfg.lr_decay else {}

    def phases(self, step: int) -> list[Phase]:
        if (step + 1) % self.cfg.n_critic:
            return [self.d_phase()]
        return [self.d_phase(), self.g_phase()]

    def classification_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.cfg.labels == "exclusive":
            return F.cross_entropy(logits, target.argmax(1))
        # StarGAN's CelebA loss: BCE summed over attributes, averaged over the batch.
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]

    @staticmethod
    def shuffled(labels: torch.Tensor) -> torch.Tensor:
        """Target labels: the batch's own labels in a random order (StarGAN's choice)."""
        return labels[torch.randperm(labels.shape[0], device=labels.device)]

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, c_org = batch["image"], batch["label"]
        c_trg = self.shuffled(c_org)
        src_real, cls_real = self.D(x)
        with torch.no_grad():
            fake = self.G(x, c_trg)
        src_fake, _ = self.D(fake)
        real, fake_score = -src_real.mean(), src_fake.mean()
        cls = self.classification_loss(cls_real, c_org)
        gp = gradient_penalty(lambda z: self.D(z)[0], x, fake)
        total = real + fake_score + self.cfg.lambda_cls * cls + self.cfg.lambda_gp * gp
        # "wdist" is the critic's estimate of the Wasserstein distance: it should fall as G improves.
        return {"total": total, "real": real, "fake": fake_score, "cls": cls, "gp": gp,
                "wdist": -(real + fake_score).detach()}

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, c_org = batch["image"], batch["label"]
        c_trg = self.shuffled(c_org)
        # D is fixed: train_step differentiates only this phase's parameters (G's), so autograd
        # computes no gradients for D's weights.
        fake = self.G(x, c_trg)
        src, cls_logits = self.D(fake)
        adv = -src.mean()
        cls = self.classification_loss(cls_logits, c_trg)
        rec = F.l1_loss(self.G(fake, c_org), x)
        total = adv + self.cfg.lambda_cls * cls + self.cfg.lambda_rec * rec
        return {"total": total, "fake": adv, "cls": cls, "rec": rec}

    @torch.no_grad()
    def translate(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.G(x, c)

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        """Each image into the domain(s) of batch["target"] (default: its own label)."""
        return self.G(batch["image"], batch.get("target", batch["label"]))

    def domain_targets(self, c_org: torch.Tensor) -> list[torch.Tensor]:
        """One target label per domain: that domain alone (exclusive) or that attribute flipped (multi)."""
        n = self.info.n_classes
        if self.cfg.labels == "exclusive":
            return [F.one_hot(torch.full((c_org.shape[0],), k, device=c_org.device), n).to(c_org.dtype)
                    for k in range(n)]
        out = []
        for k in range(n):
            c = c_org.clone()
            c[:, k] = 1 - c[:, k]
            out.append(c)
        return out

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """Rows: the inputs, then the inputs translated into each domain in turn."""
        x = fixed["image"]
        return torch.cat([x, *(self.G(x, c) for c in self.domain_targets(fixed["label"]))])
