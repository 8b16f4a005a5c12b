"""tables: the README's measured-number tables, printed from the files the pipeline wrote.

``ganflow tables`` reads results/<exp>/ for every experiment of params.yaml (and any other folder
under results/ that holds a run): the metric files (rmse.json, fid.json, kid.json, box_kid.json,
classifier.json, domain_accuracy.json), seeds.json where ``ganflow seeds`` made one, and
model/run.json, and prints Markdown tables, one per task and data set:

* each headline number as ``value [low, high]``: its 95% bootstrap interval as the metric file
  records it (metrics/bootstrap.py), FID and KID with the n they were computed at;
* the no-learning baselines the evaluate stage wrote beside it, as rows of the same table;
* ``mean ± std (K seeds)`` of the headline number where results/<exp>/seeds.json exists;
* under each table, the machine each run was made on (run.json ``numerics``: CPU model, ISA
  level, torch threads, torch version), since the last digits depend on it (machine.py).

An experiment without results prints "not run" in its row, so the tables can be printed at any
point; a file that is there but is not a JSON object is a StatsError naming the file.  Nothing is
computed here: every number is one a stage wrote, so the README's tables are a copy of this output.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ganflow.errors import StatsError
from ganflow.report.headline import interval_for

NOT_RUN = "not run"
METRIC_FILES = ("rmse", "fid", "kid", "box_kid", "classifier", "domain_accuracy", "precision_recall",
                "label_preservation")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="the results folder to read (default: results)")
    p.add_argument("--params", default="params.yaml",
                   help="params file naming the experiments to list (default: params.yaml; without it, the "
                        "experiments found under --results)")
    p.add_argument("--exp", action="append", default=None, help="only this experiment (repeatable)")


def main(args) -> int:
    print(render(Path(args.results), experiments_of(Path(args.params), Path(args.results), args.exp)), end="")
    return 0


# -- reading ---------------------------------------------------------------------------------------


def read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None when the file is absent; StatsError naming it when broken."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StatsError(f"{path}: not valid JSON ({e}); rerun the stage that writes it") from None
    if not isinstance(doc, dict):
        raise StatsError(f"{path}: expected a JSON object, found {type(doc).__name__}; rerun the stage that writes it")
    return doc


@dataclass
class Run:
    """What results/<exp>/ holds: its run record, metric files (by stem) and seed spread."""

    exp: str
    task: str | None
    dataset: str | None
    run: dict | None = None
    metrics: dict[str, dict] = field(default_factory=dict)
    seeds: dict | None = None

    @property
    def done(self) -> bool:
        return bool(self.metrics)


def load_run(results: Path, exp: str, task: str | None = None, dataset: str | None = None) -> Run:
    folder = results / exp
    run = read_json(folder / "model" / "run.json")
    metrics = {stem: doc for stem in METRIC_FILES if (doc := read_json(folder / f"{stem}.json")) is not None}
    seeds = read_json(folder / "seeds.json")
    return Run(exp, task or (run or {}).get("task"), dataset or (run or {}).get("dataset"), run, metrics, seeds)


def experiments_of(params_file: Path, results: Path, only: list[str] | None) -> dict[str, tuple[str | None, str | None]]:
    """{experiment: (task, dataset)}: params.yaml's experiments, then other runs under ``results``."""
    found: dict[str, tuple[str | None, str | None]] = {}
    if params_file.is_file():
        from ganflow.params import load_params

        params = load_params(params_file)
        for name in params.experiments:
            e = params.experiment(name)
            found[name] = (e.task, e.dataset)
    if results.is_dir():
        for folder in sorted(p for p in results.iterdir() if (p / "model" / "run.json").is_file()):
            found.setdefault(folder.name, (None, None))
    if only:
        found = {k: found.get(k, (None, None)) for k in only}
    return found


# -- formatting ------------------------------------------------------------------------------------


def num(v, digits: int = 4) -> str:
    """A number to ``digits`` significant digits (thousands kept whole); "" for None."""
    if v is None:
        return ""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}" if v != 0 else "0"


def with_interval(v, interval: dict | None, digits: int = 4) -> str:
    """``value [low, high]`` to ``digits`` significant digits."""
    if v is None:
        return ""
    return num(v, digits) + (f" [{num(interval['low'], digits)}, {num(interval['high'], digits)}]" if interval else "")


def rmse_text(v, interval: dict | None = None) -> str:
    """RMSE as the README lists it: 5 decimals, its interval's ends 4 (their own spread is wider)."""
    if v is None:
        return ""
    return f"{float(v):.5f}" + (f" [{float(interval['low']):.4f}, {float(interval['high']):.4f}]" if interval else "")


def ratio(v) -> str:
    """A ratio to the masked input, to 3 decimals as the README lists them."""
    return "" if v is None else f"{float(v):.3f}"


def seed_spread(r: Run, key: str, digits: int = 4) -> str:
    """``mean ± std (K seeds)`` of seeds.json's "<file>.json:<key>", or "" without one."""
    if not r.seeds:
        return ""
    s = (r.seeds.get("metrics") or {}).get(key)
    if not isinstance(s, dict) or "mean" not in s:
        return ""
    return f"{num(s['mean'], digits)} ± {num(s.get('std', 0.0), 2)} ({r.seeds.get('k', len(s.get('values', [])))} seeds)"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


def machine_line(r: Run) -> str | None:
    """CPU model, ISA level, threads and torch version of the run (run.json numerics)."""
    if not r.run:
        return None
    n = r.run.get("numerics") or {}
    cpu = n.get("cpu_model") or "unknown CPU"
    threads = n.get("threads", r.run.get("threads"))
    return (f"{r.exp}: {cpu}, ISA {n.get('isa') or 'unknown'}, {threads if threads is not None else '?'} "
            f"thread(s), torch {n.get('torch') or (r.run.get('packages') or {}).get('torch') or 'unknown'}"
            + (f", {n['device']}" if n.get("device") not in (None, "cpu") else ""))


def steps_of(r: Run) -> str:
    steps = (((r.run or {}).get("params") or {}).get("train") or {}).get("steps")
    return f"{steps:,} steps" if isinstance(steps, int) else "steps unknown"


def _get(record: dict | None, key: str):
    return None if record is None else record.get(key)


# -- one table per task ----------------------------------------------------------------------------


def inpaint_table(runs: list[Run]) -> list[str]:
    """The homework table: RMSE [interval] beside the masked input, mean-face and biharmonic fills."""
    done = [r for r in runs if r.done]
    first = done[0] if done else None
    rm, bk, fid = ((first.metrics.get(k) if first else None) for k in ("rmse", "box_kid", "fid"))
    n = _get(rm, "n_fake")
    n_fid = _get(fid, "n_fake")
    header = [f"{n if n else '?'} test faces", "RMSE [95% bootstrap over test images]", "ratio to masked input",
              "RMSE inside the box", f"box KID (n = {n if n else '?'})", f"FID (n = {n_fid if n_fid else '?'})",
              "RMSE mean ± std over seeds"]
    rows = []
    if rm:
        rows += [
            ["masked input (homework baseline)",
             rmse_text(rm.get("masked_input"), rm.get("masked_input_interval")),
             ratio(1.0), "", num(_get(bk, "masked_input"), 3), num(_get(fid, "masked_input")), ""],
            ["mean training face pasted in the box", rmse_text(rm.get("mean_fill")),
             ratio(rm.get("mean_fill_ratio_to_masked_input")), "", num(_get(bk, "mean_fill"), 3), "", ""],
            ["biharmonic inpainting (scikit-image)", rmse_text(rm.get("biharmonic")),
             ratio(rm.get("biharmonic_ratio_to_masked_input")), "", num(_get(bk, "biharmonic"), 3), "", ""],
        ]
    for r in runs:
        if not r.done:
            rows.append([r.exp, NOT_RUN, "", "", "", "", ""])
            continue
        m_rm, m_bk, m_fid = (r.metrics.get(k) for k in ("rmse", "box_kid", "fid"))
        rows.append([f"{r.exp}, {steps_of(r)}",
                     rmse_text(_get(m_rm, "value"), interval_for(m_rm or {}, "rmse")),
                     ratio(_get(m_rm, "ratio_to_masked_input")), num(_get(m_rm, "inside_mask")),
                     with_interval(_get(m_bk, "value"), interval_for(m_bk or {}, "box_kid"), 3),
                     with_interval(_get(m_fid, "value"), interval_for(m_fid or {}, "fid")),
                     seed_spread(r, "rmse.json:value", 5)])
    return md_table(header, rows)


def paired_table(runs: list[Run]) -> list[str]:
    """RMSE, PSNR, SSIM, FID, KID [intervals] of the outputs beside the input as is and the mean target."""
    header = ["", "RMSE [95%]", "PSNR dB [95%]", "SSIM [95%]", "FID [95%]", "KID [95%]", "RMSE mean ± std over seeds"]
    rows = []
    for r in runs:
        if not r.done:
            rows.append([r.exp, NOT_RUN, "", "", "", "", ""])
            continue
        rm, fid, kid = (r.metrics.get(k) or {} for k in ("rmse", "fid", "kid"))
        n = f" (n = {fid['n_fake']})" if fid.get("n_fake") else ""
        rows.append([f"{r.exp}, {steps_of(r)}{n}", with_interval(rm.get("value"), rm.get("interval")),
                     with_interval(rm.get("psnr_db"), rm.get("psnr_interval")),
                     with_interval(rm.get("ssim"), rm.get("ssim_interval"), 3),
                     with_interval(fid.get("value"), fid.get("interval")),
                     with_interval(kid.get("value"), kid.get("interval"), 3), seed_spread(r, "rmse.json:value")])
        for name, label in (("input_as_is", "the input as is"), ("mean_target", "the mean training target")):
            b = (rm.get("baselines") or {}).get(name) or {}
            rows.append([f"{label} (no learning)", with_interval(b.get("rmse"), b.get("interval")),
                         with_interval(b.get("psnr_db"), b.get("psnr_interval")),
                         with_interval(b.get("ssim"), b.get("ssim_interval"), 3), num(fid.get(name)),
                         num(kid.get(name), 3), ""])
    return md_table(header, rows)


def unpaired_table(runs: list[Run]) -> list[str]:
    """Per direction: FID [95%] (untranslated input), RMSE [95%], the target domain's mean image;
    on a labelled set, the classes kept [95%] (untranslated input; target domain's mean image)."""
    header = ["direction", "FID [95%] (untranslated input)", "RMSE [95%]",
              "RMSE of the target domain's mean training image", "FID mean ± std over seeds",
              "labels kept [95%] (untranslated input; mean target image)"]
    rows = []
    for r in runs:
        if not r.done:
            rows.append([r.exp, NOT_RUN, "", "", "", ""])
            continue
        fid, rm, lp = (r.metrics.get(k) or {} for k in ("fid", "rmse", "label_preservation"))
        for d, f in (fid.get("directions") or {}).items():
            m = (rm.get("directions") or {}).get(d) or {}
            kept = (lp.get("directions") or {}).get(d)
            rows.append([f"{r.exp} {d} ({steps_of(r)}, n = {f.get('n_fake', '?')})",
                         with_interval(f.get("value"), f.get("interval")) + f" ({num(f.get('input_as_is'))})",
                         with_interval(m.get("value"), m.get("interval")), num(m.get("mean_target")),
                         seed_spread(r, f"fid:directions.{d}.value"),
                         "" if not kept else
                         f"{with_interval(kept['accuracy'], kept.get('interval'), 3)} "
                         f"({num(kept['input_as_is']['accuracy'], 3)}; {num(kept['mean_target']['accuracy'], 3)})"])
    return md_table(header, rows)


def domains_table(runs: list[Run]) -> list[str]:
    """Domain accuracy [95% over test images] beside the untranslated inputs and the real test images."""
    header = ["", "domain accuracy [95% bootstrap over test images]", "untranslated inputs",
              "classifier on real test images", "FID per target domain", "accuracy mean ± std over seeds"]
    rows = []
    for r in runs:
        if not r.done:
            rows.append([r.exp, NOT_RUN, "", "", "", ""])
            continue
        acc, fid = (r.metrics.get(k) or {} for k in ("domain_accuracy", "fid"))
        per = acc.get("per_domain") or {}
        as_is = [v["input_as_is"] for v in per.values() if v.get("input_as_is") is not None]
        fids = [v["value"] for v in (fid.get("per_domain") or {}).values() if v.get("value") is not None]
        rows.append([f"{r.exp}, {steps_of(r)}", with_interval(acc.get("value"), acc.get("interval"), 3),
                     f"{num(min(as_is), 3)}-{num(max(as_is), 3)}" if as_is else "",
                     num((acc.get("classifier") or {}).get("real_test_accuracy"), 3),
                     f"{num(min(fids))}-{num(max(fids))}" if fids else "", seed_spread(r, "domain_accuracy.json:value", 3)])
    return md_table(header, rows)


def generated_table(runs: list[Run]) -> list[str]:
    """Noise, class and caption models: requested class recognised [95%], worst class, FID [95%]."""
    header = ["", "samples recognised as the requested class [95%]", "worst class", "missing classes",
              "FID [95%]", "FID of real training images", "FID mean ± std over seeds"]
    rows = []
    for r in runs:
        if not r.done:
            rows.append([r.exp, NOT_RUN, "", "", "", "", ""])
            continue
        c, fid = (r.metrics.get(k) or {} for k in ("classifier", "fid"))
        per = c.get("per_class_accuracy") or {}
        worst = min(per.items(), key=lambda kv: kv[1]) if per else None
        n = f" (n = {fid['n_fake']})" if fid.get("n_fake") else ""
        rows.append([f"{r.exp}, {steps_of(r)}{n}", with_interval(c.get("accuracy"), c.get("accuracy_interval"), 3),
                     f'"{worst[0]}": {num(worst[1], 2)}' if worst else "",
                     ", ".join(str(k) for k in c.get("missing_classes", [])) if c else "",
                     with_interval(fid.get("value"), fid.get("interval")),
                     num((fid.get("train_images_vs_test") or {}).get("value")), seed_spread(r, "fid.json:value")])
    return md_table(header, rows)


TABLES = {"inpaint": inpaint_table, "paired": paired_table, "unpaired": unpaired_table, "domains": domains_table,
          "labelled": generated_table, "captioned": generated_table, "unconditional": generated_table}
GROUP_TITLES = {"inpaint": "inpainting", "paired": "paired translation", "unpaired": "unpaired translation",
                "domains": "multi-domain translation", "labelled": "generation", "captioned": "generation",
                "unconditional": "generation"}


def render(results: Path, experiments: dict[str, tuple[str | None, str | None]]) -> str:
    """Every table: one per (kind of table, data set), experiments in params order, machines below."""
    groups: dict[tuple[str, str | None], list[Run]] = {}
    unknown: list[str] = []
    for exp, (task, dataset) in experiments.items():
        r = load_run(results, exp, task, dataset)
        if r.task not in TABLES:
            unknown.append(exp)
            continue
        groups.setdefault((GROUP_TITLES[r.task], r.dataset), []).append(r)
    lines: list[str] = []
    for (title, dataset), runs in groups.items():
        task = next(r.task for r in runs)
        lines += [f"### {title}: {dataset or 'unknown data set'} ({', '.join(r.exp for r in runs)})", ""]
        lines += TABLES[task](runs) + [""]
        machines = [m for r in runs if (m := machine_line(r))]
        lines += ["Machine (run.json numerics): " + "; ".join(machines) if machines else "Machine: " + NOT_RUN, ""]
    for exp in unknown:
        lines += [f"### {exp}: {NOT_RUN} (no run record under {results / exp}, so its task is unknown)", ""]
    return "\n".join(lines)
