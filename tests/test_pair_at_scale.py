"""pair on a CelebA-sized folder: what the parent holds per image is small and fixed, so its
memory does not grow with the set (issue 15's bar: < 10% from 10k to 50k images).

Measured with tracemalloc (every Python and numpy allocation, not the process's RSS), on empty
files where only the listing is measured: deterministic, and independent of the machine."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganflow.data import layouts
from ganflow.data.images import IMAGE_SUFFIXES


def _pathlib_rule(folder: Path) -> list[tuple[str, str]]:
    """(id, name) per image as the listing was first written: sorted pathlib Paths, recursively,
    by suffix, skipping anything under a hidden component."""
    found = sorted(q for q in folder.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()
                   and not any(s.startswith(".") for s in q.relative_to(folder).parts))
    return [(layouts.safe_id(p.relative_to(folder).with_suffix("").as_posix()), str(p)) for p in found]


def test_image_folder_lists_the_files_and_order_of_sorted_pathlib_paths(tmp_path):
    root = tmp_path / "imgs"
    for rel in ["a/x.jpg", "a-b/y.png", "a.b.jpg", "a/b/c.JPG", "Z.jpg", "z.jpeg", "a..jpg",
                ".hidden/h.jpg", "b/.dot.jpg", "notes.txt", "dir.jpg/inner.png", "b/deep/er/e.webp"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "linked").symlink_to(root / "a", target_is_directory=True)  # not followed, as rglob
    table = layouts.image_folder_table(root)
    assert [(r.id, r.images["image"].name) for r in table.rows] == _pathlib_rule(root)
    assert [r.id for r in table.rows][:3] == ["Z", "a_b_c", "a_x"]  # a/... sorts before a-b/...


def _traced_bytes(fn):
    """(result, bytes still allocated after fn, peak bytes during fn), above what was before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, current - base, peak - base


def test_listing_a_large_folder_holds_about_half_a_kilobyte_per_image(tmp_path):
    """A pathlib.Path and a per-row dict each would be ~0.9 KB an image; 200,000 CelebA files would
    then hold 180 MB before a pixel is read."""
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    n = 4000
    for i in range(n):
        (folder / f"{i + 1:06d}.jpg").touch()
    table, held, _ = _traced_bytes(lambda: layouts.image_folder_table(folder))
    assert len(table.rows) == n
    assert held / n < 600, f"{held / n:.0f} bytes per listed image"


def _tiles(folder: Path, n: int) -> layouts.Table:
    folder.mkdir()
    tile = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))
    for i in range(n):
        tile.save(folder / f"{i:05d}.png")
    return layouts.image_folder_table(folder)


def _write_peak(table: layouts.Table, out: Path) -> int:
    out.mkdir()
    _, _, peak = _traced_bytes(lambda: layouts.write(table, out, dataset="d", source="image_folder",
                                                     image_size=8, test_fraction=0.2, split_seed=0,
                                                     progress=False, workers=1))
    return peak


def test_writing_keeps_no_record_per_image_beyond_the_listing(tmp_path, monkeypatch):
    """While pair writes, the parent keeps only a pointer per written row; the manifest is made a
    chunk at a time (the same bytes as one DataFrame of every row, checked below), a chunk of 500
    here, so that these small sets have as many chunks as a CelebA-sized one has of 10,000.  The
    peak is compared between two set sizes, so one-off costs (imports, caches) cancel out."""
    monkeypatch.setattr(layouts, "_MANIFEST_CHUNK", 500)
    _write_peak(_tiles(tmp_path / "warm", 50), tmp_path / "warm_out")
    small, large = _tiles(tmp_path / "small", 1000), _tiles(tmp_path / "large", 4000)
    rows = list(large.rows)
    per_image = (_write_peak(large, tmp_path / "large_out") - _write_peak(small, tmp_path / "small_out")) / 3000
    assert per_image < 100, f"{per_image:.0f} more bytes at the peak of write per image"
    manifest = (tmp_path / "large_out" / "manifest.csv").read_text()
    expected = "id,split,image\n" + "".join(f"{r.id},{r.split},{r.split}/{r.id}.png\n" for r in rows)
    assert manifest == expected


def test_the_manifest_is_the_same_written_in_chunks(tmp_path, monkeypatch):
    """Chunk boundaries do not show in manifest.csv (one header, every row once, in order)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    tile = Image.fromarray(np.full((4, 4), 128, np.uint8))
    for i in range(25):
        tile.save(folder / f"{i:02d}.png")
    outs = []
    for chunk in (10_000, 7):
        monkeypatch.setattr(layouts, "_MANIFEST_CHUNK", chunk)
        out = tmp_path / f"out{chunk}"
        out.mkdir()
        layouts.write(layouts.image_folder_table(folder), out, dataset="d", source="image_folder",
                      image_size=4, test_fraction=0.2, split_seed=0, progress=False, workers=1)
        outs.append((out / "manifest.csv").read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b"id,split,image") == 1 and outs[0].count(b"\n") == 26


def test_a_png_written_in_place_is_created_once_with_its_folder(tmp_path):
    """pair writes each PNG inside a folder that atomic_dir swaps in whole, so it skips the
    temporary name per file; it still never overwrites a file, and makes a missing folder."""
    from ganflow.data.images import load_image, save_image

    arr = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    target = tmp_path / "train" / "x.png"
    save_image(target, arr, atomic=False)
    save_image(tmp_path / "atomic.png", arr)
    assert target.read_bytes() == (tmp_path / "atomic.png").read_bytes()
    assert np.allclose(load_image(target), np.rint(arr * 255) / 255)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]  # no temporary left
    with pytest.raises(FileExistsError):
        save_image(target, arr, atomic=False)
