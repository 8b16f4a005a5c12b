"""Paired translation (pix2pix's own use): input a -> target b on data/pairs/<dataset>/, aligned pairs.

  train     {"A": train inputs, "B": their targets} in [-1, 1]; the direction the data set
            declares is applied at pairing (dataset.json "direction": a is always the input)
  sample    every test input translated: samples/<id>.png, and outputs.npz (ids, fake: float32
            [0, 1], N x H x W x C; has_target: whether the test row has a target)
  evaluate  over the test pairs that have a target (sets such as the homework's Test/ may not):
            rmse.json   RMSE, PSNR and SSIM of the outputs (each with a bootstrap interval over test pairs),
                        each beside two no-learning baselines: the input itself (meaningful where
                        input and target share pixels, e.g. day -> night; a label map does not)
                        and the mean training target
            fid.json / kid.json   outputs against the test targets, at the n stated in the file
                        (bootstrap interval over the outputs), beside the same two baselines
            precision_recall.json, memorisation.json (+ memorisation.png): against the test
                        targets, and each output's nearest training target
  plot      test_samples.png: input / output / target triplets

The model is pix2pix (models/pix2pix.py) with its paper options in train.<exp>.net; random
jitter and mirroring are train.<exp>.load_size and augment_flip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import write_json
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.stores import Column, ImageColumn
from ganflow.data.tensors import to_images, to_tensor
from ganflow.errors import DataError
from ganflow.metrics.bootstrap import mean_interval, psnr_interval, rmse_interval
from ganflow.metrics.frechet import fid_of_one_image
from ganflow.metrics.pixels import psnr, rmse, ssim_per_image
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.report.grids import save_grid
from ganflow.stages import paths
from ganflow.stages.tasks.common import (
    fid_record,
    fid_value,
    generated_set,
    inception_features,
    kid_record,
    read_layout_set,
    reference_set,
    run_provenance,
    write_sample_metrics,
)

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs",)  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "kid", "rmse", "precision_recall", "memorisation")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = False  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = True  # `ganflow export` writes the course's submission CSV
SUBMISSION_ARRAY = "fake"  # of samples/outputs.npz: what evaluate scores and export writes
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own
PROGRESS_PICTURE = ("snapshots.png", "the same fixed training inputs (top) and their translations through training")

N_SHOWN = 12
BASELINES = {"input_as_is": "the input image itself, untranslated",
             "mean_target": "the mean training target, the same image for every input"}


def read_set(dataset: str) -> tuple[Path, pd.DataFrame, dict]:
    """(folder, manifest, dataset.json) of a paired data/pairs/<dataset>/, checked."""
    return read_layout_set(dataset, "paired", ("id", "split", "a", "b"),
                           ": a paired_folders, side_by_side_folder or pix2pix source")


def split_rows(folder: Path, manifest: pd.DataFrame, split: str, need_target: bool) -> pd.DataFrame:
    """One split's manifest rows, sorted by id (index: the row's position in manifest.csv)."""
    rows = manifest[manifest["split"] == split].sort_values("id")
    if rows.empty:
        raise DataError(f"{folder / 'manifest.csv'}: no {split} pairs")
    if need_target:
        for line, r in zip(rows.index + 2, rows.itertuples()):
            if not r.b:
                raise DataError(f"{folder / 'manifest.csv'}, line {line} (id {r.id}): a {split} pair without a target (b)")
    return rows


def load_split(folder: Path, manifest: pd.DataFrame, split: str, channels: int,
               need_target: bool) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    """(ids, inputs, targets) of one split, sorted by id; a target is None where b is empty."""
    rows = split_rows(folder, manifest, split, need_target)
    ids, inputs, targets = [], [], []
    for line, r in zip(rows.index + 2, rows.itertuples()):
        try:
            inputs.append(load_image(folder / r.a, channels))
            targets.append(load_image(folder / r.b, channels) if r.b else None)
        except ImageError as e:
            raise DataError(f"{e} (manifest id {r.id}, line {line})") from None
        ids.append(r.id)
    return ids, inputs, targets


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    _, a, b = load_split(folder, manifest, "train", meta["channels"], need_target=True)
    return folder, {"A": to_tensor(a), "B": to_tensor(b)}, DataInfo(channels=meta["channels"],
                                                                    image_size=meta["image_size"])


def training_columns(params: Params, exp: str) -> tuple[Path, dict[str, Column], DataInfo]:
    """training_tensors' pairs for the disk store (data/stores.py), read batch by batch."""
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    rows = split_rows(folder, manifest, "train", need_target=True)
    where = [f"manifest id {r.id}, line {line}" for line, r in zip(rows.index + 2, rows.itertuples())]
    columns = {k: ImageColumn([folder / f for f in rows[col]], meta["channels"], where) for k, col in (("A", "a"), ("B", "b"))}
    return folder, columns, DataInfo(channels=meta["channels"], image_size=meta["image_size"])


def _hwc(images: list[np.ndarray]) -> np.ndarray:
    return np.stack([im[..., None] if im.ndim == 2 else im for im in images]).astype(np.float32)


def _translate(model, x: torch.Tensor, device: torch.device, bs: int) -> torch.Tensor:
    return torch.cat([model.generate({"A": x[i:i + bs].to(device)}).cpu() for i in range(0, len(x), bs)])


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    ids, inputs, targets = load_split(folder, manifest, "test", meta["channels"], need_target=False)
    fake = _translate(model, to_tensor(inputs), device, params.sample.batch_size)
    images = to_images(fake)
    for image_id, img in zip(ids, images):
        save_image(out_dir / f"{image_id}.png", img)
    np.savez_compressed(out_dir / "outputs.npz", ids=np.array(ids), fake=_hwc(images),
                        has_target=np.array([t is not None for t in targets]))


def _pixel_scores(images: np.ndarray, truth: np.ndarray, seed: int) -> dict:
    """RMSE, PSNR and SSIM, each with its bootstrap interval over the test pairs (one seed, so the
    three intervals come from the same draws of test images)."""
    per_image_ssim = ssim_per_image(images, truth)
    return {"rmse": rmse(images, truth), "interval": rmse_interval(images, truth, seed=seed),
            "psnr_db": psnr(images, truth), "psnr_interval": psnr_interval(images, truth, seed=seed),
            "ssim": float(per_image_ssim.mean()), "ssim_interval": mean_interval(per_image_ssim, seed=seed)}


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    folder, manifest, meta = read_set(dataset)
    samples = paths.samples_dir(exp) / "outputs.npz"
    out = np.load(samples)
    ids, inputs, targets = load_split(folder, manifest, "test", meta["channels"], need_target=False)
    if [str(i) for i in out["ids"]] != ids:
        raise DataError(f"{samples} does not hold the test inputs of {folder}; rerun `ganflow sample --exp {exp}`")
    keep = [k for k, t in enumerate(targets) if t is not None]
    if not keep:
        raise DataError(f"{folder / 'manifest.csv'}: no test pair has a target (b), so there is nothing to "
                        f"compare the translations with")
    truth = _hwc([targets[k] for k in keep])
    given = _hwc([inputs[k] for k in keep])
    fake = out["fake"][keep]
    _, _, train_targets = load_split(folder, manifest, "train", meta["channels"], need_target=True)
    train_truth = _hwc(train_targets)
    mean_target = np.broadcast_to(train_truth.mean(axis=0), truth.shape)
    images = {"value": fake, "input_as_is": given, "mean_target": mean_target}

    common = {"dataset": dataset, "direction": meta.get("direction"), "n_test_pairs": len(keep),
              "reference_set": f"{folder}/test/B", "samples_sha256": hash_tree(samples), **run_provenance(exp)}
    scores = {name: _pixel_scores(imgs, truth, params.seed) for name, imgs in images.items()}
    write_json(paths.metric_file(exp, "rmse"), {
        "metric": "rmse", "value": scores["value"]["rmse"], "interval": scores["value"]["interval"],
        "psnr_db": scores["value"]["psnr_db"], "psnr_interval": scores["value"]["psnr_interval"],
        "ssim": scores["value"]["ssim"], "ssim_interval": scores["value"]["ssim_interval"],
        **{name: scores[name]["rmse"] for name in BASELINES}, "baselines": {n: scores[n] for n in BASELINES},
        "beats_baselines": {n: scores["value"]["rmse"] < scores[n]["rmse"] for n in BASELINES},
        "definition": "sqrt(mean((output - target)^2)) over every pixel of every test pair with a target, values "
                      "in [0, 1]; PSNR 10 log10(1 / MSE); SSIM: mean over test images of "
                      "skimage.metrics.structural_similarity(data_range=1)",
        "baseline_definitions": BASELINES, **common})

    # The test targets and inputs do not change between runs: their Inception features come from
    # the content-keyed cache (data/refstats/) after the first evaluation.
    real = reference_set(params, truth, f"{folder}/test/B")
    as_is = reference_set(params, given, f"{folder}/test/A")
    flat = inception_features(params, np.ascontiguousarray(mean_target[:1]))[0]
    generated = generated_set(params, fake, f"{samples}:fake")
    fid = fid_record(real, generated, seed=params.seed)
    fid_baselines = {"input_as_is": fid_value(real, as_is),
                     "mean_target": fid_of_one_image(real.stats.mu, real.stats.sigma, flat)}
    write_json(paths.metric_file(exp, "fid"), {**fid, **fid_baselines, "baseline_definitions": BASELINES, **common})
    kid = kid_record(params, real, generated)
    write_json(paths.metric_file(exp, "kid"), {**kid, "input_as_is": kid_record(params, real, as_is)["value"],
                                               "baseline_definitions": BASELINES, **common})
    train_set = reference_set(params, train_truth, f"{folder}/train/B")
    write_sample_metrics(params, exp, real, generated, train_set, train_truth, fake, common)
    v = scores["value"]
    print(f"evaluate: {exp}: rmse {v['rmse']:.4f} [{v['interval']['low']:.4f}, {v['interval']['high']:.4f}] "
          f"(input as is {scores['input_as_is']['rmse']:.4f}, mean target {scores['mean_target']['rmse']:.4f}); "
          f"psnr {v['psnr_db']:.2f} dB; ssim {v['ssim']:.3f}; fid {fid['value']:.2f} (input as is "
          f"{fid_baselines['input_as_is']:.2f}, mean target {fid_baselines['mean_target']:.2f}) at n = {fid['n_fake']}")


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    """input / output / target, three triplets per row (evenly spread over the test pairs)."""
    folder, manifest, meta = read_set(params.experiment(exp).dataset)
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    ids, inputs, targets = load_split(folder, manifest, "test", meta["channels"], need_target=False)
    pick = np.linspace(0, len(ids) - 1, min(N_SHOWN, len(ids))).round().astype(int)
    blank = np.full_like(inputs[0], 0.5)
    tiles = []
    for k in pick:
        fake = out["fake"][k]
        tiles += [inputs[k], fake[..., 0] if fake.shape[-1] == 1 else fake,
                  targets[k] if targets[k] is not None else blank]
    save_grid(out_dir / "test_samples.png", tiles, ncols=9, scale=3 if meta["image_size"] <= 64 else 1)


def translate_image(params: Params, exp: str, model, device: torch.device, image: np.ndarray,
                    options: dict) -> np.ndarray:
    """One of the user's images through G (input domain -> target domain), the same size back.

    ``fit: resize`` brings the whole picture to the model's size and back; ``fit: tile`` runs a
    large image in overlapping model-size tiles (the generators are fully convolutional).
    """
    from ganflow.data.inference import to_channels, translate_resized, translate_tiled

    if options.get("direction") not in (None, "A2B"):
        raise ValueError("a pix2pix model translates one way only (its data set's direction): leave out --direction")
    size, channels = model.info.image_size, model.info.channels

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.stack(to_images(model.generate({"A": to_tensor(list(batch)).to(device)}).cpu()))

    img = to_channels(image, channels)
    if options.get("fit", "resize") == "tile":
        return translate_tiled(img, size, run)
    return translate_resized([img], size, run)[0]
