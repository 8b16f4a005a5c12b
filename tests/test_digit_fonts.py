"""Handwritten <-> printed digits (digit_fonts): the source, the label-preservation metric, and the
unpaired task's label_preservation.json on a tiny run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ganflow.data.images import load_image
from ganflow.data.sources import get_source
from ganflow.data.sources.digit_fonts import FACES, DigitFontsOptions, font_file, outline, render, render_printed
from ganflow.errors import DataError, MissingInputError, ParamsError
from ganflow.metrics.label_preservation import accuracy_record, label_preservation
from ganflow.params import parse_params
from ganflow.stages import classifier, evaluate, fetch, pair, sample, train
from ganflow.stages.graph import derive
from ganflow.stages.tasks import unpaired

SMALL = {"source": "digit_fonts", "image_size": 16, "test_fraction": 0.2, "split_seed": 0,
         "options": {"per_class": 6, "faces": ["DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf"]}}


def _params(base: dict, **ds) -> object:
    base["datasets"].update(ds or {"fonts": SMALL})
    return parse_params(base)


# -- the source ------------------------------------------------------------------------------------


def test_every_default_face_ships_with_matplotlib_and_draws_each_digit():
    for face in FACES:
        assert font_file(face).is_file()
        for d in range(10):
            img = render(outline(d, face), 32, 4, 0.9, 0.0, (0.0, 0.0), 0)
            assert img.shape == (32, 32) and 0 <= img.min() and img.max() == 1.0
            assert 0.05 < img.mean() < 0.5, (face, d)  # ink, but not a filled box


def test_render_keeps_the_counter_of_a_zero_black_and_places_by_the_options():
    zero = render(outline(0, "DejaVuSans.ttf"), 32, 4, 0.9, 0.0, (0.0, 0.0), 0)
    assert zero[16, 16] == 0.0, "even-odd fill: the inside of a 0 is background"
    assert zero[16, :8].max() > 0.5 and zero[16, 24:].max() > 0.5  # the two sides of the ring
    rows = np.flatnonzero(zero.max(axis=1) > 0.5)
    assert 26 <= rows[-1] - rows[0] + 1 <= 30  # 0.9 of 32 px tall (antialiased edges)
    right = render(outline(1, "DejaVuSans.ttf"), 32, 4, 0.6, 0.0, (0.25, 0.0), 0)
    cols = np.flatnonzero(right.max(axis=0) > 0.5)
    assert cols.mean() == pytest.approx(16 + 8, abs=2)  # shifted right by a quarter of the image
    thick = render(outline(1, "DejaVuSans.ttf"), 32, 4, 0.9, 0.0, (0.0, 0.0), 3)
    thin = render(outline(1, "DejaVuSans.ttf"), 32, 4, 0.9, 0.0, (0.0, 0.0), -3)
    plain = render(outline(1, "DejaVuSans.ttf"), 32, 4, 0.9, 0.0, (0.0, 0.0), 0)
    assert thin.sum() < plain.sum() < thick.sum()


def test_printed_digits_are_deterministic_by_seed_and_vary_within_a_class():
    o = DigitFontsOptions(per_class=4, faces=["DejaVuSans.ttf", "DejaVuSerif.ttf"])
    a, draws_a = render_printed(o, progress=False)
    b, _ = render_printed(o, progress=False)
    c, _ = render_printed(DigitFontsOptions(per_class=4, faces=["DejaVuSans.ttf", "DejaVuSerif.ttf"], render_seed=1),
                          progress=False)
    assert a.dtype == np.uint8 and a.shape == (40, 32, 32)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert [d["digit"] for d in draws_a] == [d for d in range(10) for _ in range(4)]
    assert [d["face"] for d in draws_a[:4]] == [0, 1, 0, 1]  # faces in turn
    assert len({a[i].tobytes() for i in range(4)}) == 4  # four different 0s


def test_fetch_and_pair_write_both_labelled_domains_and_the_digits_split(in_tmp, base_params):
    from sklearn.datasets import load_digits

    params = _params(base_params, fonts=SMALL, digits=dict(base_params["datasets"]["digits"], image_size=16))
    fetch.run(params, "fonts")
    pair.run(params, "fonts")
    raw = in_tmp / "data/raw/fonts"
    assert {"digits.npz", "printed.npz", "source.json"} <= {p.name for p in raw.iterdir()}
    record = json.loads((raw / "source.json").read_text())
    assert [f["name"] for f in record["files"]] == SMALL["options"]["faces"] and len(record["files"][0]["sha256"]) == 64

    folder = in_tmp / "data/pairs/fonts"
    m = pd.read_csv(folder / "manifest.csv")
    meta = json.loads((folder / "dataset.json").read_text())
    assert list(m.columns) == ["id", "split", "domain", "image", "label", "label_name"]
    assert meta["layout"] == "unpaired" and meta["classes"] == [str(d) for d in range(10)] and meta["channels"] == 1
    a, b = m[m.domain == "A"], m[m.domain == "B"]
    assert len(a) == 1797 and len(b) == 60 and set(m.split) == {"train", "test"}
    assert (a.label.to_numpy() == load_digits().target).all(), "A keeps each handwritten digit's label"
    assert (b.label.value_counts() == 6).all() and (m.label_name.astype(str) == m.label.astype(str)).all()
    assert set(b[b.split == "test"].label) and set(b[b.split == "train"].label)
    assert "truth_pairs" not in meta

    # A's split is the digits data set's: same test images, index for index.
    fetch.run(params, "digits")
    pair.run(params, "digits")
    d = pd.read_csv(in_tmp / "data/pairs/digits/manifest.csv")
    assert list(d.sort_values("id").split) == list(a.sort_values("id").split)
    # the image written for A is the digits set's image
    for k in (0, 1000):
        assert np.array_equal(load_image(folder / a.sort_values("id").image.iloc[k]),
                              load_image(in_tmp / "data/pairs/digits" / d.sort_values("id").image.iloc[k]))


def test_named_errors(in_tmp, base_params):
    src = get_source("digit_fonts")
    with pytest.raises(ParamsError, match=r"datasets\.fonts\.options\.height"):
        src.parse_options("fonts", {"height": [0.9, 0.5]})
    params = _params(base_params, fonts={**SMALL, "options": {"faces": ["NoSuchFont.ttf"]}})
    with pytest.raises(ParamsError, match=r"datasets\.fonts\.options\.faces.*NoSuchFont\.ttf"):
        fetch.run(params, "fonts")
    params = _params(base_params, fonts=SMALL)
    (in_tmp / "data/raw/fonts").mkdir(parents=True)
    with pytest.raises(MissingInputError, match=r"digits\.npz is missing"):
        pair.run(params, "fonts")
    fetch.run(params, "fonts")
    np.savez(in_tmp / "data/raw/fonts/printed.npz", images=np.zeros((3, 8, 8), np.uint8),
             target=np.array([0, 1, 12]), face=np.zeros(3, np.int64))
    with pytest.raises(DataError, match=r"printed\.npz: labels must be digits 0\.\.9, found 0\.\.12"):
        pair.run(params, "fonts")


# -- the metric --------------------------------------------------------------------------------------


def test_label_preservation_against_a_direct_count():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 200)
    translated = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 10, 200))
    inputs = np.where(rng.random(200) < 0.95, labels, (labels + 1) % 10)
    rec = label_preservation(translated, inputs, 3, labels, 10, seed=0)
    hits = sum(int(t == y) for t, y in zip(translated, labels))
    assert rec["accuracy"] == pytest.approx(hits / 200)
    assert rec["input_as_is"]["accuracy"] == pytest.approx(sum(int(t == y) for t, y in zip(inputs, labels)) / 200)
    assert rec["mean_target"] == {"accuracy": pytest.approx(sum(int(y == 3) for y in labels) / 200),
                                  "interval": rec["mean_target"]["interval"], "class": 3}
    for k in range(10):
        sel = [i for i in range(200) if labels[i] == k]
        assert rec["per_class"][str(k)] == pytest.approx(sum(int(translated[i] == k) for i in sel) / len(sel))
        assert sum(rec["confusion_matrix"][k]) == len(sel)
        assert rec["confusion_matrix"][k][k] == sum(int(translated[i] == k) for i in sel)
    iv = rec["interval"]
    assert iv["low"] <= rec["accuracy"] <= iv["high"] and iv["n"] == 200 and iv["high"] - iv["low"] < 0.2


def test_label_preservation_rejects_bad_input():
    with pytest.raises(ValueError, match="two vectors of one length"):
        accuracy_record(np.zeros(3), np.zeros(4), 10, seed=0)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        accuracy_record(np.zeros(3), np.array([0, 1, 10]), 10, seed=0)


# -- the task: label_preservation.json on a tiny run ---------------------------------------------------


def _tiny(base: dict) -> dict:
    base["datasets"]["fonts"] = SMALL
    base["experiments"]["cg"] = {"model": "cyclegan", "dataset": "fonts", "task": "unpaired"}
    base["train"]["cg"] = {"steps": 2, "batch_size": 4, "log_every": 1, "snapshot_every": 2, "checkpoint_every": 2,
                           "device": "cpu", "net": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2, "pool_size": 4}}
    base["classifier"] = {"steps": 30, "batch_size": 32, "eval_every": 10, "device": "cpu"}
    base["sample"]["device"] = "cpu"
    return base


class Identity:
    def translate(self, batch, target=None):
        out = {}
        for src, dst in (("A", "B"), ("B", "A")):
            if src in batch:
                out[f"fake_{dst}"], out[f"rec_{src}"] = batch[src], batch[src]
        return out


class KnownClassifier(torch.nn.Module):
    """Logits that name a known class: the image's total ink, binned (an answer computable by hand)."""

    def predict_logits(self, images, batch_size=256, device="cpu"):
        x = np.asarray(images, dtype=np.float64)
        return np.eye(10)[self.classes(x)]

    @staticmethod
    def classes(x: np.ndarray) -> np.ndarray:
        return np.clip((x.reshape(len(x), -1).mean(axis=1) * 40).astype(int), 0, 9)


def test_evaluate_writes_label_preservation_against_an_independent_count(in_tmp, base_params, monkeypatch):
    from test_cyclegan_stargan_tasks import _fid, _set

    monkeypatch.setattr(unpaired, "reference_set", _set)
    monkeypatch.setattr(unpaired, "generated_set", _set)
    monkeypatch.setattr(unpaired, "fid_provenance", lambda: {"feature_extractor": "test stand-in"})
    monkeypatch.setattr(unpaired, "fid_value", _fid)
    params = parse_params(_tiny(base_params))
    stages = derive(params)
    assert "data/classifiers/fonts" in stages["evaluate_cg"].data and "classifier_fonts" in stages
    assert "results/cg/label_preservation.json" in {o.path for o in stages["evaluate_cg"].outs}

    fetch.run(params, "fonts")
    pair.run(params, "fonts")
    train.run(params, "cg")
    with pytest.raises(MissingInputError, match=r"ganflow classifier --dataset fonts"):
        sample.run(params, "cg")
        evaluate.run(params, "cg")
    classifier.run(params, "fonts")
    unpaired.sample(params, "cg", Identity(), torch.device("cpu"), in_tmp / "results/cg/samples")

    known = KnownClassifier()
    real_load = unpaired.load_domain_classifier
    monkeypatch.setattr(unpaired, "load_domain_classifier",
                        lambda ds: (known, *real_load(ds)[1:]))
    evaluate.run(params, "cg")
    rec = json.loads((in_tmp / "results/cg/label_preservation.json").read_text())
    fid = json.loads((in_tmp / "results/cg/fid.json").read_text())
    m = pd.read_csv(in_tmp / "data/pairs/fonts/manifest.csv")
    for name, (src, dst) in unpaired.DIRECTIONS.items():
        rows = m[(m.split == "test") & (m.domain == src)].sort_values("id")
        imgs = np.stack([load_image(in_tmp / "data/pairs/fonts" / p) for p in rows.image])
        # identity translation: the translation's class is the input's, under any classifier
        expected = float((known.classes(imgs) == rows.label.to_numpy()).mean())
        d = rec["directions"][name]
        assert d["accuracy"] == pytest.approx(expected, abs=1e-12) == pytest.approx(d["input_as_is"]["accuracy"])
        assert rec["value"][name] == d["accuracy"] and d["n"] == len(rows)
        train_rows = m[(m.split == "train") & (m.domain == dst)]
        mean_img = np.stack([load_image(in_tmp / "data/pairs/fonts" / p) for p in train_rows.image]).mean(axis=0)
        c = int(known.classes(mean_img[None])[0])
        assert d["mean_target"]["class"] == c
        assert d["mean_target"]["accuracy"] == pytest.approx(float((rows.label == c).mean()))
        assert d["fid"]["mean_target"] == fid["directions"][name]["mean_target"]
        assert d["fid"]["value"] == pytest.approx(d["fid"]["input_as_is"], abs=1e-6)
    assert len(rec["classifier_sha256"]) == 64 and rec["classes"] == [str(k) for k in range(10)]
    headline = json.loads((in_tmp / "results/cg/metrics.json").read_text())
    assert headline["label_preservation.A2B"] == rec["value"]["A2B"]
    # ganflow tables: the unpaired table's last column holds the kept labels beside both references
    from ganflow.stages import tables

    printed = tables.render(in_tmp / "results", {"cg": ("unpaired", "fonts")})
    d = rec["directions"]["A2B"]
    assert (f"| {tables.with_interval(d['accuracy'], d['interval'], 3)} ({tables.num(d['input_as_is']['accuracy'], 3)}; "
            f"{tables.num(d['mean_target']['accuracy'], 3)}) |") in printed
