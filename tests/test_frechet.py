"""Frechet distance: known answers and agreement with pytorch-fid's sqrtm computation."""

from __future__ import annotations

import numpy as np
import pytest

from ganflow.metrics.frechet import (
    frechet_distance,
    frechet_distance_sqrtm_reference,
    gaussian_stats,
)


def test_equal_covariances_give_squared_mean_gap():
    assert frechet_distance(np.zeros(4), np.eye(4), np.ones(4), np.eye(4)) == pytest.approx(4.0, abs=1e-12)


def test_identical_stats_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = gaussian_stats(rng.standard_normal((500, 32)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_singular_covariance_is_handled():
    # Fewer images than dimensions: rank-deficient covariances, still finite and >= 0.
    rng = np.random.default_rng(2)
    mu1, s1 = gaussian_stats(rng.standard_normal((10, 32)))
    mu2, s2 = gaussian_stats(rng.standard_normal((10, 32)) + 0.5)
    d = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(d) and d > 0


@pytest.mark.parametrize("dim", [64, 256])
def test_agrees_with_sqrtm_reference(dim):
    rng = np.random.default_rng(dim)
    n = 4 * dim
    # Correlated, non-isotropic features, and a second set that differs in mean and covariance.
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    f1 = rng.standard_normal((n, dim)) @ mix
    f2 = 1.3 * (rng.standard_normal((n, dim)) @ mix)[:, ::-1] + 0.2
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = frechet_distance_sqrtm_reference(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_gaussian_stats_float64_and_shapes():
    feats = np.random.default_rng(3).standard_normal((20, 5)).astype(np.float32)
    mu, sigma = gaussian_stats(feats)
    assert mu.dtype == sigma.dtype == np.float64
    assert mu.shape == (5,) and sigma.shape == (5, 5)
    np.testing.assert_allclose(sigma, np.cov(feats.astype(np.float64), rowvar=False))


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_images_raise(rows):
    with pytest.raises(ValueError, match="at least 2 images"):
        gaussian_stats(np.zeros((rows, 8)))


def test_nan_raises():
    feats = np.ones((10, 4))
    feats[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gaussian_stats(feats)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.array([[1.0, np.nan], [0.0, 1.0]]), np.zeros(2), np.eye(2))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="different lengths"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2 must be 3 x 3"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
