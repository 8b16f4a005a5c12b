"""Spectral normalisation, the hinge loss, class-conditional batch norm and minibatch stddev:
the options that make the projection cGAN work and that fight DCGAN's mode dropping."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrize import is_parametrized

from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.nn.dcgan import DCGANGenerator, adversarial_terms
from ganflow.nn.losses import decision_cut, gan_loss, generator_loss
from ganflow.nn.minibatch import MinibatchStdDev
from ganflow.nn.norm import ConditionalBatchNorm2d
from ganflow.params import ParamsError, parse_params

SIZE, K, TEXT_DIM = 16, 3, 12


def _model(name: str, **net):
    cls = get_model(name)
    info = DataInfo(channels=1, image_size=SIZE, n_classes=K, text_dim=TEXT_DIM)
    torch.manual_seed(0)
    if name in ("pix2pix", "cyclegan"):
        net = {"n_layers_d": 2, **net}  # a PatchGAN that fits 16 px
    return cls(cls.Config(ngf=8, ndf=8, **net), info, 2e-4, (0.5, 0.999))


def _discriminators(model) -> list[nn.Module]:
    return [model.D_A, model.D_B] if hasattr(model, "D_A") else [model.D]


def _d_forward(model, d: nn.Module) -> None:
    """One training-mode forward of a discriminator on random input: one power iteration per SN layer."""
    x = torch.rand(4, 1, SIZE, SIZE) * 2 - 1
    name = model.name
    if name == "cgan":
        d(x, torch.tensor([0, 1, 2, 0]))
    elif name == "text2img":
        d(x, torch.randn(4, TEXT_DIM))
    elif name == "pix2pix":
        d(torch.cat([x, x], 1))
    else:
        d(x)


def _weighted(d: nn.Module) -> list[nn.Module]:
    return [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding))]


def _sigma(w: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), ord=2))


# -- the hinge loss ----------------------------------------------------------------------------


def test_hinge_loss_matches_its_formula_on_fixed_scores():
    s = torch.tensor([-2.0, 0.25, 3.0])
    # D: mean relu(1 - s) on reals = (3 + 0.75 + 0) / 3; mean relu(1 + s) on fakes = (0 + 1.25 + 4) / 3
    assert float(gan_loss(s, True, "hinge")) == pytest.approx(3.75 / 3)
    assert float(gan_loss(s, False, "hinge")) == pytest.approx(5.25 / 3)
    # G: -mean s, not D's margin (which would be 1.25 here)
    assert float(generator_loss(s, "hinge")) == pytest.approx(-1.25 / 3)
    assert decision_cut("hinge") == 0.0
    terms = adversarial_terms(torch.tensor([0.5, -0.1]), torch.tensor([-0.3, 0.2]), "hinge")
    assert float(terms["total"]) == pytest.approx(0.5 * ((0.5 + 1.1) / 2 + (0.7 + 1.2) / 2))
    assert float(terms["acc"]) == pytest.approx(0.5)  # 0.5 real and -0.3 fake on the right side of 0


def test_generator_loss_is_the_real_target_for_the_other_losses():
    s = torch.tensor([-1.0, 0.5, 2.0])
    for kind in ("vanilla", "lsgan", "wgan"):
        assert torch.equal(generator_loss(s, kind), gan_loss(s, True, kind))
    with pytest.raises(ValueError, match="hinge"):
        gan_loss(s, True, "hinged")


def test_hinge_g_loss_is_minus_the_mean_fake_score_in_a_model():
    model = _model("dcgan", gan_loss="hinge", spectral_norm=True)
    batch = {"x": torch.rand(4, 1, SIZE, SIZE) * 2 - 1}
    model.d_loss(batch)
    fake = model._fake
    model.D.eval()  # SN's stored vectors, no power iteration between the two reads
    terms = model.g_loss(batch)
    assert float(terms["gan"].detach()) == pytest.approx(-float(model.D(fake).mean().detach()), rel=1e-5)


# -- spectral normalisation --------------------------------------------------------------------

SN_CASES = [("dcgan", {}), ("dcgan", {"minibatch_stddev": True}), ("cgan", {"conditioning": "projection"}),
            ("cgan", {"conditioning": "acgan"}), ("cgan", {"conditioning": "concat"}), ("text2img", {}),
            ("pix2pix", {}), ("pix2pix", {"n_layers_d": 0}), ("cyclegan", {})]


@pytest.mark.parametrize("name,net", SN_CASES)
def test_spectral_norm_bounds_the_largest_singular_value_of_every_d_weight(name, net):
    model = _model(name, spectral_norm=True, **net)
    for d in _discriminators(model):
        layers = _weighted(d)
        assert layers and all(is_parametrized(m, "weight") for m in layers)
        d.train()
        with torch.no_grad():
            # One power iteration per training forward (plus torch's 15 at registration); the
            # estimate of sigma approaches it from below, so W / sigma_hat ends slightly above 1.
            for _ in range(100):
                _d_forward(model, d)
        for m in layers:
            raw = m.parametrizations.weight.original
            w = m.weight if not isinstance(m, nn.ConvTranspose2d) else m.weight.transpose(0, 1)
            assert _sigma(w) == pytest.approx(1.0, abs=0.02), m
            assert abs(_sigma(raw) - 1.0) > 0.05  # the raw weight is not: the bound is SN's doing
    # The parametrised weights are in D's parameters (its optimiser trains them) and its state.
    keys = set(_discriminators(model)[0].state_dict())
    assert any(k.endswith("parametrizations.weight.original") for k in keys)


@pytest.mark.parametrize("name,net", SN_CASES)
def test_spectral_norm_is_off_by_default(name, net):
    model = _model(name, **net)
    assert model.cfg.spectral_norm is False
    for d in _discriminators(model):
        assert not any(is_parametrized(m) for m in d.modules())
        assert any(abs(_sigma(m.weight) - 1.0) > 0.05 for m in _weighted(d))


def test_spectral_norm_removes_batch_norm_from_dcgan_discriminators():
    for name, net in [("dcgan", {}), ("cgan", {"conditioning": "projection"}), ("text2img", {})]:
        with_bn = _model(name, **net).D
        without = _model(name, spectral_norm=True, **net).D
        assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())
        assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules()), name


def test_spectral_normed_model_trains_a_step_and_round_trips_its_state():
    model = _model("cgan", conditioning="projection", spectral_norm=True, gan_loss="hinge", class_bn=True)
    batch = {"x": torch.rand(6, 1, SIZE, SIZE) * 2 - 1, "y": torch.tensor([0, 1, 2, 0, 1, 2])}
    for phase in model.phases(0):
        out = phase.loss(batch)
        phase.opt.zero_grad(set_to_none=True)
        out["total"].backward()
        phase.opt.step()
    other = _model("cgan", conditioning="projection", spectral_norm=True, gan_loss="hinge", class_bn=True)
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    z, y = torch.randn(3, model.cfg.z_dim), torch.tensor([0, 1, 2])
    x = torch.rand(3, 1, SIZE, SIZE)
    assert torch.equal(model.generate({"z": z, "y": y}), other.generate({"z": z, "y": y}))
    assert torch.equal(model.D(x, y)[0], other.D(x, y)[0])


# -- class-conditional batch norm --------------------------------------------------------------


def test_conditional_batch_norm_makes_g_depend_on_the_class_and_trains_its_gains():
    torch.manual_seed(0)
    g = DCGANGenerator(10, 1, SIZE, ngf=8, n_classes=K)
    assert sum(isinstance(m, ConditionalBatchNorm2d) for m in g.modules()) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) and m.affine for m in g.modules())
    z = torch.randn(1, 10).repeat(3, 1)  # the same z, and no class at the input: only the norms see y
    g.eval()
    out = g(z, torch.tensor([0, 1, 2]))
    assert (out[0] - out[1]).abs().max() > 1e-4 and (out[1] - out[2]).abs().max() > 1e-4
    same = g(z, torch.tensor([1, 1, 1]))
    assert torch.equal(same[0], same[2])
    g.train()
    g(torch.randn(4, 10), torch.tensor([0, 1, 0, 1])).square().mean().backward()
    for cbn in (m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)):
        for emb in (cbn.gain, cbn.bias):
            grad = emb.weight.grad
            assert grad is not None and grad[:2].abs().sum() > 0
            assert torch.equal(grad[2], torch.zeros_like(grad[2]))  # class 2 was not drawn
    with pytest.raises(ValueError, match="classes"):
        g(z)


def test_cgan_class_bn_puts_the_class_into_g_and_its_g_step_trains_the_gains():
    plain = _model("cgan", conditioning="projection")
    assert not any(isinstance(m, ConditionalBatchNorm2d) for m in plain.G.modules())
    model = _model("cgan", conditioning="projection", class_bn=True)
    cbn = [m for m in model.G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 2
    batch = {"x": torch.rand(6, 1, SIZE, SIZE) * 2 - 1, "y": torch.tensor([0, 1, 2, 0, 1, 2])}
    before = [m.gain.weight.detach().clone() for m in cbn]
    d, g = model.phases(0)
    for phase in (d, g):
        out = phase.loss(batch)
        phase.opt.zero_grad(set_to_none=True)
        out["total"].backward()
        phase.opt.step()
    assert all(not torch.equal(b, m.gain.weight) for b, m in zip(before, cbn))
    in_g_phase = {id(p) for p in g.params}
    assert all(id(m.gain.weight) in in_g_phase and id(m.bias.weight) in in_g_phase for m in cbn)


# -- minibatch standard deviation --------------------------------------------------------------


def test_minibatch_stddev_appends_the_batch_variety_plane():
    h = torch.randn(5, 3, 4, 4)
    out = MinibatchStdDev()(h)
    assert out.shape == (5, 4, 4, 4) and torch.equal(out[:, :3], h)
    assert torch.allclose(out[:, 3], h.std(0, correction=0).mean().expand(5, 4, 4))
    assert float(MinibatchStdDev()(h[:1].repeat(5, 1, 1, 1))[:, 3].abs().max()) == 0.0  # all alike: 0
    model = _model("dcgan", minibatch_stddev=True)
    assert model.D.features.out_channels == 8 * 2 + 1  # 16 px: two levels, then the extra plane
    assert model.D(torch.rand(1, 1, SIZE, SIZE)).isfinite().all()  # a batch of one: no NaN


# -- params ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exp,key,bad", [("cgan", "spectral_norm", "maybe"), ("cgan", "gan_loss", "hinged"),
                                         ("cgan", "class_bn", "often"), ("dcgan", "minibatch_stddev", "yes please"),
                                         ("pix2pix", "spectral_norm", "sometimes")])
def test_bad_option_values_are_named(base_params, exp, key, bad):
    base_params["train"][exp]["net"][key] = bad
    with pytest.raises(ParamsError, match=rf"train\.{exp}\.net\.{key}"):
        parse_params(base_params)


def test_the_new_options_validate_where_they_belong(base_params):
    base_params["train"]["cgan"]["net"].update(spectral_norm=True, gan_loss="hinge", class_bn=True)
    base_params["train"]["dcgan"]["net"].update(minibatch_stddev=True, spectral_norm=True)
    parse_params(base_params)
    base_params["train"]["dcgan"]["net"]["class_bn"] = True  # a cgan option: dcgan has no classes
    with pytest.raises(ParamsError, match=r"train\.dcgan\.net\.class_bn"):
        parse_params(base_params)


def test_projection_sum_pooling_scales_the_class_term_by_the_feature_area():
    """Sum pooling (Miyato & Koyama) makes the class inner product 4 x 4 = 16 times the mean's."""
    x, y = torch.rand(3, 1, SIZE, SIZE), torch.tensor([0, 1, 2])
    mean = _model("cgan", conditioning="projection").eval()
    summed = _model("cgan", conditioning="projection", projection_pool="sum").eval()
    summed.load_state_dict(mean.state_dict())
    plain = mean.D.head(mean.D.features(x))
    torch.testing.assert_close(summed.D(x, y)[0] - plain, 16 * (mean.D(x, y)[0] - plain), rtol=1e-4, atol=1e-6)
