"""Box KID: do the filled mouth boxes look like mouths?  A perceptual number beside RMSE.

RMSE against the truth rewards the mean: on small faces a flat grey box, the mean training face
or a biharmonic fill score within a few percent of a model that draws lips and teeth, because
any drawn detail that is not exactly where the truth has it costs more than leaving it out.
This measure looks at the mouth boxes only and asks whether, as a set, they have the structure
real mouths have:

1. each box is cut out of its image and resized (bilinear, anti-aliased) to ``BOX_SIZE``, so
   boxes of any size compare; colour images are averaged to grey first;
2. its features are scikit-image's HOG (histograms of gradient orientation in 6 x 6-pixel
   cells, contrast-normalised over 2 x 2 blocks): what lips, the dark gap between them and
   teeth produce, and what a flat or smeared fill lacks (a flat box has no gradient at all);
3. the set of fills is compared with the set of real boxes by KID (metrics/kid.py): the
   unbiased squared MMD under the cubic kernel (x.y/d + 1)^3, over all boxes at once (at the
   tens of boxes a test set has, every subset would be the whole set).

Why these features and not the Inception's: they need no weights (no download, the same number
on every machine, graders included), cost a millisecond per box, and at 24 x 40 pixels a box is
far below the 299 x 299 the Inception was trained on.  Lower is better; about 0 means the fills
are distributed like real mouths; it can be slightly negative.  Compare it only at equal n.
HOG's blocks are contrast-normalised, so a faint pattern (stripes, a checkerboard) counts like a
strong edge: the number says whether a box has a mouth's structure, RMSE whether it has the
truth's pixels; read the two together.
"""
from __future__ import annotations

import numpy as np

from ganflow.metrics.bootstrap import kid_interval
from ganflow.metrics.kid import kernel_inception_distance

Box = tuple[int, int, int, int]  # top, left, bottom, right (bottom/right exclusive)
BOX_SIZE = (24, 40)  # rows, columns: the homework's mouth boxes are about 0.6 as high as wide
HOG_SETTINGS = {"orientations": 9, "pixels_per_cell": (6, 6), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
DEFINITION = (f"KID (unbiased MMD^2, kernel (x.y/d + 1)^3, all boxes at once) between HOG features "
              f"(skimage.feature.hog, {HOG_SETTINGS['orientations']} orientations, 6x6-pixel cells, 2x2 blocks, "
              f"L2-Hys) of the mouth boxes resized to {BOX_SIZE[0]}x{BOX_SIZE[1]} (bilinear, anti-aliased, grey) "
              f"and those of the real boxes; lower is better, ~0: like real mouths")


def box_crops(images: np.ndarray, boxes: list[Box], size: tuple[int, int] = BOX_SIZE) -> np.ndarray:
    """(N, *size) grey crops of each image's box; images (N, H, W) or (N, H, W, C) in [0, 1]."""
    from skimage.transform import resize

    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} images but {len(boxes)} boxes")
    out = []
    for img, (t, l, b, r) in zip(images, boxes):
        if not (0 <= t < b <= img.shape[0] and 0 <= l < r <= img.shape[1]):
            raise ValueError(f"box {(t, l, b, r)} (top, left, bottom, right) is not inside a {img.shape[:2]} image")
        crop = np.asarray(img[t:b, l:r], dtype=np.float64)
        if crop.ndim == 3:
            crop = crop.mean(axis=-1)
        out.append(resize(crop, size, order=1, anti_aliasing=True, mode="edge"))
    return np.stack(out)


def hog_features(crops: np.ndarray) -> np.ndarray:
    """(N, d) HOG features of (N, h, w) grey crops."""
    from skimage.feature import hog

    return np.stack([hog(c, feature_vector=True, **HOG_SETTINGS) for c in crops])


def box_kid(real: np.ndarray, fake: np.ndarray, boxes: list[Box]) -> float:
    """Box KID of ``fake``'s boxes against ``real``'s (both image arrays, box ``boxes[i]`` in image i)."""
    f_real, f_fake = hog_features(box_crops(real, boxes)), hog_features(box_crops(fake, boxes))
    n = min(len(f_real), len(f_fake))
    return kernel_inception_distance(f_real, f_fake, subsets=1, subset_size=n)["mean"]


def box_kid_interval(real: np.ndarray, fake: np.ndarray, boxes: list[Box], seed: int = 0) -> dict:
    """Bootstrap interval of :func:`box_kid` over ``fake``'s boxes (the real boxes fixed): each
    replicate is the same whole-set unbiased MMD^2 of a resampled set of fills."""
    f_real, f_fake = hog_features(box_crops(real, boxes)), hog_features(box_crops(fake, boxes))
    return kid_interval(f_real, f_fake, seed=seed)
