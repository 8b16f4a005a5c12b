"""reproduce: rerun a finished experiment in a temporary place and compare every metric.

What a reviewer runs: ``ganflow reproduce --exp pix2pix``.  It checks that params.yaml still holds
the params the run record names and that the training data still has the recorded content hash,
copies the inputs (prepared data, FID weights, the domain classifier and caption encoder where
the experiment has them) into a temporary workspace, reruns train -> sample
-> evaluate there, and prints recorded vs reproduced for every number of every metric file.  It
exits non-zero when a number differs by more than the tolerance (on CPU runs are bit-identical,
so the default tolerance is 0).

Which rule decides "reproduced" is printed first, with why: bit for bit (hashes included) when this
machine's numerics (ganflow.machine.BIT_FIELDS: CPU, instruction set, torch build, BLAS, oneDNN,
threads, device) match the run record; on another machine each number must fall within the seed
spread that ``ganflow seeds`` recorded (mean +- 3 std), or, without one, within a relative 5%;
``--tolerance`` overrides both.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ganflow.errors import MissingInputError, ReproductionError
from ganflow.machine import bit_differences, numerics
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree
from ganflow.stages import paths
from ganflow.train.checkpoint import params_diff
from ganflow.train.device import configure_torch, pick_device


def _leaves(obj, prefix: str = "") -> dict[str, float | str]:
    """Every number and every content hash (``*_sha256``) of a JSON document, by dotted key."""
    out: dict[str, float | str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_leaves(v, f"{prefix}{k}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix.rstrip(".")] = float(obj)
    elif isinstance(obj, str) and prefix.rstrip(".").endswith("sha256"):
        out[prefix.rstrip(".")] = obj  # checkpoints and samples must be bit-identical too
    return out


def _same(a, b, rtol: float) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))


@contextlib.contextmanager
def _cwd(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# Without a seed spread, a number from another machine counts as reproduced within this relative
# distance: the same seed differs by ~2% in RMSE between two CPU models (see the module docstring).
CROSS_MACHINE_RTOL = 0.05
SPREAD_SIGMAS = 3.0  # within mean +- 3 std of the recorded seeds


def check_recorded_run(params: Params, exp: str) -> dict:
    """The run record of ``exp``, after checking params.yaml and the data still match it."""
    record_file = paths.model_dir(exp) / "run.json"
    if not record_file.exists():
        raise MissingInputError(f"reproduce: {record_file} not found; train and evaluate {exp!r} first")
    record = json.loads(record_file.read_text())
    e, t = params.experiment(exp), params.train[exp]
    now = {"experiment": e.model_dump(mode="json"), "train": t.model_dump(mode="json")}
    diff = params_diff(record["params"], now)
    if diff:
        raise ReproductionError("reproduce: params.yaml no longer holds the params of the recorded run:\n  "
                                + "\n  ".join(diff) + f"\ncheck out the commit that made it ({record['code']['git_commit']})")
    data_dir = Path(record["data"]["path"])
    if hash_tree(data_dir) != record["data"]["sha256"]:
        raise ReproductionError(f"reproduce: {data_dir} no longer has the recorded content hash "
                                f"{record['data']['sha256'][:16]}...; rerun its stages from the recorded commit")
    return record


def metric_files(exp: str, folder: Path = Path(".")) -> dict[str, dict]:
    """Every metric file of an experiment (results/<exp>/*.json, seeds.json aside), by name."""
    return {p.name: json.loads(p.read_text()) for p in sorted((folder / paths.exp_dir(exp)).glob("*.json"))
            if p.name != SEEDS_FILE}


SEEDS_FILE = "seeds.json"


def rerun(params_text: str, exp: str, threads: int | None, keep: bool = False) -> tuple[dict[str, dict], Path]:
    """train -> sample -> evaluate ``exp`` in a temporary workspace under the params in
    ``params_text``, from copies of this project's prepared inputs; its metric files by name."""
    from ganflow.params import parse_params
    from ganflow.stages import evaluate, sample, train  # the same stage code the pipeline runs

    import yaml

    params = parse_params(yaml.safe_load(params_text), "params.yaml (rerun)")
    work = Path(tempfile.mkdtemp(prefix=f"ganflow-reproduce-{exp}-"))
    try:
        (work / "params.yaml").write_text(params_text)
        # Every prepared input a train, sample or evaluate stage of an experiment may read: also the
        # domain classifier that scores dcgan, cgan and text2img, and text2img's caption encoder.
        ds = params.experiment(exp).dataset
        for folder in (paths.pairs_dir(ds), paths.masked_dir(ds), paths.raw_dir(ds), paths.weights_dir(),
                       paths.classifier_dir(ds), paths.text_encoder_dir(ds)):
            if folder.exists():
                shutil.copytree(folder, work / folder)
        with _cwd(work):
            # The thread count of the recorded run: CPU reductions split by thread give other bits.
            configure_torch(threads)
            train.run(params, exp, threads=threads)
            sample.run(params, exp)
            evaluate.run(params, exp)
        return metric_files(exp, work), work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Rule:
    """How reproduce judges a number: ``kind`` "bits", "spread" or "tolerance"; ``rtol`` the
    relative tolerance where one applies; hashes are compared only on the recorded machine."""
    kind: str
    why: str
    rtol: float = 0.0
    same_machine: bool = True


def choose_rule(record: dict, current: dict, tolerance: float | None, spread: dict | None) -> Rule:
    """Bit for bit on the recorded machine; else the recorded seed spread; else a relative tolerance."""
    differences = bit_differences(record.get("numerics"), current)
    same = not differences
    if tolerance is not None:
        return Rule("tolerance", f"--tolerance {tolerance:g} was given", tolerance, same)
    if same:
        return Rule("bits", "this machine's numerics match the record (CPU, instruction set, torch, BLAS, "
                            "oneDNN, threads)")
    why = "this machine's numerics differ from the record (" + "; ".join(differences) + ")"
    if spread is not None:
        return Rule("spread", why + f", so each number must fall within mean +- {SPREAD_SIGMAS:g} std of the "
                                    f"recorded {spread['k']} seeds", CROSS_MACHINE_RTOL, False)
    return Rule("tolerance", why + f" and no {SEEDS_FILE} was recorded, so relative tolerance "
                                   f"{CROSS_MACHINE_RTOL:g}", CROSS_MACHINE_RTOL, False)


def judge(rule: Rule, file: str, key: str, recorded, reproduced, spread: dict | None) -> bool | None:
    """Whether one number (or hash) reproduced under ``rule``; None: not comparable (a hash made
    from another machine's bits)."""
    if isinstance(recorded, str):
        return recorded == reproduced if rule.same_machine else None
    if rule.kind == "bits":
        return _same(recorded, reproduced, 0.0)
    stats = (spread or {}).get("metrics", {}).get(f"{file}:{key}") if rule.kind == "spread" else None
    if stats is None:  # not in the spread (or no spread): the relative tolerance
        return _same(recorded, reproduced, rule.rtol)
    if isinstance(reproduced, str) or math.isnan(reproduced):
        return False
    return abs(reproduced - stats["mean"]) <= SPREAD_SIGMAS * stats["std"]


def run(params: Params, exp: str, tolerance: float | None = None, keep: bool = False) -> None:
    record = check_recorded_run(params, exp)
    then, now = record.get("code", {}), code_version()
    was = (then.get("git_commit"), then.get("git_dirty"))
    if was != (now["git_commit"], now["git_dirty"]):
        # Not fatal (the numbers may still agree), but every checkpoint embeds its code version.
        print(f"reproduce: the code is not the recorded run's (recorded {was[0]} dirty={was[1]}, now "
              f"{now['git_commit']} dirty={now['git_dirty']}): checkpoint hashes will differ even where "
              "the weights agree", file=sys.stderr)
    recorded = metric_files(exp)
    if not recorded:
        raise MissingInputError(f"reproduce: no metric files in {paths.exp_dir(exp)}; run `ganflow evaluate --exp {exp}`")
    seeds_file = paths.exp_dir(exp) / SEEDS_FILE
    spread = json.loads(seeds_file.read_text()) if seeds_file.exists() else None
    threads = record.get("threads")
    configure_torch(threads)
    here = numerics(pick_device(params.train[exp].device))  # the device the rerun's train will pick
    rule = choose_rule(record, here, tolerance, spread)
    print(f"reproduce: rule {rule.kind!r}: {rule.why}")
    reproduced, work = rerun(Path("params.yaml").read_text(), exp, threads, keep)
    report(recorded, reproduced, rule, spread, kept=work if keep else None)


def report(recorded: dict[str, dict], reproduced: dict[str, dict], rule: Rule, spread: dict | None,
           kept: Path | None = None) -> None:
    """Print recorded vs reproduced for every number and hash; ReproductionError when one fails."""
    rows, bad, skipped = [], 0, 0
    for name, doc in recorded.items():
        mine = _leaves(reproduced.get(name, {}))
        for key, value in _leaves(doc).items():
            other = mine.get(key, float("nan"))
            ok = judge(rule, name, key, value, other, spread)
            bad += ok is False
            skipped += ok is None
            rows.append((name, key, value, other, ok))
    width = max(len(f"{f}:{k}") for f, k, *_ in rows)
    print(f"{'metric':<{width}}  {'recorded':>16}  {'reproduced':>16}  ok")

    def show(v) -> str:
        return f"{v[:12]}..." if isinstance(v, str) else f"{v:.8g}"

    for f, k, a, b, ok in rows:
        mark = {True: "yes", False: "NO", None: "n/a (another machine's bits)"}[ok]
        print(f"{f + ':' + k:<{width}}  {show(a):>16}  {show(b):>16}  {mark}")
    checked = len(rows) - skipped
    print(f"{checked - bad} of {checked} numbers and hashes reproduced (rule {rule.kind!r})"
          + (f"; {skipped} hashes not comparable" if skipped else "")
          + (f"; workspace kept at {kept}" if kept else ""))
    if bad:
        raise ReproductionError(f"reproduce: {bad} number(s) differ beyond what rule {rule.kind!r} allows")
