"""Shared fixtures: a small valid params dict and a scratch workspace with the project's files."""
from __future__ import annotations

import copy
import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def base_params() -> dict:
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run the test from an empty temporary directory (stages resolve paths from the cwd)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def copy_project(dest: Path) -> Path:
    """A copy of the project files the orchestrators need (no data, results or caches)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "dvc.yaml", "params.yaml", ".dvcignore"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for folder in ("workflow", "src", ".dvc"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
    return dest


def benchmark(name: str):
    """benchmarks/<name>.py as a module, imported by name (so that spawned workers find it too)."""
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def tiny_params(params: dict) -> dict:
    """The default params shrunk so that a whole run takes seconds."""
    for t in params["train"].values():
        t.update(steps=4, batch_size=4, log_every=2, snapshot_every=2, checkpoint_every=2)
        if "ngf" in t.get("net", {}):
            t["net"].update(ngf=8, ndf=8)
    params["evaluate"]["batch_size"] = 8
    return params


os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def direct_mmd2(x, y) -> float:
    """KID's unbiased estimator as textbook double sums, one kernel value at a time (no code shared
    with metrics/kid.py): k(a, b) = (a.b / d + 1)^3."""
    import numpy as np

    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy
