"""Inception Score: direct formula, known answers, the unbiased logits and the missing-weights error."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import entropy

from ganflow.metrics.inception import FIDInceptionV3, extract_features_and_logits
from ganflow.metrics.inception_score import inception_score


def _direct_is(logits, splits):
    """exp(mean_x KL(p(y|x) || p(y))) per consecutive chunk, with scipy's softmax and entropy."""
    n = len(logits)
    p = softmax(np.asarray(logits, np.float64), axis=1)
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits:(i + 1) * n // splits]
        q = chunk.mean(axis=0)
        scores.append(np.exp(np.mean([entropy(row, q) for row in chunk])))
    return np.mean(scores), np.std(scores)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_matches_direct_formula(splits):
    logits = np.random.default_rng(splits).standard_normal((53, 7)) * 3
    mean, std = _direct_is(logits, splits)
    out = inception_score(logits, splits=splits, shuffle=False)
    assert out["mean"] == pytest.approx(mean, rel=1e-12)
    assert out["std"] == pytest.approx(std, rel=1e-9, abs=1e-12)
    assert len(out["per_split"]) == splits


def test_shuffle_is_a_seeded_permutation():
    logits = np.random.default_rng(0).standard_normal((40, 5)) * 2
    perm = np.random.RandomState(2020).permutation(40)
    shuffled = inception_score(logits, splits=4, seed=2020)
    assert shuffled["mean"] == pytest.approx(_direct_is(logits[perm], 4)[0], rel=1e-12)
    # One split is the whole set: order cannot matter.
    assert inception_score(logits, splits=1)["mean"] == pytest.approx(_direct_is(logits, 1)[0], rel=1e-12)


@pytest.mark.parametrize("classes", [2, 10, 1008])
def test_confident_uniform_predictions_give_the_number_of_classes(classes):
    # Every split holds each class equally often, each prediction one-hot (margin 60 nats).
    labels = np.tile(np.arange(classes), 10)
    logits = np.zeros((len(labels), classes))
    logits[np.arange(len(labels)), labels] = 60.0
    out = inception_score(logits, splits=10, shuffle=False)
    assert out["mean"] == pytest.approx(classes, rel=1e-9)
    assert out["std"] == pytest.approx(0.0, abs=1e-6 * classes)
    assert inception_score(logits, splits=1)["mean"] == pytest.approx(classes, rel=1e-9)


def test_one_class_only_gives_one():
    logits = np.zeros((30, 4))
    logits[:, 2] = 50.0
    assert inception_score(logits, splits=3)["mean"] == pytest.approx(1.0, abs=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="at least 10 images"):
        inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(np.full((20, 3), np.nan), splits=2)
    with pytest.raises(ValueError, match="classes >= 2"):
        inception_score(np.zeros((20,)), splits=2)


class _TinyLogitsNet(torch.nn.Module):
    """Stands in for FIDInceptionV3 with fc: features = per-channel means, fc 3 -> 4."""

    with_logits = True

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        torch.nn.init.normal_(self.fc.bias, std=5.0)  # a bias that must NOT reach the IS logits

    def forward(self, x):
        return x.mean(dim=(2, 3))

    def unbiased_logits(self, features):
        return FIDInceptionV3.unbiased_logits(self, features)


def test_logits_are_unbiased_and_extracted_with_features():
    torch.manual_seed(0)
    net = _TinyLogitsNet()
    images = np.random.default_rng(0).random((5, 3, 4, 4)).astype(np.float32)
    feats, logits = extract_features_and_logits(net, images, batch_size=2, progress=False)
    expected_feats = images.mean(axis=(2, 3)).astype(np.float64)
    np.testing.assert_allclose(feats, expected_feats, rtol=1e-6)
    w = net.fc.weight.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(logits, expected_feats @ w.T, rtol=1e-5, atol=1e-6)


def test_weights_without_fc_give_a_clear_error():
    with pytest.raises(ValueError, match="pt_inception-2015-12-05"):
        extract_features_and_logits(FIDInceptionV3(with_logits=False), np.zeros((2, 3, 8, 8), np.float32))
