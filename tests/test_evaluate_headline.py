"""evaluate's metrics.json (what DVC shows) and inpainting's classical baseline."""
from __future__ import annotations

import json
import types

import numpy as np

from ganflow.atomic import write_json
from ganflow.stages import evaluate, paths
from ganflow.stages.tasks.inpaint import biharmonic_fill


def test_metrics_json_holds_the_headline_of_each_record_this_run_wrote(in_tmp, monkeypatch):
    exp = "toy"
    paths.exp_dir(exp).mkdir(parents=True)
    # left by an earlier configuration: evaluate does not write it any more, so DVC must not show it
    write_json(paths.metric_file(exp, "classifier"), {"metric": "classifier", "value": 0.9})
    write_json(paths.metric_file(exp, "rmse"), {"metric": "rmse", "value": 0.5})  # rewritten below

    def fake_evaluate(params, name):
        write_json(paths.metric_file(name, "rmse"), {"metric": "rmse", "value": 0.04, "masked_input": 0.19})
        write_json(paths.metric_file(name, "fid"), {"metric": "fid", "value": {"A2B": 80.0, "B2A": 90.0}})
        write_json(paths.exp_dir(name) / "notes.json", {"not": "a metric record"})

    monkeypatch.setattr(evaluate, "task_for", lambda params, name: types.SimpleNamespace(evaluate=fake_evaluate))
    evaluate.run(None, exp)
    assert json.loads(paths.metric_file(exp, "metrics").read_text()) == {
        "fid.A2B": 80.0, "fid.B2A": 90.0, "rmse": 0.04}


def test_biharmonic_fill_restores_a_linear_ramp_exactly():
    # biharmonic interpolation reproduces any linear function from its border: a known answer
    y, x = np.mgrid[0:32, 0:32] / 31
    ramp = 0.2 + 0.5 * x + 0.2 * y
    mask = np.zeros((32, 32), bool)
    mask[18:26, 6:22] = True
    holed = np.where(mask, 1.0, ramp)
    np.testing.assert_allclose(biharmonic_fill(holed[None], mask[None])[0], ramp, atol=1e-6)
    colour = np.stack([holed, 1 - holed, holed], axis=-1)[None]
    truth = np.stack([ramp, 1 - ramp, ramp], axis=-1)
    truth_holed = np.where(mask[..., None], colour[0], truth)
    np.testing.assert_allclose(biharmonic_fill(truth_holed[None], mask[None])[0], truth, atol=1e-6)
