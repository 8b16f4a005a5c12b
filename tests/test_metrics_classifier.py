"""The domain classifier: trained by its stage on a labelled folder, then scoring images
(IS, class histogram, missing classes, accuracy against the requested labels)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import torch

from ganflow.data.images import save_image
from ganflow.metrics.classifier_score import scores_from_logits
from ganflow.metrics.inception_score import inception_score
from ganflow.nn.classifier import DomainClassifier, load_classifier
from ganflow.params import parse_params
from ganflow.stages import classifier as stage
from ganflow.stages.tasks import common

CLASSES = ["hbar", "vbar", "box"]


def _shape(label: int, rng) -> np.ndarray:
    """16 x 16: a horizontal bar, a vertical bar or a hollow box, jittered, on noise."""
    img = rng.random((16, 16)).astype(np.float32) * 0.2
    o = rng.integers(3, 10)
    if label == 0:
        img[o:o + 3, 2:14] = 1.0
    elif label == 1:
        img[2:14, o:o + 3] = 1.0
    else:
        img[3:13, 3:13] = 1.0
        img[5:11, 5:11] = 0.1
    return img


def make_labelled(root, per_class=(24, 0, 10), seed=0):
    """data/pairs/shapes/ in the labelled layout (manifest.csv + dataset.json + PNGs)."""
    rng = np.random.default_rng(seed)
    folder = root / "data" / "pairs" / "shapes"
    rows = []
    for split, count in zip(("train", "val", "test"), per_class):
        for label in range(len(CLASSES)):
            for k in range(count):
                rid = f"{split}_{label}_{k}"
                save_image(folder / split / f"{rid}.png", _shape(label, rng))
                rows.append({"id": rid, "split": split, "image": f"{split}/{rid}.png", "label": label,
                             "label_name": CLASSES[label]})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    (folder / "dataset.json").write_text(json.dumps({"dataset": "shapes", "layout": "labelled", "image_size": 16,
                                                     "channels": 1, "classes": CLASSES}))
    return folder


@pytest.fixture
def params(base_params):
    base_params["datasets"]["shapes"] = {"source": "sklearn_digits", "image_size": 16}
    base_params["classifier"] = {"steps": 60, "batch_size": 32, "eval_every": 20, "width": 8, "device": "cpu"}
    base_params["evaluate"]["device"] = "cpu"
    return parse_params(base_params)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained classifier for the module (training is the slow part: a few seconds)."""
    import yaml

    from conftest import ROOT

    root = tmp_path_factory.mktemp("clf")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["datasets"]["shapes"] = {"source": "sklearn_digits", "image_size": 16}
    raw["classifier"] = {"steps": 60, "batch_size": 32, "eval_every": 20, "width": 8, "device": "cpu"}
    raw["evaluate"]["device"] = "cpu"
    p = parse_params(raw)
    make_labelled(root)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    stage.run(p, "shapes")
    yield root, p
    mp.undo()


def test_stage_trains_and_records_test_accuracy(trained, monkeypatch):
    root, p = trained
    out = root / "data" / "classifiers" / "shapes"
    acc = json.loads((out / "accuracy.json").read_text())
    assert acc["test_accuracy"] >= 0.9, acc
    assert (acc["n_train"], acc["n_val"], acc["n_test"]) == (65, 7, 30)  # val carved from train (10%)
    assert acc["classes"] == CLASSES and np.sum(acc["confusion_matrix"]) == 30
    for key in ("model_sha256", "data_sha256", "code", "seed", "params", "per_class_test_accuracy"):
        assert key in acc
    model, meta = load_classifier(out / "model.pt")
    assert isinstance(model, DomainClassifier) and meta["image_size"] == 16 and meta["channels"] == 1


def test_classifier_record_on_real_and_collapsed_samples(trained, monkeypatch):
    root, p = trained
    monkeypatch.chdir(root)
    manifest = pd.read_csv(root / "data" / "pairs" / "shapes" / "manifest.csv")
    test = manifest[manifest["split"] == "test"]
    from ganflow.data.images import load_image

    images = np.stack([load_image(root / "data" / "pairs" / "shapes" / f) for f in test["image"]])
    rec = common.classifier_record(p, "shapes", images, labels=test["label"].to_numpy())
    acc = json.loads((root / "data" / "classifiers" / "shapes" / "accuracy.json").read_text())
    assert rec["accuracy"] == pytest.approx(acc["test_accuracy"])  # the same images, the same model
    assert rec["classifier_test_accuracy"] == acc["test_accuracy"] and rec["classifier_sha256"] == acc["model_sha256"]
    assert sum(rec["class_histogram"]) == 30 and rec["n_missing_classes"] == 0
    model, _ = load_classifier(root / "data" / "classifiers" / "shapes" / "model.pt")
    with torch.no_grad():
        logits = model(torch.from_numpy(images[:, None])).double().numpy()
    direct = inception_score(logits, splits=10, seed=p.seed)
    assert rec["is_mean"] == pytest.approx(direct["mean"], rel=1e-6) and rec["is_std"] == pytest.approx(direct["std"])
    assert 1.0 < rec["is_mean"] <= 3.0 + 1e-9

    collapsed = images[test["label"].to_numpy() == 0]  # a generator that only draws horizontal bars
    low = common.classifier_record(p, "shapes", np.concatenate([collapsed, collapsed]))
    assert low["n_missing_classes"] >= 1 and low["is_mean"] < rec["is_mean"] and "accuracy" not in low


def test_missing_classifier_says_which_command_makes_it(tmp_path, monkeypatch, params):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GanflowError, match="ganflow classifier --dataset shapes"):
        common.classifier_record(params, "shapes", np.zeros((10, 16, 16)))


def test_bad_labels_and_missing_test_split_are_named(tmp_path, monkeypatch, params):
    monkeypatch.chdir(tmp_path)
    folder = make_labelled(tmp_path, per_class=(2, 0, 1))
    manifest = pd.read_csv(folder / "manifest.csv")
    manifest.loc[3, "label"] = 7
    manifest.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(GanflowError, match=r"label is not an integer in 0..2: line 5 \(id train_1_1\)"):
        stage.run(params, "shapes")
    manifest.loc[3, "label"] = 1
    manifest[manifest["split"] != "test"].to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(GanflowError, match="no 'test' rows"):
        stage.run(params, "shapes")


def test_scores_from_logits_known_values():
    logits = np.full((20, 4), -30.0)
    predicted = np.array([0] * 10 + [1] * 10)
    logits[np.arange(20), predicted] = 30.0
    labels = np.array([0] * 10 + [1] * 5 + [2] * 5)
    s = scores_from_logits(logits, labels=labels, splits=1)
    assert s["class_histogram"] == [10, 10, 0, 0] and s["n_missing_classes"] == 2 and s["missing_classes"] == [2, 3]
    assert s["accuracy"] == 0.75 and s["is_mean"] == pytest.approx(2.0) and s["largest_class_fraction"] == 0.5
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        scores_from_logits(logits, labels=np.full(20, 4), splits=1)
