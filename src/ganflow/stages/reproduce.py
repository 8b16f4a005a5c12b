"""reproduce: rerun a finished experiment in a temporary place and compare every metric.

What a reviewer runs: ``ganflow reproduce --exp pix2pix``.  It checks that params.yaml still holds
the params the run record names and that the training data still has the recorded content hash,
copies the inputs (prepared data, FID weights, the domain classifier and caption encoder where
the experiment has them) into a temporary workspace, reruns train -> sample
-> evaluate there, and prints recorded vs reproduced for every number of every metric file.  It
exits non-zero when a number differs by more than the tolerance (on CPU runs are bit-identical,
so the default tolerance is 0).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ganflow.errors import MissingInputError, ReproductionError
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree
from ganflow.stages import paths
from ganflow.train.checkpoint import params_diff
from ganflow.train.device import configure_torch


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


def compare(recorded: dict[str, dict], reproduced: dict[str, dict], rtol: float) -> tuple[list[tuple], int]:
    """Rows (file, key, recorded, reproduced, ok) over every number and hash, and the count of failures."""
    rows, bad = [], 0
    for name, doc in recorded.items():
        mine = _leaves(reproduced.get(name, {}))
        for key, value in _leaves(doc).items():
            other = mine.get(key, float("nan"))
            ok = _same(value, other, rtol)
            bad += not ok
            rows.append((name, key, value, other, ok))
    return rows, bad


def run(params: Params, exp: str, tolerance: float = 0.0, keep: bool = False) -> None:
    from ganflow.stages import evaluate, sample, train  # the same stage code the pipeline runs

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
    then, now = record.get("code", {}), code_version()
    was = (then.get("git_commit"), then.get("git_dirty"))
    if was != (now["git_commit"], now["git_dirty"]):
        # Not fatal (the numbers may still agree), but every checkpoint embeds its code version.
        print(f"reproduce: the code is not the recorded run's (recorded {was[0]} dirty={was[1]}, now "
              f"{now['git_commit']} dirty={now['git_dirty']}): checkpoint hashes will differ even where "
              "the weights agree", file=sys.stderr)
    data_dir = Path(record["data"]["path"])
    if hash_tree(data_dir) != record["data"]["sha256"]:
        raise ReproductionError(f"reproduce: {data_dir} no longer has the recorded content hash "
                         f"{record['data']['sha256'][:16]}...; rerun its stages from the recorded commit")
    recorded = {p.name: json.loads(p.read_text()) for p in sorted(paths.exp_dir(exp).glob("*.json"))}
    if not recorded:
        raise MissingInputError(f"reproduce: no metric files in {paths.exp_dir(exp)}; run `ganflow evaluate --exp {exp}`")

    work = Path(tempfile.mkdtemp(prefix=f"ganflow-reproduce-{exp}-"))
    try:
        shutil.copy2("params.yaml", work / "params.yaml")
        # Every prepared input a train, sample or evaluate stage of an experiment may read: also the
        # domain classifier that scores dcgan, cgan and text2img, and text2img's caption encoder.
        ds = e.dataset
        for folder in (paths.pairs_dir(ds), paths.masked_dir(ds), paths.raw_dir(ds), paths.weights_dir(),
                       paths.classifier_dir(ds), paths.text_encoder_dir(ds)):
            if folder.exists():
                shutil.copytree(folder, work / folder)
        with _cwd(work):
            # The thread count of the recorded run: CPU reductions split by thread give other bits.
            configure_torch(record.get("threads"))
            train.run(params, exp, threads=record.get("threads"))
            sample.run(params, exp)
            evaluate.run(params, exp)
        reproduced = {name: json.loads((work / paths.exp_dir(exp) / name).read_text())
                      for name in recorded if (work / paths.exp_dir(exp) / name).exists()}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)

    rows, bad = compare(recorded, reproduced, tolerance)
    width = max(len(f"{f}:{k}") for f, k, *_ in rows)
    print(f"{'metric':<{width}}  {'recorded':>16}  {'reproduced':>16}  ok")
    def show(v) -> str:
        return f"{v[:12]}..." if isinstance(v, str) else f"{v:.8g}"

    for f, k, a, b, ok in rows:
        print(f"{f + ':' + k:<{width}}  {show(a):>16}  {show(b):>16}  {'yes' if ok else 'NO'}")
    print(f"{len(rows) - bad} of {len(rows)} numbers and hashes reproduced (relative tolerance {tolerance:g})"
          + (f"; workspace kept at {work}" if keep else ""))
    if bad:
        raise ReproductionError(f"reproduce: {bad} number(s) differ beyond the tolerance")
