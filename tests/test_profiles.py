"""Snakemake profiles: threads and resources per kind of stage (not per experiment, not in the
rules), and a SLURM dry run resolves them without a cluster."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_project

PROFILES = ROOT / "workflow" / "profiles"
TORCH_KINDS = ("train", "sample", "evaluate", "classifier", "text_encoder")


def _profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def _kinds(name: str) -> dict:
    """The kinds file a profile names in its `config:` (kinds=PATH)."""
    entry = next(c for c in _profile(name)["config"] if c.startswith("kinds="))
    return yaml.safe_load((ROOT / entry.split("=", 1)[1]).read_text())


def _graph_kinds() -> set[str]:
    from ganflow.params import load_params
    from ganflow.stages.graph import derive

    return {s.kind for s in derive(load_params(ROOT / "params.yaml")).values()}


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_profile_keys_resources_by_kind_and_covers_every_torch_kind(name):
    kinds = _kinds(name)
    assert set(TORCH_KINDS) <= set(kinds), f"workflow/profiles/{name}/kinds.yaml: give every torch kind an entry"
    unknown = set(kinds) - _graph_kinds()
    assert not unknown, f"workflow/profiles/{name}/kinds.yaml names kinds no stage has: {sorted(unknown)}"
    assert kinds["train"]["threads"] > 2
    config = _profile(name)
    assert "set-threads" not in config and "set-resources" not in config, "per-rule entries would name experiments"


def test_slurm_profile_gives_torch_kinds_a_gpu_and_memory():
    assert _profile("slurm")["executor"] == "slurm"
    for kind, entry in _kinds("slurm").items():
        res = entry["resources"]
        assert res.get("gpu") == 1 and res.get("mem_mb", 0) >= 8000 and res.get("runtime"), (kind, res)


def test_rules_declare_no_resource_values():
    """Resource values belong to the kinds files; the Snakefile is the same everywhere."""
    text = (ROOT / "Snakefile").read_text() + (ROOT / "workflow" / "common.smk").read_text()
    assert not re.search(r"(gpu|mem_mb|runtime|slurm_partition)\s*[=:]\s*\d", text)


def _dry_run(work, profile: str, *extra: str) -> dict[str, str]:
    """{rule name: its block of the dry-run listing} for results/pix2pix/fid.json."""
    proc = subprocess.run(["snakemake", "--profile", f"workflow/profiles/{profile}", "-n", *extra,
                           "results/pix2pix/fid.json"], cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    blocks = re.split(r"\n(?=(?:localrule|rule) )", proc.stdout + proc.stderr)
    return {m.group(1): b for b in blocks if (m := re.match(r"(?:localrule|rule) (\w+):", b))}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("profiles") / "proj")


def test_slurm_dry_run_resolves_resources_without_a_cluster(work):
    """Runs where no sbatch/sinfo exist (as here): a dry run never calls SLURM."""
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="pip install -e '.[test]' installs snakemake-executor-plugin-slurm")
    jobs = _dry_run(work, "slurm", "--cores", "64")  # a dry run caps threads at --cores (1 by default)
    assert {"fetch_lfw_faces", "train_pix2pix", "sample_pix2pix", "evaluate_pix2pix"} <= set(jobs)
    train = jobs["train_pix2pix"]
    assert "gpu=1" in train and "mem_mb=32000" in train and "slurm_partition=gpu" in train
    assert "GANFLOW_THREADS=8" in train  # torch in the job uses what SLURM gives it
    assert "gpu=" not in jobs["fetch_lfw_faces"] and "mem_mb=4000" in jobs["fetch_lfw_faces"]
    assert "slurm_partition=cpu" in jobs["fetch_lfw_faces"]


def test_local_dry_run_gives_training_its_threads(work):
    jobs = _dry_run(work, "local", "--cores", "8")
    assert "GANFLOW_THREADS=4" in jobs["train_pix2pix"] and "gpu=1" in jobs["train_pix2pix"]
    assert "GANFLOW_THREADS=2" in jobs["evaluate_pix2pix"]
    capped = _dry_run(work, "local", "--cores", "2")  # never more threads than the machine's cores
    assert "GANFLOW_THREADS=2" in capped["train_pix2pix"]
