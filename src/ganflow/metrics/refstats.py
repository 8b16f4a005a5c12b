"""Reference statistics: a real image set's features, mean and covariance, cached by content.

A reference set goes through the Inception once; later evaluations load its statistics.  The cache
key is a hash of everything the numbers depend on, never of a name:

    key = sha256({format, images_sha256, extractor_sha256, preprocessing, numerics})

* ``images_sha256``: the decoded images as the extractor receives them (float32 pixels, shapes),
  in order -- so a re-encoded but identical PNG hits, and one changed pixel misses;
* ``extractor_sha256``: the extractor's feature weights (its tensors, not the file they came in,
  so pytorch-fid's .pth and fid-helper's default_1.pt map to one key only if they are equal);
* ``preprocessing``: the description of resize / range / channel rules (inception.PREPROCESSING);
* ``numerics``: what can move the last bits of float32 features -- device type and batch size --
  so a cached number is bit-identical to a fresh computation under the same settings (what
  ``ganflow reproduce`` checks), at the price of a recomputation when those settings change.

A cache file is ``<cache_dir>/<key>.npz``, written atomically, read with ``allow_pickle=False``.
It holds pytorch-fid's keys ``mu`` and ``sigma`` (so pytorch-fid reads it too), plus ``features``
(KID, precision/recall and memorisation need them; a set above evaluate.max_features_in_memory is
stored with its streamed mu and sigma only) and the key's ingredients.  ``images_sha256`` is an
incremental hash, so a set read a block at a time hashes like the same set stacked in memory.  The stored ``mu``
and ``sigma`` are used as they are, so a cache hit gives bit-identical FID to the run that filled it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganflow.atomic import atomic_path
from ganflow.errors import reading
from ganflow.metrics.frechet import gaussian_stats

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RefStats:
    """Gaussian statistics of one image set, and where they came from."""

    mu: np.ndarray  # (d,) float64
    sigma: np.ndarray  # (d, d) float64
    n: int
    features: np.ndarray | None = None  # (n, d); None for stats files without features
    key: str | None = None
    images_sha256: str | None = None
    extractor_sha256: str | None = None
    preprocessing: dict | None = None
    numerics: dict | None = None

    def describe(self) -> dict:
        """The JSON-able fields a metric file records about this set."""
        return {"n": self.n, "cache_key": self.key, "images_sha256": self.images_sha256,
                "extractor_sha256": self.extractor_sha256}


# -- hashes ----------------------------------------------------------------------------------


class ImagesHasher:
    """Incremental content hash of images (arrays or tensors): float32 pixels plus shapes, in order.

    Order matters (KID subsets and memorisation indices depend on it).  Float64 input hashes like
    its float32 cast because the extractor runs in float32 and sees exactly that.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256(b"ganflow-images-v1\0")
        self.count = 0

    def update(self, image) -> None:
        arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self._h.update(repr(arr.shape).encode() + b"\0")
        self._h.update(arr.tobytes())
        self.count += 1

    def hexdigest(self) -> str:
        h = self._h.copy()
        h.update(f"count={self.count}".encode())
        return h.hexdigest()


def images_sha256(images: Iterable) -> str:
    """Content hash of a sequence of images (see :class:`ImagesHasher`)."""
    hasher = ImagesHasher()
    for image in images:
        hasher.update(image)
    return hasher.hexdigest()


def extractor_sha256(model: torch.nn.Module, skip_prefixes: tuple[str, ...] = ("fc.",)) -> str:
    """Hash of the tensors that make the features (the classifier head ``fc`` does not)."""
    h = hashlib.sha256(b"ganflow-state-v1\0")
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(skip_prefixes):
            continue
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\0".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def cache_key(images_hash: str, extractor_hash: str, preprocessing: dict, numerics: dict | None = None) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, "images_sha256": images_hash,
                       "extractor_sha256": extractor_hash, "preprocessing": preprocessing,
                       "numerics": numerics or {}},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


# -- files -----------------------------------------------------------------------------------


def _features_for_storage(features: np.ndarray) -> np.ndarray:
    """float32 when that loses nothing (network outputs are float32 cast to float64)."""
    as32 = features.astype(np.float32)
    return as32 if np.array_equal(as32.astype(np.float64), features) else features


def save_stats(path: Path | str, stats: RefStats) -> None:
    """Write ``stats`` as an .npz (pytorch-fid keys mu, sigma, plus ours), atomically."""
    fields: dict[str, np.ndarray] = {
        "mu": np.asarray(stats.mu, np.float64), "sigma": np.asarray(stats.sigma, np.float64),
        "n": np.asarray(stats.n, np.int64), "format": np.asarray(FORMAT_VERSION, np.int64),
    }
    if stats.features is not None:
        fields["features"] = _features_for_storage(np.asarray(stats.features, np.float64))
    for name in ("key", "images_sha256", "extractor_sha256"):
        value = getattr(stats, name)
        if value is not None:
            fields[name] = np.asarray(value)
    for name in ("preprocessing", "numerics"):
        value = getattr(stats, name)
        if value is not None:
            fields[name] = np.asarray(json.dumps(value, sort_keys=True))
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as f:  # an open file: np.savez would append .npz to a bare name
            np.savez(f, **fields)


# A statistics file is read only after its arrays' headers are checked: np.load allocates what a
# header declares before reading a byte, so a 1 kB file declaring a 745 GiB array would otherwise
# end in numpy's MemoryError.  Real files: Inception pool3 is d = 2048, features of 50k images
# in float64 are 0.8 GB.
MAX_STATS_BYTES = 16 * 2**30


def check_npz_headers(path: Path, max_bytes: int = MAX_STATS_BYTES) -> dict[str, tuple[tuple, np.dtype]]:
    """{array name: (shape, dtype)} of an .npz, from the headers alone; ValueError naming the file
    and the array when one declares more bytes than the file holds or than ``max_bytes`` in all."""
    out, total = {}, 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                with zf.open(info) as member:
                    try:
                        version = np.lib.format.read_magic(member)
                        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                  else np.lib.format.read_array_header_2_0)
                        shape, _, dtype = header(member)
                    except ValueError as e:
                        raise ValueError(f"{path}: array {name!r} has no valid .npy header ({e})") from None
                    header_len = member.tell()
                if dtype.hasobject:
                    raise ValueError(f"{path}: array {name!r} holds Python objects (refused: loading them "
                                     "would unpickle)")
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if nbytes > info.file_size - header_len:
                    raise ValueError(f"{path}: array {name!r} declares shape {shape} ({nbytes:,} bytes) but "
                                     f"the file holds {info.file_size - header_len:,}: corrupt or forged")
                total += nbytes
                if total > max_bytes:
                    raise ValueError(f"{path}: its arrays declare more than {max_bytes:,} bytes in all; "
                                     "not a statistics file")
                out[name] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz statistics file ({e})") from None
    return out


def load_stats(path: Path | str) -> RefStats:
    """Read our cache files and pytorch-fid's stats files (keys mu, sigma); errors name the file."""
    path = Path(path)
    with reading(path):
        return _load_stats(path)


def _load_stats(path: Path) -> RefStats:
    check_npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz statistics file ({e})") from None
    missing = [k for k in ("mu", "sigma") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} (a stats file needs 'mu' and 'sigma', "
                         f"as pytorch-fid writes them); found {sorted(data)}")
    mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: 'mu' {mu.shape} and 'sigma' {sigma.shape} do not fit (d,) and (d, d)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{path}: 'mu' or 'sigma' contains NaN or inf")
    features = np.asarray(data["features"], np.float64) if "features" in data else None
    if features is not None and (features.ndim != 2 or features.shape[1] != mu.shape[0]):
        raise ValueError(f"{path}: 'features' {features.shape} does not match 'mu' {mu.shape}")
    n = int(data["n"]) if "n" in data else (features.shape[0] if features is not None else -1)

    def text(name):
        return str(data[name]) if name in data else None

    def parsed(name):
        value = text(name)
        return json.loads(value) if value else None

    return RefStats(mu=mu, sigma=sigma, n=n, features=features, key=text("key"),
                    images_sha256=text("images_sha256"), extractor_sha256=text("extractor_sha256"),
                    preprocessing=parsed("preprocessing"), numerics=parsed("numerics"))


def stats_from_features(features: np.ndarray, **provenance) -> RefStats:
    mu, sigma = gaussian_stats(features)
    return RefStats(mu=mu, sigma=sigma, n=int(features.shape[0]), features=np.asarray(features, np.float64),
                    **provenance)


def cached_stats(
    cache_dir: Path | str | None,
    images_hash: str,
    extractor_hash: str,
    preprocessing: dict,
    compute_features: Callable[[], np.ndarray | RefStats],
    numerics: dict | None = None,
    need_features: bool = True,
) -> tuple[RefStats, bool]:
    """Statistics of an image set from ``cache_dir`` when present, else computed and stored.

    Returns (stats, hit).  ``compute_features`` runs only on a miss; it returns the feature matrix,
    or, for a set too large to hold its features, streamed statistics (a RefStats with mu, sigma
    and n and no features), which are cached as such.  With ``need_features=False`` a cache file
    without features is a hit.  A cache file that cannot be read, or whose recorded key differs
    from its name, is recomputed and replaced (with a warning): a cache must never be the reason a
    number is wrong.  ``cache_dir=None`` disables caching.
    """
    key = cache_key(images_hash, extractor_hash, preprocessing, numerics)
    provenance = {"key": key, "images_sha256": images_hash, "extractor_sha256": extractor_hash,
                  "preprocessing": preprocessing, "numerics": numerics}
    path = None if cache_dir is None else Path(cache_dir) / f"{key}.npz"
    if path is not None and path.is_file():
        try:
            stats = load_stats(path)
            if stats.key != key or (stats.features is None and need_features) or (
                    stats.features is not None and stats.features.shape[0] != stats.n):
                raise ValueError("recorded key or feature count does not match")
            return stats, True
        except ValueError as e:
            warnings.warn(f"reference statistics cache {path} is unusable ({e}); recomputing", RuntimeWarning,
                          stacklevel=2)
    computed = compute_features()
    if isinstance(computed, RefStats):
        stats = dataclasses.replace(computed, **provenance)
    else:
        stats = stats_from_features(computed, **provenance)
    if path is not None:
        _ensure_cache_dir(path.parent)
        save_stats(path, stats)
    return stats, False


def _ensure_cache_dir(folder: Path) -> None:
    """Create the cache folder with a ``.gitignore`` of ``*`` (as pytest and ruff do with theirs):
    cache files are derived data, rebuilt on demand, and must never be committed."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        with atomic_path(ignore) as tmp:
            tmp.write_text("# ganflow reference-statistics cache: derived data, safe to delete\n*\n")
