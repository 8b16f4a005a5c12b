"""export: results/<exp>/submission.csv, the course's Kaggle-style CSV of the model's test outputs.

A task with one true image per test input (inpaint, paired) names the array of
results/<exp>/samples/outputs.npz that evaluate scores (``SUBMISSION_ARRAY``, float32 in [0, 1]);
export writes it in the submission layout (report/submission.py) with the columns in test-set
order -- for inpainting the sorted names of data/masked/<dataset>/Test/White, the images a
student is given; for paired sets the sorted test ids of manifest.csv.  The file is read back
through the grader's own parser before it is kept, so an export always grades.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ganflow.errors import DataError, MissingInputError, UsageError
from ganflow.params import Params
from ganflow.report.submission import ERROR, Layout, ordered_test_ids, parse_submission, reorder, to_csv_text
from ganflow.atomic import write_text
from ganflow.stages import paths
from ganflow.stages.tasks import TASK_MODULES, task_for


def submission_order(task: str, dataset: str) -> list[str]:
    """The submission's columns: the test inputs' ids, sorted, as every stage loads them."""
    if task == "inpaint":
        return ordered_test_ids(paths.masked_dir(dataset) / "Test" / "White")
    manifest = pd.read_csv(paths.pairs_dir(dataset) / "manifest.csv", dtype={"id": str}, keep_default_na=False)
    return sorted(manifest.loc[manifest["split"] == "test", "id"])


def run(params: Params, exp: str) -> None:
    e = params.experiment(exp)
    task = task_for(params, exp)
    if not task.EXPORTS_SUBMISSION:
        exportable = sorted(t for t in TASK_MODULES if _task_module(t).EXPORTS_SUBMISSION)
        raise UsageError(f"export: experiment {exp!r} has task {e.task!r}; a submission needs one true image per "
                         f"test input (tasks {exportable})")
    npz = paths.samples_dir(exp) / "outputs.npz"
    if not npz.exists():
        raise MissingInputError(f"export: {npz} not found; run `ganflow sample --exp {exp}` first")
    key = task.SUBMISSION_ARRAY
    with np.load(npz, allow_pickle=False) as out:
        if "ids" not in out or key not in out:
            raise DataError(f"export: {npz} lacks 'ids' or {key!r} (found {sorted(out.files)})")
        have, outputs = [str(i) for i in out["ids"]], np.asarray(out[key], dtype=np.float32)
    if outputs.ndim == 4 and outputs.shape[-1] == 1:
        outputs = outputs[..., 0]
    order = submission_order(e.task, e.dataset)
    try:
        images = reorder(outputs, have, order)
    except ValueError as err:
        raise DataError(f"export: {npz}: {err}") from None
    text = to_csv_text(images, order)
    check = parse_submission(text.encode("utf-8"), Layout.of(images, order))
    errors = [f.message for f in check.findings if f.severity == ERROR]
    if errors:  # a bug here, not the student's: the writer and the reader disagree
        raise DataError(f"export: the written CSV fails validation: {errors}")
    target = paths.exp_dir(exp) / "submission.csv"
    write_text(target, text)
    layout = Layout.of(images, order)
    print(f"export: {exp}: {len(order)} test images x {layout.n_rows} pixel values -> {target}")


def _task_module(task: str):
    import importlib

    return importlib.import_module(f"ganflow.stages.tasks.{TASK_MODULES[task]}")
