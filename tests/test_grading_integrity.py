"""Fills that no generator made, near-copies of the key and of each other: each flagged, with its
evidence, and none of them moves ``best``.  The fills are made here independently of
report/fills.py (numpy least squares, scikit-image, plain loops), on test_grading's synthetic
homework (4 test faces, 6 training faces, 32 x 32, one mouth box)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter, zoom
from skimage.restoration import inpaint_biharmonic

from ganflow.report import fills as F
from ganflow.stages import grade
from test_grading import BOX, face, homework, in_box, params_for, whiten, write  # noqa: F401

STRONG = 0.05
T, L, B, R = BOX


def honest(truth):
    return in_box(truth, lambda box: box + 0.08 * np.sin(np.arange(box.shape[-1]) / 2.0))


def border(img):
    """The ring of pixels around the box: coordinates and values."""
    pts = [(y, x) for y in range(T - 1, B + 1) for x in range(L - 1, R + 1)
           if y in (T - 1, B) or x in (L - 1, R)]
    ys, xs = np.array(pts).T
    return ys, xs, img[ys, xs]


def crafted(truth) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    masked = np.stack([whiten(t) for t in truth])
    train = np.stack([face(k) for k in range(4, 10)])
    out = {}

    def each(make):
        return np.stack([np.clip(make(k, masked[k].copy()), 0, 1) for k in range(len(masked))])

    def plane(k, img):
        ys, xs, v = border(img)
        c = np.linalg.lstsq(np.c_[np.ones(len(ys)), ys, xs], v, rcond=None)[0]
        yy, xx = np.mgrid[T:B, L:R]
        img[T:B, L:R] = c[0] + c[1] * yy + c[2] * xx
        return img

    def ramps(k, img):
        for x in range(L, R):
            img[T:B, x] = np.interp(np.arange(T, B), [T - 1, B], [img[T - 1, x], img[B, x]])
        return img

    def biharmonic(k, img):
        mask = np.zeros(img.shape, bool)
        mask[T:B, L:R] = True
        return inpaint_biharmonic(img, mask)

    def nearest(k, img):
        outside = np.ones(img.shape, bool)
        outside[T:B, L:R] = False
        j = int(np.argmin([np.abs(t[outside] - img[outside]).sum() for t in train]))   # an L1 retrieval
        img[T:B, L:R] = train[j][T:B, L:R]
        return img

    def grey_noise(k, img):
        img[T:B, L:R] = 0.45 + rng.normal(0, 2 / 255, (B - T, R - L))
        return img

    def border_uniform(k, img):
        img[T:B, L:R] = border(img)[2].mean() + rng.uniform(-0.1, 0.1, (B - T, R - L))
        return img

    def checker(k, img):
        img[T:B, L:R] = border(img)[2].mean() + 0.06 * np.where(np.indices((B - T, R - L)).sum(0) % 2, 1, -1)
        return img

    def mean_face(k, img):
        img[T:B, L:R] = train.mean(axis=0)[T:B, L:R]
        return img

    def blurred_masked(k, img):
        return gaussian_filter(img, 1.0)

    def one_grey_pixel(k, img):
        img[(T + B) // 2, (L + R) // 2] = 0.5
        return img

    def one_minus_noise(k, img):
        img[T:B, L:R] = 1 - np.abs(rng.normal(0, 0.05, (B - T, R - L)))
        return img

    out.update(blurred_masked=each(blurred_masked), one_grey_pixel=each(one_grey_pixel),
               one_minus_noise=each(one_minus_noise))
    out.update(plane=each(plane), ramps=each(ramps), biharmonic=each(biharmonic), nearest=each(nearest),
               grey_noise=each(grey_noise), border_uniform=each(border_uniform), checker=each(checker),
               mean_face=each(mean_face))
    return out


def near_copies(truth) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    one_pixel = truth.copy()
    one_pixel[0, T + 2, L + 3] = 0.0
    half = np.stack([zoom(zoom(t, 0.5, order=1), 2, order=1) for t in truth])
    half_res = truth.copy()
    half_res[:, T:B, L:R] = np.clip(half[:, T:B, L:R], 0, 1)
    return {"key_one_pixel": one_pixel, "key_noise": np.clip(truth + rng.normal(0, 0.01, truth.shape), 0, 1),
            "key_half_res": half_res}


def run_board(root):
    grade.run(params_for({"strong_rmse": STRONG}))
    frame = pd.read_csv(root / "results" / "grading" / "leaderboard.csv", keep_default_na=False)
    summary = json.loads((root / "results" / "grading" / "summary.json").read_text())
    return {r["name"]: r for r in frame.to_dict("records")}, summary


def test_fills_without_a_generator_are_flagged_with_their_evidence(homework):
    root, ids, truth = homework
    subs = root / "subs"
    write(subs, "honest", honest(truth), ids)
    for name, images in crafted(truth).items():
        write(subs, name, images, ids)
    rows, summary = run_board(root)
    assert rows["honest"]["status"] == "ok" and rows["honest"]["findings"] == ""
    for name in crafted(truth):
        assert (rows[name]["status"], rows[name]["score"]) == ("zero", 0), (name, rows[name])
        assert "no_generator_fill" in rows[name]["findings"] or "constant_fill" in rows[name]["findings"], name
    record = json.loads((root / "results" / "grading" / "findings" / "biharmonic.json").read_text())
    (f,) = [f for f in record["findings"] if f["code"] == "no_generator_fill"]
    assert set(f["evidence"]["images"]) == set(ids)
    assert all(v["distance"] <= v["tolerance"] for v in f["evidence"]["images"].values())
    assert summary["anchors"]["best"] == pytest.approx(float(rows["honest"]["rmse"]), abs=1e-7)


def test_a_few_fills_among_generated_images_are_flagged_for_review(homework):
    root, ids, truth = homework
    mixed = honest(truth)
    mixed[0] = crafted(truth)["biharmonic"][0]       # one image of four: under fill_share
    write(root / "subs", "mixed", mixed, ids)
    rows, _ = run_board(root)
    assert (rows["mixed"]["status"], rows["mixed"]["findings"]) == ("review", "no_generator_fill")


def test_near_copies_of_the_key_are_flagged_and_never_move_best(homework):
    root, ids, truth = homework
    subs = root / "subs"
    write(subs, "honest", honest(truth), ids)
    alone, summary = run_board(root)
    best_alone = summary["anchors"]["best"]
    assert best_alone == pytest.approx(float(alone["honest"]["rmse"]), abs=1e-7)   # honest beats strong

    for name, images in near_copies(truth).items():
        write(subs, name, images, ids)
    rows, summary = run_board(root)
    for name in near_copies(truth):
        assert rows[name]["status"] == "review" and "matches_answer_key" in rows[name]["findings"], (name, rows[name])
    assert summary["anchors"]["best"] == best_alone                 # none of them became best
    assert rows["honest"]["score"] == alone["honest"]["score"] == 10.0


def test_twins_with_small_changes_are_flagged(homework):
    root, ids, truth = homework
    subs = root / "subs"
    write(subs, "honest", honest(truth), ids)
    twin = honest(truth)
    twin[1, T + 1, L + 1] += 0.02
    write(subs, "twin_pixel", twin, ids)
    write(subs, "twin_noise", np.clip(honest(truth) + np.random.default_rng(3).normal(0, 1 / 255, truth.shape), 0, 1), ids)
    other = in_box(truth, lambda box: box + 0.08 * np.cos(np.arange(box.shape[-1]) / 2.0))
    write(subs, "other", other, ids)
    rows, summary = run_board(root)
    for name in ("honest", "twin_pixel", "twin_noise"):
        assert (rows[name]["status"], rows[name]["findings"]) == ("review", "near_identical_submissions"), name
    assert rows["other"]["status"] == "ok"
    assert summary["anchors"]["sources"]["best"] == "best valid submission (other)"
    record = json.loads((root / "results" / "grading" / "findings" / "twin_pixel.json").read_text())
    assert set(record["findings"][0]["evidence"]["distance_to"]) == {"honest", "twin_noise"}


def test_distance_known_answers():
    box = (2, 2, 10, 12)
    a = np.zeros((16, 16))
    b = a.copy()
    b[2:10, 2:12] = 0.3                                   # a constant offset survives smoothing whole
    assert F.box_distance(a, b, box) == pytest.approx(0.3)
    checker = a.copy()
    checker[2:10, 2:12] = 0.06 * np.where(np.indices((8, 10)).sum(0) % 2, 1, -1)
    assert F.box_distance(a, checker, box) < 0.06 * 0.1   # a checkerboard is high frequency (but the box edges)
    y, x = np.mgrid[0:8, 0:10]
    tilted = a.copy()
    tilted[2:10, 2:12] = 0.2 + 0.01 * y - 0.02 * x
    assert F.fitted_distance(tilted, box, 1) == pytest.approx(0.0, abs=1e-12)  # a plane fits a plane
    assert F.fitted_distance(tilted, box, 0) > 0.01                            # a constant does not
