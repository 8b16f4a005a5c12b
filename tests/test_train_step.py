"""train_step and the loop around it: each phase differentiates only what it updates, a step that
does not log makes no host-device sync, and a non-finite loss still stops training by name."""
from __future__ import annotations

import sys

import pytest
import torch
import yaml

from conftest import ROOT
from ganflow.data.tensors import BatchStream
from ganflow.errors import GanflowError, TrainingError
from ganflow.models.base import DataInfo, Phase
from ganflow.models.cyclegan import CycleGAN, CycleGANConfig
from ganflow.models.pix2pix import Pix2Pix, Pix2PixConfig
from ganflow.models.stargan import StarGAN, StarGANConfig
from ganflow import machine
from ganflow.train.device import amp_dtype, amp_note
from ganflow.train.losslog import LossLog, NonFiniteLoss
from ganflow.train.loop import LoopSettings, train
from ganflow.train.step import phase_params, train_step

SIZE = 32


def _pix2pix(**cfg):
    torch.manual_seed(0)
    return Pix2Pix(Pix2PixConfig(ngf=4, ndf=4, **cfg), DataInfo(1, SIZE), 2e-4, (0.5, 0.999))


def _paired(n=4, channels=1):
    g = torch.Generator().manual_seed(0)
    return {"A": torch.rand(n, channels, SIZE, SIZE, generator=g) * 2 - 1,
            "B": torch.rand(n, channels, SIZE, SIZE, generator=g) * 2 - 1}


def _models():
    torch.manual_seed(0)
    star = StarGAN(StarGANConfig(g_conv_dim=4, d_conv_dim=4, g_repeat_num=1, d_repeat_num=3, n_critic=1),
                   DataInfo(1, SIZE, 3), 1e-4, (0.5, 0.999))
    cycle = CycleGAN(CycleGANConfig(ngf=4, ndf=4, n_blocks=1, n_layers_d=2, pool_size=2),
                     DataInfo(3, SIZE), 2e-4, (0.5, 0.999))
    domains = {"image": torch.rand(4, 1, SIZE, SIZE) * 2 - 1, "label": torch.eye(3)[torch.arange(4) % 3]}
    return {"pix2pix": (_pix2pix(), _paired()), "stargan": (star, domains), "cyclegan": (cycle, _paired(channels=3))}


@pytest.mark.parametrize("name", ["pix2pix", "stargan", "cyclegan"])
def test_a_phase_accumulates_gradients_only_into_what_it_updates(name):
    model, batch = _models()[name]
    owner = {id(p): "G" if any(p is q for q in model.G.parameters()) else "D" for p in model.parameters()}
    current, seen = [None], []
    for p in model.parameters():  # fires each time autograd writes into p.grad
        p.register_post_accumulate_grad_hook(lambda p: seen.append((current[0], owner[id(p)])))

    phases = model.phases
    before_d: dict[int, torch.Tensor] = {}  # G's .grad as D's phase starts

    def tagged(step):  # the same phases, each saying while it runs which one it is
        out = []
        for ph in phases(step):
            def loss(b, ph=ph):
                current[0] = ph.name
                if ph.name == "D":
                    before_d.update({id(p): None if p.grad is None else p.grad.clone() for p in model.G.parameters()})
                return ph.loss(b)
            out.append(Phase(ph.name, ph.opt, loss, ph.params))
        return out

    model.phases = tagged
    train_step(model, batch, 0)
    assert {ph for ph, _ in seen} == {"D", "G"}
    assert all(ph == who for ph, who in seen), sorted(set(seen))  # never ("G", "D"): D frozen in G's phase
    assert all(p.grad is not None for p in model.parameters())

    # Step 1, with every .grad set: D's phase leaves G's gradients exactly as it found them.
    d_opt = next(ph.opt for ph in phases(1) if ph.name == "D")
    real_step, checked = d_opt.step, []

    def check_then_step(*a, **k):  # right after D's backward
        checked.append(all(torch.equal(p.grad, before_d[id(p)]) for p in model.G.parameters()))
        return real_step(*a, **k)

    d_opt.step = check_then_step
    seen.clear()
    train_step(model, batch, 1)
    assert checked == [True]
    assert seen and all(ph == who for ph, who in seen)

def test_phase_params_default_to_the_optimisers_and_skip_frozen_weights():
    model = _pix2pix()
    phase = Phase("D", model.opt_D, model.d_loss)
    assert [id(p) for p in phase_params(phase)] == [id(p) for p in model.D.parameters()]
    first = next(model.D.parameters())
    first.requires_grad_(False)  # frozen for good by the user: not differentiated, not an error
    assert all(p is not first for p in phase_params(phase))
    train_step(model, _paired(), 0)
    assert first.grad is None


# -- host syncs --------------------------------------------------------------------------------

SYNCS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy")


def _count_syncs(monkeypatch) -> list[str]:
    """Patch every Tensor method that copies a value to the host; record the calls made by ganflow's
    training code (torch's own CPU bookkeeping, e.g. Adam's step counter, is left out, and so is
    ganflow.data, which draws batches on the host by design)."""
    calls: list[str] = []
    for name in SYNCS:
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, _real=real, _name=name, **k):
            module = sys._getframe(1).f_globals.get("__name__", "")
            if module.startswith(("ganflow.train", "ganflow.models", "ganflow.nn")):
                calls.append(f"{_name} from {module}")
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return calls


def test_a_step_that_does_not_log_makes_no_host_sync(tmp_path, monkeypatch):
    model, data = _pix2pix(), _paired(8)
    calls = _count_syncs(monkeypatch)
    per_step: dict[int, list[str]] = {}

    def snapshot(step):  # called after every step (snapshot_every=1), after its logging
        per_step[step] = list(calls)
        calls.clear()

    s = LoopSettings(steps=6, log_every=3, snapshot_every=1, checkpoint_every=100, device=torch.device("cpu"),
                     amp=False)
    final = train(model, BatchStream(data, 4, seed=1), s, tmp_path / "c.pt", {}, snapshot)
    assert [r["step"] for r in final["losses"]] == [3, 6]
    assert {k: v for k, v in per_step.items() if k % 3} == {1: [], 2: [], 4: [], 5: []}
    assert per_step[3] and per_step[6]  # the logged steps do copy their values (in one transfer)
    assert len(per_step[3]) == 1, per_step[3]


def test_the_counter_sees_a_per_step_float(monkeypatch):
    # The counter itself can fail: a float() of a loss in ganflow.train is counted.
    calls = _count_syncs(monkeypatch)
    terms = train_step(_pix2pix(), _paired(), 0)
    assert calls == []
    exec(compile("float(t)", "<loop>", "eval"), {"__name__": "ganflow.train.loop", "t": terms["G_total"]})
    assert calls == ["__float__ from ganflow.train.loop"]


# -- non-finite losses -------------------------------------------------------------------------


def test_a_non_finite_loss_between_logged_steps_is_caught_and_named():
    log = LossLog(where="; the last good checkpoint is kept at c.pt")
    log.add(0, {"D_total": torch.tensor(0.5)})
    log.add(1, {"D_total": torch.tensor(float("nan")), "G_total": torch.tensor(1.0)})
    log.add(2, {"D_total": torch.tensor(0.5), "G_total": torch.tensor(1.0)})
    with pytest.raises(NonFiniteLoss, match=r"loss D_total became nan at step 1; the last good checkpoint is kept at c.pt"):
        log.check()
    assert issubclass(NonFiniteLoss, TrainingError) and issubclass(NonFiniteLoss, GanflowError)
    log.add(3, {"D_total": torch.tensor(0.25, dtype=torch.bfloat16)})
    assert log.check() == {"D_total": 0.25}


def test_training_stops_on_an_infinite_loss_before_any_checkpoint_holds_it(tmp_path):
    model = _pix2pix(lambda_rec=float("inf"))
    s = LoopSettings(steps=8, log_every=4, snapshot_every=100, checkpoint_every=2, device=torch.device("cpu"),
                     amp=False)
    with pytest.raises(GanflowError, match=r"loss G_total became inf at step 0"):
        train(model, BatchStream(_paired(8), 4, seed=1), s, tmp_path / "c.pt", {}, lambda step: None)
    assert not (tmp_path / "c.pt").exists()  # checked at step 2, before the first checkpoint


# -- mixed precision on CPU --------------------------------------------------------------------


@pytest.mark.parametrize("avx512_bf16,amx_bf16,expected,note", [
    (True, True, torch.bfloat16, None),
    (False, True, torch.bfloat16, None),
    (True, False, None, "avx512_bf16 but no amx_bf16"),
    (False, False, None, "no bf16 instructions"),
])
def test_cpu_amp_is_bf16_only_where_the_cpu_has_amx(monkeypatch, avx512_bf16, amx_bf16, expected, note):
    cpu = torch.device("cpu")
    flags = {"avx512_bf16": avx512_bf16, "amx_bf16": amx_bf16}
    monkeypatch.setattr(machine, "cpu_flags", lambda: flags)
    assert amp_dtype(cpu, True) is expected
    if note is None:
        assert amp_note(cpu, True) is None
    else:
        assert note in amp_note(cpu, True) and "training in fp32" in amp_note(cpu, True)
    assert amp_dtype(cpu, False) is None and amp_note(cpu, False) is None
    # amp: bf16 forces bf16 wherever the CPU has bf16 instructions (AVX-512-BF16 is enough)
    assert amp_dtype(cpu, "bf16") is (torch.bfloat16 if avx512_bf16 or amx_bf16 else None)
    assert (amp_note(cpu, "bf16") is None) == (avx512_bf16 or amx_bf16)


def test_amp_takes_true_false_or_bf16_and_names_the_key_otherwise(tmp_path):
    from ganflow.errors import ParamsError
    from ganflow.params import load_params
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for value in (True, "bf16"):
        raw["train"]["pix2pix"]["amp"] = value
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
        assert load_params(tmp_path / "p.yaml").train["pix2pix"].amp == value
    raw["train"]["pix2pix"]["amp"] = "fp8"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"train\.pix2pix\.amp"):
        load_params(tmp_path / "p.yaml")


def test_train_step_under_bf16_autocast_keeps_fp32_weights():
    # What the loop runs on a bf16 CPU; torch emulates bf16 elsewhere, so this runs (slowly) anywhere.
    model = _pix2pix()
    terms = train_step(model, _paired(), 0, dtype=torch.bfloat16)
    assert all(torch.isfinite(v.float()) for v in terms.values())
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())


def test_every_stage_turns_cudnn_autotuning_off_for_reproducible_kernels(monkeypatch):
    """configure_torch (called first by train, sample and evaluate) leaves cuDNN's benchmark mode
    off even when something switched it on: its timed algorithm choice differs between processes."""
    from ganflow.train.device import configure_torch
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    configure_torch()
    assert torch.backends.cudnn.benchmark is False
