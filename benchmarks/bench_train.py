"""Training step benchmarks: ganflow's train_step against a reference pix2pix step, and every model's throughput.

    python benchmarks/bench_train.py                         # the step table: 128 px, medians of 5, 2 threads
    python benchmarks/bench_train.py --size 256 --repeats 7  # the classic size (issue 19's)
    python benchmarks/bench_train.py --size 64 --repeats 3   # a quick check
    python benchmarks/bench_train.py --models                # the per-model table (below)

The step table (the default) times, in one process, contenders on the same networks, alternating
them step by step (the order rotated every round) so that a change in the machine's load hits all
of them alike; each number is the median of --repeats steps after one warm-up step.
  U-Net-<size> + 70x70 PatchGAN, batch 1, RGB (ganflow's own UNetGenerator and PatchDiscriminator):
    reference        junyanz's Pix2PixModel.optimize_parameters restated here: forward G; D's
                     requires_grad on; backward_D on (fake.detach(), real), 0.5 (fake + real) BCE
                     with logits; optimizer_D.step; D's requires_grad off; backward_G = GAN + 100 L1;
                     optimizer_G.step
    naive            the stepping code ganflow's loop ran before train_step: each phase's loss, a
                     float() of every term, a backward through everything (D's weight gradients
                     computed in G's phase and discarded), the optimiser step
    train_step       ganflow.train.step.train_step, fp32 / channels_last / bf16 CPU autocast (bf16
                     only on a CPU with bf16 instructions: elsewhere torch emulates it, slower)
  pix2pix_tiny at its params.yaml size, batch 16: naive vs train_step (fp32, channels_last).
Ratios: the reference's (or naive's) seconds per step divided by the contender's (> 1: faster).

--models prints ONE table of every model.  Each row runs in a fresh process, so its peak memory (ru_maxrss of that
process: the high-water mark of everything the row allocated, interpreter and torch included)
belongs to that row alone.  Every process first times a large matmul (2048^3, float32, the same
threads): the "peak" the row's fraction is taken against, measured seconds before the row on a
machine whose load may change -- so the fractions compare side by side even when absolute
numbers do not.  FLOPs of a training step are counted by torch's FlopCounterMode (convolutions
and matmuls, forward and backward; elementwise work not counted, so the fraction is a slight
underestimate of the work done).

Rows of --models:
  train <exp>          the experiment's model at its params.yaml size and batch (synthetic
                       batches of the right shape: the data need not be prepared), channels-first
                       and channels_last ("CL") side by side
  train pix2pix-256    the classic pix2pix: U-Net-256 (ngf 64) + 70x70 PatchGAN at 256x256, batch 1,
                       channels-first and channels_last side by side
  sample <exp>         generate() on a batch of params.yaml's sample.batch_size
  fid inception        FIDInceptionV3 features of evaluate.batch_size images at 299x299
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATMUL_N = 2048


def _median_time(fn, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_gflops(steps: int) -> float:
    import torch
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    return 2 * MATMUL_N ** 3 / _median_time(lambda: a @ b, steps) / 1e9


def _synthetic(task: str, info, n: int, z_dim: int | None) -> dict:
    """A batch of the shape each task's training_tensors gives (stages/tasks/*.py)."""
    import torch
    img = lambda: torch.rand(n, info.channels, info.image_size, info.image_size) * 2 - 1  # noqa: E731
    if task in ("inpaint", "paired", "unpaired"):
        batch = {"A": img(), "B": img()}
    elif task == "domains":
        lab = torch.zeros(n, info.n_classes)
        lab[torch.arange(n), torch.randint(0, info.n_classes, (n,))] = 1
        batch = {"image": img(), "label": lab}
    elif task == "labelled":
        batch = {"x": img(), "y": torch.randint(0, info.n_classes, (n,))}
    elif task == "captioned":
        batch = {"x": img(), "text": torch.randn(n, 4, info.text_dim), "y": torch.randint(0, info.n_classes, (n,))}
    else:
        batch = {"x": img()}
    if z_dim:  # a generate() batch: noise, and one caption embedding per image
        batch["z"] = torch.randn(n, z_dim)
        if "text" in batch:
            batch["text"] = batch["text"][:, 0]
    return batch


def _build(exp: str | None, overrides: dict | None = None):
    """(model, task, info, train batch size, sample batch size) of an experiment in params.yaml."""
    from ganflow.models import get_model
    from ganflow.models.base import DataInfo
    from ganflow.params import load_params

    params = load_params(ROOT / "params.yaml")
    e, t = params.experiment(exp), params.train[exp]
    d = params.dataset(e.dataset)
    channels = 3 if e.task in ("unpaired", "paired") else 1  # the offline sets: RGB photos (+ edges), else grey
    n_classes = {"domains": len(t.net.get("domains") or range(10)), "labelled": 10, "captioned": 10}.get(e.task, 0)
    text_dim = params.text_encoder[e.dataset].embed_dim if e.task == "captioned" and e.dataset in params.text_encoder \
        else (64 if e.task == "captioned" else 0)
    net = {**t.net, **(overrides or {}).get("net", {})}
    size = (overrides or {}).get("image_size", d.image_size)
    info = DataInfo(channels=(overrides or {}).get("channels", channels), image_size=size,
                    n_classes=n_classes, text_dim=text_dim)
    cls = get_model(e.model)
    model = cls(cls.Config(**net), info, t.lr, (t.beta1, t.beta2))
    batch = (overrides or {}).get("batch_size", t.batch_size)
    return model, e.task, info, batch, params.sample.batch_size, params.evaluate.batch_size


def _train_step(model, batch):
    from ganflow.train.step import train_step
    train_step(model, batch, 0)  # what the loop runs


def _row(kind: str, exp: str | None, threads: int, steps: int, overrides: dict | None = None,
         channels_last: bool = False) -> dict:
    """One measurement, run in its own process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    peak = _peak_gflops(steps)
    row = {"what": f"{kind} {exp}" if exp else kind, "peak_gflops": peak}
    if kind == "fid":
        from ganflow.metrics.inception import FIDInceptionV3
        from ganflow.params import load_params
        n = load_params(ROOT / "params.yaml").evaluate.batch_size
        net = FIDInceptionV3().eval()
        x = torch.rand(n, 3, 299, 299) * 2 - 1
        with torch.no_grad():
            sec = _median_time(lambda: net.forward_normalized(x), steps)
        row.update(shape=f"{n}x3x299", images_s=n / sec)
    else:
        model, task, info, bs, sample_bs, _ = _build(exp, overrides)
        z_dim = getattr(model.cfg, "z_dim", None)
        if kind == "train":
            batch = _synthetic(task, info, bs, None)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                batch = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                         for k, v in batch.items()}
            model.train()
            try:
                with FlopCounterMode(display=False) as fc:
                    _train_step(model, batch)
                flops = fc.get_total_flops()
            except RuntimeError:  # the counter cannot follow autograd.grad (WGAN-GP's gradient penalty)
                flops = None
            sec = _median_time(lambda: _train_step(model, batch), steps)
            row.update(shape=f"{bs}x{info.channels}x{info.image_size}" + (" CL" if channels_last else ""),
                       images_s=bs / sec, ms_step=sec * 1e3)
            if flops:
                row.update(gflops=flops / sec / 1e9, of_peak=flops / sec / 1e9 / peak)
        else:
            batch = _synthetic(task, info, sample_bs, z_dim)
            model.eval()
            sec = _median_time(lambda: model.generate(batch), steps)
            row.update(shape=f"{sample_bs}x{info.channels}x{info.image_size}", images_s=sample_bs / sec)
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per row (median)")
    ap.add_argument("--only", default="", help="--models: comma-separated experiments (default: one per model)")
    ap.add_argument("--models", action="store_true", help="the per-model throughput table instead of the step table")
    ap.add_argument("--size", type=int, default=128, help="step table: image size of the U-Net pix2pix (256: the classic)")
    ap.add_argument("--repeats", type=int, default=5, help="step table: timed steps per contender (median)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    if not args.models:
        import step_table  # benchmarks/step_table.py, beside this script
        from ganflow.params import load_params
        p = load_params(ROOT / "params.yaml")
        tiny_size = p.dataset(p.experiment("pix2pix_tiny").dataset).image_size
        print(step_table.run(args.size, args.repeats, args.threads, tiny_size))
        return 0
    from ganflow.params import load_params
    params = load_params(ROOT / "params.yaml")
    exps, seen = [], set()
    for name, e in params.experiments.items():  # the first experiment of each registered model
        if e.model not in seen and (not args.only or name in args.only.split(",")):
            exps.append(name)
            seen.add(e.model)
    big = {"image_size": 256, "batch_size": 1, "channels": 3, "net": {"ngf": 64, "ndf": 64, "n_layers_d": 3}}
    # Each training row twice, channels-first then channels_last (train.<exp>.channels_last), side by side.
    jobs = [("train", x, {"channels_last": cl}) for x in exps for cl in (False, True)]
    if not args.only or "pix2pix" in args.only:
        jobs += [("train", "pix2pix", {"overrides": big}), ("train", "pix2pix", {"overrides": big, "channels_last": True})]
    jobs += [("sample", x, {}) for x in exps] + [("fid", None, {})]

    rows = []
    ctx = mp.get_context("spawn")
    from tqdm.auto import tqdm
    for kind, exp, kw in tqdm(jobs, desc="bench", unit="row"):
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:  # fresh process: own peak memory
            try:
                row = pool.submit(_row, kind, exp, args.threads, args.steps, **kw).result()
            except Exception as e:  # one broken row must not cost the others
                row = {"what": f"{kind} {exp or ''}", "shape": f"FAILED {type(e).__name__}", "peak_gflops": 0.0,
                       "peak_mb": 0.0}
                print(f"bench: {kind} {exp}: {type(e).__name__}: {e}", file=sys.stderr)
        if kw.get("overrides"):
            row["what"] = "train pix2pix-256"
        rows.append(row)

    head = f"{'what':<24} {'batch':>14} {'images/s':>9} {'ms/step':>8} {'GFLOP/s':>8} {'of peak':>7} {'peak GFLOP/s':>12} {'peak MB':>8}"
    print(f"\nthreads={args.threads}, timed steps={args.steps} (medians); peak = {MATMUL_N}^3 fp32 matmul in each row's process")
    print(head)
    print("-" * len(head))
    for r in rows:
        f = lambda k, fmt: format(r[k], fmt) if k in r else "-"  # noqa: E731
        print(f"{r['what']:<24} {r['shape']:>14} {f('images_s', '9.1f')} {f('ms_step', '8.1f')} {f('gflops', '8.1f')} "
              f"{f('of_peak', '7.2f')} {r['peak_gflops']:12.1f} {r['peak_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
