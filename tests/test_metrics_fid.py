"""FID against an independent float64 computation, and the content-keyed reference-statistics cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganflow.metrics.frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from ganflow.metrics.inception import PREPROCESSING
from ganflow.metrics.refstats import (
    RefStats,
    cache_key,
    cached_stats,
    extractor_sha256,
    images_sha256,
    load_stats,
    save_stats,
    stats_from_features,
)


def _independent_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Textbook FID in float64 with none of our code: explicit means and unbiased covariances,
    tr sqrt(S1 S2) from the (general, non-symmetric) eigenvalues of S1 S2."""
    f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
    m1, m2 = f1.sum(0) / len(f1), f2.sum(0) / len(f2)
    s1 = (f1 - m1).T @ (f1 - m1) / (len(f1) - 1)
    s2 = (f2 - m2).T @ (f2 - m2) / (len(f2) - 1)
    eig = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def _features(n, d, seed, scale=1.0, shift=0.0):
    """Correlated, non-negative, skewed features (like ReLU pool3 outputs)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.maximum(rng.standard_normal((n, d)) @ mix * scale + shift, 0).astype(np.float32)


@pytest.mark.parametrize("n,d", [(400, 64), (300, 128), (60, 128)])  # the last: n < d, singular
def test_fid_agrees_with_independent_float64(n, d):
    real, fake = _features(n, d, 0), _features(n, d, 1, scale=1.2, shift=0.1)
    ours = frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))
    assert ours == pytest.approx(_independent_fid(fake, real), rel=1e-6)
    # The same through the cached-statistics path, and from the features (the low-rank SVD route).
    a, b = stats_from_features(real.astype(np.float64)), stats_from_features(fake.astype(np.float64))
    assert frechet_distance(b.mu, b.sigma, a.mu, a.sigma) == pytest.approx(_independent_fid(fake, real), rel=1e-6)
    assert frechet_distance_from_features(fake, real) == pytest.approx(_independent_fid(fake, real), rel=1e-6)


def _exact_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID in 50-digit arithmetic (mpmath): tr sqrt(S1 S2) as the singular values of X Y^T."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50

    def centred(f):
        n, d = f.shape
        rows = [[mp.mpf(float(v)) for v in row] for row in f]
        mu = [mp.fsum(r[j] for r in rows) / n for j in range(d)]
        return mp.matrix([[(r[j] - mu[j]) / mp.sqrt(n - 1) for j in range(d)] for r in rows]), mu

    (x, m1), (y, m2) = centred(f1), centred(f2)
    tr_sqrt = mp.fsum(mp.svd_r(x * y.T, compute_uv=False))
    sq = mp.fsum(v ** 2 for v in x) + mp.fsum(v ** 2 for v in y)
    return float(mp.fsum((a - b) ** 2 for a, b in zip(m1, m2)) + sq - 2 * tr_sqrt)


def test_features_route_against_50_digit_arithmetic():
    # 20 and 30 images in 64 dimensions: rank-deficient covariances, where clipping round-off
    # eigenvalues costs the covariance routes ~1e-8 relative; the SVD route stays at round-off.
    f1 = _features(20, 64, 20).astype(np.float64)
    f2 = _features(30, 64, 30, scale=0.7, shift=0.3).astype(np.float64)
    exact = _exact_fid(f1, f2)
    assert frechet_distance_from_features(f1, f2) == pytest.approx(exact, rel=1e-12)
    assert frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2)) == pytest.approx(exact, rel=1e-6)


def test_features_route_with_more_images_than_dimensions():
    f1, f2 = _features(100, 16, 1), _features(80, 16, 2, scale=0.7, shift=0.3)
    expected = frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    assert frechet_distance_from_features(f1, f2) == expected  # the covariance route itself
    with pytest.raises(ValueError, match="at least 2 images"):
        frechet_distance_from_features(np.ones((1, 4)), np.ones((5, 4)))


# -- cache keys ---------------------------------------------------------------------------------


def _images(n=6, seed=0):
    return np.random.default_rng(seed).random((n, 1, 16, 16)).astype(np.float32)


def test_changing_one_reference_image_changes_the_key():
    imgs = _images()
    base = cache_key(images_sha256(imgs), "w" * 64, PREPROCESSING)
    changed = imgs.copy()
    changed[4, 0, 7, 7] += 1 / 255  # one pixel of one image
    assert cache_key(images_sha256(changed), "w" * 64, PREPROCESSING) != base
    assert cache_key(images_sha256(imgs[::-1]), "w" * 64, PREPROCESSING) != base  # order counts (KID subsets)
    assert cache_key(images_sha256(imgs[:5]), "w" * 64, PREPROCESSING) != base
    # The same pixels in float64 are the same input to a float32 network: same key.
    assert cache_key(images_sha256(imgs.astype(np.float64)), "w" * 64, PREPROCESSING) == base
    assert cache_key(images_sha256(imgs.copy()), "w" * 64, PREPROCESSING) == base


def test_weights_and_preprocessing_change_the_key():
    h = images_sha256(_images())
    assert cache_key(h, "a" * 64, PREPROCESSING) != cache_key(h, "b" * 64, PREPROCESSING)
    other = {**PREPROCESSING, "resize": "bicubic to 299x299"}
    assert cache_key(h, "a" * 64, PREPROCESSING) != cache_key(h, "a" * 64, other)
    # Batch size and device can move float32 features' last bits: a different setting recomputes.
    cpu25 = cache_key(h, "a" * 64, PREPROCESSING, {"device": "cpu", "batch_size": 25})
    assert cpu25 != cache_key(h, "a" * 64, PREPROCESSING, {"device": "cpu", "batch_size": 50})
    assert cpu25 != cache_key(h, "a" * 64, PREPROCESSING, {"device": "cuda", "batch_size": 25})


def test_extractor_hash_follows_feature_weights_not_the_head():
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module("conv", torch.nn.Conv2d(1, 2, 3))
    net.add_module("fc", torch.nn.Linear(2, 3))
    h0 = extractor_sha256(net)
    with torch.no_grad():
        net.fc.weight += 1.0  # the classifier head does not make features
    assert extractor_sha256(net) == h0
    with torch.no_grad():
        net.conv.weight[0, 0, 0, 0] += 1e-3
    assert extractor_sha256(net) != h0


# -- the cache ----------------------------------------------------------------------------------


def test_cached_statistics_give_the_identical_fid(tmp_path):
    real, fake = _features(50, 32, 2).astype(np.float64), _features(50, 32, 3, shift=0.2).astype(np.float64)
    calls = []

    def compute():
        calls.append(1)
        return real

    key_args = (images_sha256(_images()), "e" * 64, PREPROCESSING)
    first, hit1 = cached_stats(tmp_path, *key_args, compute)
    second, hit2 = cached_stats(tmp_path, *key_args, compute)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert np.array_equal(first.mu, second.mu) and np.array_equal(first.sigma, second.sigma)
    assert np.array_equal(first.features, second.features)
    fs = stats_from_features(fake)
    fid_first = frechet_distance(fs.mu, fs.sigma, first.mu, first.sigma)
    fid_second = frechet_distance(fs.mu, fs.sigma, second.mu, second.sigma)
    assert fid_first == fid_second  # bit for bit
    assert second.key == cache_key(*key_args) and (tmp_path / f"{second.key}.npz").is_file()
    assert (tmp_path / ".gitignore").read_text().strip().endswith("*")


def test_unusable_cache_file_is_recomputed(tmp_path):
    key_args = (images_sha256(_images()), "e" * 64, PREPROCESSING)
    path = tmp_path / f"{cache_key(*key_args)}.npz"
    path.write_bytes(b"not an npz")
    feats = _features(10, 4, 0).astype(np.float64)
    with pytest.warns(RuntimeWarning, match="unusable"):
        stats, hit = cached_stats(tmp_path, *key_args, lambda: feats)
    assert not hit and load_stats(path).key == stats.key
    # A file under the wrong name (its recorded key differs) is not trusted either.
    other = tmp_path / f"{cache_key(images_sha256(_images(seed=1)), 'e' * 64, PREPROCESSING)}.npz"
    other.write_bytes(path.read_bytes())
    with pytest.warns(RuntimeWarning, match="does not match"):
        cached_stats(tmp_path, images_sha256(_images(seed=1)), "e" * 64, PREPROCESSING, lambda: feats)


def test_features_stored_losslessly_and_float32_when_possible(tmp_path):
    f32 = _features(20, 8, 0).astype(np.float64)  # float32 values: stored as float32, exactly
    save_stats(tmp_path / "a.npz", stats_from_features(f32, key="k"))
    with np.load(tmp_path / "a.npz") as f:
        assert f["features"].dtype == np.float32 and f["mu"].dtype == np.float64
    assert np.array_equal(load_stats(tmp_path / "a.npz").features, f32)
    f64 = f32 + 1e-12  # not representable in float32: kept as float64
    save_stats(tmp_path / "b.npz", stats_from_features(f64))
    assert np.array_equal(load_stats(tmp_path / "b.npz").features, f64)


def test_reads_pytorch_fid_stats_and_rejects_bad_files(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    np.savez(tmp_path / "pt.npz", mu=mu, sigma=sigma)  # pytorch-fid's --save-stats format
    s = load_stats(tmp_path / "pt.npz")
    assert isinstance(s, RefStats) and np.array_equal(s.mu, mu) and s.features is None
    np.savez(tmp_path / "nomu.npz", sigma=sigma)
    with pytest.raises(ValueError, match=r"nomu.npz: missing key\(s\) \['mu'\]"):
        load_stats(tmp_path / "nomu.npz")
    np.savez(tmp_path / "obj.npz", mu=np.array([object()], dtype=object), sigma=sigma)
    with pytest.raises(ValueError, match="obj.npz"):  # object arrays would need pickle: refused
        load_stats(tmp_path / "obj.npz")
    np.savez(tmp_path / "shape.npz", mu=mu, sigma=np.eye(4))
    with pytest.raises(ValueError, match="do not fit"):
        load_stats(tmp_path / "shape.npz")
