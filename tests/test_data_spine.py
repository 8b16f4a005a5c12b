"""fetch -> pair -> mask on the offline default, the split rule, masking geometry, bad images."""
import numpy as np
import pandas as pd
import pytest

from ganflow.errors import GanflowError

from ganflow.data import masking
from ganflow.data.images import ImageError, load_image, save_image
from ganflow.data.split import seeded_split
from ganflow.params import parse_params
from ganflow.stages import fetch, mask, pair


def test_split_is_seeded_and_order_independent():
    ids = [f"x{i:02d}" for i in range(50)]
    a = seeded_split(ids, 0.2, seed=3)
    b = seeded_split(list(reversed(ids)), 0.2, seed=3)
    assert a == b
    assert sum(v == "test" for v in a.values()) == 10
    assert seeded_split(ids, 0.2, seed=4) != a


def test_mouth_box_from_face_follows_the_fractions():
    face = masking.FaceBox(top=0.1, left=0.2, height=0.5, width=0.5)
    t, l, b, r = masking.mouth_box_from_face(face, (0.66, 1.02), (0.2, 0.8), size=100)
    assert (t, l, b, r) == (43, 30, 61, 60)


def test_paint_whitens_exactly_the_box():
    img = np.zeros((8, 8), np.float32)
    out = masking.paint(img, (2, 3, 5, 7), 1.0)
    assert out.sum() == 3 * 4 and out[2:5, 3:7].min() == 1.0 and img.sum() == 0


def test_offline_default_fetch_pair_mask(in_tmp, base_params):
    p = parse_params(base_params)
    fetch.run(p, "lfw_faces")
    assert len(list((in_tmp / "data/raw/lfw_faces/images").glob("*.png"))) == 100
    pair.run(p, "lfw_faces")
    manifest = pd.read_csv(in_tmp / "data/pairs/lfw_faces/manifest.csv")
    assert (manifest.split == "test").sum() == 20 and len(manifest) == 100
    assert load_image(in_tmp / "data/pairs/lfw_faces" / manifest.image[0]).shape == (64, 64)
    mask.run(p, "lfw_faces")
    root = in_tmp / "data/masked/lfw_faces"
    boxes = pd.read_csv(root / "boxes.csv")
    assert (boxes.method == "detector").sum() >= 85  # the LBP cascade finds 91 of the 100 faces
    row = boxes.iloc[0]
    white = load_image(root / ("Training" if row.split == "train" else "Test") / "White" / f"{row.id}.png")
    real = load_image(root / ("Training" if row.split == "train" else "Test") / "Real" / f"{row.id}.png")
    inside = white[row.top:row.bottom, row.left:row.right]
    assert inside.min() == 1.0
    outside = np.ones_like(white, bool)
    outside[row.top:row.bottom, row.left:row.right] = False
    assert np.array_equal(white[outside], real[outside])
    # The mouth box sits in the lower half of the face, as the homework's masks do.
    assert boxes.top.median() > 32 and boxes.bottom.max() <= 64
    assert (root / "mask_grid.png").exists()


def test_corrupt_image_stops_pair_naming_the_file(in_tmp, base_params):
    p = parse_params(base_params)
    fetch.run(p, "lfw_faces")
    bad = in_tmp / "data/raw/lfw_faces/images/face_007.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(GanflowError, match="face_007.png"):
        pair.run(p, "lfw_faces")
    assert not (in_tmp / "data/pairs/lfw_faces").exists()  # nothing half-made under the final name


def test_zero_byte_image_is_named(tmp_path):
    f = tmp_path / "empty.png"
    f.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: empty file"):
        load_image(f)


def test_image_round_trip(tmp_path):
    img = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    save_image(tmp_path / "a.png", img)
    assert np.abs(load_image(tmp_path / "a.png") - img).max() <= 0.5 / 255 + 1e-7
