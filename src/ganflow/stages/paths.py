"""Where every artifact lives.  The paths are the interface between stages, Snakemake and DVC.

Only stages import this module; the library below them takes explicit paths.
"""
from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RESULTS = Path("results")


def raw_dir(dataset: str) -> Path:
    return DATA / "raw" / dataset


def pairs_dir(dataset: str) -> Path:
    return DATA / "pairs" / dataset


def masked_dir(dataset: str) -> Path:
    return DATA / "masked" / dataset


def weights_dir() -> Path:
    return DATA / "weights"


def fid_weights_file() -> Path:
    return weights_dir() / "fid_inception.pt"


def classifier_dir(dataset: str) -> Path:
    """`ganflow classifier --dataset NAME`: model.pt and accuracy.json (read by stages/tasks/common.py)."""
    return DATA / "classifiers" / dataset


def text_encoder_dir(dataset: str) -> Path:
    """`ganflow text_encoder --dataset NAME`: encoder.pt (weights + vocabulary), encoder.json."""
    return DATA / "text_encoders" / dataset


def exp_dir(exp: str) -> Path:
    return RESULTS / exp


def model_dir(exp: str) -> Path:
    return exp_dir(exp) / "model"


def losses_csv(exp: str) -> Path:
    return exp_dir(exp) / "losses.csv"


def samples_dir(exp: str) -> Path:
    return exp_dir(exp) / "samples"


def metric_file(exp: str, metric: str) -> Path:
    return exp_dir(exp) / f"{metric}.json"


def memorisation_picture(exp: str) -> Path:
    """The closest sample / training-image pairs, beside memorisation.json."""
    return exp_dir(exp) / "memorisation.png"


def plots_dir(exp: str) -> Path:
    return exp_dir(exp) / "plots"
