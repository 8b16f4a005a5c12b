"""The submission CSV: layout, round trips, the course's own pandas export, and every malformed kind.

A small layout (two 4 x 4 test images, ids 0..15 on lines 2..17) keeps every expected line and
column easy to check by eye.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError

from ganflow.report.submission import (Layout, parse_submission, read_submission, reorder, ordered_test_ids,
                                       to_csv_text)

IDS = ("img_a", "img_b")
LAYOUT = Layout(IDS, 4, 4)


def images() -> np.ndarray:
    # Multiples of 1/255 (what 8-bit PNGs hold); 6 written decimals keep them within 5e-7.
    return np.random.default_rng(0).integers(0, 256, (2, 4, 4)) / 255


def good_lines() -> list[str]:
    return to_csv_text(images(), IDS).splitlines()


def text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def edited(line_no: int, new: str) -> bytes:
    """The good file with file line ``line_no`` (1-based, header = 1) replaced."""
    lines = good_lines()
    lines[line_no - 1] = new
    return text(lines)


def findings(data: bytes, layout: Layout = LAYOUT) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity, f.where) for f in parse_submission(data, layout).findings]


# ------------------------------------------------------------------------------ layout and round trips

def test_header_and_row_major_pixel_ids():
    lines = good_lines()
    assert lines[0] == "id,img_a,img_b"
    assert len(lines) == 1 + 16
    # pixel (row 2, column 3) of img_b is id 2*4 + 3 = 11, on line 13
    assert lines[12].split(",") == ["11", f"{images()[0, 2, 3]:.6f}", f"{images()[1, 2, 3]:.6f}"]


def test_round_trip_grayscale():
    parsed = parse_submission(to_csv_text(images(), IDS).encode(), LAYOUT)
    assert parsed.ok and parsed.findings == []
    np.testing.assert_allclose(parsed.images, images(), atol=5e-7)


def test_round_trip_rgb_channel_order():
    rgb = np.random.default_rng(1).random((2, 3, 5, 3))
    layout = Layout.of(rgb, IDS)
    csv_text = to_csv_text(rgb, IDS)
    frame = pd.read_csv(io.StringIO(csv_text))
    # id (r*W + c)*3 + k holds channel k (R, G, B) of pixel (r, c): here r=1, c=4, k=2 (blue)
    assert frame.loc[(1 * 5 + 4) * 3 + 2, "img_b"] == pytest.approx(rgb[1, 1, 4, 2], abs=5e-7)
    parsed = parse_submission(csv_text.encode(), layout)
    assert parsed.ok and parsed.images.shape == (2, 3, 5, 3)
    np.testing.assert_allclose(parsed.images, rgb, atol=5e-7)


def test_the_course_pandas_recipe_is_accepted():
    """predictions (n, M, N) -> (n, M*N) -> transposed -> DataFrame.to_csv with pandas' defaults."""
    buf = io.StringIO()
    pd.DataFrame(images().reshape(2, -1).T).to_csv(buf)
    assert buf.getvalue().startswith(",0,1\n0,")
    parsed = parse_submission(buf.getvalue().encode(), LAYOUT)
    assert [(f.code, f.severity) for f in parsed.findings] == [("unnamed_id_column", "note"),
                                                               ("positional_header", "note")]
    np.testing.assert_allclose(parsed.images, images(), atol=1e-12)


def test_columns_and_rows_are_matched_by_name_and_id():
    lines = good_lines()
    swapped = ["id,img_b,img_a"] + [",".join([l.split(",")[0], l.split(",")[2], l.split(",")[1]]) for l in lines[1:]]
    body = swapped[1:]
    shuffled = [swapped[0]] + [body[i] for i in np.random.default_rng(3).permutation(len(body))]
    parsed = parse_submission(text(shuffled), LAYOUT)
    assert [f.code for f in parsed.findings] == ["columns_reordered", "rows_reordered"]
    np.testing.assert_allclose(parsed.images, images(), atol=5e-7)


def test_harmless_spreadsheet_variations_are_accepted_and_noted():
    crlf = b"\xef\xbb\xbf" + "\r\n".join(good_lines()).encode() + b"\r\n\r\n\r\n"
    parsed = parse_submission(crlf, LAYOUT)
    assert [(f.code, f.severity, f.where) for f in parsed.findings] == [
        ("utf8_bom", "note", "line 1"), ("crlf_line_ends", "note", "file"), ("trailing_blank_lines", "note", "line 18")]
    np.testing.assert_allclose(parsed.images, images(), atol=5e-7)
    no_final_newline = "\n".join(good_lines()).encode()
    assert parse_submission(no_final_newline, LAYOUT).ok and findings(no_final_newline) == []
    quoted_header = text(['"id","img_a","img_b"'] + good_lines()[1:])
    assert findings(quoted_header) == []


# ------------------------------------------------------------------------------ malformed kinds

@pytest.mark.parametrize("data, expected", [
    (b"", [("empty_file", "error", "file")]),
    (b"\n  \n\n", [("empty_file", "error", "file")]),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", [("binary_file", "error", "line 1")]),
    ("id,img_a,img_b\n".encode("utf-16"), [("not_utf8", "error", "file")]),
    ("\n".join(good_lines()[:4] + ["3,0.5,0.5\u00e9"]).encode("latin-1"), [("not_utf8", "error", "line 5")]),
    (text(good_lines()[1:]), [("missing_header", "error", "line 1")]),
    (edited(1, "id,img_a,img_c"), [("wrong_header", "error", "line 1")]),
    (edited(1, "pixel,img_a,img_b"), [("wrong_header", "error", "line 1, column 1")]),
    (text([l.replace(",", ";") for l in good_lines()]), [("wrong_header", "error", "line 1")]),
    (text([l.rsplit(",", 1)[0] for l in good_lines()]), [("wrong_column_count", "error", "line 1")]),
    (text(good_lines()[:-1]), [("wrong_row_count", "error", "line 16")]),
    (text(good_lines() + ["16,0.5,0.5"]), [("wrong_row_count", "error", "line 18")]),
    (edited(5, "3,0.5,0.5,0.5"), [("wrong_field_count", "error", "line 5")]),
    (text(good_lines()[:3] + [""] + good_lines()[3:]),
     [("wrong_row_count", "error", "line 18"), ("blank_lines", "error", "line 4")]),
    (edited(5, "2,0.5,0.5"), [("duplicate_ids", "error", "line 5, column 1 (id)"),
                              ("missing_ids", "error", "column 1 (id)")]),
    (edited(5, "3.5,0.5,0.5"), [("bad_ids", "error", "line 5, column 1 (id)")]),
    (edited(5, "99,0.5,0.5"), [("bad_ids", "error", "line 5, column 1 (id)")]),
    (edited(7, "5,0.5,abc"), [("non_numeric", "error", "line 7, column 3 (img_b)")]),
    (edited(7, "5,,0.5"), [("non_numeric", "error", "line 7, column 2 (img_a)")]),
    (edited(7, "x,0.5,0.5"), [("non_numeric", "error", "line 7, column 1 (id)")]),
    (edited(9, "7,0.5,NaN"), [("non_finite", "error", "line 9, column 3 (img_b)")]),
    (edited(9, "7,inf,0.5"), [("non_finite", "error", "line 9, column 2 (img_a)")]),
    (edited(4, "2,1.5,0.5"), [("out_of_range", "error", "line 4, column 2 (img_a)")]),
    (edited(17, "15,0.5,-0.01"), [("out_of_range", "error", "line 17, column 3 (img_b)")]),
    (b"id,img_a,img_b\r" + b"\r".join(l.encode() for l in good_lines()[1:]), [("bad_line_ends", "error", "line 1")]),
])
def test_malformed_submissions_are_refused_with_the_place_named(data, expected):
    parsed = parse_submission(data, LAYOUT)
    assert not parsed.ok and parsed.images is None
    assert findings(data) == expected


def test_messages_name_the_cell_and_quote_it():
    parsed = parse_submission(edited(7, "5,0.5,abc"), LAYOUT)
    assert parsed.findings[0].message == "1 cells are not numbers: line 7, column 3 (img_b): 'abc'"
    parsed = parse_submission(text(good_lines()[:-1]), LAYOUT)
    assert parsed.findings[0].message == "15 data rows, expected 16 (one per pixel of a 4 x 4 image)"


def test_the_slow_pass_stops_counting_at_a_bound():
    layout = Layout(IDS, 32, 32)
    garbage = text(["id,img_a,img_b"] + [f"{i},x,y" for i in range(1024)])
    (f,) = parse_submission(garbage, layout).findings
    assert f.code == "non_numeric" and f.message.startswith("1000+ cells are not numbers")


def test_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(to_csv_text(images(), IDS).encode())
    parsed = read_submission(path, LAYOUT, max_bytes=100)
    assert [(f.code, f.where) for f in parsed.findings] == [("file_too_large", "file")]
    assert parsed.findings[0].evidence == {"size_bytes": path.stat().st_size, "limit_bytes": 100}
    assert read_submission(path, LAYOUT, max_bytes=10 ** 6).ok
    assert [f.code for f in read_submission(tmp_path, LAYOUT, 10 ** 6).findings] == ["not_a_file"]


# ------------------------------------------------------------------------------ helpers

def test_layout_refuses_ids_that_cannot_be_columns():
    with pytest.raises(ValueError, match="duplicate"):
        Layout(("a", "a"), 4, 4)
    for bad in ("id", "a,b", 'a"', " a"):
        with pytest.raises(ValueError, match="cannot be a CSV column"):
            Layout(("x", bad), 4, 4)


def test_reorder_and_test_order(tmp_path):
    arr = np.arange(3)[:, None, None] * np.ones((3, 2, 2))
    np.testing.assert_array_equal(reorder(arr, ["c", "a", "b"], ["a", "b", "c"])[:, 0, 0], [1, 2, 0])
    with pytest.raises(ValueError, match=r"missing \['d'\], unexpected \['c'\]"):
        reorder(arr, ["c", "a", "b"], ["a", "b", "d"])
    for name in ("b.png", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert ordered_test_ids(tmp_path) == ["a", "b"]


def test_writer_refuses_values_outside_unit_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_csv_text(images() * 2 - 0.5, IDS)


# ------------------------------------------------------------------------------ the export stage

def test_export_writes_test_set_order_and_grades_clean(in_tmp):
    from ganflow.data.images import save_image
    from ganflow.params import parse_params
    from ganflow.stages import export

    ids = ["face_b", "face_a", "face_c"]          # the order the samples happen to be in
    outputs = np.random.default_rng(2).random((3, 8, 8)).astype(np.float32)
    for i in ids:
        save_image(in_tmp / "data" / "masked" / "toy" / "Test" / "White" / f"{i}.png", np.ones((8, 8)))
    samples = in_tmp / "results" / "tiny" / "samples"
    samples.mkdir(parents=True)
    np.savez_compressed(samples / "outputs.npz", ids=np.array(ids), final=outputs, raw=outputs)
    params = parse_params({
        "datasets": {"toy": {"source": "folder", "image_size": 8}},
        "mask": {"toy": {"method": "fixed", "fixed_box": [0.5, 0.25, 0.75, 0.75]}},
        "experiments": {"tiny": {"model": "pix2pix_tiny", "dataset": "toy", "task": "inpaint"}},
        "train": {"tiny": {}},
    })
    export.run(params, "tiny")
    frame = pd.read_csv(in_tmp / "results" / "tiny" / "submission.csv")
    assert list(frame.columns) == ["id", "face_a", "face_b", "face_c"]   # sorted: the test-set order
    np.testing.assert_allclose(frame["face_a"].to_numpy(), outputs[1].ravel(), atol=5e-7)
    np.testing.assert_allclose(frame["face_c"].to_numpy(), outputs[2].ravel(), atol=5e-7)

    np.savez_compressed(samples / "outputs.npz", ids=np.array(["face_a", "face_b", "face_x"]), final=outputs)
    with pytest.raises(GanflowError, match=r"missing \['face_c'\], unexpected \['face_x'\]"):
        export.run(params, "tiny")
