"""scikit-image's LFW subset: the offline default face set."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganflow.data.images import save_image
from ganflow.data.sources import Source, register_source


def _fetch_lfw_faces(options, raw_dir: Path, downloads: Path | None = None) -> None:
    """Write the 100 face crops of ``skimage.data.lfw_subset()`` (the first 100 of its 200 images).

    They are aligned 25 x 25 grayscale faces from Labeled Faces in the Wild; the other 100 are
    non-faces and are left out.  Stored as 8-bit PNG, the way a downloaded set would arrive.
    """
    from skimage import data

    faces = data.lfw_subset()[:100]
    images = raw_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        save_image(images / f"face_{i:03d}.png", np.clip(face, 0, 1))


register_source(Source(
    name="skimage_lfw_faces",
    description="100 aligned 25x25 grayscale LFW faces shipped with scikit-image",
    offline=True,
    size="100 images, 60 KB",
    licence="LFW: free for research use",
    fetch=_fetch_lfw_faces,
))
