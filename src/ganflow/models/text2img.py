"""Text to image, GAN-CLS (Reed et al. 2016): G(z, phi(t)) and a matching-aware D(x, phi(t)).

phi(t) is a caption embedding from a separately trained text encoder (stage `text_encoder`),
given to this model as numbers; both networks first compress it (linear + LeakyReLU) to t_dim.
G: [z, phi'(t)] -> DCGAN generator.  D: DCGAN features of x at 4 x 4, phi'(t) replicated over
the 4 x 4 grid and concatenated, a 1x1 conv, then the 4x4 score.

D sees three kinds of pair each step:
  (real image, right text)  -> real
  (real image, wrong text)  -> fake     the "CLS" part: D must check the match, not only realism
  (fake image, right text)  -> fake
  L_D = gan(s_real, 1) + 1/2 [gan(s_wrong, 0) + gan(s_fake, 0)]
  L_G = gan(D(G(z, t), t), 1) [+ lambda_int gan(D(G(z, t_int), t_int), 1)]      GAN-INT
GAN-INT: t_int = beta t1 + (1 - beta) t2 between two captions of the batch; it has no image, so
only G uses it (Reed et al.).  The course's "realism first, then matching": the wrong-text term
is weighted 0 before step ``mismatch_start``.

Batches carry "x", "text" (N, K, d): K caption embeddings per image, one drawn per step, and
optionally "y" (labels) so that wrong texts come from another class where the batch allows.
generate() takes "z" and "text" (N, d).
"""
from __future__ import annotations

import torch
from pydantic import Field, NonNegativeInt, PositiveInt
from torch import nn

from ganflow.models import register
from ganflow.models.base import Batch, DataInfo, Phase, TwoPlayerGAN
from ganflow.models.dcgan import DCGANConfig, dcgan_features
from ganflow.nn.dcgan import DCGANGenerator, ScoreHead, fixed_noise
from ganflow.nn.losses import decision_cut, gan_loss, generator_loss
from ganflow.nn.norm import init_weights
from ganflow.nn.spectral import maybe_spectral_normed


class Text2ImgConfig(DCGANConfig):
    t_dim: PositiveInt = 128               # compressed caption embedding fed to G and D
    gan_int: bool = True                   # GAN-INT: G also trains on interpolated captions
    int_beta: float = Field(0.5, ge=0, le=1)
    lambda_int: float = Field(1.0, ge=0)
    mismatch_start: NonNegativeInt = 0     # steps before (real, wrong text) enters L_D


def compressor(text_dim: int, t_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(text_dim, t_dim), nn.LeakyReLU(0.2, True))


class TextGenerator(nn.Module):
    def __init__(self, text_dim: int, channels: int, image_size: int, cfg: Text2ImgConfig):
        super().__init__()
        self.compress = compressor(text_dim, cfg.t_dim)
        self.net = DCGANGenerator(cfg.z_dim + cfg.t_dim, channels, image_size, cfg.ngf, cfg.upsample)

    def forward(self, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.compress(text)], 1))


class MatchingDiscriminator(nn.Module):
    def __init__(self, text_dim: int, channels: int, image_size: int, cfg: Text2ImgConfig):
        super().__init__()
        self.features = dcgan_features(channels, image_size, cfg)
        width = self.features.out_channels
        self.compress = compressor(text_dim, cfg.t_dim)
        # A spectrally normalised D has no batch norm (dcgan_features), the join included.
        bn = not cfg.spectral_norm
        self.join = nn.Sequential(nn.Conv2d(width + cfg.t_dim, width, 1, bias=not bn),
                                  nn.BatchNorm2d(width) if bn else nn.Identity(), nn.LeakyReLU(0.2, True))
        self.head = ScoreHead(width)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        t = self.compress(text)[:, :, None, None].expand(-1, -1, *h.shape[2:])
        return self.head(self.join(torch.cat([h, t], 1)))


def mismatched(n: int, labels: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """For each i an index j != i, of another class where the batch has one (random otherwise).

    Two captions of the same class can still describe the same picture ("a thin 7"), and a
    "wrong" text that fits the image would teach D nonsense; so a different label is preferred.
    """
    scores = torch.rand(n, n, device=device)
    scores.fill_diagonal_(-2.0)
    if labels is not None:
        same = labels[:, None] == labels[None, :]
        scores = scores - same.float()  # same class: in [-1, 0), chosen only when no other class exists
    return scores.argmax(1)


@register("text2img", task="captioned")
class Text2Img(TwoPlayerGAN):
    Config = Text2ImgConfig

    def __init__(self, cfg: Text2ImgConfig, info: DataInfo, lr: float, betas: tuple[float, float]):
        super().__init__(cfg, info, lr, betas)
        if info.text_dim < 1:
            raise ValueError("text2img needs caption embeddings (DataInfo.text_dim > 0): use a captioned data set")
        c, s, d = info.channels, info.image_size, info.text_dim
        self.set_players(init_weights(TextGenerator(d, c, s, cfg)),
                         maybe_spectral_normed(init_weights(MatchingDiscriminator(d, c, s, cfg)), cfg.spectral_norm))
        self._step = 0
        self._cache: dict[str, torch.Tensor] | None = None

    def phases(self, step: int) -> list[Phase]:
        self._step = step
        return super().phases(step)

    @staticmethod
    def pick_caption(text: torch.Tensor) -> torch.Tensor:
        """(N, K, d) -> (N, d): one of each image's K captions, drawn anew every step."""
        if text.ndim == 2:
            return text
        k = torch.randint(text.shape[1], (text.shape[0],), device=text.device)
        return text[torch.arange(text.shape[0], device=text.device), k]

    def d_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, kind = batch["x"], self.cfg.gan_loss
        t = self.pick_caption(batch["text"])
        wrong = t[mismatched(len(x), batch.get("y"), x.device)]
        fake = self.G(torch.randn(len(x), self.cfg.z_dim, device=x.device), t)
        self._cache = {"t": t, "fake": fake}  # G's phase reuses this step's caption and fake
        s_real, s_wrong, s_fake = self.D(x, t), self.D(x, wrong), self.D(fake.detach(), t)
        real_l, wrong_l, fake_l = gan_loss(s_real, True, kind), gan_loss(s_wrong, False, kind), gan_loss(s_fake, False, kind)
        w = 1.0 if self._step >= self.cfg.mismatch_start else 0.0
        # Without the wrong-text term, the fake term takes its whole half so the real/fake balance holds.
        total = real_l + 0.5 * (w * wrong_l + (2.0 - w) * fake_l)
        cut = decision_cut(kind)
        acc = torch.cat([(s_real > cut).float(), (s_wrong <= cut).float(), (s_fake <= cut).float()]).mean()
        return {"total": total, "real": real_l, "wrong": wrong_l, "fake": fake_l, "acc": acc.detach()}

    def g_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if self._cache is None:
            t = self.pick_caption(batch["text"])
            self._cache = {"t": t, "fake": self.G(torch.randn(len(x), self.cfg.z_dim, device=x.device), t)}
        t, fake = self._cache["t"], self._cache["fake"]
        self._cache = None
        adv = generator_loss(self.D(fake, t), self.cfg.gan_loss)
        terms = {"total": adv, "gan": adv}
        if self.cfg.gan_int:
            b = self.cfg.int_beta
            t_int = b * t + (1 - b) * t[torch.roll(torch.arange(len(t), device=t.device), 1)]
            fake_int = self.G(torch.randn(len(x), self.cfg.z_dim, device=x.device), t_int)
            inter = generator_loss(self.D(fake_int, t_int), self.cfg.gan_loss)
            terms.update(total=adv + self.cfg.lambda_int * inter, int=inter)
        return terms

    @torch.no_grad()
    def generate(self, batch: Batch) -> torch.Tensor:
        return self.G(batch["z"], batch["text"])

    @torch.no_grad()
    def snapshot(self, fixed: Batch) -> torch.Tensor:
        """Fixed noise with the first caption of each fixed training image."""
        text = fixed["text"][:, 0] if fixed["text"].ndim == 3 else fixed["text"]
        return self.G(fixed_noise(len(text), self.cfg.z_dim).to(text.device), text)
