"""Normalisation and weight initialisation shared by every network."""
from __future__ import annotations

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use batch, instance or none")


def uses_bias(kind: str) -> bool:
    # Batch norm has its own shift, so a conv bias before it is redundant (junyanz's rule).
    return kind != "batch"


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """DCGAN / pix2pix init: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (de Vries et al. 2017; the generator of Miyato & Koyama 2018):
    batch-normalise without an affine, then scale and shift by the class's own gain and bias.

    The class then reaches every layer of G, not only its input, so a generator cannot learn to
    ignore it the way a DCGAN G fed [z, one-hot(y)] at its first layer can.  Gains start at
    N(1, 0.02) and biases at 0 (DCGAN's batch-norm init), so the classes differ from step one.
    """

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(n_classes, channels)
        self.bias = nn.Embedding(n_classes, channels)
        nn.init.normal_(self.gain.weight, 1.0, 0.02)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
        return self.gain(y)[:, :, None, None] * self.bn(x) + self.bias(y)[:, :, None, None]
