"""CycleGAN and StarGAN: losses, the image pool, the gradient penalty, the LR schedule, resume."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganflow.data.tensors import BatchStream
from ganflow.models.base import DataInfo
from ganflow.models.cyclegan import CycleGAN, CycleGANConfig
from ganflow.models.stargan import StarGAN, StarGANConfig
from ganflow.nn.losses import gradient_penalty
from ganflow.nn.pool import ImagePool
from ganflow.nn.resnet import ResnetGenerator
from ganflow.train.checkpoint import load_checkpoint
from ganflow.train.loop import LoopSettings, train
from ganflow.train.schedules import linear_decay, linear_decay_factor
from ganflow.train.step import train_step


def _cyclegan(seed=0, **cfg):
    torch.manual_seed(seed)
    base = dict(ngf=4, ndf=4, n_blocks=1, n_layers_d=2, pool_size=4)
    return CycleGAN(CycleGANConfig(**{**base, **cfg}), DataInfo(3, 16), 2e-4, (0.5, 0.999))


def _stargan(seed=0, **cfg):
    torch.manual_seed(seed)
    base = dict(g_conv_dim=4, d_conv_dim=4, g_repeat_num=1, d_repeat_num=3, n_critic=2)
    return StarGAN(StarGANConfig(**{**base, **cfg}), DataInfo(1, 16, 3), 1e-4, (0.5, 0.999))


def _unpaired(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, 16, 16, generator=g) * 2 - 1, "B": torch.rand(n, 3, 16, 16, generator=g) * 2 - 1}


def _domains(n=6, seed=0, multi=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 16, 16, generator=g) * 2 - 1
    if multi:
        return {"image": x, "label": (torch.rand(n, 3, generator=g) < 0.5).float()}
    return {"image": x, "label": torch.eye(3)[torch.arange(n) % 3]}


def _steps(model, batch, steps):
    """Run the loop's train_step; return {phase_term: value} and which phases ran (each phase
    logs a "<phase>_total")."""
    logged, ran = {}, []
    for step in steps:
        terms = train_step(model, batch, step)
        ran += [(step, k[:-len("_total")]) for k in terms if k.endswith("_total")]
        logged.update({k: float(v) for k, v in terms.items()})
    return logged, ran


# -- one CPU step each, finite losses -------------------------------------------------------------


@pytest.mark.parametrize("cfg", [{}, {"lambda_idt": 0.5}, {"generator": "unet"}])
def test_cyclegan_one_step_updates_both_sides_with_finite_terms(cfg):
    m = _cyclegan(**cfg)
    before = {k: v.clone() for k, v in m.state_dict().items() if k.startswith(("G_", "D_"))}
    logged, ran = _steps(m, _unpaired(), [0])
    assert [p for _, p in ran] == ["G", "D"]  # junyanz's order: G, then D on pooled fakes
    expected = {"G_total", "G_gan_A", "G_gan_B", "G_cycle_A", "G_cycle_B", "D_total", "D_A", "D_B"}
    if cfg.get("lambda_idt"):
        expected |= {"G_idt_A", "G_idt_B"}
    assert set(logged) == expected
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    for net in ("G_A", "G_B", "D_A", "D_B"):
        assert any(not torch.equal(before[k], v) for k, v in m.state_dict().items() if k.startswith(net + ".")), net
    assert int(m.pool_A.count) == 4 and int(m.pool_B.count) == 4


@pytest.mark.parametrize("multi", [False, True])
def test_stargan_one_step_and_n_critic_schedule(multi):
    m = _stargan(labels="multi" if multi else "exclusive")
    logged, ran = _steps(m, _domains(multi=multi), range(4))
    assert ran == [(0, "D"), (1, "D"), (1, "G"), (2, "D"), (3, "D"), (3, "G")]  # n_critic = 2
    assert set(logged) == {"D_total", "D_real", "D_fake", "D_cls", "D_gp", "D_wdist",
                           "G_total", "G_fake", "G_cls", "G_rec"}
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    expected = logged["D_real"] + logged["D_fake"] + 1.0 * logged["D_cls"] + 10.0 * logged["D_gp"]
    assert logged["D_total"] == pytest.approx(expected, rel=1e-5)
    expected = logged["G_fake"] + 1.0 * logged["G_cls"] + 10.0 * logged["G_rec"]
    assert logged["G_total"] == pytest.approx(expected, rel=1e-5)


def test_stargan_generator_sees_the_label_planes():
    m = _stargan()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        outs = [m.G(x, c) for c in m.domain_targets(torch.eye(3)[:2])]
    assert outs[0].shape == x.shape
    # Another target, another image: the label must survive the generator's normalisation
    # (a label erased by instance norm leaves differences of float rounding, ~1e-6).
    assert (outs[0] - outs[1]).abs().mean() > 1e-3
    src, cls = m.D(x)
    assert src.shape == (2, 1, 2, 2) and cls.shape == (2, 3)


def test_stargan_domain_targets_exclusive_and_multi():
    c_org = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    ex = _stargan().domain_targets(c_org)
    assert [t.tolist() for t in ex] == [[[1, 0, 0]] * 2, [[0, 1, 0]] * 2, [[0, 0, 1]] * 2]
    multi = _stargan(labels="multi").domain_targets(c_org)
    assert multi[0].tolist() == [[0, 0, 1], [1, 1, 0]]  # attribute 0 flipped, the others kept
    assert multi[2].tolist() == [[1, 0, 0], [0, 1, 1]]


# -- the cycle -------------------------------------------------------------------------------------


class Shift(nn.Module):
    def __init__(self, by: float):
        super().__init__()
        self.by = by

    def forward(self, x):
        return x + self.by


def test_cycle_of_identity_generators_is_exact():
    m = _cyclegan()
    m.G_A, m.G_B = nn.Identity(), nn.Identity()
    batch = _unpaired()
    out = m.translate(batch)
    assert torch.equal(out["rec_A"], batch["A"]) and torch.equal(out["rec_B"], batch["B"])
    assert torch.equal(out["fake_B"], batch["A"])
    terms = m.g_loss(batch)
    assert float(terms["cycle_A"]) == 0.0 and float(terms["cycle_B"]) == 0.0


def test_cycle_loss_measures_the_round_trip_with_lambdas():
    m = _cyclegan(lambda_A=10.0, lambda_B=3.0)
    m.G_A, m.G_B = nn.Identity(), Shift(0.25)  # a -> a -> a + 0.25;  b -> b + 0.25 -> b + 0.25
    terms = m.g_loss(_unpaired())
    assert float(terms["cycle_A"]) == pytest.approx(0.25)
    assert float(terms["cycle_B"]) == pytest.approx(0.25)
    adv = float((terms["gan_A"] + terms["gan_B"]).detach())
    assert float(terms["total"].detach()) == pytest.approx(adv + 10.0 * 0.25 + 3.0 * 0.25, rel=1e-6)


def test_identity_loss_weights():
    m = _cyclegan(lambda_A=10.0, lambda_B=10.0, lambda_idt=0.5)
    m.G_A, m.G_B = Shift(0.5), Shift(0.5)  # |G_A(b) - b| = |G_B(a) - a| = 0.5
    terms = {k: v.detach() for k, v in m.g_loss(_unpaired()).items()}
    assert float(terms["idt_A"]) == pytest.approx(0.5) and float(terms["idt_B"]) == pytest.approx(0.5)
    rest = float(terms["gan_A"] + terms["gan_B"]) + 10.0 * float(terms["cycle_A"] + terms["cycle_B"])
    assert float(terms["total"]) == pytest.approx(rest + 0.5 * (10.0 * 0.5 + 10.0 * 0.5), rel=1e-6)


def test_resnet_generator_shapes():
    g = ResnetGenerator(3, 1, ngf=4, n_blocks=2)
    y = g(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 1, 32, 32) and y.abs().max() <= 1


# -- the gradient penalty ----------------------------------------------------------------------------


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_gap():
    # f(x) = <w, x>: the gradient is w everywhere, so GP = (||w|| - 1)^2 = (3 - 1)^2 = 4, and
    # dGP/dw = 2 (||w|| - 1) w / ||w||, which reaches w only through create_graph.
    w = torch.zeros(1, 2, 3, 3)
    w[0, 0, 0, 0], w[0, 1, 2, 2] = 2.0, -1.0
    w[0, 0, 1, 2] = 2.0  # ||w|| = sqrt(4 + 1 + 4) = 3
    w.requires_grad_(True)
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    gp = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), real, fake)
    assert float(gp.detach()) == pytest.approx(4.0, rel=1e-6)
    gp.backward()
    assert torch.allclose(w.grad, 2 * (3.0 - 1) * w.detach() / 3.0, atol=1e-6)


def test_gradient_penalty_is_taken_at_the_interpolates():
    # f(x) = 1/2 ||x||^2 has gradient x, so GP = mean((||x_hat|| - 1)^2) at x_hat = a r + (1 - a) f.
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    alpha = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(4, 1, 1, 1)
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return 0.5 * (x ** 2).flatten(1).sum(1)

    gp = gradient_penalty(critic, real, fake, alpha=alpha)
    x_hat = alpha * real + (1 - alpha) * fake
    assert torch.allclose(seen[0], x_hat)
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert float(gp.detach()) == pytest.approx(float(expected), rel=1e-6)


def test_gradient_penalty_draws_alpha_per_sample_in_unit_interval():
    torch.manual_seed(0)
    real, fake = torch.zeros(64, 1, 2, 2), torch.ones(64, 1, 2, 2)
    seen = []
    gradient_penalty(lambda x: seen.append(x.detach()) or x.flatten(1).sum(1), real, fake)
    x_hat = seen[0]  # = 1 - alpha on this pair
    assert torch.equal(x_hat, x_hat[:, :, :1, :1].expand_as(x_hat))  # one alpha per sample, not per pixel
    a = 1 - x_hat[:, 0, 0, 0]
    assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.2  # spread over [0, 1]


# -- the image pool ----------------------------------------------------------------------------------


def test_pool_of_size_zero_passes_fakes_through():
    x = torch.randn(3, 1, 2, 2)
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(x), x)


def test_pool_fills_first_then_swaps_about_half_and_conserves_images():
    torch.manual_seed(0)
    pool = ImagePool(5, (1, 1, 1))
    first = torch.arange(5.0).view(5, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # while filling, every fake comes back as is
    assert int(pool.count) == 5 and torch.equal(pool.images, first)
    swapped, total = 0, 0
    for k in range(200):
        new = torch.full((4, 1, 1, 1), 100.0 + k) + torch.arange(4.0).view(4, 1, 1, 1) / 10
        before = pool.images.clone()
        out = pool.query(new)
        # Nothing is lost or made up: pool before + new fakes == pool after + returned.
        assert sorted((before.flatten().tolist() + new.flatten().tolist())) == \
               sorted(pool.images.flatten().tolist() + out.flatten().tolist())
        swapped += int((out != new).sum())
        total += 4
    assert 0.4 < swapped / total < 0.6  # each fake is swapped for an old one with probability 1/2
    assert int(pool.count) == 5


def test_pool_state_travels_in_the_state_dict():
    torch.manual_seed(1)
    a = ImagePool(3, (1, 2, 2))
    a.query(torch.randn(2, 1, 2, 2))
    b = ImagePool(3, (1, 2, 2))
    b.load_state_dict(a.state_dict())
    assert int(b.count) == 2 and torch.equal(a.images, b.images)


# -- the learning-rate schedule ---------------------------------------------------------------------


def test_linear_decay_factor_values():
    # 10 steps, decay over the second half: junyanz's 1 - max(0, e + 1 - n) / (n_decay + 1).
    assert [round(linear_decay_factor(s, 10), 6) for s in range(10)] == \
           [1, 1, 1, 1, 1, round(5 / 6, 6), round(4 / 6, 6), round(3 / 6, 6), round(2 / 6, 6), round(1 / 6, 6)]
    assert linear_decay_factor(0, 4, decay_from=0.0) == pytest.approx(0.8)
    assert [linear_decay_factor(s, 4, decay_from=1.0) for s in range(4)] == [1, 1, 1, 1]


def test_linear_decay_drives_the_optimisers():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = linear_decay({"G": opt}, total_steps=4)["G"]
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1, 0.1, 0.1 * 2 / 3, 0.1 * 1 / 3])


def _settings(steps, every):
    return LoopSettings(steps=steps, log_every=1, snapshot_every=1, checkpoint_every=every,
                        device=torch.device("cpu"), amp=False)


def test_loop_steps_the_schedule_and_resume_continues_it(tmp_path):
    data = _unpaired(n=8)
    full = _cyclegan(seed=3)
    train(full, BatchStream(data, 4, seed=0), _settings(6, 100), tmp_path / "full.pt", {}, lambda s: None)
    assert full.opt_G.param_groups[0]["lr"] == pytest.approx(2e-4 * linear_decay_factor(6, 6))

    first = _cyclegan(seed=3)
    crash = tmp_path / "crash.pt"
    with pytest.raises(RuntimeError):
        train(first, BatchStream(data, 4, seed=0), _settings(6, 3), crash, {},
              lambda s: (_ for _ in ()).throw(RuntimeError("killed")) if s == 4 else None)
    start = load_checkpoint(crash)
    assert start["step"] == 3 and set(start["schedulers"]) == {"G", "D"}
    resumed = _cyclegan(seed=99)  # other initial weights: everything must come from the checkpoint
    train(resumed, BatchStream(data, 4, seed=0), _settings(6, 3), crash, {}, lambda s: None, start=start)
    assert resumed.opt_D.param_groups[0]["lr"] == pytest.approx(full.opt_D.param_groups[0]["lr"])
    for k, v in full.state_dict().items():
        assert torch.allclose(v.float(), resumed.state_dict()[k].float(), atol=1e-6), k
