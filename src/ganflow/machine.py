"""The machine's numerics: what decides the exact bits of a number ganflow computes.

The same seed gives RMSE 0.03932 on one CPU and 0.04009 on another: torch picks its kernels by
instruction set (AVX2, AVX-512, AMX), and oneDNN / MKL split reductions differently per CPU and
per thread count.  Every run record carries :func:`numerics`, and ``ganflow reproduce`` compares
bit for bit only where the fields of :data:`BIT_FIELDS` match (see stages/reproduce.py).
"""
from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

import torch

# CPU flags that change which kernels run (and so the bits), as /proc/cpuinfo spells them.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")

# The fields that must all be equal for two runs to give the same bits.
BIT_FIELDS = ("cpu_model", "isa", "torch", "blas", "onednn", "threads", "device", "gpu")


@functools.cache
def _cpuinfo() -> tuple[str | None, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo; (platform's processor, no flags) elsewhere."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return platform.processor() or None, frozenset()
    text = path.read_text(errors="replace")
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    return (model[1].strip() if model else platform.processor() or None,
            frozenset(flags[1].split()) if flags else frozenset())


def cpu_flags() -> dict[str, bool]:
    """Which of :data:`KERNEL_FLAGS` this CPU has."""
    flags = _cpuinfo()[1]
    return {f: f in flags for f in KERNEL_FLAGS}


def cpu_has_bf16() -> bool:
    """bf16 arithmetic in hardware (AVX-512-BF16 or AMX-BF16): where CPU autocast to bf16 pays.
    Elsewhere torch emulates bf16, which is slower than fp32, so ganflow keeps fp32."""
    flags = cpu_flags()
    return flags["avx512_bf16"] or flags["amx_bf16"]


def cpu_bf16_autocast_pays() -> bool:
    """Where train.<exp>.amp (true) turns CPU autocast to bf16 on: AMX-BF16, whose tile units
    multiply bf16 several times faster than fp32.  With AVX-512-BF16 alone bf16 is faster for some
    networks and slower for others (measured: README, Speed and scale), so ``amp: true`` keeps fp32
    there and ``amp: bf16`` is the explicit choice."""
    return cpu_flags()["amx_bf16"]


def _build_line(pattern: str) -> str | None:
    match = re.search(pattern, torch.__config__.show())
    return match[1].strip() if match else None


def numerics(device: torch.device | str = "cpu") -> dict:
    """The record of what produced a number: CPU, instruction set, torch build, BLAS, oneDNN,
    threads, device (and the GPU's name on CUDA)."""
    device = torch.device(device)
    model, _ = _cpuinfo()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "isa": torch.backends.cpu.get_cpu_capability(),  # the kernels torch dispatches to here
        "cpu_flags": cpu_flags(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "blas": _build_line(r"BLAS_INFO=([^,]+)"),
        "mkl": _build_line(r"Math Kernel Library Version ([^\s]+)"),
        "onednn": _build_line(r"MKL-DNN v([^\s]+)"),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "gpu": gpu,
    }


def bit_differences(recorded: dict | None, current: dict) -> list[str]:
    """'field: recorded -> current' for each field of BIT_FIELDS that differs; a record without
    numerics (made before they were recorded) differs in every field."""
    if not recorded:
        return ["numerics: not recorded -> " + ", ".join(f"{k}={current.get(k)}" for k in BIT_FIELDS)]
    return [f"{k}: {recorded.get(k)!r} -> {current.get(k)!r}" for k in BIT_FIELDS
            if recorded.get(k) != current.get(k)]
