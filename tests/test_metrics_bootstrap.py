"""Bootstrap intervals: checked against scipy.stats.bootstrap (an independent implementation) and
against the normal-theory interval of a mean, which the bootstrap approaches for many items."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ganflow.metrics.bootstrap import bootstrap, rmse_interval, resample_indices
from ganflow.metrics.pixels import rmse


def test_rmse_interval_matches_scipy_bootstrap():
    rng = np.random.default_rng(1)
    truth = rng.random((20, 16, 16))
    output = np.clip(truth + rng.normal(0, 0.05, truth.shape) * rng.random((20, 1, 1)) * 3, 0, 1)
    ours = rmse_interval(output, truth, resamples=20000, seed=3)
    sse = ((output - truth) ** 2).reshape(20, -1).sum(axis=1)
    count = np.full(20, 256.0)
    theirs = stats.bootstrap((sse, count), lambda s, c: np.sqrt(s.sum() / c.sum()), paired=True,
                             vectorized=False, n_resamples=20000, method="percentile",
                             random_state=np.random.default_rng(4)).confidence_interval
    # Two Monte Carlo estimates of the same percentiles: agree to well under the interval's width.
    width = ours["high"] - ours["low"]
    assert ours["low"] == pytest.approx(theirs.low, abs=0.03 * width)
    assert ours["high"] == pytest.approx(theirs.high, abs=0.03 * width)
    assert ours["low"] < rmse(output, truth) < ours["high"]


def test_the_interval_of_a_mean_approaches_the_normal_one():
    x = np.random.default_rng(0).normal(5.0, 2.0, 400)
    out = bootstrap(lambda idx: float(x[idx].mean()), len(x), resamples=8000, seed=1)
    half = 1.959964 * x.std() / np.sqrt(len(x))
    assert out["low"] == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert out["high"] == pytest.approx(x.mean() + half, abs=0.1 * half)


def test_intervals_are_reproducible_and_recorded():
    truth = np.random.default_rng(2).random((10, 4, 4))
    a = rmse_interval(truth * 0.9, truth, resamples=500, seed=7)
    assert a == rmse_interval(truth * 0.9, truth, resamples=500, seed=7)
    assert a != rmse_interval(truth * 0.9, truth, resamples=500, seed=8)
    assert (a["seed"], a["resamples"], a["n"], a["level"]) == (7, 500, 10, 0.95)
    with pytest.raises(ValueError, match="at least 2"):
        resample_indices(1)
