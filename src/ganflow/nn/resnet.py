"""The ResNet generator of CycleGAN (Johnson et al. 2016, as in junyanz's ResnetGenerator).

    c7s1-ngf, d(2ngf), d(4ngf), R(4ngf) x n_blocks, u(2ngf), u(ngf), c7s1-out, tanh

c7s1 is a 7 x 7 convolution behind reflection padding; d a stride-2 3 x 3 convolution; u its
transposed twin; R a residual block of two reflection-padded 3 x 3 convolutions.  Reflection
padding keeps borders free of the dark frame zero padding paints.  6 blocks suit 128 px, 9 blocks
256 px; small images (32 px) train well with fewer.  StarGAN's generator is this network with
the target-domain label planes as extra input channels, and ``norm_first=False``: a label plane is
constant over the image, so its contribution to the first convolution is a per-channel constant,
which instance normalisation (it subtracts each channel's spatial mean) would erase exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from ganflow.nn.norm import norm_layer, uses_bias


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias),
                                   norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, ngf: int = 64, n_blocks: int = 9, n_down: int = 2,
                 norm: str = "instance", dropout: bool = False, norm_first: bool = True):
        super().__init__()
        if n_blocks < 0 or n_down < 0:
            raise ValueError(f"n_blocks and n_down must be >= 0, got {n_blocks}, {n_down}")
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias or not norm_first),
                                   norm_layer(norm if norm_first else "none", ngf), nn.ReLU(True)]
        width = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, width * 2), nn.ReLU(True)]
            width *= 2
        layers += [ResnetBlock(width, norm, dropout) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_ch, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
