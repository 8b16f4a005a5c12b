"""benchmarks/sweep_dcgan.py: its --set changes land where train reads them, and a short run
scores the samples with the digits' classifier (a histogram over all of them)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import benchmark

from ganflow.params import parse_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep():
    return benchmark("sweep_dcgan")


def test_changes_reach_train_and_net(sweep):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = sweep.with_changes(raw, ["net.r1=1.0", "steps=7000", "net.upsample=nearest"], seed=2)
    t = parse_params(cfg, "sweep").train["dcgan"]
    assert (t.steps, t.seed, t.net["r1"], t.net["upsample"]) == (7000, 2, 1.0, "nearest")
    assert raw["train"]["dcgan"]["steps"] != 7000          # the original is left alone
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        sweep.with_changes(raw, ["net.r1"], seed=0)


def ganflow(cwd: Path, *args: str) -> None:
    run = subprocess.run([sys.executable, "-m", "ganflow.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"ganflow {' '.join(args)}: {run.stderr[-2000:]}"


def test_short_run_scores_every_sample(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["classifier"]["steps"] = 5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    for args in (("fetch", "--dataset", "digits"), ("pair", "--dataset", "digits", "--workers", "1"),
                 ("classifier", "--dataset", "digits")):
        ganflow(tmp_path, *args)
    out = tmp_path / "rows.jsonl"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep_dcgan.py"), "--set", "steps=5",
                          "--judge", "--seed", "0", "--threads", "1", "--out", str(out)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    row = json.loads(out.read_text())
    assert row["seed"] == 0 and row["changes"] == ["steps=5"]
    assert sum(row["class_histogram"]) == row["n"] == 1000 and len(row["class_histogram"]) == 10
    assert row["rarest_share"] == min(row["class_histogram"]) / 1000
    assert "every digit >= 5% on every seed" in run.stdout
    judged = [line for line in run.stdout.splitlines() if line.startswith("judge on real test digits")]
    assert judged and len(judged[0].split(":")[1].split()) == 10
