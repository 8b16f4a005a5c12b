"""Per-task glue: how an experiment's data becomes tensors, samples, metrics and pictures.

The stages train / sample / evaluate / plot are the same for every model; what differs by task
(inpaint, paired, unpaired, labelled, captioned, unconditional) lives in one module here each,
offering the same four functions:

    training_tensors(params, exp) -> (data_dir, {name: tensor}, DataInfo)
    sample(params, exp, model, device, out_dir)       writes samples/ (incl. outputs.npz)
    evaluate(params, exp)                             writes results/<exp>/<metric>.json
    plot_samples(params, exp, out_dir)                writes pictures of the test samples
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ganflow.params import Params

TASK_MODULES = {
    "inpaint": "inpaint",
}


def task_for(params: Params, exp: str) -> ModuleType:
    task = params.experiment(exp).task
    if task not in TASK_MODULES:
        raise SystemExit(f"experiment {exp!r}: task {task!r} has no implementation yet; "
                         f"available: {sorted(TASK_MODULES)}")
    return importlib.import_module(f"{__name__}.{TASK_MODULES[task]}")
