"""Verified submissions: a pix2pix_tiny checkpoint beside the CSV regenerates it, end to end through
`ganflow grade` on test_grading's synthetic homework.  The expected outputs are computed here with
the model's own forward pass, not with report/verify.py."""
from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pandas as pd
import torch

from ganflow.models import get_model
from ganflow.models.base import DataInfo
from ganflow.stages import grade
from ganflow.train.checkpoint import save_checkpoint
from test_grading import BOX, SIZE, homework, params_for, whiten, write  # noqa: F401

T, L, B, R = BOX


def tiny_checkpoint(path, steps: int = 3) -> torch.nn.Module:
    """A pix2pix_tiny trained a few steps on noise targets (real weights, not the init), saved as
    `ganflow train` saves it."""
    cls = get_model("pix2pix_tiny")
    torch.manual_seed(0)
    model = cls(cls.Config(), DataInfo(channels=1, image_size=SIZE), 2e-4, (0.5, 0.999))
    opt = torch.optim.Adam(model.G.parameters(), lr=1e-2)
    for _ in range(steps):
        a = torch.rand(4, 1, SIZE, SIZE) * 2 - 1
        loss = (model.G(a) - a.flip(-1)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {"model_name": "pix2pix_tiny", "experiment": "pix2pix_tiny", "model": model.state_dict(),
             "params": {"train": {"net": {}, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "seed": 0}},
             "data_info": {"channels": 1, "image_size": SIZE}, "step": steps}
    save_checkpoint(path, state)
    return model.eval()


def outputs(model, truth) -> np.ndarray:
    masked = np.stack([whiten(t) for t in truth]).astype(np.float32)
    with torch.no_grad():
        raw = ((model.G(torch.from_numpy(masked)[:, None] * 2 - 1).clamp(-1, 1) + 1) / 2)[:, 0].numpy()
    out = masked.copy()
    out[:, T:B, L:R] = raw[:, T:B, L:R]
    return out


class Evil:
    def __reduce__(self):
        return (open, ("pwned.txt", "w"))


def test_a_checkpoint_beside_the_csv_verifies_it(homework):
    root, ids, truth = homework
    subs = root / "subs"
    model = tiny_checkpoint(subs / "honest.pt")
    images = outputs(model, truth)
    write(subs, "honest", images, ids)
    (subs / "other.pt").write_bytes((subs / "honest.pt").read_bytes())
    shifted = images.copy()
    shifted[:, T:B, L:R] = np.clip(shifted[:, T:B, L:R] + 0.05, 0, 1)
    write(subs, "other", shifted, ids)
    buf = io.BytesIO()
    torch.save({"model_name": "pix2pix_tiny", "model": Evil(), "params": {}, "data_info": {}}, buf)
    (subs / "evil.pt").write_bytes(buf.getvalue())
    write(subs, "evil", images, ids)
    (subs / "stray.pt").write_bytes(pickle.dumps({"a": 1}))

    grade.run(params_for({"strong_rmse": 0.05}))
    out = root / "results" / "grading"
    rows = {r["name"]: r for r in pd.read_csv(out / "leaderboard.csv", keep_default_na=False).to_dict("records")}
    assert "verified_generator" in rows["honest"]["findings"]
    record = json.loads((out / "findings" / "honest.json").read_text())
    (v,) = [f for f in record["findings"] if f["code"] == "verified_generator"]
    assert v["evidence"]["max_abs_difference"] <= 1e-5       # 6 written decimals, float32 forward
    (m,) = [f for f in json.loads((out / "findings" / "other.json").read_text())["findings"]
            if f["code"] == "checkpoint_mismatch"]
    assert abs(m["evidence"]["max_abs_difference"] - 0.05) < 1e-3
    # (a network this briefly trained fills the box nearly flat, so the fill checks zero it as well:
    # verification says what made the CSV, not that it is good work)
    assert "checkpoint_refused" in rows["evil"]["findings"] and not (root / "pwned.txt").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert {"name": "stray.pt", "reason": "a checkpoint with no .csv of the same name beside it"} in summary["ignored"]


def test_staff_can_require_a_checkpoint(homework):
    root, ids, truth = homework
    subs = root / "subs"
    model = tiny_checkpoint(subs / "honest.pt")
    write(subs, "honest", outputs(model, truth), ids)
    write(subs, "bare", outputs(model, truth) * 0.999, ids)
    grade.run(params_for({"strong_rmse": 0.05, "require_checkpoint": True}))
    rows = {r["name"]: r for r in pd.read_csv(root / "results" / "grading" / "leaderboard.csv",
                                               keep_default_na=False).to_dict("records")}
    assert (rows["bare"]["status"], rows["bare"]["score"]) == ("zero", 0) and "no_checkpoint" in rows["bare"]["findings"]
    assert "verified_generator" in rows["honest"]["findings"] and "no_checkpoint" not in rows["honest"]["findings"]
