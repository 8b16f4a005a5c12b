"""Handwritten <-> printed digits: an offline unpaired set for CycleGAN whose translations can be scored.

    datasets:
      digit_styles:
        source: digit_fonts
        image_size: 32

Domain A is scikit-learn's 1,797 handwritten digits (``load_digits``: 8 x 8, intensity / 16,
white ink on black), as the ``digits`` data set has them.  Domain B is printed digits that fetch
renders from the DejaVu fonts shipped inside matplotlib (``matplotlib.get_data_path()/fonts/ttf``),
so nothing is downloaded:

1. each digit's outline comes from ``matplotlib.textpath.TextPath`` in one of ``faces``
   (taken in turn, so every face draws about as many of each digit);
2. a seeded random affine places it: glyph height ``height`` (a fraction of the image), a rotation
   of up to ``max_rotation`` degrees, a shift of up to ``max_shift`` of the image, centred on the
   glyph's own bounding box;
3. the outline is filled (even-odd rule) on a ``supersample`` x finer grid, its stroke made
   thicker or thinner by a random disk dilation / erosion of up to ``stroke`` fine pixels, and
   box-averaged down to ``render_size`` px: white ink on black, antialiased.

Every image keeps its digit (manifest ``label`` / ``label_name``, dataset.json ``classes``), so an
independent classifier can check that a translation keeps the digit.  Unpaired: A's rows and
B's rows are different images with no correspondence; there are no truth pairs.

Split: A's rows get exactly the split of the ``digits`` data set with the same test_fraction and
split_seed (the seeded rule over the ids ``digit_0000`` ..., which A's ids ``hand_0000`` ...
follow index for index); B's rows get the same rule over their own ids.

fetch writes data/raw/<dataset>/digits.npz (as the digits source) and printed.npz (images uint8
0..255 at render_size, target, face index and each image's draw), and records each font file's
sha256 and the matplotlib version in source.json.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field, PositiveInt, field_validator
from tqdm import tqdm

from ganflow.bars import shown_if
from ganflow.data import layouts
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source
from ganflow.data.sources.sklearn_digits import CLASSES, RAW_FILE, fetch_digits, read_raw
from ganflow.data.split import seeded_split, split_rule
from ganflow.errors import DataError, MissingInputError, ParamsError
from ganflow.hashing import sha256_file

PRINTED_FILE = "printed.npz"
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
         "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
         "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf")


class DigitFontsOptions(CommonOptions):
    faces: list[str] = list(FACES)           # font files in matplotlib's fonts/ttf folder
    per_class: PositiveInt = 180             # printed images of each digit (the handwritten set has ~180)
    render_size: PositiveInt = 32            # px of the stored printed images
    supersample: PositiveInt = 4             # fill the outline on a grid this much finer, then box-average
    height: tuple[float, float] = (0.78, 0.95)  # glyph height range, fraction of the image
    max_rotation: float = Field(8.0, ge=0, le=45)  # degrees, either way
    max_shift: float = Field(0.06, ge=0, le=0.3)   # fraction of the image, each axis
    stroke: int = Field(2, ge=0)             # dilate (+) or erode (-) by up to this many fine pixels
    render_seed: int = 0

    @field_validator("faces")
    @classmethod
    def _some_faces(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one font file")
        return v

    @field_validator("height")
    @classmethod
    def _height_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1] <= 1:
            raise ValueError(f"needs 0 < low <= high <= 1, got {list(v)}")
        return v


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_file(face: str) -> Path:
    """The font file of a face inside matplotlib's package data, or a MissingInputError naming it."""
    path = font_dir() / face
    if not path.is_file():
        known = sorted(p.name for p in font_dir().glob("DejaVu*.ttf"))
        raise MissingInputError(f"fetch: font {path} not found (datasets.<name>.options.faces); "
                                f"matplotlib ships: {known}")
    return path


def outline(digit: int, face: str) -> list[np.ndarray]:
    """The closed polygons of a digit's glyph in font units (y up)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    return TextPath((0, 0), str(digit), size=1.0, prop=FontProperties(fname=str(font_file(face)))).to_polygons()


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def render(polygons: list[np.ndarray], size: int, supersample: int, height: float, angle: float,
           shift: tuple[float, float], stroke: int) -> np.ndarray:
    """A glyph filled white on black, size x size float32 in [0, 1].

    The glyph's bounding box centre goes to the image centre + shift (fractions of the image),
    scaled to ``height`` x size px tall and rotated by ``angle`` degrees (counter-clockwise);
    ``stroke`` fine pixels of dilation (> 0) or erosion (< 0) change its weight.
    """
    from matplotlib.path import Path as MplPath
    from scipy.ndimage import binary_dilation, binary_erosion

    pts = np.concatenate(polygons)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, k = (lo + hi) / 2, height * size / max(hi[1] - lo[1], 1e-9)
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    n = size * supersample
    ys, xs = np.mgrid[0:n, 0:n]
    # fine pixel centres -> image coordinates (y up, origin at the image centre + shift) -> font units
    px = (xs.ravel() + 0.5) / supersample - size / 2 - shift[0] * size
    py = size / 2 - (ys.ravel() + 0.5) / supersample + shift[1] * size
    font = np.stack([px, py], axis=1) @ rot / k + centre  # rot is orthonormal: the inverse is its transpose
    inside = np.zeros(len(font), dtype=bool)
    for poly in polygons:  # even-odd: the counters of 0, 4, 6, 8, 9 stay black
        inside ^= MplPath(poly).contains_points(font)
    ink = inside.reshape(n, n)
    if stroke > 0:
        ink = binary_dilation(ink, _disk(stroke))
    elif stroke < 0:
        ink = binary_erosion(ink, _disk(-stroke))
    return ink.reshape(size, supersample, size, supersample).mean(axis=(1, 3)).astype(np.float32)


def draws(options: DigitFontsOptions) -> list[dict]:
    """Each printed image's digit, face and random placement, in a fixed order (digit, then index)."""
    out = []
    for digit in range(10):
        for j in range(options.per_class):
            rng = np.random.default_rng([options.render_seed, digit, j])
            out.append({"digit": digit, "face": j % len(options.faces),
                        "height": float(rng.uniform(*options.height)),
                        "angle": float(rng.uniform(-options.max_rotation, options.max_rotation)),
                        "dx": float(rng.uniform(-options.max_shift, options.max_shift)),
                        "dy": float(rng.uniform(-options.max_shift, options.max_shift)),
                        "stroke": int(rng.integers(-options.stroke, options.stroke + 1))})
    return out


def render_printed(options: DigitFontsOptions, progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """(uint8 images N x S x S, draws) of every printed digit the options describe."""
    glyphs = {(d, f): outline(d, face) for d in range(10) for f, face in enumerate(options.faces)}
    todo = draws(options)
    images = np.empty((len(todo), options.render_size, options.render_size), dtype=np.uint8)
    for i, d in enumerate(tqdm(todo, desc="render printed digits", unit="img", **shown_if(progress))):
        img = render(glyphs[d["digit"], d["face"]], options.render_size, options.supersample, d["height"],
                     d["angle"], (d["dx"], d["dy"]), d["stroke"])
        images[i] = np.round(img * 255).astype(np.uint8)
    return images, todo


def check_faces(options: DigitFontsOptions) -> None:
    unknown = [f for f in options.faces if not (font_dir() / f).is_file()]
    if unknown:
        raise ParamsError(f"{options.key('faces')}: no such font file(s) {unknown} in {font_dir()}")


def _fetch(options: DigitFontsOptions, raw_dir: Path, downloads: Path | None = None) -> list[dict]:
    import matplotlib

    check_faces(options)  # fail before any work when a face is not shipped
    files = [font_file(face) for face in options.faces]
    fetch_digits(options, raw_dir)
    images, todo = render_printed(options)
    np.savez_compressed(raw_dir / PRINTED_FILE, images=images,
                        target=np.array([d["digit"] for d in todo], dtype=np.int64),
                        face=np.array([d["face"] for d in todo], dtype=np.int64),
                        **{k: np.array([d[k] for d in todo]) for k in ("height", "angle", "dx", "dy", "stroke")})
    return [{"name": f.name, "path": str(f), "bytes": f.stat().st_size, "sha256": sha256_file(f),
             "matplotlib": matplotlib.__version__} for f in files]


def read_printed(raw_dir: Path, faces: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images float32 in [0, 1], labels, face index) from printed.npz, checked."""
    path = Path(raw_dir) / PRINTED_FILE
    if not path.is_file():
        raise MissingInputError(f"pair: {path} is missing; run `ganflow fetch` for this data set first")
    try:
        with np.load(path) as f:
            images, target, face = f["images"], f["target"], f["face"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"pair: {path}: not a printed-digits archive with 'images', 'target' and 'face' ({e})") from None
    if images.ndim != 3 or images.dtype != np.uint8 or not len(images) == len(target) == len(face):
        raise DataError(f"pair: {path}: images {images.shape} ({images.dtype}), target {target.shape} and face "
                        f"{face.shape} do not match (expected uint8 (N, H, W), (N,), (N,))")
    if target.min() < 0 or target.max() > 9:
        raise DataError(f"pair: {path}: labels must be digits 0..9, found {target.min()}..{target.max()}")
    if face.min() < 0 or face.max() >= len(faces):
        raise DataError(f"pair: {path}: face index up to {face.max()} but options.faces lists {len(faces)}; "
                        "rerun `ganflow fetch` after changing the options")
    return images.astype(np.float32) / 255.0, target.astype(np.int64), face.astype(np.int64)


def _table(options: DigitFontsOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    hand, hand_labels = read_raw(raw_dir)
    printed, printed_labels, face = read_printed(raw_dir, options.faces)
    # A: the digits data set's split, by its own ids (digit_0000 ...), so the test digits are the same.
    hand_split = seeded_split([f"digit_{i:04d}" for i in range(len(hand))], split.test_fraction, split.seed)
    print_ids = [f"print_{i:04d}" for i in range(len(printed))]
    print_split = seeded_split(print_ids, split.test_fraction, split.seed)
    rows = [layouts.Row(f"hand_{i:04d}", hand_split[f"digit_{i:04d}"],
                        {"image": layouts.Img(f"{RAW_FILE}[{i}]", array=img)}, {"domain": "A", "label": int(y)})
            for i, (img, y) in enumerate(zip(hand, hand_labels))]
    rows += [layouts.Row(pid, print_split[pid], {"image": layouts.Img(f"{PRINTED_FILE}[{i}]", array=img)},
                         {"domain": "B", "label": int(y)})
             for i, (pid, img, y) in enumerate(zip(print_ids, printed, printed_labels))]
    rule = (split_rule(split.test_fraction, split.seed) + "; A (hand_<i>): applied to the ids digit_<i>, the digits "
            "data set's split; B (print_<i>): applied to its own ids")
    extra = {
        "domains": {"A": "handwritten digits (scikit-learn load_digits, 8x8, intensity / 16)",
                    "B": "printed digits rendered from matplotlib's DejaVu fonts"},
        "unpaired_rule": "A and B are different images with no correspondence; no truth pairs",
        "printed": {"faces": list(options.faces), "per_class": options.per_class,
                    "render_size": options.render_size, "supersample": options.supersample,
                    "height": list(options.height), "max_rotation": options.max_rotation,
                    "max_shift": options.max_shift, "stroke": options.stroke, "render_seed": options.render_seed,
                    "rule": "TextPath outline, even-odd fill on the fine grid, disk dilation / erosion, box average",
                    "per_face": np.bincount(face, minlength=len(options.faces)).tolist()},
    }
    return layouts.Table("unpaired", rows, Path(raw_dir), rule, channels=1, classes=list(CLASSES), extra=extra)


register_source(Source(
    name="digit_fonts",
    description="scikit-learn's handwritten digits (A) and digits printed from matplotlib's DejaVu fonts (B), "
                "each labelled; unpaired",
    offline=True,
    size="1,797 + 1,800 images of 8x8 / 32x32, ~0.5 MB",
    licence="UCI optdigits (CC BY 4.0) via scikit-learn (BSD); DejaVu fonts (Bitstream Vera licence) via matplotlib",
    fetch=_fetch,
    layout="unpaired",
    labels=True,
    options=DigitFontsOptions,
    table=_table,
))
