"""Memorisation: copies of training images are found, fresh samples are not."""
from __future__ import annotations

import numpy as np
import pytest

from ganflow.metrics.memorisation import memorisation


@pytest.fixture
def train():
    return np.random.default_rng(0).standard_normal((50, 8))


def test_copies_are_flagged_and_far_samples_are_not(train):
    rng = np.random.default_rng(1)
    copies = train[[3, 17, 29, 41, 8]]
    far = rng.standard_normal((5, 8)) + 10.0
    fake = np.concatenate([copies, far])
    out = memorisation(fake, train, relative_threshold=0.5)
    assert out["fraction_below_threshold"] == 0.5
    np.testing.assert_array_equal(out["nearest"][:5], [3, 17, 29, 41, 8])
    np.testing.assert_allclose(out["distances"][:5], 0.0, atol=1e-6)
    assert set(out["closest"][:5].tolist()) == {0, 1, 2, 3, 4}
    assert out["fake_to_train_min"] == pytest.approx(0.0, abs=1e-6)


def test_distances_and_threshold_match_brute_force(train):
    fake = np.random.default_rng(2).standard_normal((20, 8))
    out = memorisation(fake, train, relative_threshold=0.8)
    full = np.linalg.norm(fake[:, None] - train[None], axis=2)
    np.testing.assert_allclose(out["distances"], full.min(axis=1), rtol=1e-9)
    tt = np.linalg.norm(train[:, None] - train[None], axis=2)
    np.fill_diagonal(tt, np.inf)
    scale = np.median(tt.min(axis=1))
    assert out["train_nn_median"] == pytest.approx(scale, rel=1e-9)
    assert out["threshold"] == pytest.approx(0.8 * scale, rel=1e-9)
    assert out["fraction_below_threshold"] == pytest.approx(np.mean(full.min(axis=1) < 0.8 * scale))
    np.testing.assert_array_equal(out["closest"], np.argsort(full.min(axis=1), kind="stable")[:16])


def test_holdout_baseline(train):
    holdout = np.random.default_rng(3).standard_normal((10, 8))
    out = memorisation(train[:10] + 1e-9, train, holdout=holdout)
    assert out["fraction_below_threshold"] == 1.0
    assert out["n_holdout"] == 10 and 0.0 <= out["holdout_fraction_below_threshold"] < 1.0


def test_errors(train):
    with pytest.raises(ValueError, match="feature sizes differ"):
        memorisation(np.zeros((3, 4)), train)
    with pytest.raises(ValueError, match="relative_threshold"):
        memorisation(train[:2], train, relative_threshold=0)
