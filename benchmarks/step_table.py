"""The step table of bench_train.py: contenders on the same networks, timed alternately, in one process.

Only the stepping differs between the pix2pix contenders: each builds the same ganflow Pix2Pix
(U-Net generator, 70x70 PatchGAN, batch norm, dropout) from the same seed, and the reference
steps its G and D the way junyanz's pytorch-CycleGAN-and-pix2pix does.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

BIG_BATCH, TINY_BATCH = 1, 16
LR, BETAS, LAMBDA_L1 = 2e-4, (0.5, 0.999), 100.0


class ReferenceStep:
    """junyanz's Pix2PixModel.optimize_parameters (models/pix2pix_model.py), restated from its
    published semantics on ganflow's networks: vanilla GANLoss is BCEWithLogits against a target
    of ones / zeros the prediction's shape, each network has its own Adam, and D is kept out of
    G's backward by switching its requires_grad off (set_requires_grad) after D's step."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module):
        self.G, self.D = G, D
        self.opt_G = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
        self.opt_D = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def gan(self, pred: torch.Tensor, is_real: bool) -> torch.Tensor:
        return self.bce(pred, torch.full_like(pred, 1.0 if is_real else 0.0))

    def set_requires_grad(self, flag: bool) -> None:
        for p in self.D.parameters():
            p.requires_grad = flag

    def __call__(self, batch: dict) -> None:
        real_a, real_b = batch["A"], batch["B"]
        fake_b = self.G(real_a)                                       # forward()
        self.set_requires_grad(True)                                  # update D
        self.opt_D.zero_grad()
        fake_ab = torch.cat((real_a, fake_b), 1)
        loss_d_fake = self.gan(self.D(fake_ab.detach()), False)       # backward_D
        loss_d_real = self.gan(self.D(torch.cat((real_a, real_b), 1)), True)
        (0.5 * (loss_d_fake + loss_d_real)).backward()
        self.opt_D.step()
        self.set_requires_grad(False)                                 # update G
        self.opt_G.zero_grad()
        loss_g_gan = self.gan(self.D(fake_ab), True)                  # backward_G
        loss_g_l1 = F.l1_loss(fake_b, real_b) * LAMBDA_L1
        (loss_g_gan + loss_g_l1).backward()
        self.opt_G.step()


def naive_step(model, batch: dict) -> None:
    """What ganflow's loop did per step before train_step (and what the tests and this benchmark
    copied): a host copy of every term, a backward through every network, the optimiser step."""
    for phase in model.phases(0):
        terms = phase.loss(batch)
        _ = {k: float(v.detach()) for k, v in terms.items()}  # the per-term host sync it made
        phase.opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        phase.opt.step()


def as_before_19(model):
    """``model`` stepped as ganflow's code stood before issue 19: torch's default Adam (on CPU the
    single-tensor loop; ganflow's GAN.adam is now the fused kernel) and, for pix2pix_tiny, the
    decoder as the spec's literal UpSampling -> ZeroPad -> Conv layers (now nn/upconv.py's one
    transposed convolution) with the same weights."""
    from ganflow.nn.upconv import NearestUpConv

    for seq in [m for m in model.modules() if isinstance(m, torch.nn.Sequential)]:
        for i, layer in enumerate(seq):
            if isinstance(layer, NearestUpConv):
                k, before = layer.kernel_size[0], layer.pad_before
                conv = torch.nn.Conv2d(layer.in_channels, layer.out_channels, k, 1, 0, bias=layer.bias is not None)
                conv.load_state_dict(layer.state_dict())
                seq[i] = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2, mode="nearest"),
                                             torch.nn.ZeroPad2d((before, k - 1 - before) * 2), conv)
    model.opt_G = torch.optim.Adam(model.G.parameters(), lr=LR, betas=BETAS)
    model.opt_D = torch.optim.Adam(model.D.parameters(), lr=LR, betas=BETAS)
    return model


def _channels_last(model, batch: dict) -> dict:
    model.to(memory_format=torch.channels_last)
    return {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in batch.items()}


def _contenders(build, batch: dict, reference: bool, bf16: bool) -> dict:
    """{label: zero-argument step}, each on its own copy of the networks (same seed, same init)."""
    from ganflow.train.step import train_step

    out = {}
    if reference:
        m_ref = build()
        ref = ReferenceStep(m_ref.G, m_ref.D)  # its own Adams, made once: their state persists across steps
        out["reference (junyanz)"] = lambda: ref(batch)
    m_naive = as_before_19(build())
    out["naive (loop before #19)"] = lambda: naive_step(m_naive, batch)
    m_fp32 = build()
    out["train_step fp32"] = lambda: train_step(m_fp32, batch, 0)
    m_cl = build()
    batch_cl = _channels_last(m_cl, batch)
    out["train_step channels_last"] = lambda: train_step(m_cl, batch_cl, 0)
    if bf16:
        m_bf = build()
        out["train_step bf16 autocast"] = lambda: train_step(m_bf, batch, 0, dtype=torch.bfloat16)
    return out


def alternate(steps: dict, repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds per step of each contender, one step of each in turn, order rotated per round."""
    names = list(steps)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + repeats):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            steps[n]()
            if r >= warmup:
                times[n].append(time.perf_counter() - t0)
    return {n: statistics.median(t) for n, t in times.items()}


def _table(title: str, secs: dict[str, float], batch: int, base: str) -> list[str]:
    lines = [title, f"  {'contender':<28} {'s/step':>9} {'images/s':>9} {'vs ' + base.split()[0]:>12}"]
    for name, s in secs.items():
        lines.append(f"  {name:<28} {s:9.4f} {batch / s:9.2f} {secs[base] / s:11.2f}x")
    return lines


def run(size: int, repeats: int, threads: int, tiny_size: int) -> str:
    """Both tables, as text."""
    from ganflow.machine import cpu_flags, cpu_has_bf16
    from ganflow.models.base import DataInfo
    from ganflow.models.pix2pix import Pix2Pix, Pix2PixConfig
    from ganflow.models.pix2pix_tiny import Pix2PixTiny, Pix2PixTinyConfig

    torch.set_num_threads(threads)
    bf16 = cpu_has_bf16()
    flags = [f for f, on in cpu_flags().items() if on and ("bf16" in f or "amx" in f)]
    g = torch.Generator().manual_seed(0)
    rand = lambda n, c, s: torch.rand(n, c, s, s, generator=g) * 2 - 1  # noqa: E731
    lines = [f"threads={threads}, median of {repeats} alternated steps (1 warm-up), torch {torch.__version__}, "
             f"cpu capability {torch.backends.cpu.get_cpu_capability()}, bf16/AMX flags: {', '.join(flags) or 'none'}"]

    def big():
        torch.manual_seed(0)
        return Pix2Pix(Pix2PixConfig(ngf=64, ndf=64, n_layers_d=3), DataInfo(3, size), LR, BETAS).train()

    batch = {"A": rand(BIG_BATCH, 3, size), "B": rand(BIG_BATCH, 3, size)}
    secs = alternate(_contenders(big, batch, reference=True, bf16=bf16), repeats)
    lines += _table(f"\npix2pix U-Net-{size} + 70x70 PatchGAN, {size}x{size} RGB, batch {BIG_BATCH}", secs,
                    BIG_BATCH, "reference (junyanz)")

    def tiny():
        torch.manual_seed(0)
        return Pix2PixTiny(Pix2PixTinyConfig(), DataInfo(1, tiny_size), LR, BETAS).train()

    batch = {"A": rand(TINY_BATCH, 1, tiny_size), "B": rand(TINY_BATCH, 1, tiny_size)}
    secs = alternate(_contenders(tiny, batch, reference=False, bf16=bf16), repeats * 4)  # ms steps: more of them
    lines += _table(f"\npix2pix_tiny, {tiny_size}x{tiny_size} grey, batch {TINY_BATCH}", secs, TINY_BATCH,
                    "naive (loop before #19)")
    if not bf16:
        lines.append("\ntrain_step bf16 autocast: skipped: no bf16 on this CPU")
    return "\n".join(lines)
