"""Self-describing checkpoints, written atomically and read with ``weights_only=True``.

A checkpoint holds the weights, the optimiser states, the step, the RNG and data-stream states,
the model name, the params it was trained with, the code version and the loss log, so that a
killed run resumes exactly where it stopped, and a file from elsewhere can never run code.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from ganflow.atomic import write_bytes
from ganflow.errors import CheckpointError


def save_checkpoint(path: Path | str, state: dict) -> None:
    # Serialise to memory first: torch.save names the zip's records after the file it writes to,
    # and the atomic temporary name is random, so saving to it directly gave every run different
    # bytes (and a different checkpoint sha256) for the same weights.
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path | str) -> dict:
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused to load: it holds more than tensors and plain data "
                         f"(a pickle payload could run code). Details: {str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e.__class__.__name__}: {e})") from None


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
