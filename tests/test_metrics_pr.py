"""Precision / recall on k-NN manifolds: constructed cases with answers worked by hand."""
from __future__ import annotations

import numpy as np
import pytest

from ganflow.metrics.features import kth_neighbour_distances, nearest_neighbours
from ganflow.metrics.precision_recall import precision_recall


def _line(xs):
    """Points on the x axis of a 3-d space (so distances are plain differences)."""
    return np.array([[x, 0.0, 0.0] for x in xs])


def _brute_force(real, fake, k):
    def radii(s):
        d = np.linalg.norm(s[:, None] - s[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def inside(q, c, r):
        return np.mean([(np.linalg.norm(c - p, axis=1) <= r).any() for p in q])

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_mode_dropping_keeps_precision_loses_recall():
    # Real: 0..9. k = 3 radii: 3 at the ends, 2 inside.  Fake: 0.25 .. 4.25 (half the range),
    # radii 3, 2, 2, 2, 3.  Every fake is 0.25 from a real point -> precision 1.  The fake ball
    # of 4.25 (radius 3) reaches 7.25, so reals 0..7 are covered, 8 and 9 not -> recall 0.8.
    real, fake = _line(range(10)), _line(np.arange(5) + 0.25)
    np.testing.assert_allclose(kth_neighbour_distances(real, 3), [3, 2, 2, 2, 2, 2, 2, 2, 2, 3], atol=1e-6)
    out = precision_recall(real, fake, k=3)
    assert out["precision"] == 1.0 and out["recall"] == pytest.approx(0.8)
    assert (out["precision"], out["recall"]) == pytest.approx(_brute_force(real, fake, 3))


def test_half_unrealistic_samples_halve_precision():
    # Fakes 2.5, 6.5 (inside, radius 2 balls) and 40, 41 (far away) -> precision 0.5.
    # Fake radii (k=3): every fake's 3rd neighbour is >= 34.5 away, so its balls cover all reals.
    real, fake = _line(range(10)), _line([2.5, 6.5, 40, 41])
    out = precision_recall(real, fake, k=3)
    assert out["precision"] == 0.5 and out["recall"] == 1.0
    assert (out["precision"], out["recall"]) == pytest.approx(_brute_force(real, fake, 3))


def test_identical_and_disjoint_sets():
    pts = np.random.default_rng(0).standard_normal((50, 6))
    assert precision_recall(pts, pts.copy()) == {"precision": 1.0, "recall": 1.0, "k": 3, "n_real": 50, "n_fake": 50}
    far = precision_recall(pts, pts + 100.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_random_sets_match_brute_force():
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((60, 5)), rng.standard_normal((45, 5)) * 1.3 + 0.4
    out = precision_recall(real, fake, k=3)
    assert (out["precision"], out["recall"]) == pytest.approx(_brute_force(real, fake, 3))
    assert 0 < out["precision"] < 1 and 0 < out["recall"] < 1


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(2)
    q, r = rng.standard_normal((30, 4)), rng.standard_normal((20, 4))
    dist, idx = nearest_neighbours(q, r)
    full = np.linalg.norm(q[:, None] - r[None], axis=2)
    np.testing.assert_array_equal(idx, full.argmin(axis=1))
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-9)


def test_needs_more_points_than_k():
    with pytest.raises(ValueError, match="at least 4 images"):
        precision_recall(_line(range(3)), _line(range(10)), k=3)
