"""translate: an experiment's trained model on your own images.

  ganflow translate --exp pix2pix_tiny my_face.png filled.png        one file
  ganflow translate --exp pix2pix_tiny photos/ filled/               every image of a folder
  ganflow translate --exp cyclegan horse.jpg zebra.png --direction A2B --fit tile

INPUT is an image file or a folder of them (.png .jpg .jpeg .bmp .tif .tiff .webp, not searched
recursively); OUTPUT is a file (.png, .jpg... for one input) or a folder (created; one PNG per
input, same name).  Images of any size and colour mode are accepted (see data/inference.py):

  --fit resize  (default) mirror-pad to a square, resize to the model's size, translate, resize
                back: the output has the input's size
  --fit tile    large images in overlapping model-size tiles, blended (fully convolutional
                translators such as CycleGAN and pix2pix on facades; not inpainting)

Inpainting experiments (the homework) fill a white mouth box: paint it as a filled pure-white
rectangle, as data/masked/<dataset>/Test/White/ shows; ganflow finds it (or give --box
top,left,bottom,right in pixels), fills it, and leaves every other pixel as it was.

What a task does with an image is its ``translate_image`` hook (stages/tasks/__init__.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ganflow.data.images import IMAGE_SUFFIXES
from ganflow.errors import DataError, UsageError

FITS = ("resize", "tile")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp", required=True, help="the experiment in params.yaml whose trained model to use")
    p.add_argument("input", type=Path, help="an image file, or a folder of images")
    p.add_argument("output", type=Path, help="an image file (one input) or a folder")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--fit", choices=FITS, default="resize",
                   help="how an image meets the model's size: resize (default) or tile (large images)")
    p.add_argument("--box", type=_box, default=None, metavar="T,L,B,R",
                   help="inpainting: the mouth box in pixels (top,left,bottom,right) instead of finding the white box")
    p.add_argument("--direction", choices=("A2B", "B2A"), default=None,
                   help="unpaired translators: which way (default A2B)")
    p.add_argument("--domain", action="append", default=None, metavar="NAME",
                   help="multi-domain translators: the target domain (repeat for several attributes)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        t, l, b, r = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give four integers top,left,bottom,right (pixels)") from None
    if b <= t or r <= l or min(t, l) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= top < bottom and 0 <= left < right")
    return (t, l, b, r)


def plan(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs, or a UsageError naming what is wrong with INPUT / OUTPUT."""
    if not src.exists():
        raise UsageError(f"translate: {src}: no such file or folder")
    if src.is_file():
        if src.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"translate: {src}: not an image file ({' '.join(sorted(IMAGE_SUFFIXES))})")
        if dst.suffix.lower() in IMAGE_SUFFIXES and not dst.is_dir():
            return [(src, dst)]
        if dst.exists() and not dst.is_dir():
            raise UsageError(f"translate: {dst}: exists and is not a folder or an image file name")
        return [(src, dst / f"{src.stem}.png")]
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"translate: {src}: no image files ({' '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"translate: INPUT is a folder, so OUTPUT must be a folder; {dst} is a file")
    if dst.resolve() == src.resolve():
        raise UsageError(f"translate: OUTPUT {dst} is INPUT: give another folder, so your images are not overwritten")
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise UsageError(f"translate: {stems[f.stem].name} and {f.name} would both become {f.stem}.png in {dst}")
        stems[f.stem] = f
    return [(f, dst / f"{f.stem}.png") for f in files]


def save_any(path: Path, image) -> None:
    """PNG through save_image; another image suffix through PIL in that format (atomically)."""
    from PIL import Image

    from ganflow.atomic import atomic_path
    from ganflow.data.images import save_image, to_uint8

    if path.suffix.lower() == ".png":
        save_image(path, image)
        return
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format=Image.registered_extensions()[path.suffix.lower()])


def hook(params, exp: str, name: str):
    """A task's optional function, or a UsageError that says which command fits instead."""
    from ganflow.stages.tasks import task_for

    task = task_for(params, exp)
    fn = getattr(task, name, None)
    if fn is None:
        other = {"translate_image": ("generate_images", "ganflow generate --exp {exp} -n 16"),
                 "generate_images": ("translate_image", "ganflow translate --exp {exp} INPUT OUTPUT")}[name]
        hint = (f"; it makes images with `{other[1].format(exp=exp)}`" if hasattr(task, other[0]) else
                f"; stages/tasks/{task.__name__.rsplit('.', 1)[-1]}.py has no {name} hook yet")
        raise UsageError(f"{'translate' if name == 'translate_image' else 'generate'}: experiment {exp!r} "
                         f"(task {params.experiment(exp).task}) does not "
                         f"{'translate images' if name == 'translate_image' else 'generate images'}{hint}")
    return fn


def main(args) -> int:
    from tqdm.auto import tqdm

    from ganflow.data.images import ImageError, load_image
    from ganflow.params import load_params
    from ganflow.stages.train import load_trained
    from ganflow.train.device import pick_device

    params = load_params(args.params)
    params.experiment(args.exp)
    fn = hook(params, args.exp, "translate_image")
    jobs = plan(args.input, args.output)
    device = pick_device(args.device)
    model, checkpoint = load_trained(params, args.exp, device)
    options = {"fit": args.fit, "box": args.box, "direction": args.direction, "domain": args.domain}
    for src, dst in tqdm(jobs, desc=f"translate {args.exp}", unit="img", dynamic_ncols=True):
        try:
            image = load_image(src)
            out = fn(params, args.exp, model, device, image, options)
        except (ImageError, ValueError) as e:
            msg = str(e) if str(e).startswith(str(src)) else f"{src}: {e}"
            done = jobs.index((src, dst))
            raise DataError(f"translate: {msg}" + (f" ({done} of {len(jobs)} written before it)" if done else ""))
        save_any(dst, out)
    where = jobs[0][1] if len(jobs) == 1 else args.output
    print(f"translate: {len(jobs)} image(s) through {checkpoint} -> {where}")
    return 0
