"""Device choice (cuda, then mps, then cpu) and the matching mixed-precision setting."""
from __future__ import annotations

import contextlib
import os

import torch
from ganflow.errors import ParamsError
from ganflow.machine import cpu_bf16_autocast_pays, cpu_has_bf16


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ParamsError("device 'cuda' was asked for, but torch sees no CUDA GPU (set device: auto or cpu)")
    return torch.device(preference)


def amp_dtype(device: torch.device, enabled: bool | str) -> torch.dtype | None:
    """What train.<exp>.amp means on ``device``.

    ``true``: bf16 where the GPU has it (no loss scaling needed), else fp16 with a GradScaler; on
    CPU bf16 only where it pays for every network (AMX-BF16: machine.cpu_bf16_autocast_pays):
    with AVX-512-BF16 alone it measured faster for some networks and slower for pix2pix_tiny
    (README, Speed and scale). ``"bf16"``: bf16 on any GPU or CPU with bf16 instructions.
    None (fp32) otherwise.
    """
    if not enabled:
        return None
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None if enabled == "bf16" else torch.float16
    if device.type == "cpu" and (cpu_has_bf16() if enabled == "bf16" else cpu_bf16_autocast_pays()):
        return torch.bfloat16
    return None


def amp_note(device: torch.device, enabled: bool | str) -> str | None:
    """One line saying why mixed precision was asked for (train.<exp>.amp) but is not used here."""
    if not enabled or amp_dtype(device, enabled) is not None:
        return None
    if device.type == "cpu" and cpu_has_bf16():
        return ("amp: this CPU has avx512_bf16 but no amx_bf16, where bf16 pays for some networks and not "
                "others (README, Speed and scale): training in fp32 (amp: bf16 forces bf16)")
    if device.type == "cpu":
        return "amp: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16): training in fp32"
    if device.type == "cuda":
        return "amp: bf16 was asked for, but this GPU has no bf16: training in fp32"
    return f"amp: no mixed precision on {device.type}: training in fp32"


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def configure_torch(threads: int | None = None) -> None:
    """The same numerics in every stage process: deterministic kernels, and the threads given.

    Called by train, sample and evaluate alike, so that `ganflow reproduce` (which runs them in one
    process) computes what the pipeline's separate processes computed, bit for bit on CPU.
    """
    if threads:
        torch.set_num_threads(threads)
    # cuBLAS is deterministic only with a fixed workspace; it must be set before CUDA starts, and
    # every stage calls this first.  (No effect on CPU.)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    # cuDNN's autotuner may pick a different convolution algorithm in every process (by timing),
    # hence other round-off: off, so that a rerun computes what the run computed.
    torch.backends.cudnn.benchmark = False


def compile_networks(model: torch.nn.Module) -> None:
    """torch.compile each network in place (``nn.Module.compile``: the state_dict keys stay the
    same, so a checkpoint loads into an uncompiled model for sampling)."""
    for net in model.children():
        net.compile()
