"""Everyday use: translate and generate on the offline default (a tiny trained pix2pix_tiny),
the geometry behind them (white-box detection, resize and tile), list, doctor, the CLI's
quiet / verbose flags, and clear messages at the seams (unknown names, missing files, a blocked
download, no `dvc init`)."""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
import yaml
from PIL import Image

from conftest import copy_project, tiny_params
from ganflow.cli import run as ganflow
from ganflow.data.images import load_image
from ganflow.data.inference import Fit, find_white_box, fit_square, to_channels, translate_resized, translate_tiled

EXP = "pix2pix_tiny"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project copy with the offline default fetched, paired, masked, pix2pix_tiny trained
    (4 steps) and sampled; the working directory is the copy while a test runs."""
    work = copy_project(tmp_path_factory.mktemp("everyday") / "proj")
    params = tiny_params(yaml.safe_load((work / "params.yaml").read_text()))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    old = os.getcwd()
    os.chdir(work)
    try:
        for argv in (["fetch", "--dataset", "lfw_faces"], ["pair", "--dataset", "lfw_faces"],
                     ["mask", "--dataset", "lfw_faces"], ["train", "--exp", EXP], ["sample", "--exp", EXP]):
            assert ganflow(["-q", *argv]) == 0
    finally:
        os.chdir(old)
    return work


@pytest.fixture
def at(trained, monkeypatch):
    monkeypatch.chdir(trained)
    return trained


def boxes(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / "data/masked/lfw_faces/boxes.csv").set_index("id")


def box_of(work: Path, image_id: str) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in boxes(work).loc[image_id, ["top", "left", "bottom", "right"]])


def test_translate_folder_reproduces_the_sample_stage(at, tmp_path):
    """The test inputs through `translate` give exactly what `sample` wrote: same model, same box."""
    src = at / "data/masked/lfw_faces/Test/White"
    assert ganflow(["translate", "--exp", EXP, str(src), str(tmp_path / "out")]) == 0
    inputs = sorted(p.name for p in src.glob("*.png"))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == inputs
    for name in inputs:
        ours = np.asarray(Image.open(tmp_path / "out" / name))
        theirs = np.asarray(Image.open(at / f"results/{EXP}/samples/{name}"))
        assert np.array_equal(ours, theirs), name


def test_translate_any_size_jpeg_keeps_everything_outside_the_box(at, tmp_path):
    image_id = sorted(p.stem for p in (at / "data/masked/lfw_faces/Test/White").glob("*.png"))[0]
    small = load_image(at / f"data/masked/lfw_faces/Test/White/{image_id}.png")
    big = Image.fromarray((small * 255).round().astype(np.uint8)).resize((150, 150), Image.NEAREST).convert("RGB")
    big.save(tmp_path / "face.jpg", quality=92)
    assert ganflow(["translate", "--exp", EXP, str(tmp_path / "face.jpg"), str(tmp_path / "filled.png")]) == 0
    out = load_image(tmp_path / "filled.png")
    gray_in = to_channels(load_image(tmp_path / "face.jpg"), 1)  # the model is grayscale
    assert out.shape == (150, 150)
    t, l, b, r = box_of(at, image_id)
    scale = 150 / 64
    found = find_white_box(gray_in)
    assert all(abs(f - round(v * scale)) <= 3 for f, v in zip(found, (t, l, b, r))), (found, (t, l, b, r))
    inside = np.zeros(out.shape, bool)
    inside[found[0]:found[2], found[1]:found[3]] = True
    assert np.abs(out[~inside] - gray_in[~inside]).max() <= 0.5 / 255  # only 8-bit rounding
    assert out[inside].mean() < 0.9  # the white box was filled with something face-like


def test_translate_with_an_explicit_box(at, tmp_path):
    src = at / "data/masked/lfw_faces/Test/White"
    name = sorted(src.glob("*.png"))[0]
    t, l, b, r = box_of(at, name.stem)
    assert ganflow(["translate", "--exp", EXP, "--box", f"{t},{l},{b},{r}", str(name), str(tmp_path)]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / name.name)),
                          np.asarray(Image.open(at / f"results/{EXP}/samples/{name.name}")))


@pytest.mark.parametrize("case", ["missing", "no_box", "tile", "same_folder", "unknown_exp"])
def test_translate_errors_name_the_problem(at, tmp_path, case):
    real = sorted((at / "data/masked/lfw_faces/Test/Real").glob("*.png"))[0]
    white = at / "data/masked/lfw_faces/Test/White"
    argv, expected = {
        "missing": ([str(tmp_path / "nope.png"), str(tmp_path / "o.png")], "nope.png: no such file"),
        "no_box": ([str(real), str(tmp_path / "o.png")], f"{real}: no white box found"),
        "tile": (["--fit", "tile", str(real), str(tmp_path / "o.png")], "--fit tile does not apply"),
        "same_folder": ([str(white), str(white)], "is INPUT"),
        "unknown_exp": (None, None),
    }[case]
    if argv is None:  # an experiment name that is not in params.yaml
        with pytest.raises(GanflowError, match="unknown experiment 'nope'"):
            ganflow(["translate", "--exp", "nope", str(real), str(tmp_path / "o.png")])
        return
    with pytest.raises(GanflowError) as err:
        ganflow(["translate", "--exp", EXP, *argv])
    assert expected in str(err.value)
    assert not (tmp_path / "o.png").exists()


def test_generate_fills_test_faces_like_the_sample_stage(at, tmp_path):
    out = tmp_path / "gen"
    assert ganflow(["generate", "--exp", EXP, "-n", "3", "--seed", "1", "--out", str(out)]) == 0
    filled = sorted(out.glob("*_filled.png"))
    assert len(filled) == 3 and len(list(out.glob("*_input.png"))) == 3 and (out / "grid.png").is_file()
    for f in filled:
        image_id = f.stem[: -len("_filled")]
        assert np.array_equal(np.asarray(Image.open(f)),
                              np.asarray(Image.open(at / f"results/{EXP}/samples/{image_id}.png")))
    again = tmp_path / "again"
    assert ganflow(["generate", "--exp", EXP, "-n", "3", "--seed", "1", "--out", str(again)]) == 0
    assert sorted(p.name for p in again.glob("*.png")) == sorted(p.name for p in out.glob("*.png"))


def test_generate_default_folder_and_refusals(at):
    assert ganflow(["-q", "generate", "--exp", EXP, "-n", "2"]) == 0
    assert len(list((at / "generated" / EXP).glob("*.png"))) == 5  # 2 inputs, 2 outputs, the grid
    assert (at / "generated/.gitignore").read_text().strip().endswith("*")
    with pytest.raises(GanflowError, match="takes no --class or --caption"):
        ganflow(["generate", "--exp", EXP, "-n", "2", "--class", "3"])
    with pytest.raises(GanflowError, match="at least 1"):
        ganflow(["generate", "--exp", EXP, "-n", "0"])


def test_translate_before_training_says_what_to_run(at, tmp_path):
    real = sorted((at / "data/masked/lfw_faces/Test/White").glob("*.png"))[0]
    with pytest.raises(GanflowError, match="run `ganflow train --exp pix2pix` first"):
        ganflow(["translate", "--exp", "pix2pix", str(real), str(tmp_path / "o.png")])


def test_list_names_every_model_source_dataset_and_experiment(at, capsys):
    from ganflow.data.sources import SOURCES, load_all
    from ganflow.models import MODELS
    from ganflow.models import load_all as load_models

    load_all(), load_models()
    assert ganflow(["list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in out["models"]] == sorted(MODELS)
    assert {s["name"]: s["offline"] for s in out["sources"]} == {n: s.offline for n, s in SOURCES.items()}
    assert all(s["size"] for s in out["sources"])
    lfw = {d["name"]: d for d in out["datasets"]}["lfw_faces"]
    assert lfw["offline"] is True and lfw["status"] == "fetched, paired, masked"
    exps = {e["name"]: e for e in out["experiments"]}
    assert exps[EXP]["status"].startswith("trained 4 steps") and exps["pix2pix"]["status"] == "not trained yet"
    assert ganflow(["list", "experiments"]) == 0
    table = capsys.readouterr().out
    n = len(yaml.safe_load((at / "params.yaml").read_text())["experiments"])
    assert f"Experiments in params.yaml ({n})" in table and "not trained yet" in table and "Models" not in table


def test_doctor_says_what_to_fix(at, capsys, monkeypatch):
    """The copy has .dvc/ (copied) but no FID weights: a warning with the command; without
    .dvc/ the check fails, says `dvc init`, and the exit status is 1."""
    assert ganflow(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok    params" in out and "ok    dvc" in out and "data set lfw_faces" in out
    assert "warn  FID weights" in out and "`ganflow weights`" in out
    shutil.move(at / ".dvc", at / "dvc.moved")
    try:
        assert ganflow(["doctor"]) == 1
        captured = capsys.readouterr()
        assert "FAIL  dvc" in captured.out and "run `dvc init` in the project root" in captured.out
        assert "1 problem(s) to fix" in captured.err
        assert ganflow(["-q", "doctor"]) == 1  # quiet: only what needs fixing, on stderr
        captured = capsys.readouterr()
        assert captured.out == "" and "FAIL  dvc" in captured.err and "ok    params" not in captured.err
        checks = {c["what"]: c for c in (json.loads(_run_json(capsys)))}
        assert checks["dvc"]["status"] == "FAIL" and checks["disk"]["status"] in ("ok", "warn")
    finally:
        shutil.move(at / "dvc.moved", at / ".dvc")


def _run_json(capsys) -> str:
    ganflow(["doctor", "--json"])
    return capsys.readouterr().out


def test_doctor_reports_a_broken_params_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("datasets: {}\nexperiments: {x: {model: nope, dataset: d}}\ntrain: {}\n")
    assert ganflow(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  params" in out and "experiments.x.model: unknown model 'nope'" in out


def test_quiet_and_verbose(at, capsys):
    assert ganflow(["-q", "list", "models"]) == 0
    assert capsys.readouterr().out == ""
    assert ganflow(["-v", "list", "models"]) == 0
    captured = capsys.readouterr()
    assert "pix2pix_tiny" in captured.out and "ganflow list:" in captured.err and " s" in captured.err
    with pytest.raises(GanflowError, match="unknown experiment"):
        ganflow(["-v", "summary", "--exp", "nope"])
    assert "Traceback" in capsys.readouterr().err  # verbose: where the error was raised


def test_missing_dvc_init_is_said_after_a_snakemake_run(tmp_path, monkeypatch, capsys):
    """common.smk's onsuccess hook: without .dvc/ it says the run is not versioned and how to fix it."""
    work = copy_project(tmp_path / "proj")
    shutil.rmtree(work / ".dvc")
    monkeypatch.chdir(work)
    namespace: dict = {"config": {}}  # what Snakemake gives an included file
    exec(compile((work / "workflow/common.smk").read_text(), "common.smk", "exec"), namespace)
    namespace["record_with_dvc"](["train_pix2pix"])
    assert "run `dvc init` in the project root" in capsys.readouterr().out


def test_a_blocked_download_says_where_to_put_the_file(tmp_path):
    from ganflow.data.sources.common import DownloadOptions, RemoteFile, fetch_remote

    options = DownloadOptions(mirrors=[str(tmp_path / "no-mirror")], retries=0)
    cache = tmp_path / "data/downloads/celeba"
    wanted = RemoteFile("list_attr_celeba.txt", md5="75e246fa4810816ffd6ee81facbd244c")
    with pytest.raises(GanflowError) as err:
        fetch_remote(wanted, [], options, cache)
    message = str(err.value)
    assert f"put it at {(cache / 'list_attr_celeba.txt').resolve()}" in message
    assert "md5 must be 75e246fa4810816ffd6ee81facbd244c" in message
    # ... and a file put there is taken without any download (the mirror still does not exist)
    payload = b"attributes\n"
    import hashlib

    cache.mkdir(parents=True, exist_ok=True)
    (cache / "mine.txt").write_bytes(payload)
    path, _ = fetch_remote(RemoteFile("mine.txt", md5=hashlib.md5(payload).hexdigest()), [], options, cache)
    assert path.read_bytes() == payload


# -- geometry: known answers ---------------------------------------------------------------------


def _noise_face(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.85, (h, w)).astype(np.float32)


def test_white_box_found_exactly_even_when_bright_pixels_touch_it():
    img = _noise_face(64, 80)
    img[30:44, 20:52] = 1.0
    assert find_white_box(img) == (30, 20, 44, 52)
    img[36:40, 52:60] = 0.97  # a bright highlight touching the box's right side
    img[20:30, 25:27] = 1.0   # and a thin white line touching its top
    assert find_white_box(img) == (30, 20, 44, 52)
    rgb = np.repeat(img[..., None], 3, axis=2)
    assert find_white_box(rgb) == (30, 20, 44, 52)


def test_white_box_survives_jpeg_and_refuses_images_without_one():
    img = _noise_face(120, 120, seed=1)
    img[70:100, 30:90] = 1.0
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=80)
    jpeg = np.asarray(Image.open(buf), dtype=np.float32) / 255
    found = find_white_box(jpeg)
    assert all(abs(a - b) <= 1 for a, b in zip(found, (70, 30, 100, 90))), found
    with pytest.raises(ValueError, match="no white box found"):
        find_white_box(_noise_face(64, 64))
    white_page = np.ones((64, 64), np.float32)
    with pytest.raises(ValueError, match="no white box found"):
        find_white_box(white_page)  # all white is a page, not a mouth box


def test_tiles_of_an_identity_model_give_the_image_back():
    rng = np.random.default_rng(0)
    for shape in [(150, 97, 3), (64, 64), (40, 200), (30, 30)]:
        img = rng.uniform(0, 1, shape).astype(np.float32)
        same = translate_tiled(img, 64, lambda x: x, batch_size=5)
        assert same.shape == img.shape and np.abs(same - img).max() < 1e-5, shape
        inverted = translate_tiled(img, 64, lambda x: 1 - x)
        assert np.abs(inverted - (1 - img)).max() < 1e-5, shape


def test_tiles_are_model_sized_and_cover_every_pixel():
    seen = []

    def record(batch):
        seen.append(batch.shape)
        return batch

    translate_tiled(np.zeros((150, 130), np.float32), 64, record, batch_size=100)
    assert seen == [(9, 64, 64)]  # 3 x 3 tiles at stride 48, the last aligned to the border


def test_resize_fit_round_trip_and_box_mapping():
    img = np.random.default_rng(2).uniform(0, 1, (64, 64)).astype(np.float32)
    assert np.array_equal(translate_resized([img], 64, lambda x: x)[0], img)  # the model's size: untouched
    rows, cols = np.mgrid[0:100, 0:60]
    tall = np.stack([(rows / 99), (cols / 59), 0.5 + 0.4 * np.sin(rows / 9.0)], axis=2).astype(np.float32)
    back = translate_resized([tall], 64, lambda x: x)[0]
    assert back.shape == tall.shape and np.abs(back - tall).mean() < 0.01  # smooth content survives
    fitted, fit = fit_square(tall, 64)
    assert fitted.shape == (64, 64, 3) and fit == Fit(100, 60, 100, 0, 20, 64)
    t, l, b, r = fit.box_to_model((50, 10, 75, 40))
    assert (t, l, b, r) == (32, 19, 48, 39)  # (row + 0) * 0.64, (col + 20) * 0.64, rounded outwards
    assert to_channels(np.ones((5, 5, 4), np.float32), 1).shape == (5, 5)


def test_translate_writes_png_and_other_formats(tmp_path):
    from ganflow.stages.translate import save_any

    rows, cols = np.mgrid[0:20, 0:30]
    img = np.stack([rows / 19, cols / 29, np.full(rows.shape, 0.5)], axis=2).astype(np.float32)
    save_any(tmp_path / "a.png", img)
    save_any(tmp_path / "a.jpg", img)
    assert np.abs(load_image(tmp_path / "a.png") - img).max() <= 0.5 / 255 + 1e-6
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    assert np.abs(load_image(tmp_path / "a.jpg") - img).mean() < 0.02


def test_generate_hooks_of_noise_and_class_models(tmp_path, monkeypatch):
    """dcgan (unconditional) and cgan (labelled), untrained: named, seeded, the class honoured."""
    import torch

    from ganflow.models.base import DataInfo
    from ganflow.params import parse_params

    unconditional = pytest.importorskip("ganflow.stages.tasks.unconditional")
    labelled = pytest.importorskip("ganflow.stages.tasks.labelled")
    if not hasattr(labelled, "generate_images") or not hasattr(unconditional, "generate_images"):
        pytest.skip("no generate_images hook in the unconditional / labelled task modules")
    from ganflow.models import MODELS, load_all

    load_all()
    if not {"dcgan", "cgan"} <= set(MODELS):
        pytest.skip("dcgan / cgan not registered")
    monkeypatch.chdir(tmp_path)
    classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (tmp_path / "data/pairs/digits").mkdir(parents=True)
    (tmp_path / "data/pairs/digits/dataset.json").write_text(json.dumps({"classes": classes, "image_size": 32}))
    params = parse_params({"datasets": {"digits": {"source": "image_folder", "image_size": 32}},
                           "experiments": {"d": {"model": "dcgan", "dataset": "digits", "task": "unconditional"},
                                           "c": {"model": "cgan", "dataset": "digits", "task": "labelled"}},
                           "train": {"d": {}, "c": {}}})
    torch.manual_seed(0)
    dcgan = MODELS["dcgan"](MODELS["dcgan"].Config(), DataInfo(1, 32), 2e-4, (0.5, 0.999)).eval()
    cgan = MODELS["cgan"](MODELS["cgan"].Config(), DataInfo(1, 32, n_classes=10), 2e-4, (0.5, 0.999)).eval()
    cpu = torch.device("cpu")

    a = unconditional.generate_images(params, "d", dcgan, cpu, 5, {"seed": 3})
    b = unconditional.generate_images(params, "d", dcgan, cpu, 5, {"seed": 3})
    c = unconditional.generate_images(params, "d", dcgan, cpu, 5, {"seed": 4})
    assert list(a) == [f"d_{i:05d}" for i in range(5)] and a["d_00000"].shape == (32, 32)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["d_00000"], c["d_00000"])
    with pytest.raises(ValueError, match="no --class or --caption"):
        unconditional.generate_images(params, "d", dcgan, cpu, 2, {"class": "3"})

    sevens = labelled.generate_images(params, "c", cgan, cpu, 4, {"class": "seven", "seed": 1})
    assert list(sevens) == [f"seven_{i:04d}" for i in range(4)]
    by_index = labelled.generate_images(params, "c", cgan, cpu, 4, {"class": "7", "seed": 1})
    expected = unconditional.run_generator(cgan, cpu, {"z": unconditional.seeded_noise(4, cgan.cfg.z_dim, 1),
                                                        "y": torch.full((4,), 7)}, 4)
    for k, (x, y) in enumerate(zip(sevens.values(), by_index.values())):
        assert np.array_equal(x, y) and np.array_equal(x, expected[k])
    every = labelled.generate_images(params, "c", cgan, cpu, 12, {"seed": 0})
    assert [k.split("_")[0] for k in every] == classes + classes[:2]
    with pytest.raises(ValueError, match="none of the classes"):
        labelled.generate_images(params, "c", cgan, cpu, 2, {"class": "eleven"})
