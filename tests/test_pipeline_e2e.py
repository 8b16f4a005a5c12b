"""The whole graph, tiny, through Snakemake and through DVC, in temporary copies of the project.

Checks the outputs, that `dvc metrics show` / `dvc plots show` see them, that a Snakemake run is
recorded in dvc.lock, and that changing train.pix2pix.lr reruns training and what follows it --
and nothing upstream -- in both tools.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, tiny_params

pytestmark = pytest.mark.slow
UPSTREAM = {"fetch_lfw_faces", "pair_lfw_faces", "mask_lfw_faces", "weights"}
DOWNSTREAM = {"train_pix2pix", "sample_pix2pix", "evaluate_pix2pix"}
PIX2PIX_TARGETS = "plot_pix2pix summary_pix2pix"


def sh(cmd: str, cwd: Path, stdout_only: bool = False) -> str:
    # The workspace's own copy of the code runs (and is what its stages depend on), so an edit
    # there -- a default in src/ganflow/defaults.yaml -- is what both tools see.
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(cwd / "src")}
    proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout if stdout_only else proc.stdout + proc.stderr


def make_workspace(root: Path) -> Path:
    work = copy_project(root)
    params = tiny_params(yaml.safe_load((work / "params.yaml").read_text()))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    return work


def change_lr(work: Path) -> None:
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["pix2pix"]["lr"] = params["train"]["pix2pix"]["lr"] / 2
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def snakemake_jobs(work: Path, target: str) -> set[str]:
    out = sh(f"snakemake -n --cores 2 {target}", work)
    return set(re.findall(r"^rule (\w+):", out, flags=re.M)) - {"all"}


def check_outputs(work: Path) -> None:
    fid = json.loads((work / "results/pix2pix/fid.json").read_text())
    rmse = json.loads((work / "results/pix2pix/rmse.json").read_text())
    assert fid["metric"] == "fid" and fid["value"] > 0 and fid["n_fake"] == 20
    assert len(fid["weights_sha256"]) == 64 and len(fid["checkpoint_sha256"]) == 64
    assert rmse["masked_input"] > rmse["mean_fill"] > 0
    assert len(list((work / "results/pix2pix/samples").glob("*.png"))) == 20
    losses = (work / "results/pix2pix/losses.csv").read_text().splitlines()
    assert losses[0].startswith("step,wall_time,D_total")
    # every metric file the README lists for an inpainting generator (IS only with logits weights)
    pr = json.loads((work / "results/pix2pix/precision_recall.json").read_text())
    assert 0 <= pr["precision"] <= 1 and 0 <= pr["recall"] <= 1 and pr["k"] == 3
    memo = json.loads((work / "results/pix2pix/memorisation.json").read_text())
    assert memo["n_fake"] == 20 and len(memo["closest_pairs"]) > 0 and "holdout" in memo
    assert (work / "results/pix2pix/memorisation.png").stat().st_size > 0


def headline_numbers(work: Path) -> dict:
    """pix2pix's numbers as `dvc metrics show` prints them (other experiments: not run, no file)."""
    (shown,) = json.loads(sh("dvc metrics show --json", work, stdout_only=True)).values()  # the workspace
    return shown["data"]["results/pix2pix/metrics.json"]["data"]


def exp_rows(work: Path) -> dict[str, dict]:
    """`dvc exp show --json`: each experiment's name -> its data (params, metrics)."""
    rows = {}
    for base in json.loads(sh("dvc exp show --json", work, stdout_only=True)):
        for exp in base.get("experiments") or []:
            for rev in exp["revs"]:
                rows[rev["name"]] = rev["data"]
    return rows


def test_snakemake_run_and_rerun_after_params_change(tmp_path):
    work = make_workspace(tmp_path / "smk")
    target = "results/pix2pix/fid.json"
    assert snakemake_jobs(work, target) == UPSTREAM | DOWNSTREAM
    sh(f"snakemake --cores 2 {target}", work)
    check_outputs(work)
    assert (work / "dvc.lock").exists(), "a Snakemake run records its outputs with dvc commit"
    # The README's next line after the main job: the headline numbers, written by evaluate
    assert headline_numbers(work) == json.loads((work / "results/pix2pix/metrics.json").read_text())
    assert set(headline_numbers(work)) == {"fid", "kid", "rmse", "box_kid", "precision_recall.precision",
                                           "precision_recall.recall", "memorisation"}
    assert snakemake_jobs(work, target) == set(), "a finished workspace has nothing to do"
    # The target's chain (other experiments' stages were not asked for) is current in DVC's eyes too.
    assert "Data and pipelines are up to date" in sh("dvc status --with-deps evaluate_pix2pix", work)

    change_lr(work)
    # An unrelated target after the change: the run records only what it built, so DVC still
    # calls the pix2pix chain stale (it used to commit every stage whose outputs existed).
    sh("snakemake --cores 2 data/pairs/digits", work)
    status = sh("dvc status train_pix2pix", work)
    assert "Data and pipelines are up to date" not in status and "train.pix2pix" in status, status
    assert "Data and pipelines are up to date" in sh("dvc status pair_digits", work)
    assert snakemake_jobs(work, target) == DOWNSTREAM
    before = (work / "results/pix2pix/rmse.json").read_text()
    sh(f"snakemake --cores 2 {target}", work)
    assert (work / "results/pix2pix/rmse.json").read_text() != before
    assert snakemake_jobs(work, target) == set()
    assert "Data and pipelines are up to date" in sh("dvc status --with-deps evaluate_pix2pix", work)

    # A default that params.yaml leaves to the code (defaults.yaml's train.sync_batchnorm): the
    # stages that read it are stale in both tools, and nothing upstream of them.
    defaults = work / "src/ganflow/defaults.yaml"
    defaults.write_text(defaults.read_text().replace("sync_batchnorm: false", "sync_batchnorm: true"))
    assert snakemake_jobs(work, target) == DOWNSTREAM
    status = sh("dvc status fetch_lfw_faces pair_lfw_faces mask_lfw_faces weights train_pix2pix", work)
    assert "train.sync_batchnorm" in status and not any(f"{s}:" in status for s in UPSTREAM), status


def test_dvc_repro_metrics_plots_and_rerun_after_params_change(tmp_path):
    work = make_workspace(tmp_path / "dvc")
    # The pix2pix chain only: a bare `dvc repro` would also train every other experiment.
    out = sh(f"dvc repro {PIX2PIX_TARGETS}", work)
    ran = set(re.findall(r"Running stage '(\w+)'", out))
    assert ran >= UPSTREAM | DOWNSTREAM | {"plot_pix2pix"}
    check_outputs(work)
    metrics = sh("dvc metrics show --json", work)
    # one short metrics.json per experiment (evaluate stage); the detailed records are plain outs
    assert "results/pix2pix/metrics.json" in metrics and '"fid"' in metrics and '"rmse"' in metrics
    assert "fid.json" not in metrics
    plots = sh("dvc plots show --json", work)
    assert "losses.csv" in plots and "G_total" in plots

    change_lr(work)
    out = sh(f"dvc repro {PIX2PIX_TARGETS}", work)
    ran = set(re.findall(r"Running stage '(\w+)'", out))
    assert ran == DOWNSTREAM | {"plot_pix2pix", "summary_pix2pix"}
    assert not ran & UPSTREAM
    sh("dvc push", work)  # the default local remote works out of the box
    assert any((work / ".dvc-storage").rglob("*"))

    # An experiment: its row in `dvc exp show` holds the changed param and its own numbers
    out = sh("dvc exp run -n two_steps -S train.pix2pix.steps=2 evaluate_pix2pix", work)
    assert {"train_pix2pix", "evaluate_pix2pix"} <= set(re.findall(r"Running stage '(\w+)'", out))
    row = exp_rows(work)["two_steps"]
    numbers = row["metrics"]["results/pix2pix/metrics.json"]["data"]
    assert row["params"]["params.yaml"]["data"]["train"]["pix2pix"]["steps"] == 2
    assert numbers == headline_numbers(work)  # applied to the workspace: the same numbers
    rmse = json.loads((work / "results/pix2pix/rmse.json").read_text())
    fid = json.loads((work / "results/pix2pix/fid.json").read_text())
    assert numbers["rmse"] == rmse["value"] and numbers["fid"] == fid["value"] and numbers["box_kid"] > 0
    table = sh("dvc exp show --only-changed --csv", work)
    assert "train.pix2pix.steps" in table and "rmse" in table and "train.pix2pix.batch_size" not in table
