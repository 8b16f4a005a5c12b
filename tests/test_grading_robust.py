"""Grading a folder a student tried to game: names that break outputs, links, collisions, files the
reader must refuse with a line and column rather than an exception, and one failure that must not
stop the others.  Uses test_grading's small synthetic homework (4 faces of 32 x 32)."""
from __future__ import annotations

import json
import os
import unicodedata

import numpy as np
import pandas as pd

from ganflow.report.submission import Layout, parse_submission, to_csv_text
from ganflow.report.submission_folder import out_stem, scan
from ganflow.stages import grade
from test_grading import homework, in_box, params_for, write  # noqa: F401  (homework is a fixture)

STRONG = 0.05


def board(root) -> dict[str, dict]:
    frame = pd.read_csv(root / "results" / "grading" / "leaderboard.csv", keep_default_na=False)
    return {r["name"]: r for r in frame.to_dict("records")}


def findings_of(root, name: str) -> dict:
    """The findings file of the submission shown as ``name`` (looked up by content, not by file name)."""
    for p in (root / "results" / "grading" / "findings").iterdir():
        record = json.loads(p.read_text())
        if record["name"] == name:
            return record
    raise KeyError(name)


def good(truth):
    return in_box(truth, lambda box: box + 0.08 * np.sin(np.arange(box.shape[-1]) / 2.0))


def test_names_that_would_break_output_files_are_graded(homework):
    root, ids, truth = homework
    subs = root / "subs"
    long_name = "a" * 251                                   # + ".csv" = 255 bytes, the longest a name can be
    odd = {long_name: "a" * 251, "two\nlines": "two\\nlines", "dollar $\\frac$": "dollar $\\frac$",
           "ünï cödé": "ünï cödé", "../escape": None}
    for name in odd:
        if "/" in name:
            continue
        write(subs, name, good(truth), ids)
    os.close(os.open(os.fsencode(subs) + b"/bytes_\xff\xfe.csv", os.O_CREAT | os.O_WRONLY))  # not UTF-8

    grade.run(params_for({"strong_rmse": STRONG}))
    rows = board(root)
    for shown in ("a" * 251, "two\\nlines", "dollar $\\frac$", "ünï cödé"):
        assert rows[shown]["status"] in ("ok", "review"), shown
    assert rows["bytes_\\udcff\\udcfe"]["findings"] == "empty_file"
    outs = sorted(p.name for p in (root / "results" / "grading" / "findings").iterdir())
    assert all(len(o.encode()) <= 120 and "\n" not in o and "/" not in o for o in outs)
    assert len(outs) == 5
    assert findings_of(root, "a" * 251)["findings_file"] == out_stem("a" * 251) + ".json"


def test_links_are_refused_and_never_followed(homework):
    root, ids, truth = homework
    subs = root / "subs"
    key = root / "data" / "grading" / "toy" / "answer_key.csv"
    secret = root / "staff_only.txt"
    secret.write_text("the staff password is hunter2\n")
    (subs / "passwd.csv").symlink_to("/etc/passwd")
    (subs / "key.csv").symlink_to(key)
    (subs / "staff.csv").symlink_to(secret)
    (subs / "dangling.csv").symlink_to(root / "nowhere.csv")
    (subs / "folder.csv").mkdir()
    os.mkfifo(subs / "pipe.csv")                            # opening a pipe would block the run
    write(subs, "honest", good(truth), ids)

    grade.run(params_for({"strong_rmse": STRONG}))
    rows = board(root)
    for name in ("passwd", "key", "staff", "dangling"):
        assert (rows[name]["status"], rows[name]["findings"], rows[name]["score"]) == ("invalid", "symlink_refused", 0)
        record = findings_of(root, name)
        assert "sha256" not in record and "size_bytes" not in record
        text = json.dumps(record)
        assert "hunter2" not in text and "root:" not in text and "answer_key" not in text
    assert rows["folder"]["findings"] == "not_a_file" and rows["pipe"]["findings"] == "not_a_file"
    assert rows["honest"]["status"] == "ok"
    assert findings_of(root, "honest")["anchors"]["best"] > 0   # the key behind a link never set best


def test_case_and_unicode_twins_are_both_graded_and_flagged(homework):
    root, ids, truth = homework
    subs = root / "subs"
    write(subs, "dup", good(truth), ids)
    write(subs, "DUP_upper", good(truth), ids)
    (subs / "dup.CSV").write_text(to_csv_text(np.clip(good(truth) * 0.99, 0, 1), ids))
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    write(subs, nfc, good(truth), ids)
    write(subs, nfd, good(truth), ids)
    (subs / ".hidden.csv").write_text("x\n")

    folder = scan(subs)
    names = sorted(e.name for e in folder.entries)
    assert names == sorted(["dup.csv", "dup.CSV", "DUP_upper", f"{nfc}.csv", f"{nfd}.csv"])
    assert len({e.out.casefold() for e in folder.entries}) == 5    # distinct output files, whatever the FS
    ignored = {i.name: i.reason for i in folder.ignored}
    assert ignored[".hidden.csv"].startswith("hidden") and ignored["README.md"].startswith("a README")

    grade.run(params_for({"strong_rmse": STRONG}))
    rows = board(root)
    assert "name_collision" in rows["dup.csv"]["findings"] and "name_collision" in rows["dup.CSV"]["findings"]
    assert rows["dup.csv"]["status"] == rows["dup.CSV"]["status"] == "review"
    assert "name_collision" in rows[f"{nfc}.csv"]["findings"]
    summary = json.loads((root / "results" / "grading" / "summary.json").read_text())
    assert {i["name"] for i in summary["ignored"]} == {".hidden.csv", "README.md"}


def test_one_failing_submission_does_not_stop_the_others(homework, monkeypatch):
    root, ids, truth = homework
    write(root / "subs", "boom", good(truth), ids)
    write(root / "subs", "fine", good(truth) * 0.999, ids)
    real = grade.read_submission

    def flaky(path, layout, max_bytes, **kw):
        if path.name == "boom.csv":
            raise MemoryError("simulated")
        return real(path, layout, max_bytes, **kw)

    monkeypatch.setattr(grade, "read_submission", flaky)
    grade.run(params_for({"strong_rmse": STRONG}))
    rows = board(root)
    assert rows["boom"]["findings"] == "unreadable" and rows["fine"]["status"] in ("ok", "review")


# ------------------------------------------------------------------------------ the reader's own cases

LAYOUT = Layout(("img_a", "img_b"), 4, 4)


def codes(data: bytes, layout=LAYOUT):
    return [(f.code, f.where) for f in parse_submission(data, layout).findings]


def test_reader_cases_that_used_to_be_exceptions():
    assert codes(b"id,img_a,img_b\n") == [("wrong_row_count", "line 1")]       # header only
    wide = b",".join([b"0.5"] * 10 ** 6) + b"\n"                                # one line of a million columns
    assert codes(wide) == [("line_too_long", "line 1")]
    long_cell = b"id," + b"x" * 131_073 + b",img_b\n"                           # over csv's field limit
    assert codes(long_cell) == [("line_too_long", "line 1")]
    header = b"id,img_a,img_b\n"
    assert codes(header + b"0," + b"," * 10 ** 6 + b"\n") == [("line_too_long", "line 2")]
    assert codes(b'id,"img_a,img_b\n') == [("wrong_column_count", "line 1"), ("wrong_row_count", "line 1")]
    many = header + b"0\n" * 50_000                                             # far too many short rows
    found = parse_submission(many, LAYOUT).findings
    assert [(f.code, f.where) for f in found][0] == ("wrong_row_count", "line 50001")
    assert found[0].evidence["rows"] == 50_000 and "at least" in found[0].message
    blank = b"\n" * 60_000 + b"x"
    assert parse_submission(blank, LAYOUT).findings[-1].code == "wrong_row_count"


def test_the_staff_answer_key_may_be_a_link(homework):
    # DVC can check its outputs out as links into its cache: the key is the staff's, so it is followed.
    root, ids, truth = homework
    kdir = root / "data" / "grading" / "toy"
    cache = root / "cache_answer_key.csv"
    (kdir / "answer_key.csv").rename(cache)
    (kdir / "answer_key.csv").symlink_to(cache)
    write(root / "subs", "honest", good(truth), ids)
    grade.run(params_for({"strong_rmse": STRONG}))
    assert board(root)["honest"]["status"] == "ok"
