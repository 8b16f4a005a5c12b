"""evaluate: results/<exp>/<metric>.json, each saying how its number was made (see stages/tasks/)."""
from __future__ import annotations

from ganflow.params import Params
from ganflow.stages.tasks import task_for
from ganflow.train.device import configure_torch


def run(params: Params, exp: str, threads: int | None = None) -> None:
    configure_torch(threads)
    task_for(params, exp).evaluate(params, exp)
