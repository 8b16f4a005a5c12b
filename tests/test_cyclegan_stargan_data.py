"""The offline sets of cyclegan and stargan write the data/pairs contract; the tasks' glue works."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import torch

from ganflow.data.images import load_image
from ganflow.data.sources.skimage_photo_edges import edge_sketch
from ganflow.params import parse_params
from ganflow.stages import fetch, pair
from ganflow.stages.tasks import domains, unpaired


def _params(base: dict, **datasets) -> object:
    base["datasets"].update(datasets)
    return parse_params(base)


SMALL_PHOTOS = {"source": "skimage_photo_edges", "image_size": 16, "test_fraction": 0.25, "split_seed": 3,
                "options": {"photos": ["coffee", "chelsea"], "short_side": 96, "cell": 32, "crops_per_cell": 2}}


def test_photo_edges_writes_the_unpaired_contract_without_training_pairs(in_tmp, base_params):
    params = _params(base_params, small=SMALL_PHOTOS)
    fetch.run(params, "small")
    pair.run(params, "small")
    folder = in_tmp / "data" / "pairs" / "small"
    m = pd.read_csv(folder / "manifest.csv")
    meta = json.loads((folder / "dataset.json").read_text())
    assert list(m.columns) == ["id", "split", "domain", "image"]
    assert set(m["split"]) == {"train", "test"} and set(m["domain"]) == {"A", "B"}
    assert meta["layout"] == "unpaired" and meta["channels"] == 3 and meta["image_size"] == 16
    assert meta["n_train"] + meta["n_test"] == len(m) and "cell ids" in meta["split_rule"]

    key = m["id"].str[:-2]  # the crop, without _A / _B
    train, test = m[m["split"] == "train"], m[m["split"] == "test"]
    a, b = set(key[train.index][train["domain"] == "A"]), set(key[train.index][train["domain"] == "B"])
    assert a and b and not a & b, "a training crop gives its photo or its sketch, never both"
    assert len(a) == len(b)
    assert set(key[test.index][test["domain"] == "A"]) == set(key[test.index][test["domain"] == "B"])
    cell = key.str.rsplit("_", n=1).str[0]
    assert not set(cell[train.index]) & set(cell[test.index]), "a cell's crops all lie in one split"
    img = load_image(folder / m["image"][0])
    assert img.shape == (16, 16, 3)

    # The sketch of a test crop is drawn from that crop: dark where the photo has edges.
    t = test.sort_values("id")
    pairs = unpaired.truth_pairs(meta, list(t[t.domain == "A"]["id"]), "A", list(t[t.domain == "B"]["id"]), "B")
    assert len(pairs) == len(t) // 2


def test_edge_sketch_draws_a_dark_line_on_a_step():
    img = np.zeros((32, 32, 3), dtype=np.float32)
    img[:, 16:] = 1.0
    s = edge_sketch(img, sigma=1.0, scale=0.2)
    assert s.shape == (32, 32) and s.dtype == np.float32
    assert np.all(s[:, :8] == 1.0) and np.all(s[:, 24:] == 1.0)  # flat regions stay white
    assert np.all(s[:, 15:17] < 0.2)  # the step is drawn dark


def test_digit_domains_write_one_column_per_class(in_tmp, base_params):
    from sklearn.datasets import load_digits

    params = _params(base_params, dd={"source": "sklearn_digit_domains", "image_size": 8})
    fetch.run(params, "dd")
    pair.run(params, "dd")
    folder = in_tmp / "data" / "pairs" / "dd"
    m = pd.read_csv(folder / "manifest.csv")
    meta = json.loads((folder / "dataset.json").read_text())
    cols = [f"digit_{d}" for d in range(10)]
    assert list(m.columns) == ["id", "split", "image", *cols]
    assert meta["layout"] == "attributes" and meta["attributes"] == cols and meta["exclusive"] is True
    assert len(m) == 1797 and (m[cols].sum(axis=1) == 1).all()
    digits = load_digits()
    idx = m["id"].str[6:].astype(int).to_numpy()
    assert (m[cols].to_numpy().argmax(1) == digits.target[idx]).all()
    k = int(idx[0])
    assert np.abs(load_image(folder / m["image"][0]) - digits.images[k] / 16).max() <= 0.5 / 255 + 1e-6


def _stargan_params(base, **net):
    base["datasets"]["dd"] = {"source": "sklearn_digit_domains", "image_size": 8}
    base["experiments"]["sg"] = {"model": "stargan", "dataset": "dd", "task": "domains"}
    base["train"]["sg"] = {"steps": 1, "net": {"g_conv_dim": 4, "d_conv_dim": 4, "g_repeat_num": 1, **net}}
    return parse_params(base)


def test_domains_selects_columns_and_checks_exclusivity(in_tmp, base_params):
    params = _stargan_params(base_params, domains=["digit_3", "digit_7"])
    fetch.run(params, "dd")
    pair.run(params, "dd")
    s = domains.read_split(params, "sg", "train")
    assert s.domains == ["digit_3", "digit_7"] and s.labels.shape[1] == 2
    assert (s.labels.sum(1) == 1).all()  # digits other than 3 and 7 take no part
    m = pd.read_csv(in_tmp / "data/pairs/dd/manifest.csv", dtype={"id": str}).set_index("id")
    assert (m.loc[s.ids, "digit_7"].to_numpy() == s.labels[:, 1]).all()
    _, tensors, info = domains.training_tensors(params, "sg")
    assert info.n_classes == 2 and tensors["image"].shape[1:] == (1, 8, 8) and tensors["image"].min() >= -1

    bad = _stargan_params(base_params, domains=["digit_3", "Blond_Hair"])
    with pytest.raises(GanflowError, match="train.sg.net.domains"):
        domains.read_split(bad, "sg", "train")
    multi_on_exclusive = _stargan_params(base_params, domains=["digit_1"], labels="multi")
    assert len(domains.read_split(multi_on_exclusive, "sg", "test").ids) == len(m[m.split == "test"])


def test_unpaired_top_up_keeps_every_image():
    t = torch.arange(3.0).view(3, 1)
    out = unpaired._top_up(t, 8, seed=0)
    assert len(out) == 8 and torch.equal(out[:3], t)
    counts = torch.bincount(out.flatten().long())
    assert counts.tolist() in ([3, 3, 2], [3, 2, 3], [2, 3, 3])  # cycling draws: as even as can be


def test_truth_pairs_by_suffix():
    meta = {"truth_pairs": {"id_suffix": {"A": "_A", "B": "_B"}}}
    pairs = unpaired.truth_pairs(meta, ["x_A", "y_A", "z_A"], "A", ["y_B", "x_B"], "B")
    assert pairs == [(0, 1), (1, 0)]
    assert unpaired.truth_pairs({}, ["x_A"], "A", ["x_B"], "B") == []
