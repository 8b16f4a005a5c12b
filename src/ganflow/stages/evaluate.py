"""evaluate: results/<exp>/<metric>.json, each saying how its number was made (see stages/tasks/)."""
from __future__ import annotations

import torch

from ganflow.params import Params
from ganflow.stages.tasks import task_for


def run(params: Params, exp: str, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    task_for(params, exp).evaluate(params, exp)
