"""pair and mask on worker processes: 1 and 2 workers write the same files, byte for byte, and
the same problem lists; the worker count is a run setting, not something either tool reruns on."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import copy_project
from ganflow.cli import build_parser
from ganflow.cli import run as ganflow_run
from ganflow.data import parallel
from ganflow.errors import GanflowError


@pytest.fixture
def pools(monkeypatch):
    """Start workers however few the items (the real threshold would keep a small test in-process),
    and record how many each stage started."""
    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_WORKER", 1)
    started = []
    real = parallel.Workers

    class Recording(real):
        def __enter__(self):
            out = super().__enter__()
            started.append((self.n, self._pool is not None))
            return out

    monkeypatch.setattr(parallel, "Workers", Recording)
    return started


def tree(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _images(folder: Path, n: int) -> None:
    """Varied images: portrait, landscape and square, grey and colour, PNG and JPEG; the first is
    large, so its worker is still busy with it (and the empty file after it) when the other has
    finished later ones, broken.png among them: results must still come back in order."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    for i in range(n):
        h, w = [(30, 24), (20, 28), (16, 16)][i % 3]
        arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        im = Image.fromarray(arr).convert("L") if i % 4 == 0 else Image.fromarray(arr)
        im.save(folder / (f"img_{i:02d}.jpg" if i % 2 else f"img_{i:02d}.png"))
    Image.fromarray((rng.random((1800, 1500, 3)) * 255).astype(np.uint8)).save(folder / "aaa_big.png")
    (folder / "sub").mkdir()
    (folder / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    (folder / "empty.jpg").write_bytes(b"")


def _project(root: Path, on_bad: str) -> None:
    params = {"datasets": {"d": {"source": "image_folder", "image_size": 16,
                                 "options": {"path": "imgs", "channels": 3, "on_bad": on_bad}}},
              "experiments": {}, "train": {}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def _pair(workers: int) -> None:
    shutil.rmtree("data/pairs", ignore_errors=True)
    ganflow_run(["pair", "--dataset", "d", "--workers", str(workers)])


def test_pair_writes_the_same_tree_on_1_and_2_workers(tmp_path, monkeypatch, pools):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "imgs", 30)
    _project(tmp_path, "skip")
    ganflow_run(["fetch", "--dataset", "d"])
    _pair(1)
    one = tree(tmp_path / "data/pairs/d")
    _pair(2)
    two = tree(tmp_path / "data/pairs/d")
    assert pools == [(1, False), (2, True)]
    assert len(one) == 31 + 3 and {"manifest.csv", "dataset.json", "skipped.csv"} <= set(one)
    assert one == two
    skipped = (tmp_path / "data/pairs/d/skipped.csv").read_text()
    assert "empty.jpg" in skipped and "sub/broken.png" in skipped


def test_pair_names_the_same_problems_in_the_same_order_on_1_and_2_workers(tmp_path, monkeypatch, pools):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "imgs", 30)
    _project(tmp_path, "error")
    ganflow_run(["fetch", "--dataset", "d"])
    messages = []
    for workers in (1, 2):
        with pytest.raises(GanflowError) as err:
            _pair(workers)
        messages.append(str(err.value))
        assert not (tmp_path / "data/pairs/d").exists()
    assert pools == [(1, False), (2, True)]
    assert messages[0] == messages[1]
    assert "2 bad input(s)" in messages[0]
    assert messages[0].index("empty.jpg: unreadable") < messages[0].index("sub/broken.png: unreadable")


def test_mask_writes_the_same_tree_on_1_and_2_workers(tmp_path, monkeypatch, pools):
    """The offline face default: the detector pass, the mean-face fallback and the writing pass."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", tmp_path / "params.yaml")
    ganflow_run(["fetch", "--dataset", "lfw_faces"])
    ganflow_run(["pair", "--dataset", "lfw_faces", "--workers", "1"])
    trees = []
    for workers in (1, 2):
        shutil.rmtree("data/masked", ignore_errors=True)
        ganflow_run(["mask", "--dataset", "lfw_faces", "--workers", str(workers)])
        trees.append(tree(tmp_path / "data/masked/lfw_faces"))
    assert pools[1:] == [(1, False), (2, True)]
    assert len(trees[0]) == 2 * 100 + 2 and trees[0] == trees[1]
    methods = (tmp_path / "data/masked/lfw_faces/boxes.csv").read_text()
    assert "detector" in methods and "mean_face" in methods  # both branches ran


def test_worker_count_follows_the_request_and_the_number_of_items(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_WORKER", 10)
    assert parallel.worker_count(4, 1000) == 4
    assert parallel.worker_count(4, 25) == 2   # not enough items to pay for 4 starts
    assert parallel.worker_count(4, 3) == 1
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 3)
    assert parallel.worker_count(None, 1000) == 3


def test_workers_default_to_the_threads_snakemake_gives_and_must_be_positive(monkeypatch):
    monkeypatch.setenv("GANFLOW_THREADS", "3")
    assert build_parser().parse_args(["pair", "--dataset", "d"]).workers == 3
    assert build_parser().parse_args(["mask", "--dataset", "d", "--workers", "5"]).workers == 5
    monkeypatch.delenv("GANFLOW_THREADS")
    assert build_parser().parse_args(["mask", "--dataset", "d"]).workers is None  # every core
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pair", "--dataset", "d", "--workers", "0"])


def test_snakemake_hands_pair_and_mask_its_cores_without_changing_their_command(tmp_path):
    """`--cores N` gives the job N threads (GANFLOW_THREADS=N, which --workers defaults to), while
    the command, and so dvc.yaml and both tools' rerun bookkeeping, names no worker count."""
    work = copy_project(tmp_path / "proj")
    blocks = {}
    for cores in (1, 2):
        proc = subprocess.run(["snakemake", "-n", "-p", "--cores", str(cores), "data/masked/lfw_faces"],
                              cwd=work, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        blocks[cores] = proc.stdout + proc.stderr
    for cores, text in blocks.items():
        assert text.count(f"GANFLOW_THREADS={cores} ") >= 2, text[-3000:]  # pair_lfw_faces and mask_lfw_faces
    dvc = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    assert dvc["pair_lfw_faces"]["cmd"] == "ganflow pair --dataset lfw_faces"
    assert dvc["mask_lfw_faces"]["cmd"] == "ganflow mask --dataset lfw_faces"


@pytest.mark.slow
def test_a_run_on_more_cores_finds_pair_and_mask_current_in_both_tools(tmp_path):
    """Built on 1 core, then asked again with 2: neither Snakemake nor DVC sees anything stale."""
    work = copy_project(tmp_path / "proj")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(work / "src")}

    def sh(cmd: str) -> str:
        proc = subprocess.run(cmd, shell=True, cwd=work, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        return proc.stdout + proc.stderr

    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init")
    sh("snakemake --cores 1 data/masked/lfw_faces")
    planned = sh("snakemake -n --cores 2 data/masked/lfw_faces")
    assert not re.search(r"^rule \w+:", planned, flags=re.M), planned[-2000:]
    assert "Data and pipelines are up to date" in sh("dvc status pair_lfw_faces mask_lfw_faces")


def _tuned_here(_item) -> tuple[bool, int]:
    return parallel.malloc_tuned, os.getpid()


@pytest.mark.skipif(not parallel.keep_freed_memory(), reason="the C library has no mallopt")
def test_every_worker_keeps_the_memory_it_frees():
    """The workers' malloc setting (data/parallel.py: without it each image's buffers were
    faulted in anew, 3.2 million page faults for 10,000 images on 2 workers)."""
    with parallel.Workers(2) as pool:
        seen = list(pool.map(_tuned_here, range(64), desc="t", progress=False))
    assert all(tuned for tuned, _ in seen)
    assert len({pid for _, pid in seen} - {os.getpid()}) >= 1  # it ran in worker processes
