"""Per-task glue: how an experiment's data becomes tensors, samples, metrics and pictures.

The stages train / sample / evaluate / plot are the same for every model; what differs by task
(inpaint, paired, unpaired, labelled, captioned, unconditional) lives in one module here each,
offering the same four functions:

    training_tensors(params, exp) -> (data_dir, {name: tensor}, DataInfo)
    sample(params, exp, model, device, out_dir)       writes samples/ (incl. outputs.npz)
    evaluate(params, exp)                             writes results/<exp>/<metric>.json
    plot_samples(params, exp, out_dir)                writes pictures of the test samples

optionally the same rows for the disk store (train.<exp>.data: disk; stages/train_data.py),
which a task without it refuses with a ParamsError:

    training_columns(params, exp) -> (data_dir, {name: data.stores column}, DataInfo)
        the rows of training_tensors in the same order, as file names (ImageColumn), boxes
        (BoxMaskColumn) or small tensors (TensorColumn): a batch decodes only its own rows

and, optionally, the hooks that run a trained model on a user's request (`ganflow translate`,
`ganflow generate`; a task without one gets a message naming the command that fits instead):

    translate_image(params, exp, model, device, image, options) -> image
        one of the user's images ([0,1] float, H x W or H x W x 3, any size) -> the translation,
        the same size; options: fit ("resize" | "tile"), box (inpainting: (top, left, bottom,
        right) or None to find the white box), direction ("A2B" | "B2A" | None), domain (list of
        target domain names or None).  data/inference.py has the pieces: to_channels,
        fit_square / unfit, translate_resized, translate_tiled, find_white_box.  Raise
        ValueError for a bad image or option: the stage adds the file name.
    generate_images(params, exp, model, device, n, options) -> {name: image}
        n new images (names become <name>.png); options: class (a name or index, or None),
        caption (text or None), seed (int).  Models that need an input image draw it from the
        data set's test split (inpaint: <id>_input / <id>_filled pairs).

A task may also set ``PROGRESS_PICTURE = (file name, caption)`` for the plot stage's picture of
the training snapshots (default: snapshots.png, "the same fixed inputs through training").

Reports need no hook: summary and compare read results/<exp>/ (metric files with "metric" and
"value", losses.csv, plots/*.png).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ganflow.errors import ParamsError
from ganflow.params import Params

TASK_MODULES = {
    "inpaint": "inpaint",
    "paired": "paired",
    "unconditional": "unconditional",
    "labelled": "labelled",
    "captioned": "captioned",
    "unpaired": "unpaired",
    "domains": "domains",
}


def task_for(params: Params, exp: str) -> ModuleType:
    task = params.experiment(exp).task
    if task not in TASK_MODULES:
        raise ParamsError(f"experiment {exp!r}: task {task!r} has no implementation yet; "
                         f"available: {sorted(TASK_MODULES)}")
    return importlib.import_module(f"{__name__}.{TASK_MODULES[task]}")
