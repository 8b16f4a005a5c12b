"""Captions for handwritten digits, made from the label and properties measured on the image.

So that the text says more than the label, each digit's stroke thickness, slant and size are
measured on its pixels, turned into words by the terciles of its own class (thin / regular /
thick, leaning left / upright / leaning right, narrow / medium-width / wide: "a thick 1" is
thick for a 1), and written in several phrasings with varied synonyms.  Because the thresholds
are per class, the words carry information the label does not.  Everything here is a pure
function of the image (and, for the words, of the thresholds), so tests can check it on
constructed shapes.

Measurements on a grayscale image in [0, 1], ink bright on a dark background (as sklearn's and
MNIST's digits are), ink = pixels above ``threshold``:
  thickness  stroke width in pixels: 2 * distance-to-background - 1, averaged along the
             skeleton (the medial axis, where that distance is half the width).  A bar of
             odd width w gives exactly w.
  slant      degrees the digit leans right of vertical (negative: left), from the ink's
             second moments: atan(cov(x, y_up) / var(y_up)), the slope of x regressed on height.
  width      columns spanned by ink / image width (0..1): the digit's size.  Width, not
             height: sklearn's and MNIST's digits are normalised to the full box height, so
             only their width varies.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PROPERTIES = ("thickness", "slant", "width")
LEVELS = ("low", "mid", "high")

# Words per property and level (low / mid / high tercile); one is drawn per caption.
WORDS = {
    "thickness": (("thin", "fine", "light"), ("regular", "medium", "normal"), ("thick", "bold", "heavy")),
    "slant": (("leaning left", "slanted to the left", "tilted left"),
              ("upright", "standing straight", "straight up"),
              ("leaning right", "slanted to the right", "tilted right")),
    "width": (("narrow", "slim", "compact"), ("medium-width", "average-width", "normal-width"),
              ("wide", "broad", "stretched")),
}

# Every phrasing names the digit and all three properties, in different orders and frames.
TEMPLATES = (
    "a {width} {digit} in {thickness} strokes, {slant}",
    "the digit {digit} written {slant} with a {thickness} pen, {width}",
    "{width} and {thickness}: a handwritten {digit} {slant}",
    "a handwritten {digit} that is {width}, {thickness} and {slant}",
    "a {thickness} {digit}, {slant}, drawn {width}",
)
JOIN = " | "


@dataclass(frozen=True)
class Properties:
    thickness: float
    slant: float
    width: float


def ink_mask(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    return image > threshold


def stroke_thickness(ink: np.ndarray) -> float:
    """Mean stroke width in pixels along the skeleton (0 for an empty image)."""
    from skimage.morphology import skeletonize

    if not ink.any():
        return 0.0
    # Distance to the nearest background pixel, counting the pixel itself (1 at the border of the ink).
    dist = ndimage.distance_transform_edt(np.pad(ink, 1))[1:-1, 1:-1]
    skeleton = skeletonize(ink)
    return float(np.mean(2.0 * dist[skeleton] - 1.0))


def slant_degrees(ink: np.ndarray) -> float:
    """Lean right of vertical in degrees: the slope dx/dy_up of the ink's principal direction."""
    rows, cols = np.nonzero(ink)
    if len(rows) < 2:
        return 0.0
    y_up = -rows.astype(np.float64)  # rows grow downwards; height grows upwards
    x = cols.astype(np.float64)
    var_y = np.mean((y_up - y_up.mean()) ** 2)
    if var_y == 0:
        return 0.0  # a horizontal line has no lean
    cov = np.mean((x - x.mean()) * (y_up - y_up.mean()))
    return math.degrees(math.atan(cov / var_y))


def relative_width(ink: np.ndarray) -> float:
    cols = np.nonzero(ink.any(axis=0))[0]
    return 0.0 if len(cols) == 0 else float(cols[-1] - cols[0] + 1) / ink.shape[1]


def measure(image: np.ndarray, threshold: float = 0.5) -> Properties:
    ink = ink_mask(image, threshold)
    return Properties(stroke_thickness(ink), slant_degrees(ink), relative_width(ink))


def tercile_thresholds(props: list[Properties]) -> dict[str, tuple[float, float]]:
    """{property: (1/3 quantile, 2/3 quantile)} over a set of measurements."""
    if not props:
        raise ValueError("tercile_thresholds: no measurements")
    out = {}
    for name in PROPERTIES:
        values = np.array([getattr(p, name) for p in props], dtype=np.float64)
        lo, hi = np.quantile(values, [1 / 3, 2 / 3])
        out[name] = (float(lo), float(hi))
    return out


def levels(p: Properties, thresholds: dict[str, tuple[float, float]]) -> dict[str, int]:
    """{property: 0, 1 or 2}: below the low tercile edge, between, or above the high one."""
    out = {}
    for name in PROPERTIES:
        lo, hi = thresholds[name]
        v = getattr(p, name)
        out[name] = 0 if v < lo else (2 if v > hi else 1)
    return out


def captions(label: int, level: dict[str, int], rng: np.random.Generator, n: int = 4) -> list[str]:
    """``n`` phrasings (distinct templates) of one digit, synonyms and numeral-or-word drawn from rng."""
    if not 0 <= label < len(NUMBER_WORDS):
        raise ValueError(f"digit label must be 0..9, got {label}")
    if not 1 <= n <= len(TEMPLATES):
        raise ValueError(f"n must be 1..{len(TEMPLATES)}, got {n}")
    out = []
    for t in rng.permutation(len(TEMPLATES))[:n]:
        words = {name: WORDS[name][level[name]][rng.integers(3)] for name in PROPERTIES}
        digit = NUMBER_WORDS[label] if rng.random() < 0.5 else str(label)
        out.append(_articles(TEMPLATES[t].format(digit=digit, **words)))
    return out


def describe(label: int, level: dict[str, int], template: int = 0, synonym: int = 0, numeral: bool = False) -> str:
    """One caption chosen by index rather than by chance (for pictures that vary one property)."""
    words = {name: WORDS[name][level[name]][synonym] for name in PROPERTIES}
    digit = str(label) if numeral else NUMBER_WORDS[label]
    return _articles(TEMPLATES[template].format(digit=digit, **words))


def _phrase_pattern(phrase: str) -> re.Pattern:
    # Whole words only, and not part of a hyphenated word: "medium" must not match "medium-width".
    return re.compile(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])")


_PATTERNS = {name: [[_phrase_pattern(w) for w in words] for words in WORDS[name]] for name in PROPERTIES}
_DIGIT = re.compile(r"(?<![\w-])(" + "|".join(NUMBER_WORDS) + r"|[0-9])(?![\w-])")


def parse_levels(text: str) -> dict[str, int | None]:
    """The level each property's words ask for in a caption (None: not said, or said two ways)."""
    text = text.lower()
    out: dict[str, int | None] = {}
    for name in PROPERTIES:
        found = {lvl for lvl, pats in enumerate(_PATTERNS[name]) if any(p.search(text) for p in pats)}
        out[name] = found.pop() if len(found) == 1 else None
    return out


def parse_digit(text: str) -> int | None:
    """The digit a caption names (word or numeral); None when it names none or several."""
    found = {m if m.isdigit() else str(NUMBER_WORDS.index(m)) for m in _DIGIT.findall(text.lower())}
    return int(found.pop()) if len(found) == 1 else None


def _articles(text: str) -> str:
    """'a average-width 8' -> 'an average-width 8' (vowel sounds; 'one' is said 'wun')."""
    return re.sub(r"\ba (?=(?!one\b)[aeiou8])", "an ", text)


def as_dict(p: Properties) -> dict[str, float]:
    return asdict(p)
