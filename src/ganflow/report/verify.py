"""Verified submissions: a ganflow checkpoint handed in beside the CSV regenerates it.

``<name>.pt`` beside ``<name>.csv`` is loaded with ``torch.load(weights_only=True)`` (tensors and
plain data only: a pickle that would run code is refused), its ``model_name`` must be a registered
inpainting architecture, and its weights are loaded strictly into that class, built from the
checkpoint's own ``net`` options.  The grader then runs the generator on its own copy of the masked
test inputs (masked_inputs.csv), pastes the box into the input as ``ganflow sample`` does, and
compares with the CSV: within ``tol`` (largest pixel difference) the submission is a "verified
generator"; otherwise the finding says how far apart they are.

What this can tell: that the CSV is what this network computes from the masked inputs.  What it
cannot: that the network was trained by the student, or trained at all without the key (a network
can be fitted to the test answers); a person reads the run record inside the checkpoint for that.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from ganflow.report.submission import INTEGRITY, REVIEW, Finding

VERIFIED = "verified"   # a severity that changes nothing but is shown on the leaderboard


def _refuse(code: str, message: str, required: bool, evidence: dict | None = None) -> Finding:
    return Finding(code, INTEGRITY if required else REVIEW, "checkpoint", message, evidence or {})


def _load(path: Path, max_bytes: int) -> dict:
    import torch

    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file (links are never followed)")
    if st.st_size > max_bytes:
        raise ValueError(f"{st.st_size:,} bytes, over the limit of {max_bytes:,}")
    with open(path, "rb", opener=lambda p, f: os.open(p, f | getattr(os, "O_NOFOLLOW", 0))) as f:
        state = torch.load(f, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"model_name", "model", "params", "data_info"} <= set(state):
        raise ValueError("not a ganflow checkpoint (it needs model_name, model, params and data_info)")
    return state


def regenerate(state: dict, masked: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The checkpoint's generator on the masked inputs, the box pasted into each input (n, H, W[, C])."""
    import torch

    from ganflow.data.tensors import to_images, to_tensor
    from ganflow.models import MODELS, load_all
    from ganflow.models.base import DataInfo

    load_all()
    name = state["model_name"]
    if name not in MODELS:
        raise ValueError(f"model {name!r} is not a registered architecture; known: {sorted(MODELS)}")
    cls = MODELS[name]
    if cls.task != "inpaint":
        raise ValueError(f"model {name!r} does not inpaint (its task is {cls.task!r})")
    train = state["params"]["train"]
    info = DataInfo(**state["data_info"])
    if info.image_size != masked.shape[1] or info.channels != (1 if masked.ndim == 3 else masked.shape[3]):
        raise ValueError(f"the network is for {info.image_size} px x {info.channels} channels, the test images are "
                         f"{masked.shape[1]} px x {1 if masked.ndim == 3 else masked.shape[3]}")
    model = cls(cls.Config(**train.get("net", {})), info, train.get("lr", 2e-4), (train.get("beta1", 0.5), 0.999))
    model.load_state_dict(state["model"], strict=True)
    model.eval()
    torch.manual_seed(int(train.get("seed", 0)))   # as `ganflow sample` seeds it (dropout as noise)
    mask = np.zeros(masked.shape[:3], dtype=bool)
    for k, (t, l, b, r) in enumerate(boxes):
        mask[k, t:b, l:r] = True
    with torch.no_grad():
        a = to_tensor(list(masked.astype(np.float32)))
        m = torch.from_numpy(mask[:, None].astype(np.float32))
        raw = np.stack(to_images(model.generate({"A": a, "mask": m})))
    return np.where(mask if raw.ndim == 3 else mask[..., None], raw, masked)


def verify(path: Path | None, images: np.ndarray, masked: np.ndarray, boxes, tol: float, required: bool,
           max_bytes: int) -> list[Finding]:
    """The finding of one submission's checkpoint (none when it has none and none is required)."""
    if path is None:
        return [_refuse("no_checkpoint", "no checkpoint handed in beside the CSV, and the course requires one "
                        "(grading.require_checkpoint)", True)] if required else []
    try:
        out = regenerate(_load(path, max_bytes), masked, boxes)
    except Exception as e:  # refused or broken: a finding, never a crash, never code run
        return [_refuse("checkpoint_refused", f"{path.name}: could not be used: {e.__class__.__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}", required)]
    diff = np.abs(out.astype(np.float64) - images.astype(np.float64))
    worst, rms = float(diff.max()), float(np.sqrt(np.mean(diff ** 2)))
    evidence = {"checkpoint": path.name, "max_abs_difference": worst, "rmse_difference": rms, "tolerance": tol}
    if worst <= tol:
        return [Finding("verified_generator", VERIFIED, "checkpoint",
                        f"{path.name} regenerates the CSV (largest difference {worst:.2g} <= {tol:g})", evidence)]
    per_image = diff.reshape(len(diff), -1).max(axis=1)
    evidence["images_over_tolerance"] = int((per_image > tol).sum())
    return [_refuse("checkpoint_mismatch", f"{path.name} does not regenerate the CSV: largest difference {worst:.4g} "
                    f"(RMSE {rms:.4g}) over the tolerance {tol:g}, on {evidence['images_over_tolerance']} of "
                    f"{len(diff)} images", required, evidence)]
