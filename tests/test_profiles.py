"""Snakemake profiles: every torch stage has its resources there (not in the rules), and a SLURM dry
run resolves them without a cluster."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_project

PROFILES = ROOT / "workflow" / "profiles"
TORCH_STAGES = ("train_", "sample_", "evaluate_", "classifier_", "text_encoder_")


def _profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def _stages() -> list[str]:
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_profile_covers_every_torch_stage_and_names_no_stale_rule(name):
    prof, stages = _profile(name), _stages()
    torch_stages = {s for s in stages if s.startswith(TORCH_STAGES)}
    for key in ("set-threads", "set-resources"):
        missing = sorted(torch_stages - set(prof[key]))
        assert not missing, f"workflow/profiles/{name}/config.yaml {key}: add entries for {missing}"
        stale = sorted(set(prof[key]) - set(stages))
        assert not stale, f"workflow/profiles/{name}/config.yaml {key}: rules not in dvc.yaml: {stale}"
    assert all(prof["set-threads"][s] > 2 for s in torch_stages if s.startswith("train_"))


def test_slurm_profile_gives_training_a_gpu_and_memory():
    prof = _profile("slurm")
    assert prof["executor"] == "slurm"
    for stage in _stages():
        res = prof["set-resources"].get(stage, {})
        if stage.startswith(TORCH_STAGES):
            assert res.get("gpu") == 1 and res.get("mem_mb", 0) >= 8000 and res.get("runtime"), (stage, res)
        else:
            assert stage not in prof["set-resources"], f"{stage} is light; it takes default-resources"


def test_rules_declare_no_resources():
    """Resources belong to the profiles; the Snakefile is the same everywhere."""
    for f in (ROOT / "Snakefile", ROOT / "workflow" / "graph.smk"):
        assert not re.search(r"^\s*resources\s*:", f.read_text(), re.M), f"{f} declares resources"


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
