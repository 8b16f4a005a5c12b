"""One experiment at a glance: what was trained on what, for how long, the numbers, the pictures,
and the command that reproduces it -- as Markdown (summary.md, pictures linked) and as one
self-contained HTML page (summary.html, pictures embedded; the page the Snakemake report shows).

Library code: the caller (stages/summary.py) gathers the files; nothing here knows the
project's paths.  Every metric file is read the same way, whatever made it:

  value      the headline number (or a dict of named numbers, e.g. one per direction)
  std        shown as value +- std where present
  numbers    every other top-level number (baselines such as ``masked_input``), and nested
             ``{"value": x}`` records (``train_images_vs_test``), shown beside the value
  provenance how the number was made: image counts, method / extractor, reference set and its
             hash, weights, checkpoint, code version, seed
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from ganflow.report.headline import _is_number, headline, interval_for  # noqa: F401 (headline: re-exported)
from ganflow.report.plots import final_losses

# Numbers that describe how a metric was computed rather than a result: provenance, not "beside".
SETTINGS = {"n", "n_real", "n_fake", "seed", "metric_seed", "subsets", "subset_size", "splits", "k", "std",
            "value", "n_averaged", "is_splits"}
METHOD_KEYS = ("definition", "feature_extractor", "estimator", "method", "classifier", "distance")
# Known pictures, in reading order, with what they show; others follow alphabetically.
PICTURE_NOTES = {
    "losses": ("Loss curves against training steps",
               "Every term of D (top) and G, one panel each; faint: raw, solid: smoothed. Healthy training: "
               "both keep moving against each other; a D loss near 0 means D wins outright."),
    "losses_wall_time": ("Loss curves against wall time", "The same terms against seconds of training."),
    "snapshots": ("Sample grids over training time",
                  "The same fixed inputs through training, one row per snapshot (labelled with its step), oldest on "
                  "top; for a translator each row shows the inputs above the outputs."),
    "progress": ("Sample grids over training time", "The same noise through training, one row per snapshot."),
    "test_samples": ("Test samples", "Held-out inputs with what the model made of them (and the truth, where known)."),
    "samples": ("Samples", "Generated images."),
    "class_grid": ("Class x noise", "One class per row, one noise vector per column."),
    "interpolation": ("Interpolation", "Between two latent vectors, left to right."),
    "arithmetic": ("Latent arithmetic", "Averaged latent vectors added and subtracted."),
    "memorisation": ("Memorisation check", "Generated images beside their nearest training images, closest first."),
    "mask_grid": ("Masking grid", "Original faces beside the same faces with the mouth box painted white "
                                  "(the mask stage's output: the model's inputs)."),
}


@dataclass
class Picture:
    path: Path
    title: str
    note: str
    group: str  # "training", "results", "data"


@dataclass
class Summary:
    exp: str
    run: dict                           # results/<exp>/model/run.json
    metrics: dict[str, dict]            # metric file stem -> its JSON
    losses: pd.DataFrame
    pictures: list[Picture]
    commands: list[tuple[str, str]]     # (command, what it does)
    params: dict = field(default_factory=dict)   # the params sections the run used


# -- reading metric files ------------------------------------------------------------------------


def beside(record: dict) -> dict[str, float]:
    """The other numbers of a metric file worth reading next to its value (baselines, ratios)."""
    out = {}
    for k, v in record.items():
        if k in SETTINGS:
            continue
        if _is_number(v):
            out[k] = float(v)
        elif isinstance(v, dict) and _is_number(v.get("value")) and k not in ("reference", "generated"):
            out[k] = float(v["value"])
        elif isinstance(v, dict) and k not in ("reference", "generated", "code", "preprocessing", "value") and \
                v and all(_is_number(x) for x in v.values()) and len(v) <= 12:
            out.update({f"{k}.{kk}": float(x) for kk, x in v.items()})
    return out


def provenance(record: dict) -> dict[str, str]:
    """How a metric's number was made, as short strings (hashes cut to 12 characters)."""
    def short(h) -> str:
        return str(h)[:12] if h else ""

    out: dict[str, str] = {}
    if "n_fake" in record or "n_real" in record:
        out["images"] = f"{record.get('n_fake', '?')} generated vs {record.get('n_real', '?')} real"
    elif "n" in record:
        out["images"] = str(record["n"])
    for k in METHOD_KEYS:
        if isinstance(record.get(k), str):
            out["method"] = record[k]
            break
    ref = record.get("reference_set") or (record.get("reference") or {}).get("set")
    ref_hash = record.get("reference_sha256") or record.get("reference_images_sha256")
    if ref:
        out["reference"] = f"{ref}" + (f" (sha256 {short(ref_hash)})" if ref_hash else "")
    if record.get("weights_sha256"):
        out["weights"] = f"sha256 {short(record['weights_sha256'])}"
    if record.get("checkpoint_sha256"):
        out["checkpoint"] = f"sha256 {short(record['checkpoint_sha256'])}"
    code = record.get("code")
    if isinstance(code, dict) and code.get("git_commit"):
        out["code"] = short(code["git_commit"]) + (" (uncommitted changes)" if code.get("git_dirty") else "")
    for k in ("seed", "metric_seed"):
        if k in record:
            out[k.replace("_", " ")] = str(record[k])
    return out


def fmt(v: float) -> str:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def with_interval(value: float, interval: dict | None) -> str:
    """``value [low, high]`` where the file holds its bootstrap interval, else the value alone."""
    return fmt(value) + (f" [{fmt(float(interval['low']))}, {fmt(float(interval['high']))}]" if interval else "")


def headline_table(metrics: dict[str, dict]) -> list[dict]:
    """One row per headline number: metric, value [interval] (+- std), the numbers beside it
    (each with its interval where the file has one), its file."""
    rows = []
    for stem, record in metrics.items():
        std = record.get("std")
        for label, value in headline(record).items():
            text = with_interval(value, interval_for(record, label)) + (
                f" ± {fmt(float(std))}" if _is_number(std) else "")
            rows.append({"metric": label, "value": text, "number": value,
                         "beside": ", ".join(f"{k} {with_interval(v, interval_for(record, k))}"
                                             for k, v in beside(record).items()),
                         "file": f"{stem}.json"})
    return rows


# -- training facts ------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown time"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min" if hours else f"{m} min {s:02d} s"


def training_facts(run: dict) -> list[tuple[str, str]]:
    """(label, text) rows: model, data, length, hardware, size, code."""
    train = (run.get("params") or {}).get("train") or {}
    data = run.get("data") or {}
    n_params = run.get("n_parameters") or {}
    code = run.get("code") or {}
    packages = run.get("packages") or {}
    steps = run.get("steps", train.get("steps"))
    rows = [
        ("model", f"{run.get('model', '?')} (task {run.get('task', '?')})"),
        ("trained on", f"dataset {run.get('dataset', '?')}: {data.get('path', '?')}"
                       + (f" (content sha256 {str(data['sha256'])[:12]})" if data.get("sha256") else "")),
        ("length", f"{steps} steps of batch {train.get('batch_size', '?')} in {duration(run.get('wall_time_s'))}"
                   + (f" ({float(run['wall_time_s']) / steps:.3f} s/step)" if run.get("wall_time_s") and steps else "")),
        ("optimiser", f"Adam lr {train.get('lr', '?')}, betas ({train.get('beta1', '?')}, {train.get('beta2', '?')}), "
                      f"seed {run.get('seed', train.get('seed', '?'))}"),
        ("device", f"{run.get('device', '?')}" + (", deterministic" if run.get("deterministic") else "")
                   + (f"; torch {packages['torch']}" if packages.get("torch") else "")),
        ("parameters", ", ".join(f"{k} {v:,}" for k, v in n_params.items()) or "?"),
        ("code", f"ganflow {code.get('ganflow', '?')}, git {str(code.get('git_commit') or 'unknown')[:12]}"
                 + (" (uncommitted changes)" if code.get("git_dirty") else "")),
    ]
    return rows


# -- pictures ------------------------------------------------------------------------------------


def picture(path: Path, group: str) -> Picture:
    title, note = PICTURE_NOTES.get(path.stem, (path.stem.replace("_", " ").capitalize(), ""))
    return Picture(Path(path), title, note, group)


def order_pictures(paths: list[Path], group: str) -> list[Picture]:
    known = list(PICTURE_NOTES)
    ranked = sorted(paths, key=lambda p: (known.index(p.stem) if p.stem in known else len(known), p.name))
    return [picture(p, group) for p in ranked]


# -- rendering -----------------------------------------------------------------------------------


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out


def title_line(s: Summary) -> str:
    return f"{s.exp}: {s.run.get('model', '?')} on {s.run.get('dataset', '?')} ({s.run.get('task', '?')})"


def render_markdown(s: Summary, out_file: Path) -> str:
    """summary.md; picture links are relative to ``out_file``'s folder, so the file reads on
    GitHub, in an editor preview or from a copy of the results folder alike."""
    base = Path(out_file).parent
    lines = [f"# {title_line(s)}", "", "## What was trained", ""]
    lines += md_table(["", ""], [[k, v] for k, v in training_facts(s.run)])
    lines += ["", "## The numbers", ""]
    table = headline_table(s.metrics)
    if table:
        lines += md_table(["metric", "value", "beside it", "file"],
                           [[r["metric"], r["value"], r["beside"], f"[{r['file']}]({r['file']})"] for r in table])
        lines += ["", "How each number was made:", ""]
        keys = ["images", "method", "reference", "weights", "checkpoint", "code", "seed"]
        lines += md_table(["metric"] + keys, [[stem] + [provenance(rec).get(k, "") for k in keys]
                                               for stem, rec in s.metrics.items()])
    else:
        lines += ["No metric files yet: run `ganflow evaluate --exp " + s.exp + "`."]
    final = final_losses(s.losses) if len(s.losses) else {}
    if final:
        lines += ["", "Losses at the end of training (smoothed):", ""]
        lines += md_table(list(final), [[fmt(v) for v in final.values()]])
    for group, heading in (("training", "Training"), ("results", "Results"), ("data", "Data")):
        pics = [p for p in s.pictures if p.group == group]
        if not pics:
            continue
        lines += ["", f"## {heading}", ""]
        for p in pics:
            rel = Path(os.path.relpath(p.path, base)).as_posix()
            lines += [f"### {p.title}", ""] + ([p.note, ""] if p.note else []) + [f"![{p.title}]({rel})", ""]
    lines += ["", "## Reproduce", "", "```sh"]
    width = max(len(c) for c, _ in s.commands)
    lines += [f"{c:<{width}}  # {what}" for c, what in s.commands]
    lines += ["```"]
    if s.params:
        lines += ["", "with these params (params.yaml):", "", "```yaml",
                  yaml.safe_dump(s.params, sort_keys=False).rstrip(), "```"]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;
     color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.5em;border-bottom:2px solid #ddd;padding-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em}
h3{font-size:1em;margin-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em;
     text-align:left;vertical-align:top} th{background:#f3f3f3} td.num{font-family:monospace;white-space:nowrap}
img{max-width:100%;border:1px solid #ddd;image-rendering:pixelated} p.note{color:#555;margin:.2em 0 .5em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em} details{margin:.3em 0}
"""


def _img_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _html_table(header: list[str] | None, rows: list[list[str]], num_cols: tuple[int, ...] = ()) -> str:
    """A table; header None: a key/value table, keys in bold, no header row."""
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(
        f"<th>{e(str(c))}</th>" if header is None and i == 0 else f"<td{' class=num' if i in num_cols else ''}>"
        f"{e(str(c))}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def render_html(s: Summary) -> str:
    """summary.html: the same content as summary.md in one file, pictures embedded, each metric
    file's full JSON one click away."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title_line(s))}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title_line(s))}</h1>", "<h2>What was trained</h2>",
             _html_table(None, [[k, v] for k, v in training_facts(s.run)])]
    parts.append("<h2>The numbers</h2>")
    table = headline_table(s.metrics)
    if table:
        parts.append(_html_table(["metric", "value", "beside it", "file"],
                                 [[r["metric"], r["value"], r["beside"], r["file"]] for r in table], num_cols=(1,)))
        keys = ["images", "method", "reference", "weights", "checkpoint", "code", "seed"]
        parts.append("<p>How each number was made:</p>")
        parts.append(_html_table(["metric"] + keys, [[stem] + [provenance(rec).get(k, "") for k in keys]
                                                     for stem, rec in s.metrics.items()]))
        for stem, rec in s.metrics.items():
            parts.append(f"<details><summary>{e(stem)}.json (everything it records)</summary>"
                         f"<pre>{e(json.dumps(rec, indent=2, default=str))}</pre></details>")
    else:
        parts.append(f"<p>No metric files yet: run <code>ganflow evaluate --exp {e(s.exp)}</code>.</p>")
    final = final_losses(s.losses) if len(s.losses) else {}
    if final:
        parts.append("<p>Losses at the end of training (smoothed):</p>")
        parts.append(_html_table(list(final), [[fmt(v) for v in final.values()]], num_cols=tuple(range(len(final)))))
    for group, heading in (("training", "Training"), ("results", "Results"), ("data", "Data")):
        pics = [p for p in s.pictures if p.group == group]
        if not pics:
            continue
        parts.append(f"<h2>{heading}</h2>")
        for p in pics:
            parts.append(f"<h3>{e(p.title)}</h3>" + (f"<p class=note>{e(p.note)}</p>" if p.note else "")
                         + f"<img alt='{e(p.title)}' src='{_img_uri(p.path)}'>")
    parts.append("<h2>Reproduce</h2><pre>" + "\n".join(f"{e(c)}    # {e(w)}" for c, w in s.commands) + "</pre>")
    if s.params:
        parts.append("<p>with these params (params.yaml):</p><pre>"
                     + e(yaml.safe_dump(s.params, sort_keys=False)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
