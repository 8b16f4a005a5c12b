"""ganflow's exceptions: the library raises them, and only the CLI turns them into a message and an
exit code.  Each message is a sentence a student understands and names the file, key or row.

Every class derives from ``GanflowError`` (itself an ``Exception``), so a notebook, a sweep driver or
``ganflow reproduce`` catches all of them with one ``except GanflowError`` (or ``except Exception``).
The subclasses say what kind of thing was wrong; the message says which one and how to fix it.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator


class GanflowError(Exception):
    """The root of ganflow's errors."""


class ParamsError(GanflowError):
    """params.yaml (or defaults.yaml, or a command-line value) is wrong: the message names the key."""


class UsageError(GanflowError):
    """A command was called with arguments that cannot work (a missing INPUT, a clashing OUTPUT)."""


class MissingInputError(GanflowError):
    """A stage's input has not been made yet: the message names it and the command that makes it."""


class DataError(GanflowError):
    """A data set's file or folder cannot be used: the message names the file (and row)."""


class DownloadError(DataError):
    """Every URL of a download failed, or what arrived does not match its checksum."""


class ArchiveError(DataError):
    """An archive is corrupt, too large, or holds a member that would land outside its target."""


class ImageError(DataError):
    """An image file is unreadable, truncated, or too large to decode safely."""


class CheckpointError(GanflowError):
    """A checkpoint is missing, corrupt, unsafe to load, or not the structure ganflow writes."""


class StatsError(GanflowError):
    """A statistics or metric file (FID reference .npz, metrics .json) is corrupt or implausible."""


class TrainingError(GanflowError):
    """Training cannot go on (a loss became NaN or infinite, a resume does not match)."""


class ReproductionError(GanflowError):
    """A recorded run cannot be reproduced here (params or data changed), or its numbers differ."""


class GradingError(GanflowError):
    """Grading cannot run at all (no answer key, an empty folder); one bad submission is a finding."""


class GraphError(GanflowError):
    """The stage graph and dvc.yaml disagree, or the graph cannot be derived from params.yaml."""


# The file a command is reading, for the CLI's last-resort message when an exception that is not a
# GanflowError escapes (a bug, or an input nobody foresaw): "while reading data/raw/x.png".
_reading: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("ganflow_reading", default=())


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Mark ``path`` as the file being read while the block runs (nested blocks stack)."""
    token = _reading.set(_reading.get() + (os.fspath(path),))
    try:
        yield
    except BaseException as e:
        # Keep the innermost file on the exception itself: the context is unwound by the time the
        # CLI's handler sees it.
        if not hasattr(e, "ganflow_reading"):
            try:
                e.ganflow_reading = os.fspath(path)
            except AttributeError:  # built-in exceptions with __slots__ cannot take attributes
                pass
        raise
    finally:
        _reading.reset(token)


def file_being_read(exc: BaseException) -> str | None:
    """The innermost file a ``reading`` block named when ``exc`` escaped it, if any."""
    return getattr(exc, "ganflow_reading", None)
