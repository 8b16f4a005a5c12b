"""Box KID (metrics/box_kid.py): known answers and an independent computation."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog
from skimage.transform import resize

from conftest import direct_mmd2
from ganflow.metrics.bootstrap import resample_indices
from ganflow.metrics.box_kid import BOX_SIZE, box_crops, box_kid, box_kid_interval, hog_features

SIZE = 64


def mouths(n: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Synthetic faces: grey skin with noise and, in each box, two dark lips around a darker gap
    whose height, position and darkness vary from face to face."""
    rng = np.random.default_rng(seed)
    imgs, boxes = [], []
    for _ in range(n):
        img = 0.6 + 0.03 * rng.standard_normal((SIZE, SIZE))
        t, l = int(rng.integers(38, 44)), int(rng.integers(12, 18))
        b, r = t + int(rng.integers(16, 20)), l + int(rng.integers(28, 34))
        mid = (t + b) // 2 + int(rng.integers(-2, 3))
        cols = slice(l + 3, r - 3)
        img[mid - 4:mid - 1, cols] = 0.35 + 0.1 * rng.random()  # upper lip
        img[mid - 1:mid + 1, cols] = 0.1  # the gap
        img[mid + 1:mid + 5, cols] = 0.4 + 0.1 * rng.random()  # lower lip
        imgs.append(np.clip(img, 0, 1))
        boxes.append((t, l, b, r))
    return np.stack(imgs), boxes


def fill_boxes(images: np.ndarray, boxes, value) -> np.ndarray:
    out = images.copy()
    for img, (t, l, b, r) in zip(out, boxes):
        img[t:b, l:r] = value
    return out


def test_crops_are_the_boxes_resized_to_one_size_and_grey():
    images, boxes = mouths(3, seed=0)
    crops = box_crops(images, boxes)
    assert crops.shape == (3, *BOX_SIZE)
    t, l, b, r = boxes[1]
    expected = resize(images[1][t:b, l:r], BOX_SIZE, order=1, anti_aliasing=True, mode="edge")
    np.testing.assert_allclose(crops[1], expected)
    # a box already of BOX_SIZE comes back pixel for pixel; colour is averaged to grey
    img = np.random.default_rng(1).random((SIZE, SIZE, 3))
    box = (10, 5, 10 + BOX_SIZE[0], 5 + BOX_SIZE[1])
    np.testing.assert_allclose(box_crops(img[None], [box])[0], img[10:34, 5:45].mean(axis=-1), atol=1e-12)


def test_box_kid_equals_an_independent_computation():
    real, boxes = mouths(12, seed=0)
    fake, _ = mouths(12, seed=1)
    fake = fill_boxes(fake, boxes, 0.5) * 0.5 + fake * 0.5  # half-faded mouths, in the real boxes
    feats = [np.stack([hog(resize(img[t:b, l:r], BOX_SIZE, order=1, anti_aliasing=True, mode="edge"),
                           orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2), block_norm="L2-Hys")
                       for img, (t, l, b, r) in zip(imgs, boxes)]) for imgs in (real, fake)]
    assert box_kid(real, fake, boxes) == pytest.approx(direct_mmd2(*feats), rel=1e-9, abs=1e-12)

    # its interval: the same estimator on resampled fills (plain loop, the same draws), real boxes fixed
    iv = box_kid_interval(real, fake, boxes, seed=4)
    loop = [direct_mmd2(feats[0], feats[1][idx]) for idx in resample_indices(12, iv["resamples"], 4)]
    # (the percentile ends moved by value - median(replicates), as FID's and KID's intervals are)
    shift = direct_mmd2(*feats) - np.median(loop)
    assert (iv["low"], iv["high"]) == pytest.approx(tuple(np.percentile(loop, [2.5, 97.5]) + shift),
                                                    rel=1e-9, abs=1e-12)
    assert iv["n"] == 12 and iv["seed"] == 4


def test_a_flat_box_of_any_grey_scores_the_known_value_and_far_worse_than_mouths():
    real, boxes = mouths(12, seed=0)
    x = hog_features(box_crops(real, boxes))
    d, m = x.shape[1], len(x)
    # A flat box has no gradient: HOG all zeros, so k(x, 0) = k(0, 0) = 1 and
    # MMD^2 = mean_{i != j} (x_i.x_j / d + 1)^3 + 1 - 2.
    gram = (x @ x.T / d + 1) ** 3
    known = (gram.sum() - np.trace(gram)) / (m * (m - 1)) - 1
    for grey in (1.0, 0.5, 0.0):
        assert box_kid(real, fill_boxes(real, boxes, grey), boxes) == pytest.approx(known, rel=1e-9)
    other_mouths, _ = mouths(12, seed=2)
    # other faces' mouths, cut at these boxes: far closer to real mouths than any flat fill
    assert box_kid(real, other_mouths, boxes) < 0.25 * known


def test_identical_sets_are_at_or_below_zero_and_errors_name_the_problem():
    real, boxes = mouths(6, seed=0)
    assert box_kid(real, real, boxes) <= 1e-12  # the unbiased estimate of a zero distance
    with pytest.raises(ValueError, match="not inside"):
        box_crops(real[:1], [(60, 0, 70, 10)])
    with pytest.raises(ValueError, match="6 images but 5 boxes"):
        box_crops(real, boxes[:5])
