"""The shared evaluation glue (stages/tasks/common.py): cached reference sets, metric records,
provenance fields, the memorisation picture and the missing-logits error.

A small deterministic network stands in for the Inception (the real one is exercised by
test_inception.py and test_fid_cli.py), so these tests run in a second.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from ganflow.errors import GanflowError
import torch
from PIL import Image

from ganflow.metrics.bootstrap import fid_interval, kid_interval
from ganflow.metrics.inception_score import inception_score
from ganflow.metrics.kid import kernel_inception_distance
from ganflow.metrics.precision_recall import precision_recall
from ganflow.params import parse_params
from ganflow.stages.tasks import common


class StubExtractor(torch.nn.Module):
    """1 or 3 channels -> 12-d features; counts the images it sees."""

    def __init__(self, with_logits=False):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 12, 3)
        self.with_logits = with_logits
        if with_logits:
            self.fc = torch.nn.Linear(12, 5)
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return torch.relu(self.conv(x.mean(dim=1, keepdim=True))).mean(dim=(2, 3))

    def unbiased_logits(self, features):
        return features @ self.fc.weight.T


@pytest.fixture
def stub(monkeypatch, tmp_path):
    """Work in tmp_path with data/weights/fid_inception.json and the stub as the extractor."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "weights").mkdir(parents=True)
    (tmp_path / "data" / "weights" / "fid_inception.json").write_text(json.dumps(
        {"sha256": "f" * 64, "source_sha256": "s" * 64, "source_kind": "fid_helper"}))
    net = StubExtractor()
    monkeypatch.setattr(common, "_extractor", lambda: net)
    common._extractor_hash.cache_clear()
    yield net
    common._extractor_hash.cache_clear()


@pytest.fixture
def params(base_params):
    return parse_params(base_params)


def _faces(n, seed):
    return np.random.default_rng(seed).random((n, 16, 16)).astype(np.float32)


def test_reference_set_is_cached_and_gives_the_identical_fid(stub, params, tmp_path):
    real, fake_imgs = _faces(12, 0), _faces(10, 1) * 0.5
    fake = common.generated_set(params, fake_imgs, "samples")
    first = common.reference_set(params, real, "test/Real")
    seen_after_first = stub.seen
    second = common.reference_set(params, real, "test/Real")
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert stub.seen == seen_after_first  # a hit never runs the network
    assert common.fid_value(first, fake) == common.fid_value(second, fake)
    assert np.array_equal(first.features, second.features)
    cache_files = sorted(p.name for p in (tmp_path / "data" / "refstats").iterdir())
    assert cache_files == [".gitignore", f"{first.stats.key}.npz"]

    changed = real.copy()
    changed[5, 3, 3] = 1 - changed[5, 3, 3]  # one pixel of one reference image
    third = common.reference_set(params, changed, "test/Real")
    assert third.cache_hit is False and third.stats.key != first.stats.key
    assert len(list((tmp_path / "data" / "refstats").glob("*.npz"))) == 2


def test_cache_can_be_switched_off(stub, base_params, tmp_path):
    base_params["evaluate"]["reference_cache"] = False
    p = parse_params(base_params)
    assert common.reference_set(p, _faces(4, 0), "x").cache_hit is False
    assert common.reference_set(p, _faces(4, 0), "x").cache_hit is False
    assert not (tmp_path / "data" / "refstats").exists()


def test_records_carry_values_and_provenance(stub, params):
    real = common.reference_set(params, _faces(30, 0), "data/pairs/x/test")
    fake = common.generated_set(params, _faces(25, 1) ** 2, "results/x/samples")
    fid = common.fid_record(real, fake, seed=params.seed)
    for key in ("value", "n_real", "n_fake", "weights_sha256", "extractor_sha256", "resize_rule",
                "reference_images_sha256", "preprocessing"):
        assert key in fid, key
    assert (fid["n_real"], fid["n_fake"]) == (30, 25)
    assert fid["reference"]["cache_key"] == real.stats.key and fid["weights_sha256"] == "f" * 64
    assert fid["extractor_sha256"] == common.extractor_sha256(stub)

    # the interval is recorded with its seed and n, and FID's is the bootstrap of the generated set
    assert (fid["interval"]["seed"], fid["interval"]["n"], fid["interval"]["level"]) == (params.seed, 25, 0.95)
    assert fid["interval"] == fid_interval(real.features, fake.features, seed=params.seed)

    kid = common.kid_record(params, real, fake)
    # subsets capped at half the smaller set (25 // 2), so they differ and their std is not 0
    direct = kernel_inception_distance(real.features, fake.features, subsets=params.evaluate.kid_subsets,
                                       subset_size=12, seed=params.seed)
    assert (kid["value"], kid["std"]) == (direct["mean"], direct["std"]) and kid["subset_size"] == 12
    assert kid["std"] > 0 and kid["subset_size_asked"] == params.evaluate.kid_subset_size
    assert kid["interval"] == kid_interval(real.features, fake.features, seed=params.seed)

    pr = common.precision_recall_record(params, real, fake)
    assert pr["value"] == {k: precision_recall(real.features, fake.features, k=3)[k] for k in ("precision", "recall")}


def test_memorisation_record_writes_the_closest_pairs(stub, params, tmp_path):
    train_imgs = _faces(20, 0)
    fake_imgs = np.concatenate([train_imgs[[2, 7]], _faces(4, 9) * 0.3])  # two copies
    train = common.reference_set(params, train_imgs, "train")
    fake = common.generated_set(params, fake_imgs, "samples")
    rec = common.memorisation_record(params, train, fake, train_imgs, fake_imgs, tmp_path / "mem.png", n_pairs=4)
    assert [(p["fake_index"], p["train_index"]) for p in rec["closest_pairs"][:2]] in ([(0, 2), (1, 7)],
                                                                                      [(1, 7), (0, 2)])
    assert rec["closest_pairs"][0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert rec["value"] >= 2 / 6 and rec["n_fake"] == 6 and rec["n_real"] == 20
    with Image.open(tmp_path / "mem.png") as im:  # 4 pairs = 8 tiles of 16 px in one row, x2
        assert im.size == (2 * (8 * 18 + 2), 2 * (18 + 2))
    json.dumps(rec)  # JSON-able as written


def test_inception_score_needs_logits_and_says_where_to_put_the_file(stub, params):
    with pytest.raises(GanflowError, match=r"pt_inception-2015-12-05-6726825d\.pth.*ganflow weights"):
        common.generated_set(params, _faces(10, 0), "samples", with_logits=True)
    fake = common.generated_set(params, _faces(10, 0), "samples")
    with pytest.raises(GanflowError, match="fc, 1008 logits"):
        common.inception_score_record(params, fake)


def test_inception_score_record_from_logits(monkeypatch, stub, params):
    net = StubExtractor(with_logits=True)
    monkeypatch.setattr(common, "_extractor", lambda: net)
    common._extractor_hash.cache_clear()
    fake = common.generated_set(params, _faces(20, 3), "samples", with_logits=True)
    rec = common.inception_score_record(params, fake)
    expected = inception_score(fake.logits, splits=10, seed=params.seed)
    assert (rec["value"], rec["std"]) == (expected["mean"], expected["std"]) and rec["n_fake"] == 20
    np.testing.assert_allclose(fake.logits, fake.features @ net.fc.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)
