"""A dependency-free progress bar on stderr (one line, redrawn in place on a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``label [#####.....] 120/500 12.3 it/s loss 0.53``; silent when ``enabled`` is false."""

    def __init__(self, label: str, total: int, *, start: int = 0, enabled: bool = True) -> None:
        self.label, self.total, self.done, self.enabled = label, total, start, enabled
        self.started, self.first = time.perf_counter(), start
        self.interactive = sys.stderr.isatty()
        self.last_print = 0.0

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        now = time.perf_counter()
        final = done >= self.total
        if not self.enabled or (not final and now - self.last_print < (0.2 if self.interactive else 10.0)):
            return
        self.last_print = now
        rate = (done - self.first) / max(now - self.started, 1e-9)
        filled = int(30 * done / max(self.total, 1))
        line = f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {rate:.1f} it/s {note}"
        end = "\n" if final or not self.interactive else ""
        print(("\r" if self.interactive else "") + line, end=end, file=sys.stderr, flush=True)
