"""Training progress: a readable line every few percent in a log, tqdm frames only on a terminal."""
from __future__ import annotations

import io
import re

import torch

from ganflow.data.tensors import BatchStream
from ganflow.models.base import DataInfo
from ganflow.models.pix2pix import Pix2Pix, Pix2PixConfig
from ganflow.train.loop import LoopSettings, train
from ganflow.train.progress import Progress

TERMS = {"D_total": 0.5, "G_total": 12.25, "G_rec": 0.11}


class FakeClock:
    """A clock the test moves by hand (0.1 s a step: 10 steps per second)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_progress(stream, steps=1500, initial=0, log_every=10) -> str:
    clock = FakeClock()
    p = Progress(steps, initial, "train pix2pix", stream=stream, clock=clock)
    for step in range(initial + 1, steps + 1):
        clock.t += 0.1
        p.update(step, TERMS if step % log_every == 0 else None)
    p.close()
    return stream.getvalue()


def test_a_log_gets_fewer_than_50_plain_lines_for_1500_steps(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    text = run_progress(io.StringIO())
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) < 50
    assert len(lines) == 25  # one every 4% (60 steps), the last one at 1500
    assert lines[0] == ("train pix2pix: step 60/1500 (4%), 10 step/s, elapsed 0:06, ETA 2:24, "
                        "D_total 0.5, G_total 12.25, G_rec 0.11")
    assert lines[-1].startswith("train pix2pix: step 1500/1500 (100%), 10 step/s, elapsed 2:30, ETA 0:00")


def test_rate_and_eta_count_only_the_steps_of_this_run_after_a_resume(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    lines = run_progress(io.StringIO(), steps=1000, initial=600).splitlines()
    # 40 steps after the resume in 4 s: 10 step/s, 360 steps left: 36 s
    assert lines[0].startswith("train pix2pix: step 640/1000 (64%), 10 step/s, elapsed 0:04, ETA 0:36")


def test_a_terminal_gets_the_redrawn_bar(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    text = run_progress(Terminal(), steps=200)
    assert "\r" in text and "200/200" in text
    assert "step 200/200 (100%)" not in text  # not the log lines


def test_quiet_silences_both(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert run_progress(io.StringIO(), steps=100) == ""
    assert run_progress(Terminal(), steps=100) == ""


def test_the_training_loop_writes_the_lines_to_a_non_terminal_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(ngf=8, ndf=8), DataInfo(1, 32), 2e-4, (0.5, 0.999))
    b = torch.rand(8, 1, 32, 32) * 2 - 1
    a = b.clone()
    a[:, :, 20:26, 8:24] = 1.0
    settings = LoopSettings(steps=25, log_every=5, snapshot_every=25, checkpoint_every=25,
                            device=torch.device("cpu"), amp=False)
    train(model, BatchStream({"A": a, "B": b}, batch_size=4, seed=1), settings, tmp_path / "c.pt",
          {"experiment": "tiny"}, lambda step: None)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("train tiny:")]
    assert "\r" not in err
    assert [int(re.search(r"step (\d+)/25", ln).group(1)) for ln in lines] == list(range(1, 26))
    assert "D_total" in lines[-1] and "G_rec" in lines[-1] and "step/s" in lines[-1]


def test_quiet_silences_the_stage_bars_even_when_asked_for(monkeypatch, capsys):
    """--quiet (TQDM_DISABLE) beats a bar a stage asks for with progress=True: tqdm itself reads the
    variable only at import and only as a default, which an explicit disable=False overrode."""
    import numpy as np
    from torch import nn

    from ganflow.metrics.inception import extract_features

    class Flat(nn.Module):
        def forward(self, x):
            return x.flatten(1)

    images = np.random.default_rng(0).random((6, 3, 4, 4), dtype=np.float32)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    extract_features(Flat(), images, batch_size=2, device=torch.device("cpu"), progress=True)
    assert "inception features" not in capsys.readouterr().err
    monkeypatch.delenv("TQDM_DISABLE")
    extract_features(Flat(), images, batch_size=2, device=torch.device("cpu"), progress=True)
    assert "inception features" in capsys.readouterr().err
