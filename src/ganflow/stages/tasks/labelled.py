"""Class-conditional generation (cgan): a class and noise in, an image of that class out.

  train     {"x": training images in [-1, 1], "y": labels}
  sample    sample.per_class images of every class: samples/<id>.png + outputs.npz
            (ids, images float32 [0, 1], labels, z), generated and written a batch at a time
  evaluate  fid.json (evaluate.n_samples of the samples vs the evaluate.reference split, read a
            block at a time as for dcgan); classifier.json: the domain classifier
            (`ganflow classifier --dataset NAME`) on the samples -- how often it recognises the
            requested class (accuracy, also per class), IS and class histogram
  plot      samples.png, progress.png, class_grid.png (class x noise: one z per column),
            interpolation.png (two z, per class), arithmetic.png (+ arithmetic.json)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganflow.data.stores import Column, TensorColumn
from ganflow.data.tensors import to_tensor
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.stages import paths
from ganflow.stages.tasks.common import classifier_logits, classifier_record, load_domain_classifier, write_metric
from ganflow.stages.tasks.unconditional import PROGRESS_PICTURE as PROGRESS_PICTURE  # noise snapshots too
from ganflow.stages.tasks.unconditional import (
    N_INTERP_STEPS,
    classes_of,
    image_column,
    ink_of,
    labels_of,
    latent_arithmetic,
    load_outputs,
    metric_common,
    read_meta,
    floor_of,
    read_split,
    run_generator,
    save_sample_grid,
    scored_samples,
    slerp,
    split_rows,
    stored_samples,
    stream_samples,
    titled_grid,
    trained_model,
    write_fid,
    z_dim_of,
)

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs",)  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "precision_recall", "memorisation")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = True  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = False  # `ganflow export` writes the course's submission CSV
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own

N_NOISE_COLUMNS = 10


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    classes = classes_of(meta, dataset)
    rows, images = read_split(dataset, "train")
    x = to_tensor(list(images))
    y = torch.from_numpy(labels_of(rows, dataset, len(classes)))
    info = DataInfo(channels=x.shape[1], image_size=meta["image_size"], n_classes=len(classes))
    return paths.pairs_dir(dataset), {"x": x, "y": y}, info


def training_columns(params: Params, exp: str) -> tuple[Path, dict[str, Column], DataInfo]:
    """training_tensors' rows for the disk store: images read per batch, labels kept whole."""
    dataset = params.experiment(exp).dataset
    meta = read_meta(dataset)
    classes = classes_of(meta, dataset)
    rows = split_rows(dataset, "train")
    x = image_column(dataset, rows)
    y = TensorColumn(torch.from_numpy(labels_of(rows, dataset, len(classes))))
    info = DataInfo(channels=x.take([0]).shape[1], image_size=meta["image_size"], n_classes=len(classes))
    return paths.pairs_dir(dataset), {"x": x, "y": y}, info


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    classes = classes_of(read_meta(params.experiment(exp).dataset), params.experiment(exp).dataset)
    k = params.sample.per_class
    y = torch.arange(len(classes)).repeat_interleave(k)
    z = torch.randn(len(y), z_dim_of(model))
    ids = [f"class{int(c):02d}_{i % k:04d}" for i, c in enumerate(y)]
    stream_samples(out_dir, ids, model, device, {"z": z, "y": y}, params.sample.batch_size,
                   labels=y.numpy(), z=z.numpy())


def per_class_accuracy(params: Params, dataset: str, images, labels: np.ndarray,
                       classes: list[str]) -> dict[str, float]:
    """The domain classifier's accuracy on each requested class's samples (an array or ImageSource)."""
    model, _, _ = load_domain_classifier(dataset)
    predicted = classifier_logits(params, model, images).argmax(1)
    return {classes[c]: float((predicted[labels == c] == c).mean()) for c in np.unique(labels)}


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    classes = classes_of(read_meta(dataset), dataset)
    out = load_outputs(exp, images=False)
    samples = stored_samples(exp)
    common = metric_common(exp, dataset)
    fid = write_fid(params, exp, dataset, samples, common)
    scored, images = scored_samples(params, samples)  # the same samples write_fid scored
    labels = out["labels"][scored]
    rec = classifier_record(params, dataset, images, labels)
    rec["per_class_accuracy"] = per_class_accuracy(params, dataset, images, labels, classes)
    rec["accuracy_meaning"] = "fraction of samples the domain classifier assigns to the class G was asked for"
    write_metric(exp, "classifier", {**rec, **common})
    worst = min(rec["per_class_accuracy"].items(), key=lambda kv: kv[1])
    print(f"evaluate: {exp}: requested class recognised in {rec['accuracy']:.1%} of {rec['n']} samples "
          f"(worst class {worst[0]}: {worst[1]:.1%}; the classifier scores {rec['classifier_test_accuracy']:.1%} "
          f"on real test images); fid {fid['value']:.2f} (real images {floor_of(fid)['value']:.2f})")


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    dataset = params.experiment(exp).dataset
    classes = classes_of(read_meta(dataset), dataset)
    out = load_outputs(exp, images=False)  # the images are read a block at a time (unconditional.plot_samples)
    samples = stored_samples(exp)
    model = trained_model(params, exp)
    cpu = torch.device("cpu")
    k = len(classes)
    # Up to 8 samples of every class, one class per row of samples.png.
    per = min(8, params.sample.per_class)
    shown = samples.take(np.concatenate([np.flatnonzero(out["labels"] == c)[:per] for c in range(k)]))
    save_sample_grid(out_dir / "samples.png", shown)

    z = torch.from_numpy(out["z"])
    y = torch.from_numpy(out["labels"])
    # Class x noise: column j uses the same z for every class, so style stays and only the class changes.
    cols = z[:N_NOISE_COLUMNS]
    grid = [run_generator(model, cpu, {"z": cols, "y": torch.full((len(cols),), c)}, len(cols)) for c in range(k)]
    titled_grid(out_dir / "class_grid.png", grid, f"{exp}: class (rows) x noise (columns, one z each)",
                row_labels=[f"class {c}" for c in classes])

    a, b = z[N_NOISE_COLUMNS], z[N_NOISE_COLUMNS + 1]
    path = slerp(a, b, N_INTERP_STEPS)
    rows = [run_generator(model, cpu, {"z": path, "y": torch.full((N_INTERP_STEPS,), c)}, N_INTERP_STEPS)
            for c in range(k)]
    titled_grid(out_dir / "interpolation.png", rows, f"{exp}: between two z (left to right), class fixed per row",
                row_labels=[f"class {c}" for c in classes])
    latent_arithmetic(model, z, ink_of(samples), {"y": y}, out_dir, exp, groups=out["labels"])


# -- ganflow generate: the optional hook (stages/tasks/__init__.py) ----------------------------------


def class_index(wanted: str, classes: list[str]) -> int:
    """A class by its name (as dataset.json lists it) or, failing that, by its index."""
    if str(wanted) in classes:
        return classes.index(str(wanted))
    if str(wanted).isdigit() and int(wanted) < len(classes):
        return int(wanted)
    raise ValueError(f"--class {wanted!r} is none of the classes {classes} (nor an index 0..{len(classes) - 1})")


def generate_images(params: Params, exp: str, model, device: torch.device, n: int,
                    options: dict) -> dict[str, np.ndarray]:
    """n images of options["class"] (a name or index), or of every class in turn when it is None;
    named <class>_0000..."""
    from ganflow.stages.tasks.unconditional import seeded_noise

    if options.get("caption") is not None:
        raise ValueError(f"experiment {exp!r} is conditioned on a class: use --class, not --caption")
    dataset = params.experiment(exp).dataset
    classes = classes_of(read_meta(dataset), dataset)
    wanted = options.get("class")
    y = (torch.arange(n) % len(classes)) if wanted is None else torch.full((n,), class_index(wanted, classes))
    z = seeded_noise(n, z_dim_of(model), options.get("seed") or 0)
    images = run_generator(model, device, {"z": z, "y": y}, params.sample.batch_size)
    safe = ["".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(c)) for c in classes]
    return {f"{safe[int(c)]}_{i:04d}": img for i, (c, img) in enumerate(zip(y, images))}
