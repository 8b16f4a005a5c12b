"""Streaming evaluation (issue 15C): running mean/covariance, samples written and read a block at a
time, FID from streamed statistics against the in-memory computation, evaluate.n_samples and
evaluate.reference in fid.json, and bounded memory (checked by what is held, never by time).

A small deterministic network stands in for the Inception (as in test_metrics_common.py): the
real weights cannot be downloaded in tests; the streaming code is the same for any extractor.
"""
from __future__ import annotations

import json
import tracemalloc
import weakref

import numpy as np
import pytest
import torch
import yaml

from ganflow.data import image_sources
from ganflow.data.image_sources import ArrayImages, FileImages, ImageSource, NpzImages, Subset, seeded_subset
from ganflow.data.images import save_image
from ganflow.data.npz_stream import NpzStreamWriter, iter_npz_rows, npz_shape
from ganflow.errors import GanflowError, ParamsError
from ganflow.metrics.frechet import (
    frechet_distance_from_features,
    frechet_distance_sqrtm_reference,
    gaussian_stats,
)
from ganflow.metrics.refstats import cache_key, images_sha256
from ganflow.metrics.streaming import StreamingMoments
from ganflow.params import parse_params
from ganflow.stages.tasks import common


class StubExtractor(torch.nn.Module):
    """1 or 3 channels -> 12-d non-negative features; counts the images it sees."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 12, 3)
        self.with_logits = False
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return torch.relu(self.conv(x.mean(dim=1, keepdim=True))).mean(dim=(2, 3))


def _weights_meta(root):
    (root / "data" / "weights").mkdir(parents=True, exist_ok=True)
    (root / "data" / "weights" / "fid_inception.json").write_text(json.dumps(
        {"sha256": "f" * 64, "source_sha256": "s" * 64, "source_kind": "test stand-in"}))


@pytest.fixture
def stub(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _weights_meta(tmp_path)
    net = StubExtractor()
    monkeypatch.setattr(common, "_extractor", lambda: net)
    common._extractor_hash.cache_clear()
    yield net
    common._extractor_hash.cache_clear()


def _params(base_params, **evaluate):
    base_params["evaluate"].update({"device": "cpu", **evaluate})
    return parse_params(base_params)


# -- running moments ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, None])  # None: the whole set in one update
def test_streaming_moments_equal_numpy(chunk):
    rng = np.random.default_rng(0)
    # Correlated features far from the origin: a naive sum(x x^T)/n - mu mu^T would lose digits here.
    x = rng.standard_normal((203, 16)) @ rng.standard_normal((16, 16)) + 1e4
    acc = StreamingMoments()
    for start in range(0, len(x), chunk or len(x)):
        acc.update(x[start:start + (chunk or len(x))])
    mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
    assert acc.n == len(x)
    np.testing.assert_allclose(acc.mean, mu, rtol=1e-13)
    np.testing.assert_allclose(acc.cov(), sigma, rtol=1e-9, atol=1e-9 * np.abs(sigma).max())
    assert np.array_equal(acc.cov(), acc.cov().T)


def test_streaming_moments_refuse_bad_input():
    acc = StreamingMoments()
    with pytest.raises(ValueError, match="at least 2"):
        acc.cov()
    acc.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        acc.cov()
    with pytest.raises(ValueError, match="differ"):
        acc.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        acc.update(np.full((2, 3), np.nan))


# -- samples on disk, a block at a time ----------------------------------------------------------


def test_streamed_npz_is_what_savez_compressed_writes(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.random((23, 5, 4), dtype=np.float32)
    z = rng.standard_normal((23, 3)).astype(np.float32)
    path = tmp_path / "outputs.npz"
    with NpzStreamWriter(path) as w:
        w.add("ids", np.array([f"s{i}" for i in range(23)]))
        w.begin("images", 23, (5, 4), np.float32)
        for start in range(0, 23, 10):
            w.append(images[start:start + 10])
        w.add("z", z)
    with np.load(path) as f:
        assert f.files == ["ids", "images", "z"]
        assert np.array_equal(f["images"], images) and np.array_equal(f["z"], z)
    assert npz_shape(path, "images") == ((23, 5, 4), np.dtype(np.float32))
    assert [len(b) for b in iter_npz_rows(path, "images", 7)] == [7, 7, 7, 2]
    # ... and the reader takes files np.savez_compressed wrote (samples of earlier versions)
    old = tmp_path / "old.npz"
    np.savez_compressed(old, ids=np.arange(23), images=images)
    assert np.array_equal(np.concatenate(list(iter_npz_rows(old, "images", 4))), images)


def test_streamed_npz_refuses_a_short_or_long_array(tmp_path):
    with pytest.raises(ValueError, match="2 rows written of the 3"):
        with NpzStreamWriter(tmp_path / "a.npz") as w:
            w.begin("images", 3, (2,), np.float32)
            w.append(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="more than the 3"):
        with NpzStreamWriter(tmp_path / "b.npz") as w:
            w.begin("images", 3, (2,), np.float32)
            w.append(np.zeros((4, 2)))


def test_sources_and_subsets_give_the_rows_they_name(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.random((40, 6, 6), dtype=np.float32)
    files = []
    for i, img in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        save_image(files[-1], img)
    decoded = np.stack([np.asarray(image_sources.load_image(f), np.float32) for f in files])
    path = tmp_path / "x.npz"
    np.savez_compressed(path, images=images)
    idx = np.array([0, 3, 4, 17, 38, 39])
    for source, want in ((ArrayImages(images), images), (NpzImages(path), images), (FileImages(files, "m"), decoded)):
        assert source.shape == (40, 6, 6)
        assert np.array_equal(np.concatenate(list(source.blocks(9))), want)
        assert np.array_equal(source.take([39, 2, 2, 0]), want[[39, 2, 2, 0]])
        sub = Subset(source, idx)
        blocks = list(sub.blocks(4))
        assert [len(b) for b in blocks] == [4, 2]
        assert np.array_equal(np.concatenate(blocks), want[idx])
        assert np.array_equal(sub.take([5, 0]), want[idx[[5, 0]]])
    assert list(seeded_subset(5, 9, 0)) == [0, 1, 2, 3, 4]
    pick = seeded_subset(100, 10, 3)
    assert len(set(pick)) == 10 and list(pick) == sorted(pick)
    assert np.array_equal(pick, np.sort(np.random.default_rng(3).choice(100, 10, replace=False)))


# -- feature sets: the streamed path against the in-memory one ----------------------------------


def _faces(n, seed, shape=(16, 16)):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def test_reference_cache_key_and_features_are_todays(stub, base_params):
    """A set read from files a block at a time hashes, keys and extracts exactly like the stacked array
    (so caches filled before this change stay valid)."""
    from ganflow.metrics.inception import PREPROCESSING, extract_features

    params = _params(base_params, batch_size=7, reference_cache=False)
    images = _faces(45, 0)
    got = common.reference_set(params, ArrayImages(images), "x")
    x = common.nchw(images)
    key = cache_key(images_sha256(x), common._extractor_hash(), PREPROCESSING, common._numerics(params))
    assert got.stats.key == key
    assert np.array_equal(got.features, extract_features(stub, x, batch_size=7, progress=False))
    mu, sigma = gaussian_stats(got.features)
    assert np.array_equal(got.stats.mu, mu) and np.array_equal(got.stats.sigma, sigma)


def test_streamed_fid_equals_the_in_memory_fid(stub, base_params, tmp_path):
    import copy

    cached = _params(copy.deepcopy(base_params), batch_size=5)
    params = _params(base_params, batch_size=5, reference_cache=False)  # each path computes its own numbers
    real_imgs, fake_imgs = _faces(230, 0), _faces(190, 1) ** 1.5
    real_mem = common.reference_set(params, real_imgs, "real")
    fake_mem, same = common.generated_sets(params, fake_imgs, "fake")
    assert same is fake_mem and real_mem.features is not None
    # Above a cap of 50 the statistics are streamed, and no features are kept for the whole sets
    real_str = common.reference_set(params, ArrayImages(real_imgs), "real", max_features=50)
    fake_str, fake_sub = common.generated_sets(params, fake_imgs, "fake", max_features=50, seed=3)
    assert real_str.features is None and fake_str.features is None
    assert fake_sub.n == 50
    assert np.array_equal(fake_sub.features, fake_mem.features[seeded_subset(190, 50, 3)])
    in_memory = frechet_distance_from_features(fake_mem.features, real_mem.features)
    scipy_ref = frechet_distance_sqrtm_reference(*gaussian_stats(fake_mem.features),
                                                 *gaussian_stats(real_mem.features))
    streamed = common.fid_value(real_str, fake_str)
    assert streamed == pytest.approx(in_memory, rel=1e-6)
    assert streamed == pytest.approx(scipy_ref, rel=1e-6)
    # the streamed statistics are cached without features, and a second run hits them
    first = common.reference_set(cached, ArrayImages(real_imgs), "real", max_features=50)
    again = common.reference_set(cached, ArrayImages(real_imgs), "real", max_features=50)
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert np.array_equal(again.stats.sigma, real_str.stats.sigma) and again.features is None
    with np.load(tmp_path / "data" / "refstats" / f"{again.stats.key}.npz") as f:
        assert "features" not in f.files and int(f["n"]) == 230
    assert fake_str.stats.images_sha256 == images_sha256(common.nchw(fake_imgs))
    rec = common.fid_record(real_str, fake_str, seed=0)
    assert "skipped" in rec["interval"] and rec["n_fake"] == 190 and rec["n_real"] == 230


# -- bounded memory ------------------------------------------------------------------------------


class SyntheticImages(ImageSource):
    """n seeded 32 x 32 images, made a block at a time (the whole set never exists)."""

    label = "synthetic"

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    @property
    def image_shape(self):
        return (32, 32)

    def blocks(self, rows):
        for start in range(0, self.n, rows):
            count = min(rows, self.n - start)
            yield np.random.default_rng(start).random((count, 32, 32), dtype=np.float32)


def test_streamed_statistics_hold_a_block_not_the_set(stub, base_params):
    params = _params(base_params, batch_size=16, reference_cache=False)
    source = SyntheticImages(6000)
    whole_bytes = 6000 * 32 * 32 * 4  # 24.6 MB
    tracemalloc.start()
    try:
        fs = common.reference_set(params, source, "synthetic", max_features=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fs.n == 6000 and fs.features is None and stub.seen == 6000
    block_bytes = common.block_rows(params) * 32 * 32 * 4  # 2 MB
    assert peak < 4 * block_bytes < whole_bytes / 2, (peak, block_bytes, whole_bytes)


class LiveBlocks:
    """Wraps the sources' block readers: the most blocks of images alive at once, and the largest."""

    def __init__(self, monkeypatch):
        self.alive, self.most_alive, self.largest, self.blocks = 0, 0, 0, 0
        for cls in (FileImages, NpzImages):
            monkeypatch.setattr(cls, "blocks", self._wrap(cls.blocks))

    def _gone(self):
        self.alive -= 1

    def _wrap(self, blocks):
        def counted(source, rows):
            for block in blocks(source, rows):
                self.alive += 1
                self.blocks += 1
                weakref.finalize(block, self._gone)
                self.most_alive = max(self.most_alive, self.alive)
                self.largest = max(self.largest, len(block))
                yield block
        return counted


# -- a small real run: dcgan and cgan through train, sample, evaluate ---------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import os

    from ganflow.stages import classifier, fetch, pair, sample, train

    root = tmp_path_factory.mktemp("stream")
    old = os.getcwd()
    os.chdir(root)
    tiny = {"steps": 2, "batch_size": 8, "log_every": 1, "snapshot_every": 1, "checkpoint_every": 1,
            "augment_flip": False, "device": "cpu", "net": {"ngf": 4, "ndf": 4, "z_dim": 8}}
    raw = {
        "datasets": {"digits": {"source": "sklearn_digits", "image_size": 32, "options": {"max_images": 150}}},
        "classifier": {"steps": 3, "batch_size": 16, "width": 4, "eval_every": 1, "device": "cpu"},
        "experiments": {"dcgan": {"model": "dcgan", "dataset": "digits", "task": "unconditional"},
                        "cgan": {"model": "cgan", "dataset": "digits", "task": "labelled"}},
        "train": {"dcgan": tiny, "cgan": tiny},
        "sample": {"n_generated": 60, "per_class": 6, "batch_size": 7, "device": "cpu"},
        "evaluate": {"device": "cpu", "batch_size": 4, "kid_subsets": 2},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    params = parse_params(raw)
    fetch.run(params, "digits")
    pair.run(params, "digits")
    classifier.run(params, "digits")
    for exp in ("dcgan", "cgan"):
        train.run(params, exp, threads=1)
        sample.run(params, exp, threads=1)
    _weights_meta(root)
    yield root, raw
    os.chdir(old)


@pytest.fixture
def run_stub(run, monkeypatch):
    root, raw = run
    monkeypatch.chdir(root)
    net = StubExtractor()
    monkeypatch.setattr(common, "_extractor", lambda: net)
    common._extractor_hash.cache_clear()
    yield root, raw
    common._extractor_hash.cache_clear()


def _evaluate(root, raw, exp, **evaluate):
    import copy

    from ganflow.stages import evaluate as evaluate_stage

    p = copy.deepcopy(raw)
    p["evaluate"].update(evaluate)
    evaluate_stage.run(parse_params(p), exp)
    return {m: json.loads((root / "results" / exp / f"{m}.json").read_text())
            for m in ("fid", "precision_recall", "memorisation", "classifier")}


def test_samples_are_written_in_blocks_readable_by_every_reader(run):
    root, _ = run
    from ganflow.stages.tasks.unconditional import load_outputs

    with np.load(root / "results" / "dcgan" / "samples" / "outputs.npz") as f:
        assert f.files == ["ids", "images", "z"] and f["images"].shape == (60, 32, 32)
        assert f["images"].dtype == np.float32 and f["z"].shape == (60, 8)
    assert len(list((root / "results" / "dcgan" / "samples").glob("*.png"))) == 60
    with np.load(root / "results" / "cgan" / "samples" / "outputs.npz") as f:
        assert f.files == ["ids", "images", "labels", "z"]
        assert f["labels"].tolist() == [c for c in range(10) for _ in range(6)]
    assert "images" not in load_outputs("cgan", images=False)


def test_generation_in_blocks_draws_the_images_of_one_pass(run):
    """The streamed sample stage writes what run_generator makes of the same z in one call."""
    root, raw = run
    from ganflow.stages.tasks.unconditional import run_generator, trained_model

    with np.load(root / "results" / "dcgan" / "samples" / "outputs.npz") as f:
        images, z = f["images"], f["z"]
    model = trained_model(parse_params(raw), "dcgan")
    again = run_generator(model, torch.device("cpu"), {"z": torch.from_numpy(z)}, 60)
    np.testing.assert_allclose(images, again, atol=1e-6)


@pytest.mark.parametrize("exp", ["dcgan", "cgan"])
def test_streamed_evaluate_matches_the_in_memory_one(run_stub, exp):
    root, raw = run_stub
    mem = _evaluate(root, raw, exp)
    assert mem["fid"]["statistics"] == "from features in memory" and "n" in mem["fid"]["interval"]
    assert mem["fid"]["n_samples"] == 60 and mem["fid"]["samples_scored"] == "all"
    assert "feature_subsets" not in mem["precision_recall"]
    streamed = _evaluate(root, raw, exp, max_features_in_memory=20)
    f = streamed["fid"]
    assert f["statistics"].startswith("streamed") and "skipped" in f["interval"]
    assert f["value"] == pytest.approx(mem["fid"]["value"], rel=1e-6)
    assert f["train_images_vs_test"]["value"] == pytest.approx(mem["fid"]["train_images_vs_test"]["value"], rel=1e-6)
    assert (f["n_fake"], f["n_real"]) == (mem["fid"]["n_fake"], mem["fid"]["n_real"])
    # the feature-hungry metrics saw capped, seeded subsets, and say so
    pr, memo = streamed["precision_recall"], streamed["memorisation"]
    assert (pr["n_fake"], pr["n_real"]) == (20, 20) and pr["feature_subsets"]["max_features_in_memory"] == 20
    assert memo["n_fake"] == 20 and memo["n_train"] == 20 and memo["n_holdout"] == 20
    # the classifier streams too: its scores do not depend on the cap
    assert streamed["classifier"]["is_mean"] == mem["classifier"]["is_mean"]
    assert streamed["classifier"]["images_sha256"] == mem["classifier"]["images_sha256"]


def test_n_samples_and_the_train_reference_are_recorded(run_stub):
    root, raw = run_stub
    import pandas as pd

    manifest = pd.read_csv(root / "data" / "pairs" / "digits" / "manifest.csv")
    n_train, n_test = int((manifest["split"] == "train").sum()), int((manifest["split"] == "test").sum())
    rec = _evaluate(root, raw, "cgan", n_samples=25, reference="train")
    f = rec["fid"]
    assert (f["n_samples"], f["n_samples_written"], f["n_fake"]) == (25, 60, 25)
    assert f["samples_scored"].startswith("seeded subset")
    assert (f["reference_split"], f["reference_size"], f["n_real"]) == ("train", n_train, n_train)
    assert "train_images_vs_test" not in f and f["test_images_vs_train"]["n"] == min(n_test, 25)
    assert rec["classifier"]["n"] == 25 and rec["memorisation"]["n_holdout"] == n_test
    test_ref = _evaluate(root, raw, "dcgan", n_samples=25)
    assert (test_ref["fid"]["reference_split"], test_ref["fid"]["reference_size"]) == ("test", n_test)


def test_more_samples_than_were_written_is_a_params_error(run_stub):
    root, raw = run_stub
    with pytest.raises(ParamsError, match=r"evaluate\.n_samples is 61.*only 60") as e:
        _evaluate(root, raw, "dcgan", n_samples=61)
    assert isinstance(e.value, GanflowError)


def test_evaluate_never_holds_more_than_a_block_of_images(run_stub, monkeypatch):
    root, raw = run_stub
    monkeypatch.setattr(common, "FEATURE_BLOCK_IMAGES", 8)       # 8 images (2 batches of 4) per block
    monkeypatch.setattr(common, "CLASSIFIER_BLOCK_IMAGES", 8)
    monkeypatch.setattr(image_sources, "READ_BLOCK", 8)
    live = LiveBlocks(monkeypatch)
    _evaluate(root, raw, "cgan", max_features_in_memory=20)
    assert live.blocks > 20  # every set was walked, in many blocks
    assert live.largest <= 8
    assert live.most_alive <= 2  # the block in hand and the one the loop is about to drop
