"""export: results/<exp>/submission.csv, the course's Kaggle-style CSV of the model's test outputs.

Reads results/<exp>/samples/outputs.npz (``final``: what is evaluated, float32 in [0, 1]) and
writes it in the submission layout (report/submission.py) with the columns in test-set order --
the sorted names of data/masked/<dataset>/Test/White, the images a student is given.  The file is
read back through the grader's own parser before it is kept, so an export always grades.
"""
from __future__ import annotations

import numpy as np

from ganflow.errors import DataError, MissingInputError, UsageError
from ganflow.params import Params
from ganflow.report.submission import ERROR, Layout, parse_submission, reorder, ordered_test_ids, to_csv_text
from ganflow.atomic import write_text
from ganflow.stages import paths

EXPORTABLE_TASKS = ("inpaint",)  # tasks with one true image per test input


def run(params: Params, exp: str) -> None:
    e = params.experiment(exp)
    if e.task not in EXPORTABLE_TASKS:
        raise UsageError(f"export: experiment {exp!r} has task {e.task!r}; a submission needs one true image per "
                         f"test input (tasks {list(EXPORTABLE_TASKS)})")
    npz = paths.samples_dir(exp) / "outputs.npz"
    if not npz.exists():
        raise MissingInputError(f"export: {npz} not found; run `ganflow sample --exp {exp}` first")
    with np.load(npz, allow_pickle=False) as out:
        if "ids" not in out or "final" not in out:
            raise DataError(f"export: {npz} lacks 'ids' or 'final' (found {sorted(out.files)})")
        have, final = [str(i) for i in out["ids"]], np.asarray(out["final"], dtype=np.float32)
    order = ordered_test_ids(paths.masked_dir(e.dataset) / "Test" / "White")
    try:
        images = reorder(final, have, order)
        text = to_csv_text(images, order)
    except ValueError as err:
        raise DataError(f"export: {npz}: {err}") from None
    check = parse_submission(text.encode("utf-8"), Layout.of(images, order))
    errors = [f.message for f in check.findings if f.severity == ERROR]
    if errors:  # a bug here, not the student's: the writer and the reader disagree
        raise DataError(f"export: the written CSV fails validation: {errors}")
    target = paths.exp_dir(exp) / "submission.csv"
    write_text(target, text)
    layout = Layout.of(images, order)
    print(f"export: {exp}: {len(order)} test images x {layout.n_rows} pixel values -> {target}")
