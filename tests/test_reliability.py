"""Faults: kill -9 mid-training and rerun, two runs at once, disk full, reproduce."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import json
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import copy_project, tiny_params
from ganflow.atomic import atomic_dir, write_json
from ganflow.locks import stage_lock
import numpy as np

from ganflow.errors import ReproductionError
from ganflow.stages.reproduce import Rule, choose_rule, report
from ganflow.stages.seeds import spread

pytestmark = pytest.mark.slow


def ganflow(args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ganflow.cli", *args.split()], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A workspace with the offline data prepared and pix2pix sized to ~10 checkpoints."""
    work = copy_project(tmp_path_factory.mktemp("rel") / "proj")
    params = tiny_params(yaml.safe_load((work / "params.yaml").read_text()))
    params["train"]["pix2pix"].update(steps=40, checkpoint_every=4, snapshot_every=20, log_every=4)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("fetch", "pair", "mask"):
        ganflow(f"{stage} --dataset lfw_faces", work)
    ganflow("weights", work)
    return work


def _clone(prepared: Path, dest: Path) -> Path:
    import shutil
    shutil.copytree(prepared, dest, ignore=shutil.ignore_patterns("results", ".ganflow"))
    return dest


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_kill_9_mid_training_then_rerun_equals_an_uninterrupted_run(prepared, tmp_path):
    straight = _clone(prepared, tmp_path / "straight")
    ganflow("train --exp pix2pix", straight)

    killed = _clone(prepared, tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, "-m", "ganflow.cli", "train", "--exp", "pix2pix"], cwd=killed,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "results/pix2pix/resume/checkpoint.pt"
    deadline = time.time() + 600
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results/pix2pix/model").exists()  # no output under its final name
    step = torch.load(ckpt, map_location="cpu", weights_only=True)["step"]
    assert 0 < step < 40

    out = ganflow("train --exp pix2pix", killed)
    assert "resuming pix2pix from step" in out.stdout
    a, b = _weights(straight / "results/pix2pix/model/checkpoint.pt"), _weights(killed / "results/pix2pix/model/checkpoint.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (straight / "results/pix2pix/losses.csv").read_text().count("\n") == \
        (killed / "results/pix2pix/losses.csv").read_text().count("\n")


def test_resume_with_changed_params_is_refused_with_a_diff(prepared, tmp_path):
    work = _clone(prepared, tmp_path / "w")
    proc = subprocess.Popen([sys.executable, "-m", "ganflow.cli", "train", "--exp", "pix2pix"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = work / "results/pix2pix/resume/checkpoint.pt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["pix2pix"]["lr"] = 0.001
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refused = ganflow("train --exp pix2pix", work, check=False)
    assert refused.returncode != 0
    assert "train.lr: 0.0002 -> 0.001" in refused.stderr and "--force" in refused.stderr


def test_second_run_of_the_same_stage_is_refused(in_tmp):
    with stage_lock("train", "pix2pix"):
        proc = subprocess.run([sys.executable, "-c",
                               "from ganflow.locks import stage_lock\n"
                               "with stage_lock('train', 'pix2pix'): pass"],
                              cwd=in_tmp, capture_output=True, text=True)
    assert proc.returncode != 0 and "already running in this workspace" in proc.stderr
    with stage_lock("train", "pix2pix"):  # released when the holder is done
        pass


def test_disk_full_leaves_the_previous_output_untouched(tmp_path, monkeypatch):
    out = tmp_path / "samples"
    with atomic_dir(out) as tmp:
        write_json(tmp / "a.json", {"v": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        with atomic_dir(out) as tmp:
            monkeypatch.setattr("ganflow.atomic.os.fsync", full)
            write_json(tmp / "a.json", {"v": 2})
    assert (out / "a.json").read_text().strip().endswith("}") and '"v": 1' in (out / "a.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["samples"]  # no temporary debris left


def test_reproduce_compares_numbers_and_hashes_bit_for_bit_on_the_same_machine():
    recorded = {"rmse.json": {"value": 0.1, "checkpoint_sha256": "ab", "metric": "rmse"}}
    bits = Rule("bits", "same machine")
    report(recorded, {"rmse.json": {"value": 0.1, "checkpoint_sha256": "ab"}}, bits, None)
    for changed in ({"value": 0.1000001, "checkpoint_sha256": "ab"}, {"value": 0.1, "checkpoint_sha256": "cd"}):
        with pytest.raises(ReproductionError, match="1 number"):
            report(recorded, {"rmse.json": changed}, bits, None)
    given = Rule("tolerance", "given", 1e-5)
    report(recorded, {"rmse.json": {"value": 0.1000001, "checkpoint_sha256": "ab"}}, given, None)
    with pytest.raises(ReproductionError):  # on the same machine a hash must still match
        report(recorded, {"rmse.json": {"value": 0.1, "checkpoint_sha256": "cd"}}, given, None)


MACHINE = {"cpu_model": "AMD EPYC", "isa": "AVX2", "torch": "2.13.0+cpu", "blas": "mkl", "onednn": "3.12.0",
           "threads": 2, "device": "cpu", "gpu": None}


def test_reproduce_picks_its_rule_from_the_machine_record():
    record = {"numerics": MACHINE}
    spread = {"k": 3, "metrics": {}}
    assert choose_rule(record, dict(MACHINE), None, spread).kind == "bits"
    other_cpu = {**MACHINE, "cpu_model": "Intel Xeon Platinum 8480+", "isa": "AVX512"}
    rule = choose_rule(record, other_cpu, None, spread)
    assert rule.kind == "spread" and "cpu_model: 'AMD EPYC' -> 'Intel Xeon Platinum 8480+'" in rule.why
    assert not rule.same_machine
    assert choose_rule(record, other_cpu, None, None).kind == "tolerance"
    assert choose_rule(record, other_cpu, None, None).rtol == 0.05
    assert choose_rule({}, dict(MACHINE), None, None).kind == "tolerance"  # a record from before numerics
    given = choose_rule(record, dict(MACHINE), 0.01, spread)
    assert (given.kind, given.why, given.rtol, given.same_machine) == ("tolerance", "--tolerance 0.01 was given",
                                                                       0.01, True)


def test_on_another_machine_a_number_passes_within_the_seed_spread_and_fails_outside():
    recorded = {"rmse.json": {"value": 0.03932, "checkpoint_sha256": "ab"}}
    spread = {"k": 3, "metrics": {"rmse.json:value": {"mean": 0.0396, "std": 0.0004}}}
    # another CPU: 0.04009 (the brief's second machine) is within mean +- 3 std; hashes cannot match
    rule = Rule("spread", "another CPU", 0.05, same_machine=False)
    report(recorded, {"rmse.json": {"value": 0.04009, "checkpoint_sha256": "ff"}}, rule, spread)
    with pytest.raises(ReproductionError):
        report(recorded, {"rmse.json": {"value": 0.0420, "checkpoint_sha256": "ff"}}, rule, spread)


def test_seed_spread_statistics_match_numpy():
    runs = {0: {"rmse.json": {"value": 0.1, "n": 20}}, 1: {"rmse.json": {"value": 0.12, "n": 20}},
            2: {"rmse.json": {"value": 0.11, "n": 20, "only_here": 1.0}}}
    out = spread(runs)
    assert set(out) == {"rmse.json:value", "rmse.json:n"}  # only numbers every run has
    values = np.array([0.1, 0.12, 0.11])
    assert out["rmse.json:value"]["mean"] == pytest.approx(values.mean())
    assert out["rmse.json:value"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert out["rmse.json:n"]["std"] == 0.0 and out["rmse.json:value"]["values"] == values.tolist()


def test_reproduce_passes_on_a_finished_run(prepared, tmp_path):
    work = _clone(prepared, tmp_path / "r")
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["pix2pix"].update(steps=4, checkpoint_every=2)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("train", "sample", "evaluate"):
        ganflow(f"{stage} --exp pix2pix", work)
    out = ganflow("reproduce --exp pix2pix", work)
    assert "numbers and hashes reproduced" in out.stdout and " NO" not in out.stdout
    assert "rule 'bits': this machine's numerics match the record" in out.stdout

    # A reviewer on another CPU: the record's numerics name a different machine.
    record_file = work / "results/pix2pix/model/run.json"
    record = json.loads(record_file.read_text())
    record["numerics"]["cpu_model"] = "Some Other CPU"
    record_file.write_text(json.dumps(record))
    out = ganflow("reproduce --exp pix2pix", work)
    assert "rule 'tolerance'" in out.stdout and "cpu_model: 'Some Other CPU'" in out.stdout
    assert "n/a (another machine's bits)" in out.stdout and " NO" not in out.stdout
    # ... with a recorded seed spread that the reproduced RMSE falls outside of: it fails, saying why.
    rmse = json.loads((work / "results/pix2pix/rmse.json").read_text())["value"]
    write_json(work / "results/pix2pix/seeds.json", {"k": 3, "metrics": {
        "rmse.json:value": {"mean": rmse * 1.5, "std": rmse * 0.01}}})
    out = ganflow("reproduce --exp pix2pix", work, check=False)
    assert out.returncode == 1 and "rule 'spread'" in out.stdout and "beyond what rule 'spread' allows" in out.stderr


def test_reproduce_passes_on_a_model_scored_by_its_domain_classifier(tmp_path):
    # cgan's evaluate reads data/classifiers/digits: reproduce must carry it into its workspace.
    work = copy_project(tmp_path / "cgan")
    params = tiny_params(yaml.safe_load((work / "params.yaml").read_text()))
    params["classifier"].update(steps=20, eval_every=10)
    params["sample"]["per_class"] = 5
    params["datasets"]["digits"]["options"] = {"max_images": 200}  # 40 test digits through the Inception, not 359
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("fetch", "pair", "classifier"):
        ganflow(f"{stage} --dataset digits", work)
    ganflow("weights", work)
    for stage in ("train", "sample", "evaluate"):
        ganflow(f"{stage} --exp cgan", work)
    out = ganflow("reproduce --exp cgan", work)
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("classifier.json:")]
    assert rows and all(r[-1] == "yes" for r in rows)  # the classifier's numbers were recomputed, and agree
    assert "numbers and hashes reproduced" in out.stdout and " NO" not in out.stdout
