"""Reading and writing images as float arrays in [0, 1], with errors that name the file.

Arrays are H x W (grayscale) or H x W x 3 (RGB) float32.  Tensors for the networks are made
elsewhere (data/tensors.py); this module only knows files.

Reading is defensive, because image folders come from users and the internet:

* an image whose header declares more than ``max_pixels`` pixels is refused before it is decoded
  (a 30000 x 30000 PNG is 0.9 MB on disk and 2.7 GB as RGB bytes, 11 GB as float32).  The limit
  is ``datasets.<name>.max_image_pixels`` during pair (see :func:`pixel_limit`), Pillow's own
  ``MAX_IMAGE_PIXELS`` (89,478,485) elsewhere;
* the EXIF orientation tag is applied (``ImageOps.exif_transpose``), so a phone photo taken upright
  is used upright, as every photo viewer shows it.
"""
from __future__ import annotations

import contextlib
import contextvars
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ganflow import errors
from ganflow.atomic import atomic_path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class ImageError(errors.ImageError, ValueError):
    """An image file that cannot be used; the message names the file."""


DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_max_pixels: contextvars.ContextVar[int] = contextvars.ContextVar("ganflow_max_pixels", default=DEFAULT_MAX_PIXELS)


@contextlib.contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Refuse images over ``max_pixels`` (width x height) while the block runs."""
    token = _max_pixels.set(int(max_pixels))
    try:
        yield
    finally:
        _max_pixels.reset(token)


def current_pixel_limit() -> int:
    """The limit in force here (worker processes are handed it: a context variable does not travel)."""
    return _max_pixels.get()


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: Path | str, channels: int | None = None) -> np.ndarray:
    """Load ``path`` as float32 in [0,1]; ``channels`` 1 or 3 converts, None keeps L or RGB."""
    path = Path(path)
    with errors.reading(path):
        return _load_image(path, channels)


def _load_image(path: Path, channels: int | None) -> np.ndarray:
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as opened:
            limit = _max_pixels.get()
            if opened.width * opened.height > limit:  # from the header: nothing decoded yet
                raise ImageError(f"{path}: {opened.width} x {opened.height} pixels is over the limit of "
                                 f"{limit:,} (a decompression bomb, or raise datasets.<name>.max_image_pixels)")
            opened.load()
            im = ImageOps.exif_transpose(opened)  # the orientation a viewer shows; a no-op without EXIF
            mode = {1: "L", 3: "RGB"}.get(channels or 0, "L" if im.mode in ("L", "I;16", "I", "1", "LA") else "RGB")
            if im.mode == "I;16":
                arr = np.asarray(im, dtype=np.float32) / 65535.0
                return arr if mode == "L" else np.repeat(arr[..., None], 3, axis=2)
            arr = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    except ImageError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own guard, past twice its MAX_IMAGE_PIXELS
        raise ImageError(f"{path}: refused as a decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None
    return arr


def to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(arr, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def save_image(path: Path | str, arr: np.ndarray, *, atomic: bool = True) -> None:
    """Write a [0,1] float (or uint8) array as an 8-bit PNG, atomically.

    ``atomic=False`` is for a new file inside a folder that is itself being built atomically
    (atomic.atomic_dir, as pair does): the PNG is encoded in memory and written with one
    exclusive create, no temporary name, chmod and rename per file (on a set of 200,000 images,
    600,000 fewer directory operations, which workers writing one folder contend for)."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    data = arr if arr.dtype == np.uint8 else to_uint8(arr)
    if not atomic:
        buf = io.BytesIO()
        Image.fromarray(data).save(buf, format="PNG")
        try:
            f = open(path, "xb")
        except FileNotFoundError:  # the first file of its folder
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "xb")
        with f:
            f.write(buf.getbuffer())
        return
    with atomic_path(path) as tmp:
        Image.fromarray(data).save(tmp, format="PNG")


def resize(arr: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize to size x size (PIL on float32 data, no 8-bit round trip)."""
    if arr.shape[0] == size and arr.shape[1] == size:
        return arr.astype(np.float32)
    if arr.ndim == 2:
        out = np.asarray(Image.fromarray(arr.astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
    else:
        out = np.stack([resize(arr[..., c], size) for c in range(arr.shape[2])], axis=2)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
