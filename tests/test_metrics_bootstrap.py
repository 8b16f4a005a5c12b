"""Bootstrap intervals: checked against scipy.stats.bootstrap (an independent implementation) and
against the normal-theory interval of a mean, which the bootstrap approaches for many items."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ganflow.metrics.bootstrap import (
    bootstrap,
    fid_interval,
    kid_interval,
    mean_interval,
    psnr_interval,
    ratio_interval,
    resample_indices,
    rmse_interval,
)
from ganflow.metrics.classifier_score import scores_from_logits
from ganflow.metrics.frechet import frechet_distance, frechet_distance_sqrtm_reference, gaussian_stats
from ganflow.metrics.kid import mmd2_unbiased, polynomial_kernel
from ganflow.metrics.pixels import psnr, rmse, ssim, ssim_per_image


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


# -- the intervals of every headline number, each against a plain loop over the same draws --------
# resample_indices(n, resamples, seed) is the one source of draws, so a loop that recomputes the
# metric from scratch on each drawn set (with the project's reference implementations, not the
# vectorised shortcuts) and takes numpy's percentiles must give the same ends.


def _loop_interval(statistic, n, resamples, seed, level=0.95):
    values = np.array([statistic(idx) for idx in resample_indices(n, resamples, seed)])
    return tuple(np.percentile(values, [2.5, 97.5]))


def _loop_shifted_interval(statistic, n, resamples, seed):
    """FID's and KID's rule: the percentile ends moved by value - median of the replicates."""
    values = np.array([statistic(idx) for idx in resample_indices(n, resamples, seed)])
    shift = statistic(np.arange(n)) - np.median(values)
    return tuple(np.percentile(values, [2.5, 97.5]) + shift)


@pytest.mark.parametrize("n, m, d", [(30, 25, 8), (20, 30, 64), (40, 18, 16)])
def test_fid_interval_is_the_bootstrap_of_fid_over_the_generated_features(n, m, d):
    rng = np.random.default_rng(n + d)
    fake, real = rng.normal(size=(n, d)), rng.normal(0.3, 1.2, size=(m, d))
    ours = fid_interval(real, fake, resamples=60, seed=5)
    mu_r, sigma_r = gaussian_stats(real)
    # pytorch-fid's sqrtm where the drawn covariance is full rank, the eigen route where it is not
    reference = frechet_distance_sqrtm_reference if d < n // 2 else frechet_distance
    low, high = _loop_shifted_interval(lambda idx: reference(*gaussian_stats(fake[idx]), mu_r, sigma_r),
                                       n, 60, 5)
    assert ours["low"] == pytest.approx(low, rel=1e-6) and ours["high"] == pytest.approx(high, rel=1e-6)
    assert (ours["resamples"], ours["seed"], ours["n"], ours["level"]) == (60, 5, n, 0.95)


def test_kid_interval_is_the_bootstrap_of_the_whole_set_unbiased_mmd():
    rng = np.random.default_rng(3)
    fake, real = rng.normal(size=(24, 10)), rng.normal(0.2, 1.0, size=(19, 10))

    def kid(idx):
        f = fake[idx]
        return mmd2_unbiased(polynomial_kernel(f, f), polynomial_kernel(real, real), polynomial_kernel(f, real))

    ours = kid_interval(real, fake, resamples=300, seed=2)
    low, high = _loop_shifted_interval(kid, 24, 300, 2)
    assert ours["low"] == pytest.approx(low, abs=1e-12) and ours["high"] == pytest.approx(high, abs=1e-12)
    assert ours["n"] == 24 and ours["seed"] == 2


def test_fid_and_kid_intervals_hold_the_value_where_the_raw_replicates_lie_above_it():
    """At n = 20 in 2048-d a resample's repeated images raise FID above the value; the interval
    keeps the replicates' spread but is centred on the value, and records the shift."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(40, 2048)), rng.normal(0.1, 1.0, size=(20, 2048))
    fid = fid_interval(real, fake, resamples=40, seed=1)
    value = frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))
    assert fid["resample_shift"] < 0 and fid["low"] <= value <= fid["high"]
    kid = kid_interval(real, fake, resamples=200, seed=1)
    assert kid["low"] <= mmd2_unbiased(polynomial_kernel(fake, fake), polynomial_kernel(real, real),
                                       polynomial_kernel(fake, real)) <= kid["high"]


def test_psnr_and_ssim_intervals_resample_test_images():
    rng = np.random.default_rng(4)
    truth = rng.random((12, 16, 16, 3))
    output = np.clip(truth + rng.normal(0, 0.03, truth.shape) * rng.random((12, 1, 1, 1)) * 3, 0, 1)
    ours = psnr_interval(output, truth, resamples=400, seed=9)
    low, high = _loop_interval(lambda idx: psnr(output[idx], truth[idx]), 12, 400, 9)
    assert ours["low"] == pytest.approx(low, rel=1e-12) and ours["high"] == pytest.approx(high, rel=1e-12)
    assert ours["low"] < psnr(output, truth) < ours["high"]

    per_image = ssim_per_image(output, truth)
    assert per_image.mean() == pytest.approx(ssim(output, truth))
    ours = mean_interval(per_image, resamples=400, seed=9)
    low, high = _loop_interval(lambda idx: ssim(output[idx], truth[idx]), 12, 400, 9)
    assert ours["low"] == pytest.approx(low, rel=1e-12) and ours["high"] == pytest.approx(high, rel=1e-12)


def test_pooled_accuracy_interval_keeps_each_images_translations_together():
    rng = np.random.default_rng(6)
    tries = rng.integers(1, 4, size=30).astype(float)  # translations per test image
    hits = np.minimum(tries, rng.integers(0, 4, size=30)).astype(float)
    ours = ratio_interval(hits, tries, resamples=500, seed=1)
    low, high = _loop_interval(lambda idx: hits[idx].sum() / tries[idx].sum(), 30, 500, 1)
    assert (ours["low"], ours["high"]) == pytest.approx((low, high), rel=1e-12)
    # every image right: no spread at all (a known answer)
    assert ratio_interval(tries, tries, resamples=50)[("low")] == 1.0
    with pytest.raises(ValueError, match="zero denominator"):
        ratio_interval(np.array([0.0, 1.0]), np.array([0.0, 1.0]), resamples=500)


def test_classifier_accuracy_carries_its_interval():
    logits = np.random.default_rng(0).normal(size=(40, 4))
    labels = np.arange(40) % 4
    out = scores_from_logits(logits, labels=labels, splits=2, seed=11)
    hits = (logits.argmax(1) == labels).astype(float)
    assert out["accuracy_interval"] == mean_interval(hits, seed=11, method="percentile bootstrap over the generated samples")
    low, high = _loop_interval(lambda idx: hits[idx].mean(), 40, 2000, 11)
    assert (out["accuracy_interval"]["low"], out["accuracy_interval"]["high"]) == pytest.approx((low, high))
