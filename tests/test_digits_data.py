"""The digits sources (labelled and captioned) and the caption measurements they rest on."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import yaml

from ganflow.data import captions as cap
from ganflow.data.images import load_image, resize
from ganflow.data.split import seeded_split


# -- measurements on constructed images ----------------------------------------------------------


def _bar(width: int, rows=(4, 28), size: int = 32) -> np.ndarray:
    img = np.zeros((size, size), np.float32)
    left = size // 2 - width // 2
    img[rows[0]:rows[1], left:left + width] = 1.0
    return img


def _stroke(dx_per_row: float, size: int = 32) -> np.ndarray:
    """A 1-pixel stroke from row 28 up to row 4, moving dx_per_row columns right per row upwards."""
    img = np.zeros((size, size), np.float32)
    for r in range(4, 29):
        img[r, int(round(16 + (28 - r - 12) * dx_per_row))] = 1.0
    return img


@pytest.mark.parametrize("width", [1, 3, 5, 7])
def test_thickness_of_a_bar_is_its_width(width):
    assert cap.measure(_bar(width)).thickness == pytest.approx(width, abs=0.35)


def test_thick_stroke_measures_thicker_than_thin_stroke():
    thin, thick = cap.measure(_bar(2)), cap.measure(_bar(6))
    assert thick.thickness > thin.thickness + 3


@pytest.mark.parametrize("dx", [-0.5, -0.2, 0.0, 0.3, 0.6])
def test_slant_is_the_angle_from_vertical(dx):
    expected = math.degrees(math.atan(dx))  # right of vertical as the stroke rises
    assert cap.measure(_stroke(dx)).slant == pytest.approx(expected, abs=1.5)


def test_width_is_the_fraction_of_columns_with_ink():
    img = np.zeros((32, 32), np.float32)
    img[5:20, 8:24] = 1.0
    assert cap.measure(img).width == pytest.approx(16 / 32)
    assert cap.measure(np.zeros((32, 32))).thickness == 0.0


def test_levels_follow_the_thresholds_and_the_words_say_them():
    thresholds = {"thickness": (3.0, 5.0), "slant": (-5.0, 5.0), "width": (0.4, 0.6)}
    lv = cap.levels(cap.Properties(thickness=7.0, slant=-12.0, width=0.5), thresholds)
    assert lv == {"thickness": 2, "slant": 0, "width": 1}
    texts = cap.captions(7, lv, np.random.default_rng(0), n=5)
    assert len(set(texts)) == 5
    for t in texts:
        assert cap.parse_levels(t) == lv and cap.parse_digit(t) == 7
        assert any(w in t for w in cap.WORDS["thickness"][2])
    assert cap.describe(8, {"thickness": 1, "slant": 1, "width": 1}, synonym=1).startswith("an average-width eight")
    assert cap.describe(1, {"thickness": 1, "slant": 1, "width": 1}, template=4).startswith("a regular one")


def test_terciles_split_measurements_in_three():
    props = [cap.Properties(float(i), 0.0, 0.5) for i in range(9)]
    lo, hi = cap.tercile_thresholds(props)["thickness"]
    counts = np.bincount([cap.levels(p, cap.tercile_thresholds(props))["thickness"] for p in props], minlength=3)
    assert lo < hi and counts.tolist() == [3, 3, 3]


# -- the sources through fetch and pair ----------------------------------------------------------


def _params(**datasets) -> dict:
    return {"datasets": datasets, "experiments": {}, "train": {}}


def _fetch_pair(tmp, name: str, source: str, **options):
    from ganflow.params import parse_params
    from ganflow.stages import fetch, pair

    raw = _params(**{name: {"source": source, "image_size": 32, "test_fraction": 0.25, "split_seed": 3,
                            "options": {"max_images": 150, **options}}})
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw))
    p = parse_params(raw)
    fetch.run(p, name)
    pair.run(p, name)
    folder = tmp / "data" / "pairs" / name
    return pd.read_csv(folder / "manifest.csv"), json.loads((folder / "dataset.json").read_text()), folder


def test_digits_source_writes_the_labelled_contract(in_tmp):
    manifest, meta, folder = _fetch_pair(in_tmp, "digits", "sklearn_digits")
    assert list(manifest.columns) == ["id", "split", "image", "label", "label_name"]
    assert len(manifest) == 150 and set(manifest["split"]) == {"train", "test"}
    assert meta["layout"] == "labelled" and meta["classes"] == [str(d) for d in range(10)]
    assert meta["image_size"] == 32 and meta["channels"] == 1
    assert meta["n_train"] + meta["n_test"] == 150 and meta["n_train"] == (manifest["split"] == "train").sum()
    assert "default_rng(3)" in meta["split_rule"]
    # The split is the seeded rule over all 1,797 ids (the subset is drawn after it).
    from sklearn.datasets import load_digits

    digits = load_digits()
    rule = seeded_split([f"digit_{i:04d}" for i in range(len(digits.images))], 0.25, 3)
    assert all(rule[r.id] == r.split for r in manifest.itertuples())
    assert all(str(r.label_name) == str(r.label) for r in manifest.itertuples())
    # Each image is the bicubic upsampling of intensity / 16, white ink on black.
    for r in manifest.head(5).itertuples():
        i = int(r.id.split("_")[1])
        assert r.label == digits.target[i]
        img = load_image(folder / r.image)
        assert img.shape == (32, 32)
        assert np.abs(img - resize(digits.images[i].astype(np.float32) / 16, 32)).max() <= 0.5 / 255 + 1e-6


def test_digits_captioned_source_writes_captions_measured_on_each_image(in_tmp):
    manifest, meta, folder = _fetch_pair(in_tmp, "dc", "sklearn_digits_captioned", captions_per_image=3)
    assert list(manifest.columns) == ["id", "split", "image", "label", "label_name", "captions"]
    assert meta["layout"] == "captioned" and "captions" in meta
    thresholds = meta["captions"]["thresholds"]
    assert sorted(thresholds) == [str(d) for d in range(10)]
    from sklearn.datasets import load_digits

    digits = load_digits()
    for r in manifest.head(20).itertuples():
        texts = r.captions.split(" | ")
        assert len(texts) == 3 and len(set(texts)) == 3
        i = int(r.id.split("_")[1])
        props = cap.measure(resize(digits.images[i].astype(np.float32) / 16, 32))
        want = cap.levels(props, {k: tuple(v) for k, v in thresholds[str(r.label)].items()})
        for t in texts:
            assert cap.parse_digit(t) == r.label and cap.parse_levels(t) == want


def test_a_broken_raw_file_is_named(in_tmp):
    from ganflow.params import parse_params
    from ganflow.stages import pair

    raw = _params(digits={"source": "sklearn_digits", "image_size": 32})
    bad = in_tmp / "data" / "raw" / "digits"
    bad.mkdir(parents=True)
    np.savez(bad / "digits.npz", images=np.zeros((3, 8, 8)), target=np.array([1, 2]))
    with pytest.raises(GanflowError, match=r"digits\.npz.*do not match"):
        pair.run(parse_params(raw), "digits")
