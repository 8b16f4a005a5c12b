"""The PatchGAN discriminator: an n x n map of real/fake scores, one per overlapping patch.

With n_layers = 3 each score sees a 70 x 70 receptive field (pix2pix's default).
"""
from __future__ import annotations

from torch import nn

from ganflow.nn.norm import norm_layer, uses_bias


class PatchDiscriminator(nn.Module):
    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))  # raw scores (logits); the loss decides
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class PixelDiscriminator(nn.Module):
    """The 1 x 1 PatchGAN ("PixelGAN" in the pix2pix paper): every pixel scored on its own.

    It cannot see structure, only colour, so it sharpens colours without touching layout.
    """

    def __init__(self, in_ch: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1))

    def forward(self, x):
        return self.net(x)


def receptive_field(n_layers: int) -> int:
    """The side, in pixels, of what one score of a PatchDiscriminator(n_layers) sees (0: the PixelGAN).

    Every layer is a 4 x 4 convolution: stride 2 for the first n_layers, then two of stride 1.
    n_layers 1 -> 16, 3 -> 70 (pix2pix's default), 5 -> 286 (the paper's "ImageGAN" at 256 px).
    """
    if n_layers == 0:
        return 1
    size = 1
    for stride in reversed([2] * n_layers + [1, 1]):
        size = (size - 1) * stride + 4
    return size
