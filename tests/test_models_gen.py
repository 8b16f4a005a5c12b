"""dcgan, cgan and text2img: one training step each, conditioning, GAN-CLS's three pair kinds."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.models.text2img import mismatched
from ganflow.nn.dcgan import DCGANFeatures, DCGANGenerator
from ganflow.train.step import train_step

SIZE, BS, K, TEXT_DIM = 16, 6, 3, 12


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(BS, 1, SIZE, SIZE, generator=g) * 2 - 1,
            "y": torch.tensor([0, 1, 2, 0, 1, 2]),
            "text": torch.randn(BS, K, TEXT_DIM, generator=g)}


def _model(name: str, **net):
    cls = get_model(name)
    info = DataInfo(channels=1, image_size=SIZE, n_classes=3, text_dim=TEXT_DIM)
    torch.manual_seed(0)
    return cls(cls.Config(ngf=8, ndf=8, **net), info, 2e-4, (0.5, 0.999))


CASES = [
    ("dcgan", {}), ("dcgan", {"gan_loss": "lsgan", "upsample": "nearest", "d_dropout": 0.4}),
    ("cgan", {"conditioning": "projection"}), ("cgan", {"conditioning": "acgan"}),
    ("cgan", {"conditioning": "concat", "gan_loss": "lsgan"}),
    ("cgan", {"conditioning": "projection", "spectral_norm": True, "gan_loss": "hinge", "class_bn": True,
              "projection_pool": "sum"}),
    ("dcgan", {"spectral_norm": True, "gan_loss": "hinge", "minibatch_stddev": True}),
    ("text2img", {"spectral_norm": True, "gan_loss": "hinge"}),
    ("text2img", {}), ("text2img", {"gan_int": False, "mismatch_start": 3}),
]


@pytest.mark.parametrize("name,net", CASES)
def test_one_training_step_is_finite_and_moves_both_networks(name, net):
    model = _model(name, **net)
    batch = _batch()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    terms = train_step(model, batch, 0)
    assert all(math.isfinite(float(v)) for v in terms.values()), terms
    assert {k for k in terms if k.endswith("_total")} == {"D_total", "G_total"}
    changed = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"G", "D"}

    model.eval()
    z = torch.randn(4, model.cfg.z_dim)
    inputs = {"z": z, "y": torch.tensor([0, 1, 2, 0]), "text": torch.randn(4, TEXT_DIM)}
    out = model.generate(inputs)
    assert out.shape == (4, 1, SIZE, SIZE)
    assert out.min() >= -1 and out.max() <= 1  # tanh output
    snap = model.snapshot({k: v[:5] for k, v in _batch().items()})
    assert snap.shape == (5, 1, SIZE, SIZE)


@pytest.mark.parametrize("name,net", CASES)
def test_snapshots_use_the_same_noise_whatever_the_training_rng(name, net):
    model = _model(name, **net).eval()
    fixed = {k: v[:4] for k, v in _batch().items()}
    torch.manual_seed(1)
    a = model.snapshot(fixed)
    torch.manual_seed(2)
    torch.randn(10)
    assert torch.equal(a, model.snapshot(fixed))


@pytest.mark.parametrize("conditioning", ["projection", "acgan", "concat"])
def test_cgan_class_changes_the_image_for_the_same_noise(conditioning):
    model = _model("cgan", conditioning=conditioning).eval()
    z = torch.randn(1, model.cfg.z_dim).repeat(3, 1)
    out = model.generate({"z": z, "y": torch.tensor([0, 1, 2])})
    assert (out[0] - out[1]).abs().max() > 1e-4 and (out[1] - out[2]).abs().max() > 1e-4
    same = model.generate({"z": z, "y": torch.tensor([1, 1, 1])})
    assert torch.allclose(same[0], same[2])


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_cgan_discriminator_scores_depend_on_the_class(conditioning):
    model = _model("cgan", conditioning=conditioning).eval()
    x = torch.rand(1, 1, SIZE, SIZE).repeat(3, 1, 1, 1)
    scores, _ = model.D(x, torch.tensor([0, 1, 2]))
    assert scores[0] != scores[1] and scores[1] != scores[2]


def test_acgan_discriminator_classifies_and_its_class_loss_trains_g():
    model = _model("cgan", conditioning="acgan")
    scores, logits = model.D(torch.rand(4, 1, SIZE, SIZE), torch.tensor([0, 1, 2, 0]))
    assert scores.shape == (4,) and logits.shape == (4, 3)
    terms = model.g_loss(_batch())
    assert {"gan", "cls"} <= set(terms)
    t = {k: float(v.detach()) for k, v in terms.items()}
    assert t["total"] == pytest.approx(t["gan"] + model.cfg.lambda_cls * t["cls"], rel=1e-5)


def test_text2img_caption_changes_the_image_for_the_same_noise():
    model = _model("text2img").eval()
    z = torch.randn(1, model.cfg.z_dim).repeat(2, 1)
    out = model.generate({"z": z, "text": torch.randn(2, TEXT_DIM)})
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_gan_cls_discriminator_sees_right_wrong_and_fake_pairs():
    model = _model("text2img", gan_int=False)
    batch = _batch()
    calls = []
    forward = model.D.forward

    def spy(x, text):
        calls.append((x.detach().clone(), text.detach().clone()))
        return forward(x, text)

    model.D.forward = spy
    torch.manual_seed(3)
    model.phases(0)
    terms = model.d_loss(batch)
    assert len(calls) == 3 and {"real", "wrong", "fake"} <= set(terms)
    (x1, t1), (x2, t2), (x3, t3) = calls
    real = batch["x"]
    # Every right text is one of its own image's captions.
    for i in range(BS):
        assert any(torch.equal(t1[i], batch["text"][i, k]) for k in range(K))
    assert torch.equal(x1, real) and torch.equal(x2, real)            # real image, right then wrong text
    assert torch.equal(t3, t1) and not torch.allclose(x3, real)       # fake image, right text
    # Wrong texts are captions of another image, of another class (the batch has 3 classes).
    for i in range(BS):
        owners = [j for j in range(BS) if any(torch.equal(t2[i], batch["text"][j, k]) for k in range(K))]
        assert owners and all(batch["y"][j] != batch["y"][i] for j in owners)
    expected = terms["real"] + 0.5 * (terms["wrong"] + terms["fake"])
    assert float(terms["total"]) == pytest.approx(float(expected), rel=1e-6)


def test_gan_cls_trains_realism_first_when_asked():
    model = _model("text2img", mismatch_start=5)
    model.phases(0)
    early = model.d_loss(_batch())
    assert float(early["total"]) == pytest.approx(float(early["real"] + early["fake"]), rel=1e-6)
    model.phases(5)
    late = model.d_loss(_batch())
    assert float(late["total"]) == pytest.approx(float(late["real"] + 0.5 * (late["wrong"] + late["fake"])), rel=1e-6)


def test_gan_int_adds_a_term_on_interpolated_captions():
    model = _model("text2img", gan_int=True, lambda_int=0.5)
    model.phases(0)
    model.d_loss(_batch())
    terms = model.g_loss(_batch())
    assert float(terms["total"]) == pytest.approx(float(terms["gan"]) + 0.5 * float(terms["int"]), rel=1e-6)


def test_mismatched_prefers_another_class_and_never_itself():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    for _ in range(20):
        j = mismatched(6, labels, torch.device("cpu"))
        assert (j != torch.arange(6)).all()
        assert (labels[j] != labels).all()
    only_one_class = mismatched(4, torch.zeros(4, dtype=torch.long), torch.device("cpu"))
    assert (only_one_class != torch.arange(4)).all()


def test_dcgan_follows_the_course_rules():
    g = DCGANGenerator(100, 1, 32, ngf=8)
    layers = list(g.net)
    assert isinstance(layers[-1], nn.Tanh) and isinstance(layers[-2], nn.ConvTranspose2d)  # no BN at G's output
    assert sum(isinstance(m, nn.ReLU) for m in layers) == 3 and not any(isinstance(m, nn.LeakyReLU) for m in layers)
    d = list(DCGANFeatures(1, 32, ndf=8).net)
    assert isinstance(d[0], nn.Conv2d) and isinstance(d[1], nn.LeakyReLU)              # no BN on D's input
    assert d[1].negative_slope == 0.2 and sum(isinstance(m, nn.BatchNorm2d) for m in d) == 2
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in d)             # strided convs only
    model = _model("dcgan")
    w = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert float(w.mean()) == pytest.approx(0.0, abs=2e-3) and float(w.std()) == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("size,levels", [(8, 1), (32, 3), (64, 4)])
def test_generator_and_features_reach_every_power_of_two_size(size, levels):
    assert DCGANGenerator(10, 3, size, ngf=4)(torch.randn(2, 10)).shape == (2, 3, size, size)
    assert DCGANFeatures(3, size, ndf=4)(torch.randn(2, 3, size, size)).shape == (2, 4 * 2 ** (levels - 1), 4, 4)


def test_models_refuse_data_they_cannot_use():
    cls = get_model("cgan")
    with pytest.raises(ValueError, match="n_classes"):
        cls(cls.Config(), DataInfo(1, 16), 2e-4, (0.5, 0.999))
    cls = get_model("text2img")
    with pytest.raises(ValueError, match="text_dim"):
        cls(cls.Config(), DataInfo(1, 16), 2e-4, (0.5, 0.999))
