"""Grading the homework: the course's score formula, integrity checks, the leaderboard.

Pure functions on arrays and findings (stages/grade.py reads and writes the files).

Score (out of 10) from a submission's RMSE against three anchors, baseline > strong >= best:

    rmse >= baseline            0          (no better than handing in the masked input)
    strong <= rmse < baseline   3 + 5 (baseline - rmse) / (baseline - strong)     3 .. 8
    rmse < strong               8 + 2 (strong - rmse) / (strong - best), at most 10
                                (best >= strong, possible only when best is given: 10)

baseline is the RMSE of the masked inputs themselves, strong the RMSE of the course's simplified
pix2pix (models/pix2pix_tiny.py), best the best valid submission's RMSE (or given); a submission
equal to the answer key is scored (10) and flagged, but does not set ``best`` for everyone else.

Integrity checks (per test image; any hit scores the submission 0, the course's rule for "random
fills, constant fills, or no generator"), each a finding with its evidence:
  copy_of_masked_input   the whole image equals the masked input within ``identical_tol``
  constant_fill          the mouth box holds one value (standard deviation <= ``constant_std``)
  noise_fill             the box's high-frequency energy (mean squared difference of neighbouring
                         pixels) exceeds ``noise_factor`` x the largest found in any real mouth box
Checks that flag for a person to review, without changing the score:
  identical_submissions  two submissions equal within ``identical_tol`` (listed on each)
  and, by distance over the whole box (report/integrity.py): no_generator_fill (integrity when most
  images are fills), matches_answer_key, near_identical_submissions.
A submission with any flag never sets ``best``: only "ok" submissions do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganflow.metrics.box_kid import box_kid
from ganflow.metrics.pixels import rmse
from ganflow.report.integrity import fill_findings, key_findings, near_twins, references
from ganflow.report.submission import ERROR, INTEGRITY, NOTE, REVIEW, Finding, Parsed

Box = tuple[int, int, int, int]  # top, left, bottom, right (bottom/right exclusive)
STATUS_ORDER = {"ok": 0, "review": 1, "zero": 2, "invalid": 3}


@dataclass(frozen=True)
class Checks:
    identical_tol: float = 1 / 255   # one 8-bit grey level: a PNG round trip stays "identical"
    constant_std: float = 1 / 255
    noise_factor: float = 2.0
    fill_tol: float = 0.04           # the distances of report/integrity.py, calibrated (README)
    masked_tol: float = 0.3
    fill_share: float = 0.5
    key_tol: float = 0.045
    twin_tol: float = 0.01


@dataclass(frozen=True)
class Anchors:
    baseline: float
    strong: float
    best: float
    sources: dict = field(default_factory=dict)  # where each number came from

    def __post_init__(self):
        if not self.strong < self.baseline:
            raise ValueError(f"the strong baseline's RMSE ({self.strong:.5f}) must be below the masked-input "
                             f"baseline's ({self.baseline:.5f}): the strong model does no better than no model")


@dataclass
class Result:
    name: str
    rmse: float | None
    score: float
    status: str                 # ok | review (flagged, score kept) | zero (integrity) | invalid (error)
    findings: list[Finding]
    file: dict = field(default_factory=dict)  # file name, size, sha256
    box_kid: float | None = None  # beside RMSE, not in the score: do the boxes look like mouths (metrics/box_kid.py)


def course_score(value: float, baseline: float, strong: float, best: float) -> float:
    """The course's score out of 10 for an RMSE ``value`` (see the module docstring)."""
    if not strong < baseline:
        raise ValueError(f"strong ({strong}) must be below baseline ({baseline})")
    if value >= baseline:
        return 0.0
    if value >= strong:
        return 3.0 + 5.0 * (baseline - value) / (baseline - strong)
    if best >= strong:
        return 10.0
    return min(10.0, 8.0 + 2.0 * (strong - value) / (strong - best))


# ------------------------------------------------------------------------------ mouth statistics

def box_region(image: np.ndarray, box: Box) -> np.ndarray:
    top, left, bottom, right = box
    return np.asarray(image, dtype=np.float64)[top:bottom, left:right]


def hf_energy(region: np.ndarray) -> float:
    """Mean squared difference of horizontally and vertically neighbouring pixels (summed).

    Uniform noise in [0, 1] gives 2 * 2 * (1/12) = 1/3; a real mouth, smooth at the pixel scale,
    a few thousandths.
    """
    r = np.asarray(region, dtype=np.float64)
    if r.shape[0] < 2 or r.shape[1] < 2:
        return 0.0
    return float(np.mean(np.diff(r, axis=0) ** 2) + np.mean(np.diff(r, axis=1) ** 2))


def mouth_statistics(images: list[np.ndarray], boxes: list[Box]) -> dict:
    """High-frequency energy and spread of real mouth boxes: the reference range for the checks."""
    hf = np.array([hf_energy(box_region(im, b)) for im, b in zip(images, boxes)])
    sd = np.array([box_region(im, b).std() for im, b in zip(images, boxes)])
    if hf.size == 0:
        raise ValueError("no mouth boxes to measure")
    return {"n": int(hf.size), "hf_energy_min": float(hf.min()), "hf_energy_median": float(np.median(hf)),
            "hf_energy_max": float(hf.max()), "std_min": float(sd.min()), "std_max": float(sd.max())}


# ------------------------------------------------------------------------------ integrity checks

def _imgs(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def integrity_findings(images: np.ndarray, masked: np.ndarray, boxes: list[Box], ids: list[str],
                       reference: dict, checks: Checks) -> list[Finding]:
    """Per-image checks of one valid submission against the masked inputs and real mouth statistics."""
    copies, constants, noisy = {}, {}, {}
    noise_limit = checks.noise_factor * reference["hf_energy_max"]
    for k, image_id in enumerate(ids):
        diff = float(np.max(np.abs(images[k].astype(np.float64) - masked[k])))
        if diff <= checks.identical_tol:
            copies[image_id] = {"max_abs_difference": diff}
            continue  # a copy also has the masked input's constant box: one finding says it
        region = box_region(images[k], boxes[k])
        sd = float(region.std())
        if sd <= checks.constant_std:
            constants[image_id] = {"value": float(region.mean()), "std": sd}
            continue
        hf = hf_energy(region)
        if hf > noise_limit:
            noisy[image_id] = {"hf_energy": hf, "std": sd}
    n, found = len(ids), []
    if copies:
        names = sorted(copies)
        found.append(Finding("copy_of_masked_input", INTEGRITY, f"columns {_imgs(names)}",
                             f"{len(names)} of {n} images equal the masked input (largest difference <= "
                             f"{checks.identical_tol:.4g}): no generator was used", {"images": copies}))
    if constants:
        names = sorted(constants)
        values = sorted({round(v["value"], 4) for v in constants.values()})
        found.append(Finding("constant_fill", INTEGRITY, f"columns {_imgs(names)}",
                             f"{len(names)} of {n} images have the mouth box filled with one constant "
                             f"(value {', '.join(f'{v:.4g}' for v in values[:5])}; std <= {checks.constant_std:.4g})",
                             {"images": constants}))
    if noisy:
        names = sorted(noisy)
        worst = max(v["hf_energy"] for v in noisy.values())
        found.append(Finding("noise_fill", INTEGRITY, f"columns {_imgs(names)}",
                             f"{len(names)} of {n} images have a mouth box of noise: high-frequency energy up to "
                             f"{worst:.4g}, over {checks.noise_factor:g} x the largest of {reference['n']} real "
                             f"mouths ({reference['hf_energy_max']:.4g})",
                             {"images": noisy, "limit": noise_limit, "reference": reference}))
    return found


def identical_groups(arrays: dict[str, np.ndarray], tol: float) -> list[list[str]]:
    """Groups (of two or more) of names whose arrays agree within ``tol`` everywhere.

    A cheap signature screens the pairs first -- per-row means, which differ by at most ``tol``
    when the arrays do -- so only near-equal pairs are compared in full: 200 submissions cost
    20,000 signature comparisons and a handful of full ones.
    """
    names = list(arrays)
    if len(names) < 2:
        return []
    sig = np.stack([a.reshape(a.shape[0] * a.shape[1], -1).mean(axis=1) for a in arrays.values()])
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(names) - 1):
        close = np.flatnonzero(np.abs(sig[i + 1:] - sig[i]).max(axis=1) <= tol + 1e-6) + i + 1
        for j in close:
            a, b = arrays[names[i]], arrays[names[j]]
            if a.shape == b.shape and np.max(np.abs(a.astype(np.float64) - b)) <= tol:
                parent[root(j)] = root(i)
    groups: dict[int, list[str]] = {}
    for i, name in enumerate(names):
        groups.setdefault(root(i), []).append(name)
    return [sorted(g) for g in groups.values() if len(g) > 1]


# ------------------------------------------------------------------------------ the whole grading

def status_of(findings: list[Finding]) -> str:
    severities = {f.severity for f in findings}
    if ERROR in severities:
        return "invalid"
    if INTEGRITY in severities:
        return "zero"
    return "review" if REVIEW in severities else "ok"


def grade(parsed: dict[str, Parsed], key: np.ndarray, masked: np.ndarray, boxes: list[Box], ids: list[str],
          reference: dict, checks: Checks, strong: float, sources: dict | None = None,
          best_given: float | None = None, fills: dict[str, np.ndarray] | None = None,
          train: np.ndarray | None = None) -> tuple[list[Result], Anchors]:
    """Score every parsed submission. ``key`` and ``masked`` are (n, H, W[, C]) in test-set order;
    ``fills`` the no-learning fills (answer_key's fills.npz) and ``train`` the training faces."""
    sources = dict(sources or {})
    findings = {name: list(p.findings) for name, p in parsed.items()}
    errors = {}
    refs = references(key, masked, boxes, fills, train) if fills is not None else None
    for name, p in parsed.items():
        if not p.ok:
            continue
        errors[name] = rmse(p.images, key)
        try:  # a check that fails on one submission flags it for a person and never stops the others
            found = integrity_findings(p.images, masked, boxes, ids, reference, checks)
            flagged = {i for f in found for i in f.evidence.get("images", {})}
            if refs is not None:
                found += fill_findings(p.images, ids, refs, checks, flagged)
            found += key_findings(p.images, key, masked, boxes, ids, checks)
        except Exception as e:
            found = [Finding("check_failed", REVIEW, "file", f"an integrity check failed: {e.__class__.__name__}: {e}")]
        findings[name] += found
    valid = {name: parsed[name].images for name in errors}
    exact = identical_groups(valid, checks.identical_tol)
    for group in exact:
        for name in group:
            others = [g for g in group if g != name]
            findings[name].append(Finding("identical_submissions", REVIEW, "file",
                                          f"identical (within {checks.identical_tol:.4g}) to {', '.join(others)}",
                                          {"identical_to": others}))
    same = {frozenset((a, b)) for g in exact for a in g for b in g if a != b}
    near: dict[str, dict[str, float]] = {}
    for a, b, d in near_twins(valid, key, masked, boxes, checks.twin_tol):
        if frozenset((a, b)) not in same:
            near.setdefault(a, {})[b] = round(d, 5)
            near.setdefault(b, {})[a] = round(d, 5)
    for name, others in near.items():
        findings[name].append(Finding("near_identical_submissions", REVIEW, "file",
                                      f"within {checks.twin_tol:g} (smoothed box distance) of {', '.join(sorted(others))}: "
                                      "a copy with small changes?", {"distance_to": others}))

    baseline = rmse(masked, key)
    sources.setdefault("baseline", "RMSE of the masked inputs against the answer key")
    # "best" is set by unflagged work only: a copy of the answer key, or of a classmate, or a fill a
    # person should look at, would otherwise squeeze everyone else's scores.
    scoring = {n: e for n, e in errors.items() if status_of(findings[n]) == "ok"}
    if best_given is not None:
        best = float(best_given)
        sources["best"] = "given in params (grading.best_rmse)"
    elif scoring and min(scoring.values()) < strong:
        name = min(scoring, key=lambda n: (scoring[n], n))
        best, sources["best"] = scoring[name], f"best valid submission ({name})"
    else:
        best, sources["best"] = strong, "no valid submission beats the strong baseline: best = strong"
    anchors = Anchors(baseline, strong, best, sources)

    results = []
    for name in parsed:
        status = status_of(findings[name])
        value = errors.get(name)
        score = course_score(value, baseline, strong, best) if status in ("ok", "review") else 0.0
        results.append(Result(name, value, round(score, 4), status, findings[name],
                              box_kid=box_kid(key, parsed[name].images, boxes) if value is not None else None))
    results.sort(key=lambda r: (-r.score, r.rmse if r.rmse is not None else np.inf,
                                STATUS_ORDER[r.status], r.name))
    return results, anchors


# ------------------------------------------------------------------------------ the leaderboard

def leaderboard(results: list[Result]) -> pd.DataFrame:
    """rank (shared on ties of score and RMSE; invalid files unranked), name, rmse, score, status, findings."""
    rows, rank, prev = [], 0, None
    for k, r in enumerate(results):
        if r.status == "invalid":
            shown = None
        else:
            key = (r.score, r.rmse)
            rank = rank if key == prev else k + 1
            prev, shown = key, rank
        codes = [f.code for f in r.findings if f.severity != NOTE]
        rows.append({"rank": shown, "name": r.name, "rmse": r.rmse, "score": r.score, "status": r.status,
                     "findings": "; ".join(codes), "box_kid": r.box_kid})
    frame = pd.DataFrame(rows, columns=["rank", "name", "rmse", "score", "status", "findings", "box_kid"])
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def leaderboard_markdown(results: list[Result], anchors: Anchors, title: str, ignored: list[dict] = ()) -> str:
    frame = leaderboard(results)
    a = anchors
    lines = [f"# {title}", "",
             "| anchor | RMSE | score | from |", "|---|---|---|---|",
             f"| baseline | {a.baseline:.5f} | 0 at or above, 3 just below | {_md_cell(a.sources.get('baseline', ''))} |",
             f"| strong baseline | {a.strong:.5f} | 8 | {_md_cell(a.sources.get('strong', ''))} |",
             f"| best | {a.best:.5f} | {'10' if a.best < a.strong else '8 (= strong)'} | "
             f"{_md_cell(a.sources.get('best', ''))} |", ""]
    if frame.empty:
        lines += ["No submissions to grade.", ""]
    else:
        lines += ["| rank | name | RMSE | score | status | findings | box KID |", "|---|---|---|---|---|---|---|"]
        for r in frame.itertuples():
            rank = "" if pd.isna(r.rank) else str(r.rank)
            value = "" if r.rmse is None or pd.isna(r.rmse) else f"{r.rmse:.5f}"
            kid = "" if r.box_kid is None or pd.isna(r.box_kid) else f"{r.box_kid:.4f}"
            lines.append(f"| {rank} | {_md_cell(r.name)} | {value} | {r.score:.2f} | {r.status} | "
                         f"{_md_cell(r.findings)} | {kid} |")
        lines += ["", "box KID: do the mouth boxes look like mouths (HOG features of each box, KID against the "
                      "answer key's boxes; lower is better, ~0 like real mouths; a flat or white box is high). "
                      "Shown beside RMSE, not part of the score."]
        lines.append("")
        flagged = [r for r in results if r.findings]
        if flagged:
            lines += ["## Findings", ""]
            for r in flagged:
                lines.append(f"### {_md_cell(r.name)} ({r.status})")
                lines += [f"- **{f.severity}** `{f.code}` ({_md_cell(f.where)}): {_md_cell(f.message)}"
                          for f in r.findings]
                lines.append("")
    if ignored:  # every entry of the folder is on the board or here, with the reason
        lines += ["## Ignored", ""] + [f"- {_md_cell(i['name'])}: {_md_cell(i['reason'])}" for i in ignored] + [""]
    return "\n".join(lines)


STATUS_COLOUR = {"ok": "tab:blue", "review": "tab:orange", "zero": "tab:red", "invalid": "tab:gray"}


def score_chart(results: list[Result], anchors: Anchors, title: str, path) -> None:
    """Horizontal bars of every score (best at the top), coloured by status, 3 / 8 / 10 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganflow.atomic import atomic_path

    n = max(len(results), 1)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.24 * n))
    if results:
        y = np.arange(len(results))[::-1]
        ax.barh(y, [r.score for r in results], color=[STATUS_COLOUR[r.status] for r in results])
        # "$" would start matplotlib's mathtext, where a crafted name can fail to parse
        ax.set_yticks(y, [r.name[:60].replace("$", r"\$") for r in results], fontsize=8 if n < 60 else 5)
        for status, colour in STATUS_COLOUR.items():
            if any(r.status == status for r in results):
                ax.barh([], [], color=colour, label=status)
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(5, 0, "no submissions", ha="center", va="center")
        ax.set_yticks([])
    for x, label in ((3, f"baseline {anchors.baseline:.4f}"), (8, f"strong {anchors.strong:.4f}"),
                     (10, f"best {anchors.best:.4f}")):
        ax.axvline(x, color="k", lw=0.8, ls="--", alpha=0.5)
        ax.text(x, 1.0, label, rotation=90, va="top", ha="right", fontsize=7, transform=ax.get_xaxis_transform())
    ax.set_xlim(0, 10.5)
    ax.set_xlabel("score (out of 10)")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
