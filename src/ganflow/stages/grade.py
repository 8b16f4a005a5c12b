"""grade: score every submission CSV in a folder against the answer key -> results/grading/.

results/grading/
  leaderboard.csv      rank, name, rmse, score, status, findings (one row per submission file)
  leaderboard.md       the same as a table, the three anchors and where they came from, every finding
  scores.png           a bar chart of the scores
  summary.json         the anchors and counts (a DVC metric)
  findings/<name>.json one file per submission: its file hash, RMSE, score, status and findings

Inputs: params `grading` (folder, data set, limits, tolerances), data/grading/<dataset>/ (from
`ganflow answer_key`), and the strong baseline's results/<strong_experiment>/rmse.json unless
grading.strong_rmse is given.  A submission is a ``*.csv`` file, named by its file name without
``.csv`` (the full name when two differ only in case or Unicode form); ``<name>.pt`` beside it is
a checkpoint that verifies it (report/verify.py).  Every other entry of the folder (README, hidden
files, links that are not .csv, stray checkpoints) is listed as ignored, with the reason
(report/submission_folder.py).  A failure on one submission is a finding on it, never a stop.
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ganflow.atomic import atomic_dir, atomic_path, write_json, write_text
from ganflow.errors import GradingError, MissingInputError
from ganflow.params import Params
from ganflow.report.grading import Checks, grade, leaderboard, leaderboard_markdown, score_chart
from ganflow.report.submission import ERROR, Finding, Layout, Parsed, read_submission
from ganflow.report.submission_folder import display_name, scan
from ganflow.report.verify import verify
from ganflow.stages import paths
from ganflow.stages.answer_key import BOX_COLUMNS, key_dir

def out_dir():
    return paths.RESULTS / "grading"


def _strong(params: Params, key: dict) -> tuple[float, str]:
    g = params.grading
    if g.strong_rmse is not None:
        return float(g.strong_rmse), "given in params (grading.strong_rmse)"
    f = paths.metric_file(g.strong_experiment, "rmse")
    if not f.exists():
        raise MissingInputError(f"grade: {f} not found: run `ganflow evaluate --exp {g.strong_experiment}` "
                         f"or give grading.strong_rmse")
    m = json.loads(f.read_text())
    value = m.get("value")
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise GradingError(f"grade: {f}: 'value' must be a positive number, got {value!r}")
    # The strong baseline must have been measured on the very test set being graded.
    n = len(key["layout"]["ids"])
    if m.get("dataset") != key["dataset"] or m.get("n_real", n) != n:
        raise GradingError(f"grade: {f} was measured on {m.get('dataset')!r} ({m.get('n_real')} images), "
                         f"not on {key['dataset']!r} ({n} images)")
    if m.get("reference_sha256") not in (None, key["reference_sha256"]):
        raise GradingError(f"grade: {f} was measured against another version of the test set "
                         f"(reference_sha256 differs from {key_dir(key['dataset']) / 'key.json'}); rerun its evaluate")
    return float(value), f"{f} (value)"


def _read_key(folder, name: str, layout: Layout) -> np.ndarray:
    parsed = read_submission(folder / name, layout, max_bytes=1 << 40, follow_links=True)
    if not parsed.ok:
        raise GradingError(f"grade: {folder / name} does not match its own layout: "
                         f"{[f.message for f in parsed.findings if f.severity == ERROR]}")
    return parsed.images.astype(np.float64)


def _fills(kdir) -> tuple[dict[str, np.ndarray] | None, np.ndarray | None]:
    """The no-learning fills answer_key computed, and the training faces (None for an older key)."""
    f = kdir / "fills.npz"
    if not f.exists():
        print(f"grade: {f} not found (an answer key from before fills were computed): the fill checks are off; "
              "rerun `ganflow answer_key`", file=sys.stderr)
        return None, None
    with np.load(f, allow_pickle=False) as stored:  # data only, never pickles
        fills = {k: stored[k].astype(np.float64) for k in stored.files if k != "training_real"}
        train = stored["training_real"].astype(np.float64) / 255.0
    return fills, train


def run(params: Params) -> None:
    g = params.grading
    kdir = key_dir(g.dataset)
    if not (kdir / "key.json").exists():
        raise MissingInputError(f"grade: {kdir / 'key.json'} not found; run `ganflow answer_key --dataset {g.dataset}`")
    key_meta = json.loads((kdir / "key.json").read_text())
    layout = Layout.from_dict(key_meta["layout"])
    key = _read_key(kdir, "answer_key.csv", layout)
    masked = _read_key(kdir, "masked_inputs.csv", layout)
    boxes_frame = pd.read_csv(kdir / "boxes.csv").set_index("id")
    boxes = [tuple(int(v) for v in boxes_frame.loc[i, BOX_COLUMNS]) for i in layout.ids]
    strong, strong_source = _strong(params, key_meta)

    folder = scan(g.submissions_dir)
    ignored = [{"name": i.name, "reason": i.reason} for i in folder.ignored]
    max_bytes = int(g.max_file_mb * 2 ** 20)
    parsed: dict[str, Parsed] = {}
    meta: dict[str, dict] = {}
    outs: dict[str, str] = {}
    for entry in tqdm(folder.entries, desc="grade: reading", unit="file", dynamic_ncols=True):
        name = entry.name
        outs[name] = entry.out
        meta[name] = {"file": display_name(str(entry.path))}
        if any(f.severity == ERROR for f in entry.findings):
            parsed[name] = Parsed(None, list(entry.findings))   # a link or a folder: never opened
            continue
        try:
            p = read_submission(entry.path, layout, max_bytes)
            parsed[name] = Parsed(p.images, list(entry.findings) + p.findings)
            meta[name].update(p.file)
        except Exception as e:  # one bad file never stops the others; say what happened
            print(f"grade: {display_name(str(entry.path))}: {e.__class__.__name__}: {e}", file=sys.stderr)
            parsed[name] = Parsed(None, list(entry.findings) + [
                Finding("unreadable", ERROR, "file", f"could not be read: {e.__class__.__name__}: {e}")])

    # Checkpoints handed in beside a CSV regenerate it on the grader's own masked inputs.
    for entry in folder.entries:
        p = parsed[entry.name]
        if p.ok and (entry.checkpoint is not None or g.require_checkpoint):
            p.findings.extend(verify(entry.checkpoint, p.images, masked, boxes, g.checkpoint_tol,
                                     g.require_checkpoint, max_bytes))
            if entry.checkpoint is not None:
                meta[entry.name]["checkpoint"] = display_name(entry.checkpoint.name)

    checks = Checks(g.identical_tol, g.constant_std, g.noise_factor, g.fill_tol, g.masked_tol, g.fill_share,
                    g.key_tol, g.twin_tol)
    fills, train = _fills(kdir)
    try:
        results, anchors = grade(parsed, key, masked, boxes, list(layout.ids), key_meta["mouth_reference"], checks,
                                 strong, {"strong": strong_source}, g.best_rmse, fills, train)
    except ValueError as e:
        raise GradingError(f"grade: {e}") from None

    title = (f"Leaderboard: {g.dataset}, {len(layout.ids)} test images of "
             f"{layout.height} x {layout.width}{' x 3' if layout.channels == 3 else ''}")
    anchors_json = {"baseline": anchors.baseline, "strong": anchors.strong, "best": anchors.best,
                    "sources": anchors.sources}
    out = out_dir()
    with atomic_dir(out / "findings") as tmp:
        for r in results:
            write_json(tmp / f"{outs[r.name]}.json", {
                "name": r.name, **meta[r.name], "status": r.status, "rmse": r.rmse, "score": r.score,
                "findings": [f.to_dict() for f in r.findings], "anchors": anchors_json, "findings_file": f"{outs[r.name]}.json",
                "checks": checks.__dict__, "dataset": g.dataset})
    with atomic_path(out / "leaderboard.csv") as tmp:
        leaderboard(results).to_csv(tmp, index=False)
    write_text(out / "leaderboard.md", leaderboard_markdown(results, anchors, title, ignored))
    score_chart(results, anchors, title, out / "scores.png")
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "review", "zero", "invalid")}
    write_json(out / "summary.json", {"dataset": g.dataset, "submissions": len(results), **counts,
                                      "anchors": anchors_json, "ignored": ignored})
    print(f"grade: {len(results)} submissions ({counts}); baseline {anchors.baseline:.5f}, strong {anchors.strong:.5f}, "
          f"best {anchors.best:.5f} -> {out}")
