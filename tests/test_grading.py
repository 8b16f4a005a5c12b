"""Grading: the course's formula by hand, the integrity checks, and a folder of submissions end to end.

The folder test builds a small synthetic homework (4 test faces of 32 x 32 with a mouth box),
runs the answer_key and grade stages on it (not the pipeline), and checks every submission's
status, findings and score; valid scores are recomputed here from an independent pandas read.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError
from PIL import Image

from ganflow.data.images import save_image
from ganflow.metrics.box_kid import box_kid
from ganflow.params import parse_params
from ganflow.report.grading import course_score, hf_energy, identical_groups
from ganflow.report.submission import to_csv_text
from ganflow.stages import answer_key, grade

SIZE, BOX = 32, (20, 8, 28, 24)  # top, left, bottom, right


# ------------------------------------------------------------------------------ the formula

@pytest.mark.parametrize("value, expected", [
    (0.20, 0.0),                                    # worse than the masked input
    (0.15, 0.0),                                    # equal to it
    (0.10, 3 + 5 * (0.15 - 0.10) / (0.15 - 0.05)),  # 5.5
    (0.05, 8.0),                                    # the strong baseline
    (0.04, 8 + 2 * (0.05 - 0.04) / (0.05 - 0.03)),  # 9.0
    (0.03, 10.0),                                   # the best
    (0.01, 10.0),                                   # beyond a given best: capped
])
def test_course_score_by_hand(value, expected):
    assert course_score(value, baseline=0.15, strong=0.05, best=0.03) == pytest.approx(expected)


def test_course_score_edge_cases():
    # best == strong: nobody beat the strong baseline, so the third segment is never reached by a
    # submission; a given best that equals strong makes anything better a 10.
    assert course_score(0.05, 0.15, 0.05, 0.05) == 8.0
    assert course_score(0.049, 0.15, 0.05, 0.05) == 10.0
    just_below = course_score(0.15 - 1e-9, 0.15, 0.05, 0.03)
    assert just_below == pytest.approx(3.0)
    with pytest.raises(ValueError, match="must be below"):
        course_score(0.1, baseline=0.1, strong=0.1, best=0.0)


def test_hf_energy_known_answers():
    assert hf_energy(np.full((6, 6), 0.7)) == 0.0
    checker = np.indices((6, 6)).sum(axis=0) % 2
    assert hf_energy(checker) == pytest.approx(2.0)           # every neighbour differs by 1
    ramp = np.tile(np.arange(6) * 0.1, (6, 1))
    assert hf_energy(ramp) == pytest.approx(0.01)             # 0.1^2 horizontally, 0 vertically
    noise = np.random.default_rng(0).random((200, 200))
    assert hf_energy(noise) == pytest.approx(1 / 3, rel=0.02)  # 2 x E[(u - v)^2] = 2 x 1/6


def test_identical_groups_within_tolerance_only():
    rng = np.random.default_rng(0)
    a = rng.random((3, 8, 8))
    near = a + rng.uniform(-0.9, 0.9, a.shape) / 255        # within 1/255 everywhere
    far = a.copy()
    far[1, 4, 4] += 2 / 255                                   # one pixel too far
    other = rng.random((3, 8, 8))
    groups = identical_groups({"a": a, "far": far, "near": near, "other": other}, tol=1 / 255)
    assert groups == [["a", "near"]]  # far is 2/255 from a at one pixel, and over 1/255 from near
    assert identical_groups({"a": a, "far": far}, tol=1 / 255) == []
    assert identical_groups({"a": a, "near": near, "other": other}, tol=1 / 255) == [["a", "near"]]


# ------------------------------------------------------------------------------ a folder of submissions

def face(k: int) -> np.ndarray:
    """A smooth synthetic face with a darker smooth mouth; 8-bit values like a PNG's."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = 0.55 + 0.2 * np.sin(3 * x + k) * np.cos(2 * y + 0.5 * k)
    mouth = np.exp(-(((y - 0.75) / 0.08) ** 2 + ((x - 0.5) / 0.2) ** 2))
    img = img - (0.3 + 0.05 * k) * mouth
    return np.round(np.clip(img, 0, 1) * 255) / 255


def whiten(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    t, l, b, r = BOX
    out[t:b, l:r] = 1.0
    return out


def make_masked(root, n_test: int = 4, n_train: int = 6) -> list[str]:
    rows, test_ids = [], []
    for k in range(n_test + n_train):
        split, folder = ("test", "Test") if k < n_test else ("train", "Training")
        image_id = f"face_{k:02d}"
        save_image(root / folder / "Real" / f"{image_id}.png", face(k))
        save_image(root / folder / "White" / f"{image_id}.png", whiten(face(k)))
        rows.append({"id": image_id, "split": split, "top": BOX[0], "left": BOX[1], "bottom": BOX[2],
                     "right": BOX[3], "method": "fixed"})
        if split == "test":
            test_ids.append(image_id)
    pd.DataFrame(rows).to_csv(root / "boxes.csv", index=False)
    return test_ids


def params_for(grading: dict, experiments: bool = False):
    raw = {"datasets": {"toy": {"source": "folder", "image_size": SIZE}}, "experiments": {}, "train": {},
           "grading": {"dataset": "toy", "submissions_dir": "subs", **grading}}
    if experiments:
        raw["experiments"] = {"pix2pix_tiny": {"model": "pix2pix_tiny", "dataset": "toy", "task": "inpaint"}}
        raw["train"] = {"pix2pix_tiny": {}}
        raw["mask"] = {"toy": {"method": "fixed", "fixed_box": [0.6, 0.25, 0.9, 0.75]}}
    return parse_params(raw)


def in_box(base: np.ndarray, fill) -> np.ndarray:
    out = base.copy()
    t, l, b, r = BOX
    out[:, t:b, l:r] = fill(out[:, t:b, l:r]) if callable(fill) else fill
    return out


def pandas_rmse(path, truth_path) -> float:
    """An independent read: pandas, then numpy; not the grader's parser."""
    sub = pd.read_csv(path).sort_values("id").drop(columns="id").to_numpy()
    key = pd.read_csv(truth_path).sort_values("id").drop(columns="id").to_numpy()
    return float(np.sqrt(np.mean((sub - key) ** 2)))


@pytest.fixture
def homework(in_tmp):
    ids = make_masked(in_tmp / "data" / "masked" / "toy")
    answer_key.run(params_for({"strong_rmse": 0.05}), "toy")
    truth = np.stack([face(k) for k in range(4)])
    (in_tmp / "subs").mkdir()
    (in_tmp / "subs" / "README.md").write_text("not a submission\n")
    return in_tmp, ids, truth


def write(folder, name: str, images: np.ndarray, ids) -> None:
    (folder / f"{name}.csv").write_text(to_csv_text(np.clip(images, 0, 1), ids))


def test_answer_key_stage_writes_the_layout(homework):
    root, ids, truth = homework
    key_dir = root / "data" / "grading" / "toy"
    meta = json.loads((key_dir / "key.json").read_text())
    assert meta["layout"] == {"ids": ids, "height": SIZE, "width": SIZE, "channels": 1}
    key = pd.read_csv(key_dir / "answer_key.csv")
    assert list(key.columns) == ["id", *ids] and len(key) == SIZE * SIZE
    np.testing.assert_allclose(key[ids].to_numpy().T.reshape(4, SIZE, SIZE), truth, atol=5e-7)
    masked = pd.read_csv(key_dir / "masked_inputs.csv")[ids].to_numpy().T.reshape(4, SIZE, SIZE)
    np.testing.assert_allclose(masked, np.stack([whiten(t) for t in truth]), atol=5e-7)
    # the real-mouth reference covers all 10 boxes (train and test)
    regions = [face(k)[BOX[0]:BOX[2], BOX[1]:BOX[3]] for k in range(10)]
    assert meta["mouth_reference"]["n"] == 10
    assert meta["mouth_reference"]["hf_energy_max"] == pytest.approx(max(hf_energy(r) for r in regions))


def test_a_folder_of_submissions(homework):
    root, ids, truth = homework
    subs = root / "subs"
    masked = np.stack([whiten(t) for t in truth])
    rng = np.random.default_rng(0)
    # 0.08: far enough from the key (smoothed box distance) not to be a near-copy of it
    good = in_box(truth, lambda box: box + 0.08 * np.sin(np.arange(box.shape[-1]) / 2.0))
    close = in_box(truth, lambda box: box + 0.1 * np.sin(np.arange(box.shape[-1]) / 2.0))
    fair = in_box(truth, lambda box: 0.5 * box + 0.5)
    write(subs, "perfect", truth, ids)
    write(subs, "copy_a", good, ids)
    write(subs, "copy_b", good, ids)
    write(subs, "close", close, ids)
    write(subs, "masked_input", masked, ids)
    write(subs, "constant", in_box(masked, 0.5), ids)
    write(subs, "random", in_box(masked, lambda box: rng.random(box.shape)), ids)
    # "fair" as a spreadsheet saves it: byte-order mark, CRLF line ends, a blank line at the end
    (subs / "fair.csv").write_bytes(b"\xef\xbb\xbf" + to_csv_text(fair, ids).replace("\n", "\r\n").encode() + b"\r\n")
    lines = to_csv_text(good, ids).splitlines()
    malformed = {
        "empty": b"",
        "binary": b"PK\x03\x04\x00\x00" + bytes(range(256)),
        "latin1": ("\n".join(lines[:3] + ["2,0.5,0.5,0.5,0.5\u00e9"] + lines[4:]) + "\n").encode("latin-1"),
        "no_header": ("\n".join(lines[1:]) + "\n").encode(),
        "bad_header": ("\n".join(["id,a,b,c,d"] + lines[1:]) + "\n").encode(),
        "narrow": ("\n".join(l.rsplit(",", 1)[0] for l in lines) + "\n").encode(),
        "short": ("\n".join(lines[:-1]) + "\n").encode(),
        "dup_ids": ("\n".join(lines[:3] + ["1" + lines[3][1:]] + lines[4:]) + "\n").encode(),
        "text_cell": ("\n".join(lines[:10] + ["9,0.5,oops,0.5,0.5"] + lines[11:]) + "\n").encode(),
        "nan": ("\n".join(lines[:10] + ["9,0.5,0.5,nan,0.5"] + lines[11:]) + "\n").encode(),
        "range": ("\n".join(lines[:10] + ["9,0.5,0.5,0.5,1.2"] + lines[11:]) + "\n").encode(),
        "huge": to_csv_text(good, ids).encode() + b"\n" * 120_000,
    }
    for name, data in malformed.items():
        (subs / f"{name}.csv").write_bytes(data)
    (subs / "notes.txt").write_text("not a csv\n")

    strong = 0.05
    grade.run(params_for({"strong_rmse": strong, "max_file_mb": 0.1}))

    out = root / "results" / "grading"
    board = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    rows = {r["name"]: r for r in board.to_dict("records")}
    key_csv = root / "data" / "grading" / "toy" / "answer_key.csv"
    baseline = pandas_rmse(root / "data" / "grading" / "toy" / "masked_inputs.csv", key_csv)
    r_good, r_close, r_fair = (pandas_rmse(subs / f"{n}.csv", key_csv) for n in ("copy_a", "close", "fair"))
    assert r_good < r_close < strong < r_fair < baseline  # the scenario spans all three segments

    # the perfect submission matches the key (not to the last bit: the key passed through a float32
    # PNG load before being written with 6 decimals); it scores 10 but does not set "best", which
    # comes from the best unflagged submission: not the two copies (flagged as identical) but "close"
    assert pandas_rmse(subs / "perfect.csv", key_csv) < 1e-6
    best = r_close
    expected_scores = {
        "perfect": 10.0,
        "copy_a": 10.0,  # better than best: capped
        "copy_b": 10.0,
        "close": 8 + 2 * (strong - r_close) / (strong - best),
        "fair": 3 + 5 * (baseline - r_fair) / (baseline - strong),
    }
    expected = {  # name: (rank, status, findings listed on the leaderboard)
        "perfect": (1, "review", "matches_answer_key"),
        "copy_a": (2, "review", "identical_submissions"),
        "copy_b": (2, "review", "identical_submissions"),
        "close": (4, "ok", ""),
        "fair": (5, "ok", ""),
        # scored 0, ordered by RMSE: a 0.5 fill is nearer the mouths than noise, white is farthest
        "constant": (6, "zero", "constant_fill"),
        "random": (7, "zero", "noise_fill"),
        "masked_input": (8, "zero", "copy_of_masked_input"),
        # invalid files: unranked, by name
        "bad_header": ("", "invalid", "wrong_header"),
        "binary": ("", "invalid", "binary_file"),
        "dup_ids": ("", "invalid", "duplicate_ids; missing_ids"),
        "empty": ("", "invalid", "empty_file"),
        "huge": ("", "invalid", "file_too_large"),
        "latin1": ("", "invalid", "not_utf8"),
        "nan": ("", "invalid", "non_finite"),
        "narrow": ("", "invalid", "wrong_column_count"),
        "no_header": ("", "invalid", "missing_header"),
        "range": ("", "invalid", "out_of_range"),
        "short": ("", "invalid", "wrong_row_count"),
        "text_cell": ("", "invalid", "non_numeric"),
    }
    assert list(board["name"]) == list(expected)  # the order of the leaderboard
    for name, (rank, status, codes) in expected.items():
        assert (rows[name]["rank"], rows[name]["status"], rows[name]["findings"]) == (str(rank), status, codes), name
        assert rows[name]["score"] == pytest.approx(expected_scores.get(name, 0.0), abs=1e-4), name
    assert float(rows["masked_input"]["rmse"]) == pytest.approx(baseline, abs=1e-7)
    assert rows["empty"]["rmse"] == ""  # an invalid file has no RMSE

    # findings files: each names the place and carries its evidence
    def findings(name):
        return json.loads((out / "findings" / f"{name}.json").read_text())

    assert sorted(p.stem for p in (out / "findings").iterdir()) == sorted(expected)
    fair_codes = [(f["code"], f["severity"]) for f in findings("fair")["findings"]]
    assert fair_codes == [("utf8_bom", "note"), ("crlf_line_ends", "note"), ("trailing_blank_lines", "note")]
    (noise,) = findings("random")["findings"]
    assert noise["where"] == f"columns {', '.join(ids)}"
    assert all(v["hf_energy"] > noise["evidence"]["limit"] for v in noise["evidence"]["images"].values())
    (const,) = findings("constant")["findings"]
    assert {round(v["value"], 6) for v in const["evidence"]["images"].values()} == {0.5}
    (copy,) = findings("copy_a")["findings"]
    assert copy["evidence"] == {"identical_to": ["copy_b"]}
    (text_cell,) = findings("text_cell")["findings"]
    assert text_cell["where"] == f"line 11, column 3 ({ids[1]})"
    (rng_f,) = findings("range")["findings"]
    assert rng_f["where"] == f"line 11, column 5 ({ids[3]})"
    assert [f["where"] for f in findings("dup_ids")["findings"]] == ["line 4, column 1 (id)", "column 1 (id)"]
    assert findings("perfect")["anchors"]["best"] == pytest.approx(best, abs=1e-7)
    assert findings("perfect")["anchors"]["sources"]["best"] == "best valid submission (close)"
    assert findings("perfect")["sha256"] and findings("huge")["file"].endswith("huge.csv")

    # box KID beside RMSE (metrics/box_kid.py, tested against an independent computation there):
    # a flat box, white or grey, is far from the real mouths; the faded mouth ("fair": worse RMSE
    # than both stripe-covered ones) keeps the mouth's shape, and box KID says so; invalid: none
    kid = {name: float(rows[name]["box_kid"]) for name in ("perfect", "fair", "close", "constant", "masked_input")}
    assert kid["constant"] == pytest.approx(box_kid(truth, in_box(masked, 0.5), [BOX] * 4), rel=1e-3)
    assert kid["constant"] == pytest.approx(kid["masked_input"], rel=1e-6)
    assert kid["perfect"] < 1e-6 and kid["fair"] < 0.1 * kid["constant"] and kid["fair"] < kid["close"]
    assert rows["empty"]["box_kid"] == ""

    md = (out / "leaderboard.md").read_text()
    assert "| 5 | fair |" in md and "- notes.txt: not a .csv file" in md
    assert "- README.md: a README, not a submission" in md  # every file is on the board or listed here
    assert "| findings | box KID |" in md and f"| {kid['close']:.4f} |" in md
    assert Image.open(out / "scores.png").size[0] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["ok"], summary["review"], summary["zero"], summary["invalid"]) == (2, 3, 3, 12)
    assert summary["anchors"]["baseline"] == pytest.approx(baseline, abs=1e-7)


def test_zero_submissions_still_make_a_leaderboard(homework):
    root, _, _ = homework
    grade.run(params_for({"strong_rmse": 0.05}))
    out = root / "results" / "grading"
    assert pd.read_csv(out / "leaderboard.csv").empty
    assert list(pd.read_csv(out / "leaderboard.csv").columns) == ["rank", "name", "rmse", "score", "status", "findings",
                                                                      "box_kid"]
    assert "No submissions to grade." in (out / "leaderboard.md").read_text()
    assert list((out / "findings").iterdir()) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["submissions"] == 0 and summary["anchors"]["best"] == 0.05


def test_strong_baseline_read_from_the_experiment_rmse_json(homework):
    root, ids, truth = homework
    meta = json.loads((root / "data" / "grading" / "toy" / "key.json").read_text())
    rmse_json = root / "results" / "pix2pix_tiny" / "rmse.json"
    rmse_json.parent.mkdir(parents=True)
    record = {"metric": "rmse", "value": 0.04, "dataset": "toy", "n_real": 4,
              "reference_sha256": meta["reference_sha256"]}
    rmse_json.write_text(json.dumps(record))
    grade.run(params_for({}, experiments=True))
    summary = json.loads((root / "results" / "grading" / "summary.json").read_text())
    assert summary["anchors"]["strong"] == 0.04
    assert summary["anchors"]["sources"]["strong"] == "results/pix2pix_tiny/rmse.json (value)"

    rmse_json.write_text(json.dumps({**record, "reference_sha256": "0" * 64}))
    with pytest.raises(GanflowError, match="another version of the test set"):
        grade.run(params_for({}, experiments=True))
    rmse_json.write_text(json.dumps({**record, "dataset": "lfw_faces"}))
    with pytest.raises(GanflowError, match="measured on 'lfw_faces'"):
        grade.run(params_for({}, experiments=True))
    rmse_json.unlink()
    with pytest.raises(GanflowError, match="ganflow evaluate --exp pix2pix_tiny"):
        grade.run(params_for({}, experiments=True))


def test_a_strong_baseline_no_better_than_the_input_is_refused(homework):
    with pytest.raises(GanflowError, match="must be below the masked-input baseline"):
        grade.run(params_for({"strong_rmse": 0.9}))


def test_grading_params_are_checked_at_load():
    with pytest.raises(GanflowError, match=r"grading\.dataset: unknown dataset 'nope'"):
        params_for({"dataset": "nope"})
    with pytest.raises(GanflowError, match=r"grading\.noise_factor"):
        params_for({"noise_factor": 0.5})
