"""evaluate: results/<exp>/fid.json and rmse.json, each saying how its number was made."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from ganflow.atomic import write_json
from ganflow.data.images import list_images, load_image
from ganflow.data.masking import box_mask
from ganflow.hashing import sha256_file
from ganflow.metrics.frechet import frechet_distance, gaussian_stats
from ganflow.metrics.inception import PREPROCESSING, extract_features, load_fid_inception
from ganflow.metrics.pixels import masked_rmse, psnr, rmse
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree
from ganflow.stages import paths
from ganflow.train.device import pick_device


def _stack(images: list[np.ndarray]) -> np.ndarray:
    return np.stack(images).astype(np.float32)


def _nchw(arr: np.ndarray) -> np.ndarray:
    return arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)


def _fill(img: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """img with the masked pixels taken from value (mask is H x W; img may have channels)."""
    return np.where(mask if img.ndim == 2 else mask[..., None], value, img)


def run(params: Params, exp: str, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    e = params.experiment(exp)
    masked = paths.masked_dir(e.dataset)
    out = np.load(paths.samples_dir(exp) / "outputs.npz")
    ids = [str(i) for i in out["ids"]]
    truth = _stack([load_image(masked / "Test" / "Real" / f"{i}.png") for i in ids])
    white = _stack([load_image(masked / "Test" / "White" / f"{i}.png") for i in ids])
    boxes = pd.read_csv(masked / "boxes.csv").set_index("id")
    box = {i: tuple(int(v) for v in boxes.loc[i, ["top", "left", "bottom", "right"]]) for i in ids}
    size = truth.shape[1]
    mask = np.stack([box_mask(box[i], size) for i in ids])

    # The no-learning baseline: the mean training face pasted into each box.
    train_real = list_images(masked / "Training" / "Real")
    mean_face = np.mean([load_image(p) for p in train_real], axis=0)
    mean_fill = _stack([_fill(white[k], mask[k], mean_face) for k in range(len(ids))])

    ckpt = paths.model_dir(exp) / "checkpoint.pt"
    common = {
        "experiment": exp, "dataset": e.dataset, "n_fake": len(ids), "n_real": len(ids),
        "reference_set": str(masked / "Test" / "Real"), "reference_sha256": hash_tree(masked / "Test" / "Real"),
        "checkpoint_sha256": sha256_file(ckpt), "samples_sha256": sha256_file(paths.samples_dir(exp) / "outputs.npz"),
        "code": code_version(), "seed": json.loads((paths.model_dir(exp) / "run.json").read_text())["seed"],
    }
    model_rmse = rmse(out["final"], truth)
    baseline = rmse(white, truth)
    mean_rmse = rmse(mean_fill, truth)
    write_json(paths.metric_file(exp, "rmse"), {
        "metric": "rmse", "value": model_rmse,
        "definition": "sqrt(mean((output - truth)^2)) over every pixel of every test image, values in [0,1]",
        "masked_input": baseline, "mean_fill": mean_rmse,
        "ratio_to_masked_input": model_rmse / baseline, "mean_fill_ratio_to_masked_input": mean_rmse / baseline,
        "raw_output": rmse(out["raw"], truth),
        "inside_mask": masked_rmse(out["final"], truth, mask), "psnr_db": psnr(out["final"], truth),
        "pasted": bool(out["pasted"]), **common,
    })

    weights = paths.fid_weights_file()
    meta = json.loads((paths.weights_dir() / "fid_inception.json").read_text())
    device = pick_device(params.evaluate.device)
    net = load_fid_inception(weights)
    bs = params.evaluate.batch_size
    f_real = extract_features(net, _nchw(truth), batch_size=bs, device=device)
    f_fake = extract_features(net, _nchw(np.asarray(out["final"], dtype=np.float32)), batch_size=bs, device=device)
    f_input = extract_features(net, _nchw(white), batch_size=bs, device=device)
    mu_r, s_r = gaussian_stats(f_real)
    fid = frechet_distance(*gaussian_stats(f_fake), mu_r, s_r)
    write_json(paths.metric_file(exp, "fid"), {
        "metric": "fid", "value": fid, "masked_input": frechet_distance(*gaussian_stats(f_input), mu_r, s_r),
        "feature_extractor": "FIDInceptionV3 pool3 (2048-d)", "weights_sha256": meta["sha256"],
        "weights_source_sha256": meta["source_sha256"], "weights_source": meta["source_kind"],
        "preprocessing": PREPROCESSING,
        "frechet": "symmetric eigen-decomposition, float64",
        "note": "FID from fewer than 2048 images has a rank-deficient covariance and a large bias; "
                "compare numbers only at equal n",
        **common,
    })
    print(f"evaluate: {exp}: rmse {model_rmse:.5f} (masked input {baseline:.5f}, mean fill {mean_rmse:.5f}, "
          f"ratio {model_rmse / baseline:.3f}); fid {fid:.2f}")
