"""classifier: the domain classifier of a labelled set -> data/classifiers/<dataset>/.

Reads data/pairs/<dataset>/ in the labelled (or captioned) layout -- manifest.csv with id, split,
image, label; dataset.json with classes -- trains nn/classifier.py's CNN on the train split,
selects it on val (a seeded ``classifier.val_fraction`` of train when the set has no val rows),
and measures it once on test.  Writes, atomically:

  model.pt        config + weights + meta (classes, image size, channels), torch.load(weights_only=True)
  accuracy.json   test (and train/val) accuracy, per-class test accuracy, confusion matrix, the
                  data's content hash, params, code version, seed, the model file's sha256
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import atomic_dir, write_json
from ganflow.data.images import ImageError, load_image
from ganflow.errors import DataError, MissingInputError
from ganflow.hashing import sha256_file
from ganflow.nn.classifier import save_classifier
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree, package_versions
from ganflow.stages import paths
from ganflow.train.classifier import FitConfig, accuracy, confusion_matrix, fit_classifier
from ganflow.train.device import pick_device

REQUIRED_COLUMNS = ("id", "split", "image", "label")


def read_labelled(folder) -> tuple[pd.DataFrame, list[str], dict]:
    """(manifest, class names, dataset.json) of a labelled data/pairs/<dataset>/, checked."""
    manifest_file, meta_file = folder / "manifest.csv", folder / "dataset.json"
    for f in (manifest_file, meta_file):
        if not f.is_file():
            raise MissingInputError(f"classifier: {f} is missing; run `ganflow pair` for this data set first")
    meta = json.loads(meta_file.read_text())
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise DataError(f"classifier: {meta_file}: needs 'classes' (a list of at least 2 names); the domain "
                         f"classifier is for labelled data sets (layout {meta.get('layout')!r})")
    manifest = pd.read_csv(manifest_file)
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(f"classifier: {manifest_file}: missing column(s) {missing}; has {list(manifest.columns)}")
    labels = pd.to_numeric(manifest["label"], errors="coerce")
    bad = labels.isna() | (labels % 1 != 0) | (labels < 0) | (labels >= len(classes))
    bad_split = ~manifest["split"].isin(["train", "val", "test"])
    for mask, what in ((bad, f"label is not an integer in 0..{len(classes) - 1}"),
                       (bad_split, "split is not train, val or test")):
        if mask.any():
            rows = [f"line {i + 2} (id {manifest['id'][i]})" for i in np.flatnonzero(mask.to_numpy())[:5]]
            raise DataError(f"classifier: {manifest_file}: {what}: {', '.join(rows)}"
                             + (f" and {int(mask.sum()) - 5} more" if mask.sum() > 5 else ""))
    manifest = manifest.assign(label=labels.astype(np.int64))
    for split in ("train", "test"):
        if not (manifest["split"] == split).any():
            raise DataError(f"classifier: {manifest_file}: no {split!r} rows; the classifier trains on train "
                             "and reports its accuracy on test")
    return manifest, classes, meta


def load_split(folder, rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """[0,1] images N x C x H x W and int64 labels of manifest rows; errors name the file."""
    images = []
    for r in rows.itertuples():
        try:
            images.append(load_image(folder / r.image))
        except (ImageError, FileNotFoundError) as e:
            raise DataError(f"classifier: {folder / r.image} (id {r.id}): {e}") from None
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(f"classifier: images in {folder} differ in shape: {sorted(shapes)[:5]}")
    arr = np.stack([im[None] if im.ndim == 2 else im.transpose(2, 0, 1) for im in images]).astype(np.float32)
    return torch.from_numpy(arr), torch.from_numpy(np.array(rows["label"], dtype=np.int64))


def run(params: Params, dataset: str, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    params.dataset(dataset)  # unknown names fail here, with the list of known ones
    c = params.classifier
    folder = paths.pairs_dir(dataset)
    manifest, classes, meta = read_labelled(folder)

    train_rows = manifest[manifest["split"] == "train"]
    val_rows = manifest[manifest["split"] == "val"]
    val_source = "val split"
    if val_rows.empty:  # carve a seeded validation subset from train
        rng = np.random.default_rng(c.seed)
        n_val = max(1, int(round(c.val_fraction * len(train_rows))))
        pick = np.zeros(len(train_rows), dtype=bool)
        pick[rng.permutation(len(train_rows))[:n_val]] = True
        train_rows, val_rows = train_rows[~pick], train_rows[pick]
        val_source = f"{c.val_fraction:g} of train (seed {c.seed})"
    test_rows = manifest[manifest["split"] == "test"]

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (load_split(folder, r) for r in (train_rows, val_rows, test_rows))
    device = pick_device(c.device)
    cfg = FitConfig(steps=c.steps, batch_size=c.batch_size, lr=c.lr, weight_decay=c.weight_decay, width=c.width,
                    dropout=c.dropout, max_shift=c.max_shift, eval_every=c.eval_every, seed=c.seed)
    model, history = fit_classifier(x_tr, y_tr, x_va, y_va, num_classes=len(classes), cfg=cfg, device=device)

    test_pred = model.predict_logits(x_te, device=device).argmax(axis=1)
    confusion = confusion_matrix(test_pred, y_te.numpy(), len(classes))
    per_class = {classes[k]: (float(confusion[k, k] / confusion[k].sum()) if confusion[k].sum() else None)
                 for k in range(len(classes))}
    model_meta = {"dataset": dataset, "classes": list(classes), "channels": int(x_tr.shape[1]),
                  "image_size": int(x_tr.shape[-1])}

    target = paths.classifier_dir(dataset)
    with atomic_dir(target) as tmp:
        save_classifier(tmp / "model.pt", model.cpu(), model_meta)
        write_json(tmp / "accuracy.json", {
            "metric": "classifier_accuracy", "test_accuracy": float((test_pred == y_te.numpy()).mean()),
            "val_accuracy": accuracy(model, x_va, y_va, "cpu"), "train_accuracy": accuracy(model, x_tr, y_tr, "cpu"),
            "n_train": len(x_tr), "n_val": len(x_va), "n_test": len(x_te), "validation": val_source,
            "per_class_test_accuracy": per_class, "confusion_matrix": confusion.tolist(),
            "confusion_matrix_axes": "rows: true class, columns: predicted class",
            **model_meta, "model_sha256": sha256_file(tmp / "model.pt"),
            "data": str(folder), "data_sha256": hash_tree(folder), "params": c.model_dump(mode="json"),
            "network": f"DomainClassifier {model.config}", "history": history,
            "code": code_version(), "packages": package_versions(), "seed": c.seed,
        })
    acc = json.loads((target / "accuracy.json").read_text())
    print(f"classifier: {dataset}: test accuracy {acc['test_accuracy']:.4f} on {acc['n_test']} images "
          f"(val {acc['val_accuracy']:.4f}) -> {target}")
