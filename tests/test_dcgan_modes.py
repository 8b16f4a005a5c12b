"""dcgan's label-free options against mode dropping: the weight average (net.ema), two learning
rates (net.lr_d / lr_g), DiffAugment translation (net.translate), PacGAN packing (net.pack), the R1
penalty (net.r1); and
the mean-training-image FID baseline the generators' fid.json carries."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ganflow.metrics.frechet import fid_of_one_image, frechet_distance
from ganflow.models.base import DataInfo
from ganflow.models.cgan import CGANConfig
from ganflow.models.dcgan import DCGAN, NoiseConfig
from ganflow.nn.diffaugment import translate
from ganflow.nn.ema import ema_decay, update_ema
from ganflow.nn.losses import r1_penalty
from ganflow.train.step import train_step

INFO = DataInfo(channels=1, image_size=16)


def tiny(**net) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(NoiseConfig(z_dim=8, ngf=4, ndf=4, **net), INFO, 2e-4, (0.5, 0.999))


def batch(n: int = 8) -> dict:
    return {"x": torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1}


def test_ema_decay_warms_up_then_holds():
    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.999, 100_000) == 0.999


def test_update_ema_is_the_weighted_mean_and_copies_buffers():
    live, avg = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        live.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        avg.weight.copy_(torch.tensor([3.0, 2.0, 1.0]))
        live.running_mean.copy_(torch.tensor([5.0, 6.0, 7.0]))
    update_ema(avg, live, 0.75)
    assert torch.allclose(avg.weight, 0.75 * torch.tensor([3.0, 2.0, 1.0]) + 0.25 * torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(avg.running_mean, live.running_mean)


def test_ema_follows_g_after_each_g_step_and_samples_come_from_it():
    m = tiny(ema=0.5)
    assert all(not p.requires_grad for p in m.G_ema.parameters())
    before = [p.clone() for p in m.G_ema.net.parameters()]
    for step in range(3):
        train_step(m, batch(), step)
    assert int(m.G_ema.updates) == 3
    # The average moved, and differs from G's last weights (it lags them).
    assert any(not torch.equal(a, b) for a, b in zip(before, m.G_ema.net.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(m.G.parameters(), m.G_ema.net.parameters()))
    m.eval()
    z = torch.randn(4, 8)
    assert torch.equal(m.generate({"z": z}), m.G_ema.net(z))
    assert not torch.equal(m.generate({"z": z}), m.G(z))
    m.train()
    assert not m.G_ema.net.training  # the average is only sampled from


def test_ema_weights_travel_in_the_state_dict():
    m = tiny(ema=0.9)
    for step in range(2):
        train_step(m, batch(), step)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    fresh = tiny(ema=0.9)
    fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    m.eval(), fresh.eval()
    z = torch.randn(3, 8)
    assert torch.equal(fresh.generate({"z": z}), m.generate({"z": z}))
    assert int(fresh.G_ema.updates) == 2
    assert not any("G_ema" in k for k in tiny().state_dict())  # off: no copy in the checkpoint


def test_two_learning_rates():
    m = tiny(lr_d=4e-4, lr_g=1e-4)
    assert [g["lr"] for g in m.opt_D.param_groups] == [4e-4] and [g["lr"] for g in m.opt_G.param_groups] == [1e-4]
    m = tiny()
    assert m.opt_D.param_groups[0]["lr"] == m.opt_G.param_groups[0]["lr"] == 2e-4


def test_translate_is_a_shift_with_black_border():
    torch.manual_seed(3)
    x = torch.rand(16, 1, 8, 8) * 2 - 1
    y = translate(x, 0.25)
    padded = torch.nn.functional.pad(x, [2, 2, 2, 2], value=-1.0)
    for img, out in zip(padded, y):  # each output is one of the 25 shifts, found by brute force
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                  if torch.equal(img[:, 2 + dy:10 + dy, 2 + dx:10 + dx], out)]
        assert shifts
    assert translate(x, 0.0) is x
    # differentiable: G learns through it
    x.requires_grad_(True)
    translate(x, 0.25).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pack_stacks_images_as_channels():
    m = tiny(pack=2)
    assert m.D.features.net[0].in_channels == 2
    x = torch.arange(5 * 4.0).view(5, 1, 2, 2)
    packed = m.seen_by_d(x)  # the odd one out is left out
    assert packed.shape == (2, 2, 2, 2)
    assert torch.equal(packed[1, 0], x[2, 0]) and torch.equal(packed[1, 1], x[3, 0])
    terms = train_step(m, batch(), 0)
    assert all(torch.isfinite(v) for v in terms.values())
    with pytest.raises(ValueError, match="at least 2"):
        m.seen_by_d(x[:1])


def test_r1_penalty_known_answers():
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    w = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(1))
    xi = x.clone().requires_grad_(True)   # linear D: the gradient is w for every image
    assert torch.allclose(r1_penalty((xi * w).flatten(1).sum(1), xi), w.pow(2).sum())
    xi = x.clone().requires_grad_(True)   # D = sum x^2: gradient 2x, penalty mean 4 ||x||^2
    assert torch.allclose(r1_penalty(xi.pow(2).flatten(1).sum(1), xi), 4 * x.flatten(1).pow(2).sum(1).mean())
    with pytest.raises(ValueError, match="require grad"):
        r1_penalty(x.sum(), x)


def test_r1_joins_d_loss_and_trains_d():
    plain, reg = tiny(), tiny(r1=10.0)
    torch.manual_seed(5)
    a = plain.d_loss(batch())
    torch.manual_seed(5)
    b = reg.d_loss(batch())
    assert "r1" not in a and b["r1"] > 0
    assert torch.allclose(b["total"], a["total"] + 5.0 * b["r1"])
    b["total"].backward()          # the penalty's own graph reaches D's weights
    a["total"].backward()
    grads = [(p.grad, q.grad) for p, q in zip(plain.D.parameters(), reg.D.parameters()) if p.grad is not None]
    assert grads and any(not torch.allclose(g, h) for g, h in grads)
    terms = train_step(tiny(r1=1.0, translate=0.125), batch(), 0)
    assert terms["D_r1"] > 0 and all(torch.isfinite(v) for v in terms.values())


def test_cgan_does_not_take_dcgan_only_options():
    with pytest.raises(ValueError, match="ema"):
        CGANConfig(ema=0.9)


def test_fid_of_one_image_matches_frechet_with_zero_covariance():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 4))
    mu, sigma = feats.mean(0), np.cov(feats, rowvar=False)
    x = rng.normal(size=4)
    assert fid_of_one_image(mu, sigma, x) == pytest.approx(frechet_distance(mu, sigma, x, np.zeros((4, 4))), rel=1e-6)
