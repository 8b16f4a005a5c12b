"""NearestUpConv (nn/upconv.py) against the literal layers it replaces: Upsample(2, nearest) -> pad -> Conv2d.

pix2pix_tiny's decoder runs on it, so its values and gradients must be the spec's, and checkpoints
written with the old layer layout must still load.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganflow.models.pix2pix_tiny import TinyUNet
from ganflow.nn.upconv import NearestUpConv, tap_map


def literal(x: torch.Tensor, conv: nn.Conv2d, pad_before: int) -> torch.Tensor:
    k = conv.kernel_size[0]
    pad_after = k - 1 - pad_before
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    return conv(F.pad(up, (pad_before, pad_after, pad_before, pad_after)))


@pytest.mark.parametrize("k,pad_before", [(4, 1), (3, 1), (4, 2), (5, 2), (2, 0), (1, 0)])
@pytest.mark.parametrize("size", [1, 5, 8])
def test_values_and_gradients_equal_the_literal_layers(k, pad_before, size):
    torch.manual_seed(k * 10 + size)
    conv = nn.Conv2d(3, 5, k, 1, 0).double()
    up = NearestUpConv(3, 5, k, pad_before).double()
    up.load_state_dict(conv.state_dict())  # the same parameters, the same names
    x1 = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = literal(x1, conv, pad_before), up(x2)
    assert y2.shape == (2, 5, 2 * size, 2 * size) == y1.shape
    torch.testing.assert_close(y2, y1, rtol=0, atol=1e-12)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(up.weight.grad, conv.weight.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(up.bias.grad, conv.bias.grad, rtol=0, atol=1e-10)


def test_the_documented_kernel_for_k4_same_padding():
    A, padding, output_padding = tap_map(4, 1)
    # K = [w3, w2 + w3, w1 + w2, w0 + w1, w0]: row i of A marks the taps summed into index i
    assert A.tolist() == [[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]]
    assert (padding, output_padding) == (2, 1)
    with pytest.raises(ValueError, match="pad_before"):
        tap_map(4, 4)


def test_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    up = NearestUpConv(8, 4, 4, 1)
    x = torch.randn(2, 8, 6, 6)
    ref = up(x)
    with torch.autocast("cpu", torch.bfloat16):
        low = up(x)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max()


class LegacyTinyUNet(nn.Module):
    """pix2pix_tiny's generator as first written: UpSampling, ZeroPad and Conv as three modules."""

    def __init__(self):
        super().__init__()
        self.down = nn.ModuleList(nn.Sequential(nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2), nn.BatchNorm2d(b))
                                  for a, b in zip((1, 4, 8, 16, 32), (4, 8, 16, 32, 32)))

        def upconv(i, o):
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(i, o, 4, 1, 0)]
        self.up = nn.ModuleList(nn.Sequential(*upconv(i, o), nn.ReLU(), nn.BatchNorm2d(o))
                                for i, o in zip((32, 64, 32, 16), (32, 16, 8, 4)))
        self.out = nn.Sequential(*upconv(8, 1), nn.Tanh())

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], 1)
        return self.out(x)


def test_a_checkpoint_of_the_old_layout_loads_and_gives_the_same_images():
    torch.manual_seed(1)
    old = LegacyTinyUNet()
    with torch.no_grad():  # running statistics that are not the init's, so BN's keys matter too
        for m in old.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    state = old.state_dict()
    assert "up.0.4.running_var" in state and "out.2.weight" in state
    new = TinyUNet(1, 1)
    new.load_state_dict(state)  # strict: every key renamed, none left over
    old.eval()
    new.eval()
    x = torch.rand(3, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-5)
    # and the new layout's own state dict round-trips untouched (its up.<i>.2 is a BN, not a conv)
    again = TinyUNet(1, 1)
    again.load_state_dict(new.state_dict())
    for (k, a), b in zip(new.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
