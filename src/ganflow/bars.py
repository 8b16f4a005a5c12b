"""tqdm bars that `ganflow --quiet` can silence.

--quiet sets TQDM_DISABLE (cli.py).  tqdm reads that variable once, when it is imported, and
only as the *default* of its ``disable`` argument: an explicit ``disable=False`` turns a bar
back on, and a tqdm imported before --quiet took effect never sees it.  So every bar asks here.
"""
from __future__ import annotations

import os


def quiet_requested() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")


def shown_if(progress: bool) -> dict:
    """tqdm keyword arguments for a bar wanted when ``progress``: disabled when it is not, or
    under --quiet (TQDM_DISABLE); otherwise none, so that tqdm's own defaults apply."""
    return {"disable": True} if not progress or quiet_requested() else {}
