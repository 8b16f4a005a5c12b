"""generate: new images from an experiment's trained model.

  ganflow generate --exp dcgan -n 64                         64 images from random noise
  ganflow generate --exp cgan -n 20 --class 7                20 sevens (a class name or index)
  ganflow generate --exp text2img -n 8 --caption "a thick seven slanted to the right"
  ganflow generate --exp pix2pix_tiny -n 8                   8 test faces filled (input, output pairs)

Writes OUT/<name>.png for every image and OUT/grid.png with all of them (default OUT:
generated/<exp>/, replaced as a whole by each run; not versioned).  --seed fixes the draw: the
same seed gives the same images.  Models that need an input image draw their inputs from the
data set's test split.  What a task does is its ``generate_images`` hook (stages/tasks/__init__.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from ganflow.errors import UsageError

GENERATED = Path("generated")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp", required=True, help="the experiment in params.yaml whose trained model to use")
    p.add_argument("-n", type=int, default=16, help="how many images (default 16)")
    p.add_argument("--class", dest="cls", default=None, metavar="C",
                   help="class-conditional models: the class, by name or index (default: every class in turn)")
    p.add_argument("--caption", default=None, help="text-to-image models: the caption to draw")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draw (default 0)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default generated/<exp>/)")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))


def main(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from ganflow.atomic import atomic_dir, write_text
    from ganflow.data.images import save_image
    from ganflow.params import load_params
    from ganflow.report.grids import save_grid
    from ganflow.stages.train import load_trained
    from ganflow.stages.translate import hook
    from ganflow.train.device import pick_device

    if args.n < 1:
        raise UsageError(f"generate: -n must be at least 1, got {args.n}")
    params = load_params(args.params)
    params.experiment(args.exp)
    fn = hook(params, args.exp, "generate_images")
    device = pick_device(args.device)
    model, checkpoint = load_trained(params, args.exp, device)
    torch.manual_seed(args.seed)
    options = {"class": args.cls, "caption": args.caption, "seed": args.seed}
    try:
        images = fn(params, args.exp, model, device, args.n, options)
    except ValueError as e:
        raise UsageError(f"generate: {e}") from None
    out = args.out or GENERATED / args.exp
    if args.out is None and not (GENERATED / ".gitignore").exists():
        write_text(GENERATED / ".gitignore", "# ganflow generate's output: not versioned\n*\n")
    with atomic_dir(out) as tmp:
        for name, img in tqdm(images.items(), desc=f"generate {args.exp}", unit="img", dynamic_ncols=True):
            save_image(tmp / f"{name}.png", img)
        # 8 columns (an even number keeps an input beside its output), fewer for a few images
        save_grid(tmp / "grid.png", list(images.values()), ncols=min(8, len(images)), scale=2)
    print(f"generate: {len(images)} image(s) from {checkpoint} -> {out}/ (grid.png shows them all)")
    return 0
