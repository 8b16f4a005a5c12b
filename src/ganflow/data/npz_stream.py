""".npz files written and read a slice of rows at a time, never the whole array in memory.

The file is what ``np.savez_compressed`` writes (a zip of deflated .npy members, in the order
given), so ``np.load`` reads it as before; what differs is that one member's rows arrive in
chunks: its .npy header declares the final shape up front and the rows are appended behind it.
Reading back is the same walk: the member is inflated as a stream and cut into row blocks, so a
50,000-image array costs one block of memory.  Works on files np.savez / savez_compressed wrote.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ganflow.errors import DataError


class NpzStreamWriter:
    """``add(key, array)`` for whole arrays, ``begin(key, n, row_shape, dtype)`` then ``append(rows)``
    for the streamed one; ``close()`` (or the with block) checks that all n rows came."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._open = None  # (key, member file, rows expected, rows written, row shape, dtype)

    def __enter__(self) -> NpzStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def add(self, key: str, array) -> None:
        self._finish()
        with self._zip.open(f"{key}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    def begin(self, key: str, n: int, row_shape: tuple[int, ...], dtype) -> None:
        self._finish()
        dtype = np.dtype(dtype)
        member = self._zip.open(f"{key}.npy", "w", force_zip64=True)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                  "shape": (int(n), *map(int, row_shape))}
        np.lib.format.write_array_header_1_0(member, header)
        self._open = [key, member, int(n), 0, tuple(row_shape), dtype]

    def append(self, rows) -> None:
        if self._open is None:
            raise RuntimeError(f"{self.path}: append() before begin()")
        key, member, n, done, row_shape, dtype = self._open
        rows = np.ascontiguousarray(rows, dtype=dtype)
        if rows.shape[1:] != row_shape:
            raise ValueError(f"{self.path}:{key}: rows of shape {rows.shape[1:]}, begun with {row_shape}")
        if done + len(rows) > n:
            raise ValueError(f"{self.path}:{key}: more than the {n} rows declared")
        member.write(rows.tobytes())
        self._open[3] = done + len(rows)

    def _finish(self) -> None:
        if self._open is None:
            return
        key, member, n, done, _, _ = self._open
        self._open = None
        member.close()
        if done != n:
            raise ValueError(f"{self.path}:{key}: {done} rows written of the {n} declared")

    def close(self) -> None:
        try:
            self._finish()
        finally:
            self._zip.close()

    def _abort(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
        self._zip.close()


def _header(member, where: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(member)
    if fortran or dtype.hasobject:
        raise DataError(f"{where}: a Fortran-ordered or object array cannot be read in row blocks")
    return tuple(shape), dtype


def npz_shape(path: Path | str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one member, from its header alone."""
    with _member(path, key) as member:
        return _header(member, f"{path}:{key}")


def iter_npz_rows(path: Path | str, key: str, rows: int) -> Iterator[np.ndarray]:
    """Blocks of up to ``rows`` rows of member ``key``, in order (each a fresh writable array)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    where = f"{path}:{key}"
    with _member(path, key) as member:
        shape, dtype = _header(member, where)
        row_shape = shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            buf = member.read(count * row_bytes)
            if len(buf) != count * row_bytes:
                raise DataError(f"{where}: truncated at row {start} of {shape[0]}")
            yield np.frombuffer(bytearray(buf), dtype=dtype).reshape(count, *row_shape)


class _member:
    def __init__(self, path, key) -> None:
        self.where = f"{path}:{key}"
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: not a readable .npz file ({e})") from None
        try:
            self.file = self.zip.open(f"{key}.npy")
        except KeyError:
            names = [n[:-4] for n in self.zip.namelist()]
            self.zip.close()
            raise DataError(f"{path}: no array {key!r}; it holds {names}") from None

    def __enter__(self):
        return self.file

    def __exit__(self, *exc) -> None:
        self.file.close()
        self.zip.close()
