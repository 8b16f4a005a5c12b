"""train -> sample -> evaluate -> plot for the unpaired (cyclegan) and domains (stargan) tasks, tiny.

The Inception is replaced by a cheap stand-in (per-channel means and spreads) inside the two task
modules only: these tests check the glue and the numbers the tasks compute themselves (RMSE per
direction, domain accuracy), not FID, which tests/test_metrics_fid.py covers.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ganflow.metrics.frechet import frechet_distance, gaussian_stats
from ganflow.metrics.pixels import rmse
from ganflow.params import parse_params
from ganflow.stages import evaluate, fetch, pair, plot, sample, tables, train
from ganflow.stages.tasks import domains, unpaired


def _features(images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1, images.shape[-1])
    return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1)], axis=1)


def _set(params, images, label):
    return SimpleNamespace(n=len(images), features=_features(images), stats=SimpleNamespace(images_sha256=label))


def _fid_between(real, fake) -> float:
    return frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))


def _fid(real, fake) -> float:
    return _fid_between(real.features, fake.features)


@pytest.fixture
def no_inception(monkeypatch):
    for module in (unpaired, domains):
        monkeypatch.setattr(module, "reference_set", _set)
        monkeypatch.setattr(module, "generated_set", _set)
        monkeypatch.setattr(module, "fid_provenance", lambda: {"feature_extractor": "test stand-in"})
    monkeypatch.setattr(unpaired, "fid_value", _fid)
    monkeypatch.setattr(domains, "fid_between", _fid_between)


def _tiny(base: dict) -> dict:
    base["datasets"]["small"] = {
        "source": "skimage_photo_edges", "image_size": 16, "test_fraction": 0.25, "split_seed": 0,
        "options": {"photos": ["coffee", "chelsea"], "short_side": 96, "cell": 32, "crops_per_cell": 2}}
    base["datasets"]["dd"] = {"source": "sklearn_digit_domains", "image_size": 8}
    base["experiments"]["cg"] = {"model": "cyclegan", "dataset": "small", "task": "unpaired"}
    base["experiments"]["sg"] = {"model": "stargan", "dataset": "dd", "task": "domains"}
    loop = {"steps": 3, "batch_size": 4, "log_every": 1, "snapshot_every": 3, "checkpoint_every": 3, "device": "cpu"}
    base["train"]["cg"] = {**loop, "net": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2, "pool_size": 4}}
    base["train"]["sg"] = {**loop, "augment_flip": False,
                           "net": {"domains": ["digit_0", "digit_1", "digit_7"], "g_conv_dim": 4, "d_conv_dim": 4,
                                   "g_repeat_num": 1, "n_critic": 2}}
    base["classifier"] = {"steps": 60, "batch_size": 32, "eval_every": 20, "device": "cpu"}
    base["sample"]["device"] = "cpu"
    return base


def _prepare(params, dataset, exp):
    fetch.run(params, dataset)
    pair.run(params, dataset)
    train.run(params, exp)
    sample.run(params, exp)


class Identity:
    """A stand-in trained model: every translation returns its input."""

    def translate(self, batch, target=None):
        if isinstance(batch, dict):
            out = {}
            for src, dst in (("A", "B"), ("B", "A")):
                if src in batch:
                    out[f"fake_{dst}"], out[f"rec_{src}"] = batch[src], batch[src]
            return out
        return batch

    def domain_targets(self, c):
        return [torch.eye(c.shape[1])[[k] * len(c)] for k in range(c.shape[1])]


def test_unpaired_end_to_end_and_rmse_per_direction(in_tmp, base_params, no_inception):
    params = parse_params(_tiny(base_params))
    _prepare(params, "small", "cg")
    out = np.load(in_tmp / "results/cg/samples/outputs.npz")
    n_a, n_b = len(out["ids_A"]), len(out["ids_B"])
    assert out["fake_B"].shape == (n_a, 16, 16, 3) and out["rec_B"].shape == (n_b, 16, 16, 3)
    assert out["fake_B"].dtype == np.float32 and 0 <= out["fake_B"].min() and out["fake_B"].max() <= 1
    assert len(list((in_tmp / "results/cg/samples/A2B").glob("*.png"))) == n_a

    evaluate.run(params, "cg")
    fid = json.loads((in_tmp / "results/cg/fid.json").read_text())
    rm = json.loads((in_tmp / "results/cg/rmse.json").read_text())
    assert set(fid["directions"]) == {"A2B", "B2A"} and fid["A2B"] == fid["directions"]["A2B"]["value"]
    # An independent RMSE of the A -> B translations against the sketches of the same crops.
    truth = np.stack([np.asarray(Image.open(in_tmp / f"data/pairs/small/test/B/{i[:-2]}_B.png"), np.float32) / 255
                      for i in out["ids_A"]])
    assert rm["A2B"] == pytest.approx(rmse(out["fake_B"], truth), abs=1e-9)
    assert rm["directions"]["A2B"]["n_pairs"] == n_a and len(rm["checkpoint_sha256"]) == 64
    for d in ("A2B", "B2A"):  # each direction's numbers carry their bootstrap interval
        iv = rm["directions"][d]["interval"]
        assert iv["low"] <= rm[d] <= iv["high"] and iv["n"] == rm["directions"][d]["n_pairs"]
        assert fid["directions"][d]["interval"]["n"] == fid["directions"][d]["n_fake"]
    # ganflow tables: one row per direction, FID and RMSE with their intervals as the files hold them
    printed = tables.render(in_tmp / "results", {"cg": ("unpaired", "small")})
    f, m = fid["directions"]["A2B"], rm["directions"]["A2B"]
    assert (f"| cg A2B (3 steps, n = {n_a}) | {tables.with_interval(f['value'], f['interval'])} "
            f"({tables.num(f['input_as_is'])}) | {tables.with_interval(m['value'], m['interval'])} |") in printed

    plot.run(params, "cg")
    grid = np.asarray(Image.open(in_tmp / "results/cg/plots/test_samples.png"))
    tile = 16 * 3 + 2 * 3  # image and padding, both scaled 3x
    assert grid.shape[0] == 9 * tile + 2 * 3  # input, translation, reconstruction, truth per direction + a gap


def test_unpaired_identity_translation_scores_as_the_input(in_tmp, base_params, no_inception):
    params = parse_params(_tiny(base_params))
    _prepare(params, "small", "cg")
    target = in_tmp / "results/cg/samples"
    unpaired.sample(params, "cg", Identity(), torch.device("cpu"), target)
    evaluate.run(params, "cg")
    rm = json.loads((in_tmp / "results/cg/rmse.json").read_text())
    fid = json.loads((in_tmp / "results/cg/fid.json").read_text())
    for d in ("A2B", "B2A"):
        # equal up to the float32 round trip of the images through [-1, 1]
        assert rm["directions"][d]["value"] == pytest.approx(rm["directions"][d]["input_as_is"], abs=1e-6)
        assert rm["directions"][d]["cycle"] == pytest.approx(0.0, abs=1e-6)  # float32 round trip via [-1, 1]
        assert fid[d] == pytest.approx(fid["directions"][d]["input_as_is"], abs=1e-6)
    assert rm["directions"]["A2B"]["mean_target"] < rm["directions"]["A2B"]["input_as_is"]


def test_domains_end_to_end_and_identity_accuracy(in_tmp, base_params, no_inception):
    params = parse_params(_tiny(base_params))
    _prepare(params, "dd", "sg")
    out = np.load(in_tmp / "results/sg/samples/outputs.npz")
    n = len(out["ids"])
    assert out["translated"].shape == (n, 3, 8, 8, 1) and list(out["domains"]) == ["digit_0", "digit_1", "digit_7"]
    assert len(list((in_tmp / "results/sg/samples/digit_7").glob("*.png"))) == n

    evaluate.run(params, "sg")
    fid = json.loads((in_tmp / "results/sg/fid.json").read_text())
    acc = json.loads((in_tmp / "results/sg/domain_accuracy.json").read_text())
    assert set(fid["per_domain"]) == set(acc["per_domain"]) == {"digit_0", "digit_1", "digit_7"}
    assert acc["classifier"]["real_test_accuracy"] > 0.8  # 0, 1 and 7 are easy to tell apart
    for d, v in acc["per_domain"].items():
        assert 0 <= v["accuracy"] <= 1 and v["n"] == int((out["labels"][:, out["domains"].tolist().index(d)] == 0).sum())
    # the pooled accuracy's interval resamples test images (each with its translations into 2 domains)
    assert acc["interval"]["low"] <= acc["value"] <= acc["interval"]["high"] and acc["interval"]["n"] == n
    assert all(v["interval"]["n"] == v["n_fake"] for v in fid["per_domain"].values() if v["value"] is not None)
    printed = tables.render(in_tmp / "results", {"sg": ("domains", "dd")})
    assert f"| sg, 3 steps | {tables.with_interval(acc['value'], acc['interval'], 3)} |" in printed

    plot.run(params, "sg")
    grid = np.asarray(Image.open(in_tmp / "results/sg/plots/test_samples.png"))
    tile = 8 * 4 + 2 * 4
    assert grid.shape[1] == 4 * tile + 2 * 4  # the input, then its translation into each of 3 domains

    # G = identity: every "translation" is its input, so it scores exactly as the input does.
    unpaired_free = in_tmp / "results/sg/samples"
    domains.sample(params, "sg", Identity(), torch.device("cpu"), unpaired_free)
    evaluate.run(params, "sg")
    acc = json.loads((in_tmp / "results/sg/domain_accuracy.json").read_text())
    fid = json.loads((in_tmp / "results/sg/fid.json").read_text())
    for d in acc["per_domain"]:
        assert acc["per_domain"][d]["accuracy"] == acc["per_domain"][d]["input_as_is"]
        assert fid["per_domain"][d]["value"] == pytest.approx(fid["per_domain"][d]["input_as_is"], abs=1e-6)
