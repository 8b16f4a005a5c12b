"""KID: the unbiased MMD^2 with the cubic kernel, against a hand-worked case and a direct double sum."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import direct_mmd2

from ganflow.metrics import kid as kid_mod
from ganflow.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def test_hand_worked_case():
    # d = 1, X = {0, 1}, Y = {2, 3}: k(0,1) = 1; k(2,3) = 7^3 = 343;
    # cross terms k(0,2) = k(0,3) = 1, k(1,2) = 27, k(1,3) = 64 -> mean 93/4.
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    expected = 1 + 343 - 2 * 93 / 4
    assert expected == 297.5
    assert mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)) == 297.5
    out = kernel_inception_distance(x, y, subsets=3, subset_size=1000)
    assert out["mean"] == pytest.approx(297.5, rel=1e-15) and out["std"] == pytest.approx(0.0, abs=1e-12)
    assert out["subset_size"] == 2


def test_matches_direct_double_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5))
    y = rng.standard_normal((9, 5)) * 1.5 + 0.3
    fast = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert fast == pytest.approx(direct_mmd2(x, y), rel=1e-12)


def test_subsets_are_direct_mmd_of_the_drawn_rows():
    """Each subset value is the direct MMD^2 of rows drawn fake-first by RandomState(seed)."""
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((15, 4)), rng.standard_normal((11, 4)) + 0.5
    out = kernel_inception_distance(real, fake, subsets=4, subset_size=6, seed=7)
    draw = np.random.RandomState(7)
    values = []
    for _ in range(4):
        f = fake[draw.choice(11, 6, replace=False)]
        r = real[draw.choice(15, 6, replace=False)]
        values.append(direct_mmd2(f, r))
    assert out["mean"] == pytest.approx(np.mean(values), rel=1e-12)
    assert out["std"] == pytest.approx(np.std(values), rel=1e-9)
    assert out["std"] > 0


def test_precomputed_kernel_equals_per_subset_kernel(monkeypatch):
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((40, 8)), rng.standard_normal((30, 8)) * 0.8
    full = kernel_inception_distance(real, fake, subsets=5, subset_size=10, seed=3)
    monkeypatch.setattr(kid_mod, "_FULL_KERNEL_MAX", 0)  # force the per-subset path
    per_subset = kernel_inception_distance(real, fake, subsets=5, subset_size=10, seed=3)
    assert full["mean"] == pytest.approx(per_subset["mean"], rel=1e-12)
    assert full["std"] == pytest.approx(per_subset["std"], rel=1e-9)


def test_same_distribution_near_zero_shifted_distribution_positive():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 16)), rng.standard_normal((300, 16))
    same = kernel_inception_distance(a, b, subsets=20, subset_size=100)["mean"]
    shifted = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=100)["mean"]
    assert abs(same) < 0.05 * shifted and shifted > 0


def test_errors():
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="feature sizes differ"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    bad = np.ones((4, 3))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kernel_inception_distance(bad, np.ones((4, 3)))
