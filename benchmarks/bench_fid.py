"""FID end to end: ganflow's way against pytorch-fid's way, side by side, on the same images.

    python benchmarks/bench_fid.py --n 1000          # N reference and N generated images

Two folders of N real photos are written first (random 96-px crops of scikit-image's sample
photos, resized to 64 px, as PNG; the "generated" folder uses other crops, slightly blurred, and
mixes in scikit-image's LFW faces, so the two sets differ as a generator's output would).  Then,
each timed from the folders to the number, with one FID Inception loaded once beforehand:

  pytorch-fid way   both folders through the Inception, statistics, scipy.linalg.sqrtm Frechet
  ganflow, cold     the reference folder's statistics computed and written to the content-keyed
                    cache (first evaluation), generated folder through the Inception, Frechet
                    from the features (one N x N SVD below 2048 images; see metrics/frechet.py)
  ganflow, warm     the reference statistics read from that cache after hashing the folder's
                    decoded images (what every later evaluation of the same reference costs),
                    generated folder through the Inception, Frechet from the features

The Frechet step alone (sqrtm, eigh, features SVD; 2048 dimensions) is timed too.  The images
through the network are identical in all three, so the values agree to round-off: the speed-up
comes from not recomputing the reference and from the cheaper exact Frechet computation.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field", "immunohistochemistry", "moon",
          "rocket", "brick", "grass", "gravel", "clock", "page", "text", "colorwheel"]


def _photos() -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in PHOTOS:
        img = getattr(data, name)()
        out.append(np.dstack([img] * 3) if img.ndim == 2 else img[..., :3])
    return out


def write_sets(root: Path, n: int, size: int = 64, crop: int = 96) -> tuple[Path, Path]:
    """root/real and root/generated, n PNGs each (real photos, not noise)."""
    from skimage import data

    photos = _photos()
    faces = data.lfw_subset()  # 200 grayscale 25 x 25 faces (scikit-image's LFW sample)
    real, fake = root / "real", root / "generated"
    real.mkdir(parents=True)
    fake.mkdir(parents=True)
    for folder, seed in ((real, 0), (fake, 1)):
        rng = np.random.default_rng(seed)
        for i in range(n):
            if folder is fake and i % 4 == 3:  # a quarter of the "generated" set: upscaled LFW faces
                face = (faces[rng.integers(len(faces))] * 255).astype(np.uint8)
                im = Image.fromarray(face).convert("RGB").resize((size, size), Image.BICUBIC)
            else:
                photo = photos[rng.integers(len(photos))]
                y, x = rng.integers(0, photo.shape[0] - crop), rng.integers(0, photo.shape[1] - crop)
                im = Image.fromarray(photo[y:y + crop, x:x + crop]).resize((size, size), Image.BICUBIC)
                if folder is fake:
                    im = im.filter(ImageFilter.GaussianBlur(0.8))
            im.save(folder / f"{i:05d}.png")
    return real, fake


def pytorch_fid_way(model, real: Path, fake: Path, batch_size: int, device) -> float:
    """pytorch-fid's computation: every folder through the network, then sqrtm(S1 S2)."""
    from ganflow.metrics.frechet import frechet_distance_sqrtm_reference, gaussian_stats
    from ganflow.metrics.inception import extract_features
    from ganflow.stages.fid import batches, list_folder

    stats = []
    for folder in (real, fake):
        files = list_folder(folder)
        feats = extract_features(model, batches(files, batch_size), batch_size=batch_size, device=device,
                                 progress=False)
        stats.append(gaussian_stats(feats))
    return frechet_distance_sqrtm_reference(*stats[1], *stats[0])


def ganflow_way(model, ext_hash: str, real: Path, fake: Path, batch_size: int, device, cache: Path):
    """ganflow's: reference statistics through the content-keyed cache, eigh Frechet."""
    from ganflow.metrics.frechet import frechet_distance_from_features
    from ganflow.stages.fid import folder_stats

    ref, hit = folder_stats(real, model, ext_hash, batch_size, device, cache)
    gen, _ = folder_stats(fake, model, ext_hash, batch_size, device, None)
    return frechet_distance_from_features(gen.features, ref.features), hit


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="images per set (default 1000)")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--weights", type=Path, default=None, help="as `ganflow fid --weights`")
    ap.add_argument("--workdir", type=Path, default=None, help="where the image folders go (default: a temp dir)")
    args = ap.parse_args(argv)

    import torch

    from ganflow.metrics.frechet import (
        frechet_distance,
        frechet_distance_from_features,
        frechet_distance_sqrtm_reference,
        gaussian_stats,
    )
    from ganflow.metrics.refstats import extractor_sha256
    from ganflow.stages.fid import load_extractor
    from ganflow.train.device import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        (real, fake), t_write = _timed(lambda: write_sets(root, args.n))
        (model, info), t_load = _timed(lambda: load_extractor(args.weights))
        ext_hash = extractor_sha256(model)
        print(f"bench_fid: N={args.n} images per set ({t_write:.1f} s to write), weights {info['weights']} "
              f"({t_load:.1f} s to load, not counted), device {device}, torch threads {torch.get_num_threads()}",
              flush=True)

        ref_value, t_ref = _timed(lambda: pytorch_fid_way(model, real, fake, args.batch_size, device))
        print(f"  pytorch-fid way done: {t_ref:.1f} s", flush=True)
        (cold_value, hit_cold), t_cold = _timed(
            lambda: ganflow_way(model, ext_hash, real, fake, args.batch_size, device, root / "cache"))
        print(f"  ganflow cold done: {t_cold:.1f} s", flush=True)
        (warm_value, hit_warm), t_warm = _timed(
            lambda: ganflow_way(model, ext_hash, real, fake, args.batch_size, device, root / "cache"))
        assert (hit_cold, hit_warm) == (False, True), (hit_cold, hit_warm)

        # The Frechet step alone, on statistics of the same shape (N samples, 2048 dimensions).
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((args.n, 2048)), rng.standard_normal((args.n, 2048))
        sa, sb = gaussian_stats(a), gaussian_stats(b)
        _, t_sqrtm = _timed(lambda: frechet_distance_sqrtm_reference(*sa, *sb))
        _, t_eigh = _timed(lambda: frechet_distance(*sa, *sb))
        _, t_svd = _timed(lambda: frechet_distance_from_features(a, b))

    rel = abs(warm_value - ref_value) / abs(ref_value)
    rows = [("pytorch-fid way (no cache, sqrtm)", t_ref, ref_value),
            ("ganflow, cold cache (fills it)", t_cold, cold_value),
            ("ganflow, warm cache (steady state)", t_warm, warm_value)]
    print(f"\n{'method':38s} {'seconds':>9s} {'FID':>14s} {'speed-up':>9s}")
    for name, t, v in rows:
        print(f"{name:38s} {t:9.1f} {v:14.6f} {t_ref / t:8.2f}x")
    print(f"{'Frechet step only: scipy sqrtm':38s} {t_sqrtm:9.2f}")
    print(f"{'Frechet step only: eigh':38s} {t_eigh:9.2f} {'':14s} {t_sqrtm / t_eigh:8.2f}x")
    print(f"{'Frechet step only: features SVD':38s} {t_svd:9.2f} {'':14s} {t_sqrtm / t_svd:8.2f}x")
    print(f"\nrelative difference warm vs pytorch-fid way: {rel:.2e}; "
          f"goal >= 1.5x at N=1000: {'met' if t_ref / t_warm >= 1.5 else 'NOT met'} at N={args.n} "
          f"({t_ref / t_warm:.2f}x)")
    return 0 if rel < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
