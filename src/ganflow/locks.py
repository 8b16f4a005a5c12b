"""One run of a stage on one target at a time per workspace, refused rather than interleaved.

Snakemake and DVC lock their own runs; this lock also covers two plain `ganflow` commands (or a
`ganflow` command beside a tool's run) writing the same outputs.  It is an advisory ``flock`` on
``.ganflow/locks/<stage>-<target>.lock``: the kernel drops it when the process dies, even by
kill -9, so a crash never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator
from ganflow.errors import UsageError

LOCK_DIR = Path(".ganflow") / "locks"


@contextlib.contextmanager
def stage_lock(stage: str, target: str | None) -> Iterator[None]:
    if int(os.environ.get("RANK", "0")) > 0:
        # A torchrun worker: rank 0 of the same launch holds the lock for the whole group.
        yield
        return
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = LOCK_DIR / f"{stage}-{target or 'all'}.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise UsageError(f"ganflow {stage}{' ' + target if target else ''} is already running in this "
                             f"workspace ({holder}); wait for it to finish") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
