"""Inpainting (the homework): White -> Real on data/masked/<dataset>/, the mouth box known.

Samples paste the generated box into the known image (pixels outside it are the input's own);
RMSE is computed against Test/Real beside three no-learning baselines: the masked input itself
(the homework's baseline), the mean training face pasted into the box, and a classical
inpainting (scikit-image's biharmonic).  On small faces RMSE cannot tell a flat grey box from a
drawn mouth, so box KID (metrics/box_kid.py), a perceptual number of the mouth boxes alone,
stands beside it for the model and for each baseline.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import write_json
from ganflow.data.images import list_images, load_image, save_image
from ganflow.data.inference import find_white_box, fit_square, to_channels, unfit
from ganflow.data.masking import box_mask, paint
from ganflow.data.stores import BoxMaskColumn, Column, ImageColumn
from ganflow.data.tensors import load_paired_folders, paired_files, to_images, to_tensor
from ganflow.metrics.bootstrap import mean_interval, psnr_interval, rmse_interval
from ganflow.metrics.box_kid import DEFINITION as BOX_KID_DEFINITION
from ganflow.metrics.box_kid import box_kid, box_kid_interval
from ganflow.metrics.pixels import masked_rmse, psnr, rmse, ssim, ssim_per_image
from ganflow.models.base import DataInfo
from ganflow.params import Params
from ganflow.provenance import hash_tree
from ganflow.report.grids import save_grid
from ganflow.stages import paths
from ganflow.stages.mask import SPLIT_FOLDER
from ganflow.stages.tasks.common import (
    fid_record,
    fid_value,
    generated_set,
    kid_record,
    reference_set,
    run_provenance,
    write_sample_metrics,
)

# The stage graph's view of this task (stages/graph.py wires the stages from these):
DATASET_INPUTS = ("pairs", "masked")  # per-dataset artifacts its stages read (pairs, masked, text_encoder)
METRICS = ("fid", "rmse", "kid", "box_kid", "precision_recall", "memorisation")  # evaluate's files: results/<exp>/<metric>.json
SCORED_BY_CLASSIFIER = False  # on a labelled data set, evaluate also reads its domain classifier
EXPORTS_SUBMISSION = True  # `ganflow export` writes the course's submission CSV
SUBMISSION_ARRAY = "final"  # of samples/outputs.npz: what evaluate scores and export writes
EVALUATE_READS = ()  # params sections evaluate reads beyond evaluate, seed and the experiment's own

N_SHOWN = 16


def load_boxes(dataset: str) -> pd.DataFrame:
    return pd.read_csv(paths.masked_dir(dataset) / "boxes.csv").set_index("id")


def box_of(boxes: pd.DataFrame, image_id: str) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in boxes.loc[image_id, ["top", "left", "bottom", "right"]])


def split_tensors(dataset: str, split: str) -> tuple[list[str], dict[str, torch.Tensor]]:
    """(ids, {"A": White, "B": Real, "mask": 1 inside the mouth box}) of one split."""
    folder = paths.masked_dir(dataset) / SPLIT_FOLDER[split]
    ids, a, b = load_paired_folders(folder / "White", folder / "Real")
    boxes = load_boxes(dataset)
    size = a.shape[-1]
    mask = torch.stack([torch.from_numpy(box_mask(box_of(boxes, i), size)) for i in ids]).unsqueeze(1).float()
    return ids, {"A": a, "B": b, "mask": mask}


def training_tensors(params: Params, exp: str) -> tuple[Path, dict[str, torch.Tensor], DataInfo]:
    dataset = params.experiment(exp).dataset
    _, tensors = split_tensors(dataset, "train")
    meta = json.loads((paths.pairs_dir(dataset) / "dataset.json").read_text())
    info = DataInfo(channels=tensors["A"].shape[1], image_size=meta["image_size"])
    return paths.masked_dir(dataset), tensors, info


def training_columns(params: Params, exp: str) -> tuple[Path, dict[str, Column], DataInfo]:
    """training_tensors' rows for the disk store: White and Real read per batch, the mouth
    boxes kept whole (the mask is drawn from its box)."""
    dataset = params.experiment(exp).dataset
    folder = paths.masked_dir(dataset) / SPLIT_FOLDER["train"]
    ids, white, real = paired_files(folder / "White", folder / "Real")
    boxes = load_boxes(dataset)
    a, b = ImageColumn(white), ImageColumn(real)
    size = a.take([0]).shape[-1]
    meta = json.loads((paths.pairs_dir(dataset) / "dataset.json").read_text())
    info = DataInfo(channels=a.take([0]).shape[1], image_size=meta["image_size"])
    return paths.masked_dir(dataset), {"A": a, "B": b, "mask": BoxMaskColumn([box_of(boxes, i) for i in ids], size)}, info


def sample(params: Params, exp: str, model, device: torch.device, out_dir: Path) -> None:
    ids, t = split_tensors(params.experiment(exp).dataset, "test")
    bs = params.sample.batch_size
    raw = torch.cat([model.generate({k: v[i:i + bs].to(device) for k, v in t.items()}).cpu()
                     for i in range(0, len(ids), bs)])
    final = raw * t["mask"] + t["A"] * (1 - t["mask"]) if params.sample.paste else raw
    raw_imgs, final_imgs = to_images(raw), to_images(final)
    for i, image_id in enumerate(ids):
        save_image(out_dir / f"{image_id}.png", final_imgs[i])
        save_image(out_dir / "raw" / f"{image_id}.png", raw_imgs[i])
    np.savez_compressed(out_dir / "outputs.npz", ids=np.array(ids), final=np.stack(final_imgs),
                        raw=np.stack(raw_imgs), pasted=np.array(params.sample.paste))


def _fill(img: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """img with the masked pixels taken from value (mask is H x W; img may have channels)."""
    return np.where(mask if img.ndim == 2 else mask[..., None], value, img)


def biharmonic_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The classical baseline: each masked region filled by biharmonic inpainting from its border
    (skimage.restoration.inpaint_biharmonic; smooth, no learning, no training data)."""
    from skimage.restoration import inpaint_biharmonic

    channel_axis = -1 if images.ndim == 4 else None
    return np.stack([inpaint_biharmonic(img, m, channel_axis=channel_axis) for img, m in zip(images, masks)])


def evaluate(params: Params, exp: str) -> None:
    dataset = params.experiment(exp).dataset
    masked = paths.masked_dir(dataset)
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    ids = [str(i) for i in out["ids"]]
    truth = np.stack([load_image(masked / "Test" / "Real" / f"{i}.png") for i in ids])
    white = np.stack([load_image(masked / "Test" / "White" / f"{i}.png") for i in ids])
    boxes = load_boxes(dataset)
    mask = np.stack([box_mask(box_of(boxes, i), truth.shape[1]) for i in ids])

    # The no-learning baseline: the mean training face pasted into each box.
    training_faces = np.stack([load_image(p) for p in list_images(masked / "Training" / "Real")])
    mean_face = training_faces.mean(axis=0)
    mean_fill = np.stack([_fill(white[k], mask[k], mean_face) for k in range(len(ids))])
    classical = np.clip(biharmonic_fill(white, mask), 0, 1)
    box_list = [box_of(boxes, i) for i in ids]
    kids = {name: box_kid(truth, images, box_list) for name, images in
            (("value", out["final"]), ("masked_input", white), ("mean_fill", mean_fill), ("biharmonic", classical))}

    common = {"dataset": dataset, "n_fake": len(ids), "n_real": len(ids),
              "reference_set": str(masked / "Test" / "Real"), "reference_sha256": hash_tree(masked / "Test" / "Real"),
              "samples_sha256": hash_tree(paths.samples_dir(exp) / "outputs.npz"), **run_provenance(exp)}
    value, baseline, mean_rmse = rmse(out["final"], truth), rmse(white, truth), rmse(mean_fill, truth)
    interval = rmse_interval(out["final"], truth, seed=params.seed)
    ssim_values = ssim_per_image(out["final"], truth)
    write_json(paths.metric_file(exp, "rmse"), {
        "metric": "rmse", "value": value,
        "definition": "sqrt(mean((output - truth)^2)) over every pixel of every test image, values in [0,1]",
        # how much the number moves with the test set: resampled test images, seeded and recorded
        "interval": interval,
        "masked_input_interval": rmse_interval(white, truth, seed=params.seed),
        "masked_input": baseline, "mean_fill": mean_rmse, "biharmonic": rmse(classical, truth),
        "ratio_to_masked_input": value / baseline, "mean_fill_ratio_to_masked_input": mean_rmse / baseline,
        "biharmonic_ratio_to_masked_input": rmse(classical, truth) / baseline,
        "box_kid": kids["value"],  # the perceptual number beside it (box_kid.json: its baselines, definition)
        "raw_output": rmse(out["raw"], truth), "inside_mask": masked_rmse(out["final"], truth, mask),
        "psnr_db": psnr(out["final"], truth), "psnr_interval": psnr_interval(out["final"], truth, seed=params.seed),
        "ssim": float(ssim_values.mean()), "ssim_interval": mean_interval(ssim_values, seed=params.seed),
        "ssim_masked_input": ssim(white, truth),
        "ssim_definition": "mean over test images of skimage.metrics.structural_similarity(data_range=1)",
        "pasted": bool(out["pasted"]), **common,
    })

    write_json(paths.metric_file(exp, "box_kid"), {
        "metric": "box_kid", **kids, "interval": box_kid_interval(truth, out["final"], box_list, seed=params.seed),
        "definition": BOX_KID_DEFINITION,
        "baselines": "masked_input: the white boxes; mean_fill: the mean training face; biharmonic: "
                     "skimage.restoration.inpaint_biharmonic of the masked input", **common})

    # The test truth and the masked inputs do not change between runs: their Inception features
    # come from the content-keyed cache (data/refstats/) after the first evaluation.
    real = reference_set(params, truth, str(masked / "Test" / "Real"))
    masked_input = reference_set(params, white, str(masked / "Test" / "White"))
    fake = generated_set(params, out["final"], str(paths.samples_dir(exp) / "outputs.npz") + ":final")
    fid = fid_record(real, fake, seed=params.seed)
    write_json(paths.metric_file(exp, "fid"), {**fid, "masked_input": fid_value(real, masked_input), **common})
    kid = kid_record(params, real, fake)
    write_json(paths.metric_file(exp, "kid"), {
        **kid, "masked_input": kid_record(params, real, masked_input)["value"], **common})
    train = reference_set(params, training_faces, str(masked / "Training" / "Real"))
    write_sample_metrics(params, exp, real, fake, train, training_faces, out["final"], common)
    print(f"evaluate: {exp}: rmse {value:.5f} [{interval['low']:.5f}, {interval['high']:.5f}] (masked input {baseline:.5f}, mean fill {mean_rmse:.5f}, "
          f"ratio {value / baseline:.3f}); fid {fid['value']:.2f} [{fid['interval']['low']:.2f}, "
          f"{fid['interval']['high']:.2f}] at n = {fid['n_fake']}; kid {kid['value']:.4f}; "
          f"box kid {kids['value']:.4f} (masked input {kids['masked_input']:.4f}, mean fill {kids['mean_fill']:.4f}, "
          f"biharmonic {kids['biharmonic']:.4f})")


def plot_samples(params: Params, exp: str, out_dir: Path) -> None:
    """input / output / truth, two triplets per row."""
    test = paths.masked_dir(params.experiment(exp).dataset) / "Test"
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    tiles = []
    for k, i in enumerate(str(i) for i in out["ids"][:N_SHOWN]):
        tiles += [load_image(test / "White" / f"{i}.png"), out["final"][k], load_image(test / "Real" / f"{i}.png")]
    save_grid(out_dir / "test_samples.png", tiles, ncols=6, scale=2)


# -- the user's own images (ganflow translate / generate): optional hooks, see tasks/__init__.py ---


def _fill_boxes(params: Params, model, device: torch.device, x: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Model outputs ([0,1], N x S x S[x C]) for inputs x (box already white) and their box masks."""
    bs = params.sample.batch_size
    out = []
    for i in range(0, len(x), bs):
        a = to_tensor(list(x[i:i + bs])).to(device)
        m = torch.from_numpy(masks[i:i + bs, None].astype(np.float32)).to(device)
        with torch.no_grad():
            out += to_images(model.generate({"A": a, "mask": m}).cpu())
    return np.stack(out)


def translate_image(params: Params, exp: str, model, device: torch.device, image: np.ndarray,
                    options: dict) -> np.ndarray:
    """A face of any size with its mouth painted white -> the same face with the box filled.

    The box is ``options["box"]`` (top, left, bottom, right in the image's pixels) or else found
    by :func:`find_white_box` (a filled pure-white rectangle, as the mask stage paints it).  The
    whole face is fitted to the model's size (the model needs the face around the mouth), the
    box filled there, and only the box is pasted back: outside it the output is the input pixel
    for pixel, at the input's own resolution.
    """
    if options.get("fit", "resize") != "resize":
        raise ValueError("inpainting fills the mouth from the whole face, so --fit tile does not apply; "
                         "use --fit resize (the default)")
    dataset = params.experiment(exp).dataset
    fill = params.mask[dataset].fill if dataset in params.mask else 1.0
    size, channels = model.info.image_size, model.info.channels
    img = to_channels(image, channels)
    box = options.get("box") or find_white_box(img, fill)
    h, w = img.shape[:2]
    t, l, b, r = box
    if not (0 <= t < b <= h and 0 <= l < r <= w):
        raise ValueError(f"box {tuple(box)} (top, left, bottom, right) is not inside the {h} x {w} image")
    x, fit = fit_square(img, size)
    model_box = fit.box_to_model(box)
    x = paint(x, model_box, fill)  # exactly the fill value, as in training (resizing softens the edges)
    filled = _fill_boxes(params, model, device, x[None], box_mask(model_box, size)[None])[0]
    back = unfit(filled, fit)
    out = img.copy()
    out[t:b, l:r] = back[t:b, l:r]
    return out


def generate_images(params: Params, exp: str, model, device: torch.device, n: int,
                    options: dict) -> dict[str, np.ndarray]:
    """n test faces of the data set (a seeded draw; all of them if there are fewer) and their
    filled versions, as ``<id>_input`` / ``<id>_filled`` pairs in that order."""
    if options.get("class") is not None or options.get("caption") is not None:
        raise ValueError(f"experiment {exp!r} fills masked faces: it takes no --class or --caption")
    ids, t = split_tensors(params.experiment(exp).dataset, "test")
    rng = np.random.default_rng(options.get("seed", 0))
    pick = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    a = np.stack(to_images(t["A"][pick]))
    masks = t["mask"][pick, 0].numpy() > 0.5
    raw = _fill_boxes(params, model, device, a, masks)
    filled = np.where(masks if a.ndim == 3 else masks[..., None], raw, a)
    out: dict[str, np.ndarray] = {}
    for k, i in enumerate(pick):
        out[f"{ids[i]}_input"], out[f"{ids[i]}_filled"] = a[k], filled[k]
    return out
