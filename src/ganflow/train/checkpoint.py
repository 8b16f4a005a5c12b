"""Self-describing checkpoints, written atomically and read with ``weights_only=True``.

A checkpoint holds the weights, the optimiser states, the step, the RNG and data-stream states,
the model name, the params it was trained with, the code version and the loss log, so that a
killed run resumes exactly where it stopped, and a file from elsewhere can never run code.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import zipfile
from pathlib import Path

import torch

from ganflow.atomic import write_bytes
from ganflow.errors import CheckpointError, reading


def save_checkpoint(path: Path | str, state: dict) -> None:
    # Serialise to memory first: torch.save names the zip's records after the file it writes to,
    # and the atomic temporary name is random, so saving to it directly gave every run different
    # bytes (and a different checkpoint sha256) for the same weights.
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(path, buf.getvalue())


# What every ganflow checkpoint holds, with the type of each entry, checked after the weights-only
# load so a safe file of the wrong structure is named instead of failing later with a KeyError.
# "train.net" etc. are nested keys of "params".
FOR_INFERENCE = {"model_name": str, "params": dict, "params.train": dict, "params.train.net": dict,
                 "params.train.lr": (int, float), "params.train.beta1": (int, float),
                 "params.train.beta2": (int, float), "data_info": dict, "model": dict, "step": int}
FOR_RESUME = {**FOR_INFERENCE, "optimizers": dict, "schedulers": dict, "data": dict, "rng": dict,
              "rng.torch": torch.Tensor, "losses": list}


def load_checkpoint(path: Path | str, required: dict[str, type | tuple] | None = None) -> dict:
    """The checkpoint at ``path``, loaded ``weights_only``, checked to be a mapping holding
    ``required`` (FOR_INFERENCE, FOR_RESUME; None checks only that it is a mapping).

    A CheckpointError names the file and what is wrong: not a torch archive (random bytes, a
    truncated download), a pickle that would need code to load, or a missing / mistyped key."""
    path = Path(path)
    with reading(path):
        return _load_checked(path, required)


def _load_checked(path: Path, required: dict[str, type | tuple] | None) -> dict:
    # torch.save always writes a zip; anything else (random bytes, a legacy pickle) is not a
    # checkpoint ganflow made, and saying so beats a weights-only unpickler's opcode complaint.
    if not zipfile.is_zipfile(path):
        if _pickle_imports_code(path):
            raise CheckpointError(f"{path}: refused to load: a bare pickle that imports code (a pickle "
                                  "payload could run code); ganflow checkpoints are torch.save archives")
        raise CheckpointError(f"{path}: not a checkpoint (not the zip archive torch.save writes: "
                              "corrupt, truncated, or another format)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = next((line.strip() for line in str(e).splitlines() if "Unsupported" in line),
                      str(e).splitlines()[0])
        if "global" in detail.lower():
            raise CheckpointError(f"{path}: refused to load: it holds more than tensors and plain data "
                                  f"(a pickle payload could run code). Details: {detail}") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt pickle: {detail})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e.__class__.__name__}: {e})") from None
    _check_structure(path, state, required)
    return state


def _pickle_imports_code(path: Path) -> bool:
    """Whether a file parses as a pickle whose opcodes import or call something.  pickletools only
    parses (it never executes), so this is safe on hostile bytes; random bytes do not parse."""
    try:
        with open(path, "rb") as f:
            return any(op.name in _CODE_OPCODES for op, _, _ in pickletools.genops(f))
    except Exception:  # not a pickle at all: plain corruption
        return False


_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4"}


def _check_structure(path: Path, state, required: dict[str, type | tuple] | None) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not the mapping ganflow writes")
    for key, kind in (required or {}).items():
        value = state
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise CheckpointError(f"{path}: no {key!r} entry: not a ganflow checkpoint, or one from "
                                      "an incompatible version (retrain, or train --force)")
            value = value[part]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"{path}: {key!r} is a {type(value).__name__}, not what ganflow writes")


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
