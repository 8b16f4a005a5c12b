"""Quality benchmark: every experiment trained at its params.yaml defaults, scored by the evaluate
stage, in ONE table beside its no-learning baselines.

    python benchmarks/bench_quality.py                           # every experiment of params.yaml, 1 seed
    python benchmarks/bench_quality.py --exp dcgan --exp cgan --seeds 3
    python benchmarks/bench_quality.py --exp dcgan --steps 50    # a quick run (not the defaults' numbers)
    python benchmarks/bench_quality.py --reuse                   # print the table from results/ (no training)

Run it in the project root after the prepared inputs exist (``ganflow pair`` / ``classifier`` /
``text_encoder`` / ``weights`` for the experiments named: the pipeline's stages before train).  Each
seed (train.<exp>.seed + 0 .. --seeds - 1) trains, samples and evaluates in its own temporary
workspace from copies of those inputs (the stage code the pipeline runs, as ``ganflow seeds`` and
``ganflow reproduce`` do), and its metric files are kept in results/bench_quality/<exp>/seed_<s>/,
so ``--reuse`` prints the table again without training.  ``--reuse`` reads those folders, or, for an
experiment the benchmark never ran, the pipeline's own results/<exp>/ as its one seed.

Columns (every number is one a metric file holds; the table is a pure function of the files,
``quality_row`` / ``render``):
  metric             the task's headline: rmse for inpainting, paired and unpaired translation (per
                     direction where it has truth pairs), domain accuracy for multi-domain
                     translation, FID for generators (noise, class, caption)
  value              mean ± std (ddof 1) over the seeds; one seed: the value
  baselines          the no-learning baselines the evaluate stage wrote beside it (same metric);
                     for class-conditional generators the chance level 1/classes of the accuracy
  accuracy           requested class recognised (cgan, text2img), domain accuracy (stargan),
                     label preservation (unpaired sets with labels), where a file has one
  coverage           from classifier.json's class histogram: classes never produced, and those
                     under 5% of the samples (rare), with the rarest class's share
  FID (n)            FID of the outputs at the number of generated images it was computed on
  beats baselines    yes, or no and which baseline(s) it loses to (on the seed mean)
  training budget    steps x batch size, and the training's wall time (mean ± std over the seeds),
                     with the torch threads and the autocast dtype it ran with (run.json)
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganflow.stages.tables import METRIC_FILES, md_table, num, read_json  # noqa: E402

BENCH_DIR = Path("results") / "bench_quality"
RARE = 0.05  # a class under this share of the samples counts as rarely produced
# Metric files read besides tables.METRIC_FILES: label preservation (unpaired sets with labels).
EXTRA_FILES = ("label_preservation",)
COLUMNS = ["experiment", "task", "metric", "value", "baselines (no learning)", "accuracy", "coverage",
           "FID (n)", "seeds", "beats every baseline", "training budget"]


# -- the table: a pure function of the metric files --------------------------------------------------


def spread(values: list[float | None]) -> tuple[float | None, float | None]:
    """(mean, sample std) of the numbers present; std None for one value; (None, None) for none."""
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return None, None
    if len(v) == 1:
        return float(v[0]), None
    # Equal values (a baseline the seeds share, 1/classes): exactly 0, not float noise such as 1.7e-17.
    return float(np.mean(v)), (0.0 if min(v) == max(v) else float(np.std(v, ddof=1)))


def mean_std_text(values: list[float | None], digits: int = 4) -> str:
    mean, std = spread(values)
    if mean is None:
        return ""
    return num(mean, digits) + (f" ± {num(std, 2)}" if std is not None else "")


def _at(doc: dict | None, dotted: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _value(doc: dict | None, key):
    """A number of a metric file: a dotted key, or a function of the whole file (pooled baselines)."""
    return key(doc) if callable(key) else _at(doc, key)


def _per_domain(doc: dict | None, *keys: str) -> list[tuple]:
    """The numbers at ``keys`` of each per_domain entry of a domains file (stargan) that holds them all."""
    per = (doc or {}).get("per_domain")
    rows = [tuple(_at(v, k) for k in keys) for v in per.values()] if isinstance(per, dict) else []
    return [r for r in rows if all(x is not None for x in r)]


def _pooled_as_is(doc: dict | None) -> float | None:
    """domain_accuracy.json keeps the untranslated inputs' rate per target domain only; pooled by each
    domain's count of inputs, as its value pools the translations (hits / total over every domain)."""
    rows = [(a, n) for a, n in _per_domain(doc, "input_as_is", "n") if n > 0]
    return sum(a * n for a, n in rows) / sum(n for _, n in rows) if rows else None


def _heads(task: str | None, seed0: dict[str, dict]) -> list[tuple[str, str, str, list[tuple[str, str]], bool]]:
    """The headline metric(s) of a task: (label, file, key, [(baseline name, key in the same file)],
    lower is better).  Unpaired translation has one per direction."""
    rmse, fid = seed0.get("rmse") or {}, seed0.get("fid") or {}
    if task == "inpaint":
        return [("rmse", "rmse", "value", [(b, b) for b in ("masked_input", "mean_fill", "biharmonic")], True)]
    if task == "paired":
        return [("rmse", "rmse", "value", [(b, f"baselines.{b}.rmse") for b in sorted(rmse.get("baselines") or {})],
                 True)]
    if task == "unpaired":
        heads = []
        for d in sorted(set(rmse.get("directions") or {}) | set(fid.get("directions") or {})):
            if _at(rmse, f"directions.{d}.value") is not None:
                heads.append((f"rmse {d}", "rmse", f"directions.{d}.value",
                              [(b, f"directions.{d}.{b}") for b in ("input_as_is", "mean_target")], True))
            else:
                heads.append((f"fid {d}", "fid", f"directions.{d}.value", [("input_as_is", f"directions.{d}.input_as_is")],
                              True))
        return heads
    if task == "domains":
        return [("domain accuracy", "domain_accuracy", "value", [("input_as_is", _pooled_as_is)], False)]
    if task in ("unconditional", "labelled", "captioned"):
        return [("fid", "fid", "value", [(b, b) for b in ("mean_training_image",) if b in fid], True)]
    return [("fid", "fid", "value", [], True)]


def _accuracy(task: str | None, runs: list[dict[str, dict]]) -> tuple[str, list[tuple[str, list, list, bool]]]:
    """The class / label accuracy text, and accuracy baselines as (name, model values, baseline values, lower better)."""
    if all(_at(r.get("classifier"), "accuracy") is not None for r in runs):
        acc = [_at(r["classifier"], "accuracy") for r in runs]
        k = [_at(r["classifier"], "is_max") for r in runs]
        chance = [1.0 / x if x else None for x in k]
        return (f"class {mean_std_text(acc, 3)}", [("accuracy: chance (1/classes)", acc, chance, False)])
    if task == "domains":
        return f"domain {mean_std_text([_at(r.get('domain_accuracy'), 'value') for r in runs], 3)}", []
    lp = [r.get("label_preservation") for r in runs]
    if all(lp):
        # label_preservation.py's record: directions.<d>.accuracy, beside the rate of always answering
        # the target domain's mean image (directions.<d>.mean_target.accuracy), a no-learning baseline.
        directions = sorted(set().union(*((d.get("directions") or {}).keys() for d in lp)))
        parts, baselines = [], []
        for d in directions:
            acc = [_at(x, f"directions.{d}.accuracy") for x in lp]
            parts.append(f"{d} {mean_std_text(acc, 3)}")
            mean_target = [_at(x, f"directions.{d}.mean_target.accuracy") for x in lp]
            if spread(mean_target)[0] is not None:
                baselines.append((f"label {d}: mean target", acc, mean_target, False))
        if not parts and all(_at(x, "value") is not None for x in lp):
            parts = [mean_std_text([_at(x, "value") for x in lp], 3)]
        return ("label " + "; ".join(parts)) if parts else "", baselines
    return "", []


def _coverage(runs: list[dict[str, dict]]) -> str:
    """Classes never produced / under RARE of the samples, in any seed; the rarest share (mean ± std)."""
    hists = [(r.get("classifier") or {}).get("class_histogram") for r in runs]
    if not all(isinstance(h, list) and h for h in hists):
        return ""
    hists = [np.asarray(h, dtype=np.float64) for h in hists]
    missing = sorted({int(i) for h in hists for i in np.flatnonzero(h == 0)})
    rare = sorted({int(i) for h in hists for i in np.flatnonzero((h > 0) & (h < RARE * h.sum()))})
    rarest = mean_std_text([100 * h.min() / h.sum() for h in hists], 3)
    return (f"missing {missing or 'none'}; rare (<{RARE:.0%}) {rare or 'none'}; rarest {rarest}%")


def _fid_text(runs: list[dict[str, dict]], task: str | None) -> str:
    fids = [r.get("fid") or {} for r in runs]
    if task == "unpaired":
        directions = sorted(set().union(*((f.get("directions") or {}).keys() for f in fids)))
        return "; ".join(f"{d} {mean_std_text([_at(f, f'directions.{d}.value') for f in fids])} "
                         f"(n = {_at(fids[0], f'directions.{d}.n_fake') or '?'})" for d in directions)
    values = [_at(f, "value") for f in fids]
    if all(v is None for v in values):
        return ""
    n = _at(fids[0], "n_fake")
    if n is None and task == "domains":  # stargan's fid.json: the mean of per-domain FIDs, each its own n
        n = int(sum(k for (k,) in _per_domain(fids[0], "n_fake"))) or None
    return f"{mean_std_text(values)} (n = {n or '?'})"


def _budget(runs: list[dict[str, dict]]) -> str:
    """steps x batch and training seconds from the seeds' run.json records ("" without them)."""
    records = [r.get("run") for r in runs]
    if not all(isinstance(x, dict) for x in records):
        return ""
    steps = {x.get("steps") for x in records}
    batch = {_at(x, "params.train.batch_size") for x in records}
    threads = sorted({str(x.get("threads")) for x in records})
    dtype = sorted({str(x.get("amp_dtype") or "float32") for x in records})
    size = (f"{next(iter(steps)):,} steps x {next(iter(batch))}" if len(steps) == len(batch) == 1
            else f"steps {sorted(steps, key=str)}, batch {sorted(batch, key=str)}")
    return (f"{size}; {mean_std_text([x.get('wall_time_s') for x in records], 3)} s "
            f"({'/'.join(threads)} thread(s), {'/'.join(dtype)})")


def quality_rows(exp: str, task: str | None, runs: list[dict[str, dict]]) -> list[dict[str, str]]:
    """The table rows of one experiment from its seeds' metric files ({file stem: JSON object} per seed)."""
    if not runs or not any(runs):
        return [{**{c: "" for c in COLUMNS}, "experiment": exp, "task": task or "?", "metric": "not run"}]
    accuracy, acc_baselines = _accuracy(task, runs)
    coverage, fid, budget = _coverage(runs), _fid_text(runs, task), _budget(runs)
    rows = []
    for label, file, key, baselines, lower in _heads(task, runs[0]):
        model = [_at(r.get(file), key) for r in runs]
        shown, checks = [], []
        for name, bkey in baselines:
            base = [_value(r.get(file), bkey) for r in runs]
            if spread(base)[0] is None:
                continue
            shown.append(f"{name} {mean_std_text(base)}")
            checks.append((name, model, base, lower))
        shown += [f"{name} {mean_std_text(base, 3)}" for name, _, base, _ in acc_baselines]
        checks += acc_baselines
        rows.append({"experiment": exp, "task": task or "?", "metric": label, "value": mean_std_text(model),
                     "baselines (no learning)": "; ".join(shown) or "none recorded",
                     "accuracy": accuracy, "coverage": coverage, "FID (n)": fid, "seeds": str(len(runs)),
                     "beats every baseline": verdict(checks), "training budget": budget})
    return rows


def verdict(checks: list[tuple[str, list, list, bool]]) -> str:
    """"yes", "no: loses to A, B", or "n/a" without a baseline; compared on the seed means."""
    if not checks:
        return "n/a (no baseline recorded)"
    losses = []
    for name, model, base, lower in checks:
        m, b = spread(model)[0], spread(base)[0]
        if m is None or b is None:
            continue
        if (m >= b) if lower else (m <= b):
            losses.append(name)
    return "yes" if not losses else "no: loses to " + ", ".join(losses)


def render(rows: list[dict[str, str]]) -> str:
    return "\n".join(md_table(COLUMNS, [[r[c] for c in COLUMNS] for r in rows])) + "\n"


# -- reading and running -------------------------------------------------------------------------------


def metric_files(folder: Path) -> dict[str, dict]:
    """{stem: JSON object} of the metric files in ``folder`` (tables.read_json: broken files are named),
    and the run record as "run" where the folder keeps one (the benchmark's seed folders do)."""
    return {stem: doc for stem in METRIC_FILES + EXTRA_FILES + ("run",)
            if (doc := read_json(folder / f"{stem}.json")) is not None}


def reuse_runs(exp: str, seeds: list[int]) -> list[dict[str, dict]]:
    """The benchmark's own seed folders when it ran this experiment, else the pipeline's run."""
    mine = [metric_files(BENCH_DIR / exp / f"seed_{s}") for s in seeds]
    if any(mine):
        return [m for m in mine if m]
    own = metric_files(Path("results") / exp)
    return [own] if own else []


def run_seed(raw: dict, exp: str, seed: int, steps: int | None, threads: int | None) -> dict[str, dict]:
    """train -> sample -> evaluate one seed in a temporary workspace; its metric files, kept in BENCH_DIR."""
    from ganflow.params import parse_params
    from ganflow.stages import evaluate, paths, sample, train
    from ganflow.stages.reproduce import _cwd

    cfg = yaml.safe_load(yaml.safe_dump(raw))
    cfg.setdefault("train", {}).setdefault(exp, {})["seed"] = seed
    if steps is not None:
        cfg["train"][exp]["steps"] = steps
    text = yaml.safe_dump(cfg, sort_keys=False)
    params = parse_params(cfg, f"params.yaml ({exp}, seed {seed})")
    ds = params.experiment(exp).dataset
    work = Path(tempfile.mkdtemp(prefix=f"ganflow-bench-{exp}-{seed}-"))
    try:
        (work / "params.yaml").write_text(text)
        for folder in (paths.pairs_dir(ds), paths.masked_dir(ds), paths.raw_dir(ds), paths.weights_dir(),
                       paths.classifier_dir(ds), paths.text_encoder_dir(ds)):
            if folder.exists():
                shutil.copytree(folder, work / folder)
        # Reference statistics are cached by content (metrics/refstats.py): sharing the cache only
        # saves recomputing the real sets' Inception features, it cannot change a number.
        refstats = paths.DATA / "refstats"
        refstats.mkdir(parents=True, exist_ok=True)
        (work / refstats).symlink_to(refstats.resolve(), target_is_directory=True)
        with _cwd(work):
            train.run(params, exp, threads=threads)
            sample.run(params, exp)
            evaluate.run(params, exp)
        found = metric_files(work / paths.exp_dir(exp))
        keep = BENCH_DIR / exp / f"seed_{seed}"
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        for stem in found:
            shutil.copy2(work / paths.exp_dir(exp) / f"{stem}.json", keep / f"{stem}.json")
        shutil.copy2(work / paths.model_dir(exp) / "run.json", keep / "run.json")
        return metric_files(keep)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp", action="append", default=None, help="an experiment of params.yaml (repeatable; default: all)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per experiment: train.<exp>.seed + 0 .. N-1 (default 1)")
    ap.add_argument("--steps", type=int, default=None, help="override train.<exp>.steps (a quick run)")
    ap.add_argument("--reuse", action="store_true", help="read existing metric files instead of training")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads for training")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1, got {args.seeds}")

    from ganflow.errors import GanflowError
    from ganflow.params import load_params
    from ganflow.train.device import configure_torch

    try:
        params = load_params(args.params)
        raw = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
        exps = args.exp or list(params.experiments)
        for e in exps:
            params.experiment(e)  # an unknown name stops here, listing the known ones
        configure_torch(args.threads)
        rows = []
        for exp in exps:
            base = params.train[exp].seed if exp in params.train else 0
            seeds = [base + i for i in range(args.seeds)]
            if args.reuse:
                runs = reuse_runs(exp, seeds)
            else:
                runs = []
                for s in seeds:
                    print(f"bench_quality: {exp}: seed {s}: train, sample, evaluate", file=sys.stderr)
                    runs.append(run_seed(raw, exp, s, args.steps, args.threads))
            rows += quality_rows(exp, params.experiment(exp).task, runs)
    except GanflowError as e:
        print(f"bench_quality: {e}", file=sys.stderr)
        return 1
    steps = f"--steps {args.steps}" if args.steps else "params.yaml steps"
    print(f"quality: {'reused metric files' if args.reuse else f'{args.seeds} seed(s), {steps}'}\n")
    print(render(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
