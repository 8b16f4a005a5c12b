"""Pieces every task's evaluation shares: the FID extractor, provenance fields, array helpers."""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from ganflow.hashing import sha256_file
from ganflow.metrics.frechet import frechet_distance, gaussian_stats
from ganflow.metrics.inception import PREPROCESSING, extract_features, load_fid_inception
from ganflow.params import Params
from ganflow.provenance import code_version
from ganflow.stages import paths
from ganflow.train.device import pick_device


def nchw(arr: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) -> (N, C, H, W) float32 for the Inception."""
    arr = np.asarray(arr, dtype=np.float32)
    return arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)


@lru_cache(maxsize=1)
def _extractor():
    return load_fid_inception(paths.fid_weights_file())


def inception_features(params: Params, images: np.ndarray) -> np.ndarray:
    device = pick_device(params.evaluate.device)
    return extract_features(_extractor(), nchw(images), batch_size=params.evaluate.batch_size, device=device)


def fid_provenance() -> dict:
    meta = json.loads((paths.weights_dir() / "fid_inception.json").read_text())
    return {
        "feature_extractor": "FIDInceptionV3 pool3 (2048-d)", "weights_sha256": meta["sha256"],
        "weights_source_sha256": meta["source_sha256"], "weights_source": meta["source_kind"],
        "preprocessing": PREPROCESSING, "frechet": "symmetric eigen-decomposition, float64",
        "note": "FID from fewer than 2048 images has a rank-deficient covariance and a large bias; "
                "compare numbers only at equal n",
    }


def fid_between(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(fake_features), *gaussian_stats(real_features))


def run_provenance(exp: str) -> dict:
    """Fields every metric file of an experiment carries: checkpoint, code version, seed."""
    run = json.loads((paths.model_dir(exp) / "run.json").read_text())
    return {"experiment": exp, "checkpoint_sha256": sha256_file(paths.model_dir(exp) / "checkpoint.pt"),
            "code": code_version(), "seed": run["seed"]}
