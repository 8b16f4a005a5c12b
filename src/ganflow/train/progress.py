"""Training progress for a person watching a terminal and for a log file alike.

On a terminal: tqdm's bar, redrawn in place.  Anywhere else (a Snakemake or DVC log, a cluster
job's output, a pipe) a redrawn bar is written as hundreds of carriage-return frames that nobody
can read, so there the same facts come as one plain line every ``every_percent`` of the run (and
one at the end): step, rate, ETA and the last logged loss terms.  ``TQDM_DISABLE`` (what
``ganflow -q`` sets) silences both.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import TextIO

from tqdm.auto import tqdm


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``update(step, terms)`` after each step; ``close()`` at the end."""

    def __init__(self, total: int, initial: int, desc: str, enabled: bool = True, stream: TextIO | None = None,
                 every_percent: float = 4.0, clock=time.perf_counter):
        self.total, self.desc, self.clock = total, desc, clock
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and not os.environ.get("TQDM_DISABLE")
        self.terminal = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = max(1, math.ceil(total * every_percent / 100))
        self.start_step, self.t0 = initial, clock()
        self.last_step, self.terms = initial, {}
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True,
                        file=self.stream) if self.terminal else None

    def update(self, step: int, terms: dict[str, float] | None = None) -> None:
        if terms:
            self.terms = dict(terms)
            if self.bar is not None:
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items() if k.endswith("total")})
        if self.bar is not None:
            self.bar.update(step - self.last_step)
        elif self.enabled and (step % self.every == 0 or step == self.total):
            self.stream.write(self.line(step) + "\n")
            self.stream.flush()
        self.last_step = step

    def line(self, step: int) -> str:
        """'train pix2pix: step 60/1500 (4%), 13.1 step/s, elapsed 0:05, ETA 1:12, D_total 0.51 ...'"""
        elapsed = self.clock() - self.t0
        rate = (step - self.start_step) / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        terms = ", ".join(f"{k} {v:.4g}" for k, v in self.terms.items())
        return (f"{self.desc}: step {step}/{self.total} ({100 * step / self.total:.0f}%), {rate:.3g} step/s, "
                f"elapsed {_clock(elapsed)}, ETA {_clock(eta) if math.isfinite(eta) else '?'}"
                + (f", {terms}" if terms else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
