"""An ordered map over worker processes, for the per-image data stages (pair, mask).

Results come back in input order (``Pool.imap``), so whatever the parent builds from them
(manifest rows, the list of problems, the mean face) is the same for 1 and N workers.  The
workers read and write the image files themselves and send back only small records, so the
parent never holds decoded images; ``imap`` feeds tasks through a pipe, which blocks when full,
so the pending tasks do not pile up either.

Processes come from the "spawn" context on every platform: the same behaviour as macOS and
Windows, and no fork of a parent whose thread pools (torch, OpenMP) would be copied half-held.
One worker runs in-process: no pool, same function, same results.

Each worker keeps the memory it freed (glibc's ``mallopt``, see :func:`keep_freed_memory`): with
glibc's defaults a fresh process hands an image's buffers back to the kernel after every image
and faults them in again for the next, ~300 page faults an image; measured on pair at N = 10,000
with 2 workers, 3.2 million page faults and 8 s of system time, against 78 thousand and 1.3 s.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm import tqdm

from ganflow.bars import shown_if

# A spawned worker costs a Python start and the imports before its first image; with fewer items
# than this per worker the start is not paid back, so fewer workers are started.
MIN_ITEMS_PER_WORKER = 64
MAX_CHUNK = 16  # items per task: enough to amortise the pipe, few enough for a smooth bar

_stop: Any = None  # this process's stop flag (set by the pool's initializer, or in-process)


def worker_count(requested: int | None, n_items: int) -> int:
    """Workers to start: ``requested`` (None: every core), fewer when there are few items."""
    wanted = requested if requested is not None else (os.cpu_count() or 1)
    return max(1, min(wanted, n_items // MIN_ITEMS_PER_WORKER))


def stop_requested() -> bool:
    """True once the parent called :meth:`Workers.stop`: work still queued may skip its writing."""
    return _stop is not None and _stop.is_set()


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEEP_BELOW = 16 << 20      # blocks under this come from the heap and are reused, not mmap'd each time
TRIM_ABOVE = 64 << 20      # the heap is given back to the kernel only when this much of it is free


def keep_freed_memory() -> bool:
    """Make this process reuse freed blocks instead of returning them to the kernel at once.

    Fixed thresholds replace glibc's adaptive ones, which in a new process start at 128 KiB: every
    decoded image (a 178 x 218 float32 RGB array is 465 KB) is then mmap'd and unmapped, or trimmed
    off the heap, per image.  Blocks over KEEP_BELOW (a huge photo) still go straight back.  False
    where the C library has no mallopt (macOS, Windows): nothing changes there."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # no mallopt, or no C library handle (Windows)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BELOW)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_ABOVE))


malloc_tuned = False  # whether keep_freed_memory() took effect in this process (tests read it)


def _init(stop) -> None:
    global _stop, malloc_tuned
    _stop = stop
    if stop is not None and not malloc_tuned:
        malloc_tuned = keep_freed_memory()


class Workers:
    """``with Workers(n) as w: for result in w.map(fn, items, desc=...): ...``

    ``fn`` must be a module-level function (or a functools.partial of one) so that a spawned
    process can import it; its exceptions reach the parent as they were raised.
    """

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"workers must be at least 1, got {n}")
        self.n = n
        self._pool = None
        self._flag = None

    def __enter__(self) -> "Workers":
        if self.n == 1:
            self._flag = threading.Event()
            _init(self._flag)
        else:
            ctx = multiprocessing.get_context("spawn")
            self._flag = ctx.Event()
            self._pool = ctx.Pool(self.n, initializer=_init, initargs=(self._flag,))
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            if exc[0] is None:
                self._pool.close()
            else:  # an error or an interrupt: queued work is not wanted
                self._pool.terminate()
            self._pool.join()
            self._pool = None
        else:
            _init(None)

    def stop(self) -> None:
        """Ask the workers to skip the writing part of work not yet done (checking goes on)."""
        self._flag.set()

    def map(self, fn: Callable, items: Sequence, *, desc: str, unit: str = "img",
            progress: bool = True) -> Iterator:
        """fn(item) for every item, in order, with a progress bar over the items."""
        if self._pool is None:
            results = map(fn, items)
        else:
            chunk = max(1, min(MAX_CHUNK, len(items) // (self.n * 4)))
            results = self._pool.imap(fn, items, chunksize=chunk)
        yield from tqdm(results, total=len(items), desc=desc, unit=unit, **shown_if(progress))
