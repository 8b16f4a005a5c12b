"""pix2pix_tiny, the course's strong baseline: the spec's shapes, its parameter count, one training step."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.train.step import train_step


@pytest.fixture(autouse=True)
def one_thread():
    # A 77k-parameter net gains nothing from more threads; on a shared machine they only spin.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(size: int = 64, channels: int = 1, **net):
    cls = get_model("pix2pix_tiny")
    return cls(cls.Config(**net), DataInfo(channels=channels, image_size=size), 2e-4, (0.5, 0.999))


def keras_style_count(net: nn.Module) -> int:
    """Parameters plus batch-norm moving statistics: what Keras's 'Total params' counts."""
    return (sum(p.numel() for p in net.parameters())
            + sum(b.numel() for name, b in net.named_buffers() if name.endswith(("running_mean", "running_var"))))


def spec_count(channels: int, keras: bool) -> tuple[int, int]:
    """The count written out from the course's spec (k=4 convs with bias, BN 4 or 2 per channel)."""
    conv = lambda i, o: 16 * i * o + o  # noqa: E731
    bn = 4 if keras else 2
    enc, dec = [4, 8, 16, 32, 32], [32, 16, 8, 4]
    g = sum(conv(i, o) + bn * o for i, o in zip([channels] + enc, enc))
    g += sum(conv(i, o) + bn * o for i, o in zip([32, 64, 32, 16], dec))  # decoder inputs after the skip concats
    g += conv(8, channels)
    d_widths = [4, 8, 16, 32]
    d = sum(conv(i, o) + bn * o for i, o in zip([2 * channels] + d_widths, d_widths)) + conv(32, 1)
    return g, d


def test_parameter_count_as_documented():
    model = build()
    assert (sum(p.numel() for p in model.G.parameters()), sum(p.numel() for p in model.D.parameters())) \
        == spec_count(1, keras=False) == (65_673, 11_573)
    assert (keras_style_count(model.G), keras_style_count(model.D)) == spec_count(1, keras=True) == (65_977, 11_693)
    assert keras_style_count(model.G) + keras_style_count(model.D) == 77_670  # the course quotes 77,766
    # every layer is a convolution: the count does not depend on the image size
    assert sum(p.numel() for p in build(128).parameters()) == 77_246


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_follow_the_spec(size):
    model = build(size).eval()
    x = torch.rand(2, 1, size, size) * 2 - 1
    y = model.G(x)
    assert y.shape == x.shape and y.abs().max() <= 1  # tanh output, same size as the input
    assert model.D(torch.cat([x, y], 1)).shape == (2, 1, size // 16, size // 16)  # a patch map
    # the encoder halves five times; TF 'same' at stride 1 keeps the size
    sizes = []
    h = x
    for block in model.G.down:
        h = block(h)
        sizes.append(h.shape[1:])
    assert sizes == [(4, size // 2, size // 2), (8, size // 4, size // 4), (16, size // 8, size // 8),
                     (32, size // 16, size // 16), (32, size // 32, size // 32)]


def test_image_size_must_survive_five_halvings():
    with pytest.raises(ValueError, match="multiple of 32"):
        build(16)


def test_one_training_step_on_cpu():
    torch.manual_seed(0)
    model = build(32)
    batch = {"A": torch.rand(4, 1, 32, 32) * 2 - 1, "B": torch.rand(4, 1, 32, 32) * 2 - 1}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert [p.name for p in model.phases(0)] == ["D", "G"]
    logged = {k: float(v) for k, v in train_step(model, batch, 0).items()}
    assert set(logged) == {"D_total", "D_real", "D_fake", "G_total", "G_gan", "G_mse", "G_mae"}
    assert all(math.isfinite(v) for v in logged.values())
    # the G loss is what the spec says: adversarial + 100 (MSE + MAE)
    assert logged["G_total"] == pytest.approx(logged["G_gan"] + 100 * (logged["G_mse"] + logged["G_mae"]), rel=1e-5)
    changed = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"G", "D"}
    assert model.generate({"A": batch["A"]}).shape == (4, 1, 32, 32)
