"""evaluate: results/<exp>/<metric>.json, each saying how its number was made (see stages/tasks/),
and results/<exp>/metrics.json, the headline number of each of them.

metrics.json is what dvc.yaml declares as the stage's ``metrics`` (the detailed records carry
hashes, paths and settings: dozens of columns in a table), so the main job's target leaves
``dvc metrics show`` / ``diff`` with numbers, and each ``dvc exp run`` row in ``dvc exp show``
holds its experiment's FID, RMSE, ... without running the summary stage.
"""
from __future__ import annotations

import json
from pathlib import Path

from ganflow.atomic import write_json
from ganflow.params import Params
from ganflow.report.headline import headline_numbers
from ganflow.stages import paths
from ganflow.stages.tasks import task_for
from ganflow.train.device import configure_torch

HEADLINE = "metrics"  # results/<exp>/metrics.json


def _stamps(exp: str) -> dict[Path, tuple[int, int, int]]:
    """Each results/<exp>/*.json's (inode, mtime, size): files are replaced atomically, so a
    written one gets a new inode, and only the records this run wrote go into the headline
    (a stale file of an earlier configuration never does)."""
    return {f: (s.st_ino, s.st_mtime_ns, s.st_size) for f in paths.exp_dir(exp).glob("*.json")
            for s in [f.stat()]}


def run(params: Params, exp: str, threads: int | None = None) -> None:
    configure_torch(threads)
    before = _stamps(exp)
    task_for(params, exp).evaluate(params, exp)
    written = {}
    for f, stamp in sorted(_stamps(exp).items()):
        if before.get(f) != stamp and f.stem != HEADLINE:
            record = json.loads(f.read_text())
            if isinstance(record, dict) and "metric" in record:
                written[f.stem] = record
    write_json(paths.metric_file(exp, HEADLINE), headline_numbers(written))
