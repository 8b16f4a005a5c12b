"""Local-folder layouts and the pairing rules: fetch + pair on folders and archives built here.

Homework folders, A/B folders matched by name, side-by-side images, class sub-folders and a
plain (Kaggle-style) archive; the one error that lists every unmatched, mismatched and
unreadable file; ``on_bad: skip`` and its report; ``max_images``; the crop/resize and landmark
rules against hand-computed answers.  No network at all.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import yaml
from PIL import Image

from ganflow.cli import run as ganflow_run
from ganflow.data import layouts
from ganflow.data.images import resize
from ganflow.data.sources.common import tree_sha256


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(name: str, source: str, options: dict, **dataset) -> None:
        params = {"datasets": {name: {"source": source, "image_size": 8, **dataset, "options": options}},
                  "experiments": {}, "train": {}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return write


def run(*stages: str, dataset: str = "d") -> None:
    for s in stages:
        ganflow_run([s, "--dataset", dataset, "--params", "params.yaml"])


def png(path: Path, value: int, size=(12, 12), mode="L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = size if mode == "L" else (*size, 3)
    Image.fromarray(np.full(shape, value, np.uint8), mode).save(path)
    return path


def manifest(name: str = "d") -> pd.DataFrame:
    return pd.read_csv(f"data/pairs/{name}/manifest.csv", keep_default_na=False)


def meta(name: str = "d") -> dict:
    return json.loads(Path(f"data/pairs/{name}/dataset.json").read_text())


def value(rel: str, name: str = "d") -> float:
    return float(np.asarray(Image.open(Path("data/pairs") / name / rel), dtype=np.float64).mean())


# --------------------------------------------------------------------------- each layout


def test_homework_folders(project):
    for i in range(3):
        png(Path(f"hw/Training/Real/{i}.png"), 100)
        png(Path(f"hw/Training/White/{i}.png"), 250)
    png(Path("hw/Test/White/7.png"), 250)
    project("d", "homework_folders", {"path": "hw"})
    run("fetch", "pair")
    m = manifest()
    assert list(m.columns) == ["id", "split", "a", "b"]
    assert list(m.id) == ["train_0", "train_1", "train_2", "test_7"]
    assert all(value(a) == 250 for a in m.a)                      # a = the whitened input
    assert all(value(b) == 100 for b in m.b[:3]) and m.b[3] == ""  # no target for Test/White
    assert meta()["split_rule"].startswith("upstream: Training/ -> train")


def test_paired_folders_by_name_with_split_folders_and_direction(project):
    for split, stems in (("train", ["x", "y"]), ("test", ["z"])):
        for s in stems:
            png(Path(f"ab/A/{split}/{s}.png"), 30)
            png(Path(f"ab/B/{split}/{s}.jpg"), 220)   # matched by stem, not extension
    project("d", "paired_folders", {"path": "ab", "direction": "BtoA"})
    run("fetch", "pair")
    m = manifest()
    assert sorted(m.id) == ["test_z", "train_x", "train_y"]
    assert all(value(a) > 200 for a in m.a) and all(value(b) < 50 for b in m.b)
    assert meta()["direction"] == "BtoA" and (meta()["n_train"], meta()["n_test"]) == (2, 1)


def test_side_by_side_folder_seeded_split(project):
    for i in range(10):
        img = np.zeros((6, 12), np.uint8)
        img[:, 6:] = 200
        Path("sbs").mkdir(exist_ok=True)
        Image.fromarray(img).save(f"sbs/p{i}.png")
    project("d", "side_by_side_folder", {"path": "sbs"}, test_fraction=0.3, split_seed=4)
    run("fetch", "pair")
    m = manifest()
    assert (m.split == "test").sum() == 3 and meta()["split_rule"].startswith("numpy.random.default_rng(4)")
    assert all(value(a) == 0 for a in m.a) and all(value(b) == 200 for b in m.b)


def test_class_folders(project):
    for cls, n in (("roses", 3), ("daisy", 2)):
        for i in range(n):
            png(Path(f"cls/{cls}/{i}.png"), 40 * n, mode="RGB")
    project("d", "class_folders", {"path": "cls"}, test_fraction=0.4)
    run("fetch", "pair")
    m = manifest()
    assert list(m.columns) == ["id", "split", "image", "label", "label_name"]
    assert meta()["classes"] == ["daisy", "roses"] and meta()["channels"] == 3
    assert {(r.label, r.label_name) for r in m.itertuples()} == {(0, "daisy"), (1, "roses")}
    assert sorted(m.id) == ["daisy_0", "daisy_1", "roses_0", "roses_1", "roses_2"]


def test_user_archive_checked_by_sha256_and_wrapper_folder_skipped(project, tmp_path):
    archive = tmp_path / "animefaces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(4):
            png(tmp_path / "src" / f"{i}.png", 60 * i, size=(10, 14), mode="RGB")
            zf.write(tmp_path / "src" / f"{i}.png", f"images/{i}.png")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()

    project("d", "anime_faces", {"archive": str(archive)})
    with pytest.raises(GanflowError, match=r"datasets\.d\.options: .*sha256 is required with archive"):
        run("fetch")
    project("d", "anime_faces", {"archive": str(archive), "sha256": "1" * 64})
    with pytest.raises(GanflowError, match=rf"datasets\.d\.options\.archive = .*sha256 is {sha}"):
        run("fetch")
    assert not Path("data/raw/d").exists()

    project("d", "anime_faces", {"archive": str(archive), "sha256": sha})
    run("fetch", "pair")
    m = manifest()
    assert sorted(m.id) == ["id_0", "id_1", "id_2", "id_3"]     # "images/" wrapper skipped
    assert meta()["crop"].startswith("largest centred square")  # 10 x 14 -> 10 x 10 -> 8 x 8
    record = json.loads(Path("data/raw/d/source.json").read_text())["files"][0]
    assert record["sha256"] == sha and record["kind"] == "archive"


def test_folder_tree_checksum(project):
    for i in range(3):
        png(Path(f"imgs/{i}.png"), 10 * i)
    good = tree_sha256(Path("imgs"))
    project("d", "image_folder", {"path": "imgs", "sha256": good})
    run("fetch")
    assert json.loads(Path("data/raw/d/source.json").read_text())["files"][0]["tree_sha256"] == good
    png(Path("imgs/1.png"), 99)
    with pytest.raises(GanflowError, match=f"tree sha256 is [0-9a-f]{{64}}, but datasets.d.options.sha256 says {good}"):
        run("fetch")


def test_image_folder_channels_must_agree_unless_converted(project):
    png(Path("mix/a.png"), 10)
    png(Path("mix/b.png"), 10)
    png(Path("mix/c.png"), 10, mode="RGB")
    project("d", "image_folder", {"path": "mix"})
    run("fetch")
    with pytest.raises(GanflowError, match=r"mixed grayscale and colour.*options.channels"):
        run("pair")
    project("d", "image_folder", {"path": "mix", "channels": 3})
    run("pair")
    assert meta()["channels"] == 3
    assert {Image.open(Path("data/pairs/d") / p).mode for p in manifest().image} == {"RGB"}


# ----------------------------------------------------------------------- bad inputs


def _bad_pairs() -> None:
    for s in ("ok1", "ok2", "ok3", "small"):
        png(Path(f"bad/A/{s}.png"), 50)
    for s in ("ok1", "ok2", "ok3"):
        png(Path(f"bad/B/{s}.png"), 150)
    png(Path("bad/B/small.png"), 150, size=(12, 10))   # partner of another size
    png(Path("bad/A/lonely_a.png"), 50)                 # no partner in B
    png(Path("bad/B/lonely_b.png"), 150)                # no partner in A
    Path("bad/A/broken.png").write_bytes(b"\x89PNG not really")
    png(Path("bad/B/broken.png"), 150)


def test_bad_inputs_listed_in_one_error(project):
    _bad_pairs()
    project("d", "paired_folders", {"path": "bad"})
    run("fetch")
    with pytest.raises(GanflowError) as err:
        run("pair")
    text = str(err.value)
    assert "4 bad input(s)" in text and "on_bad: skip" in text
    assert "A/lonely_a.png: unmatched: no partner named lonely_a.* in" in text
    assert "B/lonely_b.png: unmatched: no partner named lonely_b.* in" in text
    assert "A/small.png + data/raw/d/data/B/small.png: size mismatch between partners: 12x12 vs 12x10" in text
    assert "A/broken.png: unreadable:" in text
    assert not Path("data/pairs").exists() or not any(Path("data/pairs").iterdir())


def test_bad_inputs_skipped_with_a_report(project):
    _bad_pairs()
    project("d", "paired_folders", {"path": "bad", "on_bad": "skip"})
    run("fetch", "pair")
    assert sorted(manifest().id) == ["ok1", "ok2", "ok3"]
    skipped = pd.read_csv("data/pairs/d/skipped.csv", keep_default_na=False)
    assert list(skipped.columns) == ["file", "id", "problem"]
    assert sorted(f.replace("data/raw/d/data/", "") for f in skipped.file) == [
        "A/broken.png", "A/lonely_a.png", "A/small.png + B/small.png", "B/lonely_b.png"]
    assert meta()["n_skipped"] == 4


def test_homework_test_real_must_match(project):
    png(Path("hw/Training/Real/0.png"), 100)
    png(Path("hw/Training/White/0.png"), 250)
    png(Path("hw/Training/Real/1.png"), 100)
    png(Path("hw/Training/White/1.png"), 250)
    png(Path("hw/Test/White/5.png"), 250)
    png(Path("hw/Test/White/6.png"), 250)
    png(Path("hw/Test/Real/5.png"), 100)
    project("d", "homework_folders", {"path": "hw"})
    run("fetch")
    with pytest.raises(GanflowError, match=r"Test/White/6.png: unmatched: no partner named 6\.\* in .*Test/Real"):
        run("pair")


def test_wrong_layout_is_named(project):
    png(Path("flat/x.png"), 1)
    project("d", "homework_folders", {"path": "flat"})
    run("fetch")
    with pytest.raises(GanflowError, match=r"not the homework layout; missing folder\(s\)"):
        run("pair")


def test_duplicate_ids_are_bad_inputs(project):
    png(Path("dup/a.png"), 1)
    png(Path("dup/b.png"), 1)
    png(Path("dup/c.png"), 1)
    Image.fromarray(np.zeros((12, 12), np.uint8)).save("dup/a.jpg")
    project("d", "image_folder", {"path": "dup", "on_bad": "skip"})
    run("fetch", "pair")
    assert sorted(manifest().id) == ["a", "b", "c"]
    assert "duplicate id 'a'" in pd.read_csv("data/pairs/d/skipped.csv").problem[0]


def test_missing_location_options(project):
    project("d", "image_folder", {})
    with pytest.raises(GanflowError, match=r"datasets\.d\.options: .*exactly one of path .* or archive"):
        run("fetch")
    project("d", "image_folder", {"path": "nowhere"})
    with pytest.raises(GanflowError, match=r"datasets\.d\.options\.path = nowhere: no such file or folder"):
        run("fetch")


# ------------------------------------------------------------------------ rules


def test_max_images_keeps_a_seeded_subset_and_the_splits(project):
    for i in range(20):
        png(Path(f"many/im{i:02d}.png"), i)
    project("d", "image_folder", {"path": "many"})
    run("fetch", "pair")
    full = manifest().set_index("id").split
    project("d", "image_folder", {"path": "many", "max_images": 7})
    run("pair")
    m = manifest()
    assert len(m) == 7 and meta()["n_available"] == 20 and meta()["max_images"] == 7
    assert all(full[r.id] == r.split for r in m.itertuples())  # a row keeps the split it had
    first = list(m.id)
    run("pair")
    assert list(manifest().id) == first                         # same seed, same subset


def test_centre_square_and_resize_known_answer():
    arr = np.arange(6 * 10, dtype=np.float32).reshape(6, 10) / 60
    square, (top, left, side) = layouts.centre_square(arr)
    assert (top, left, side) == (0, 2, 6) and np.array_equal(square, arr[:, 2:8])
    tall = np.zeros((9, 4), np.float32)
    assert layouts.centre_square(tall)[1] == (2, 0, 4)
    np.testing.assert_array_equal(resize(square, 8), resize(arr[:, 2:8], 8))


def test_landmarks_follow_crop_and_resize():
    # 178 x 218 CelebA face -> centre square top 20, side 178 -> 128 px
    got = layouts._moved_landmarks((73, 152, 108, 154), top=20, left=0, side=178, size=128)
    k = 128 / 178
    assert got == pytest.approx({"lx": 73.5 * k - .5, "ly": 132.5 * k - .5, "rx": 108.5 * k - .5, "ry": 134.5 * k - .5})
    # the image centre stays the image centre
    centre = layouts._moved_landmarks((88.5, 108.5, 88.5, 108.5), top=20, left=0, side=178, size=128)
    assert centre["lx"] == pytest.approx(63.5) and centre["ly"] == pytest.approx(63.5)


def test_safe_ids_read_back_as_strings(tmp_path):
    ids = [layouts.safe_id(x) for x in ("000001", "1e5", "nan", "NA", "a b/c", "train_1", "face_000")]
    assert ids == ["id_000001", "id_1e5", "id_nan", "id_NA", "a_b_c", "train_1", "face_000"]
    pd.DataFrame({"id": ids}).to_csv(tmp_path / "m.csv", index=False)
    assert pd.read_csv(tmp_path / "m.csv").id.tolist() == ids
