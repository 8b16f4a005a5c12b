"""DCGAN building blocks (Radford et al. 2016), shared by dcgan, cgan and text2img.

Generator: a vector (z, plus any condition) -> 4 x 4 by a transposed convolution, then one
doubling block per level up to the image size.  Batch norm and ReLU everywhere except the
output layer, which has neither: it ends in tanh.
Discriminator features: stride-2 convolutions from the image down to 4 x 4 (no pooling),
LeakyReLU(0.2), batch norm everywhere except on the input layer.  What sits on top of the
4 x 4 features (a plain score, a class projection, a text join) belongs to each model.

Sizes: levels = log2(image_size) - 2, so 32 px has 3 levels (4 -> 8 -> 16 -> 32) and
64 px has 4.  Widths halve on the way up in G and double on the way down in D.
"""
from __future__ import annotations

import torch
from torch import nn

from ganflow.nn.losses import decision_cut, gan_loss
from ganflow.nn.minibatch import MinibatchStdDev
from ganflow.nn.norm import ConditionalBatchNorm2d


def n_levels(image_size: int) -> int:
    """Doubling steps between 4 x 4 and image_size x image_size."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"DCGAN needs a power-of-two image size >= 8, got {image_size}")
    return image_size.bit_length() - 3


def up_block(in_ch: int, out_ch: int, mode: str, bias: bool) -> nn.Module:
    """Double the resolution: a 4x4 stride-2 transposed conv, or nearest upsampling + 3x3 conv.

    The second is the Keras-style variant; it avoids the checkerboard pattern a transposed
    convolution can leave (Odena et al. 2016).
    """
    if mode == "transpose":
        return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=bias)
    if mode == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias))
    raise ValueError(f"unknown upsampling {mode!r}; use transpose or nearest")


class DCGANGenerator(nn.Module):
    """(N, in_dim) [, classes (N,)] -> (N, out_ch, image_size, image_size) in [-1, 1].

    With ``n_classes`` > 0 every batch norm is class-conditional (nn/norm.py) and forward takes
    the classes too; the layer list, and so the checkpoint keys, are otherwise the same.
    """

    def __init__(self, in_dim: int, out_ch: int, image_size: int, ngf: int = 64, upsample: str = "transpose",
                 n_classes: int = 0):
        super().__init__()
        levels = n_levels(image_size)
        widths = [ngf * 2 ** (levels - 1 - i) for i in range(levels)]  # 32 px, ngf 64: 256, 128, 64

        def norm(w: int) -> nn.Module:
            return ConditionalBatchNorm2d(w, n_classes) if n_classes else nn.BatchNorm2d(w)

        # Batch norm follows, so the convolutions before it carry no bias (its shift does that job).
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False),
                                   norm(widths[0]), nn.ReLU(True)]
        for i in range(levels):
            last = i == levels - 1
            out_w = out_ch if last else widths[i + 1]
            layers.append(up_block(widths[i], out_w, upsample, bias=last))
            layers += [nn.Tanh()] if last else [norm(out_w), nn.ReLU(True)]
        self.net = nn.Sequential(*layers)
        self.n_classes = n_classes

    def forward(self, v: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = v[:, :, None, None]
        if not self.n_classes:
            return self.net(h)
        if y is None:
            raise ValueError("this generator has class-conditional batch norm: pass the classes y")
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANFeatures(nn.Module):
    """(N, in_ch, S, S) -> (N, out_channels, 4, 4); no batch norm on the input layer.

    ``batch_norm=False`` is for a spectrally normalised D (Miyato et al. 2018 use none: batch
    norm would rescale each layer again and undo its Lipschitz bound); every conv then has a
    bias.  ``minibatch_stddev`` appends ProGAN's batch-variety plane to the 4 x 4 features
    (out_channels counts it).
    """

    def __init__(self, in_ch: int, image_size: int, ndf: int = 64, dropout: float = 0.0,
                 batch_norm: bool = True, minibatch_stddev: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_ch
        for i in range(n_levels(image_size)):
            w = ndf * 2 ** i
            bn = batch_norm and i > 0
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, True))
            if dropout > 0:  # the course's Keras DCGAN: dropout 0.4 in D slows it down against G
                layers.append(nn.Dropout(dropout))
            prev = w
        if minibatch_stddev:
            layers.append(MinibatchStdDev())
            prev += 1
        self.out_channels = prev
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ScoreHead(nn.Module):
    """4 x 4 features -> one raw score (logit) per image: DCGAN's last 4x4 valid convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 4, 1, 0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(h).flatten()


def fixed_noise(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    """The same z on every call (own generator: drawing it leaves the training RNG untouched)."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def adversarial_terms(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """D's loss on one real and one fake batch, and its accuracy (the course's health signal).

    Accuracy is the fraction of images on the right side of the decision boundary (logit 0 for
    BCE and hinge, 0.5 for least squares); it should hover near 0.5 in healthy training.
    """
    real, fake = gan_loss(real_scores, True, kind), gan_loss(fake_scores, False, kind)
    cut = decision_cut(kind)
    acc = torch.cat([(real_scores > cut).float(), (fake_scores <= cut).float()]).mean()
    return {"total": 0.5 * (real + fake), "real": real, "fake": fake, "acc": acc.detach()}
