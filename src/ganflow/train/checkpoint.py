"""Self-describing checkpoints, written atomically and read with ``weights_only=True``.

A checkpoint holds the weights, the optimiser states, the step, the RNG and data-stream states,
the model name, the params it was trained with, the code version and the loss log, so that a
killed run resumes exactly where it stopped, and a file from elsewhere can never run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ganflow.atomic import atomic_path


def save_checkpoint(path: Path | str, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path | str) -> dict:
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise SystemExit(f"{path}: refused to load: it holds more than tensors and plain data "
                         f"(a pickle payload could run code). Details: {str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise SystemExit(f"{path}: not a readable checkpoint ({e.__class__.__name__}: {e})") from None


def params_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Lines 'key: old -> new' for every leaf that differs between two nested dicts."""
    lines = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        key = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            lines += params_diff(a, b, key + ".")
        elif a != b:
            lines.append(f"{key}: {a!r} -> {b!r}")
    return lines
