"""The pix2pix U-Net generator: encoder feature maps are concatenated onto the matching decoder level.

Written as explicit encoder / decoder lists rather than junyanz's recursive skip block, so that
each level can be read off directly.  With ``num_downs = log2(size)`` the bottleneck is 1 x 1.
"""
from __future__ import annotations

import torch
from torch import nn

from ganflow.nn.norm import norm_layer, uses_bias


class UNetGenerator(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, image_size: int, ngf: int = 64, max_mult: int = 8,
                 norm: str = "batch", dropout: bool = True):
        super().__init__()
        num_downs = image_size.bit_length() - 1  # log2: down to a 1 x 1 bottleneck
        bias = uses_bias(norm)
        widths = [ngf * min(2 ** i, max_mult) for i in range(num_downs)]

        self.down = nn.ModuleList()
        prev = in_ch
        for i, w in enumerate(widths):
            innermost, outermost = i == num_downs - 1, i == 0
            layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=bias))
            if not (outermost or innermost):  # no norm on the input layer nor on the 1x1 bottleneck
                layers.append(norm_layer(norm, w))
            self.down.append(nn.Sequential(*layers))
            prev = w

        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            innermost, outermost = i == num_downs - 1, i == 0
            in_w = widths[i] if innermost else widths[i] * 2  # skip concat doubles the width
            out_w = out_ch if outermost else widths[i - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(in_w, out_w, 4, 2, 1, bias=bias or outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, out_w))
                # Dropout is pix2pix's noise: on the three decoder levels nearest the bottleneck
                # that run at the widest width, as in junyanz's U-Net.
                if dropout and (num_downs - 1 - i) in (1, 2, 3) and widths[i] == widths[-1]:
                    layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck output is the decoder's input, not a skip
        for block in self.up:
            x = block(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x
