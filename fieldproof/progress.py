"""Progress of a long session: on a terminal one live line (the suite, tests done of all, requests of
the budget, findings so far, a 429 being waited out and for how long); without one (CI) a
plain line every 10 s. `fieldproof run --quiet` turns it off.

Each pytest process writes what it knows to `<work>/<worker>.progress.json` twice a second
(`ProgressWriter`); the controller reads those beside its own count of finished tests.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

INTERVAL_S = 10.0  # a plain line this often (FIELDPROOF_PROGRESS_INTERVAL_S overrides: tests)
WRITE_EVERY_S = 0.5


class ProgressWriter:
    """In a pytest process: what it has done so far, written to a file for the controller."""

    def __init__(self, path: Path, read: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.read = read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fieldproof-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(WRITE_EVERY_S):
            self.write()

    def write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.read()))
        temporary.replace(self.path)  # never half a file for the reader

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.write()


class Progress:
    """In the controller: the line, live on a terminal or every INTERVAL_S seconds in CI."""

    def __init__(self, work: Path, tests: Callable[[], tuple[int, int]], budget: int | None, out: TextIO,
                 live: bool | None = None) -> None:  # fmt: skip
        self.work = work
        self.tests = tests  # (done, total)
        self.budget = budget
        self.out = out
        self.live = out.isatty() if live is None else live
        self.interval_s = float(os.environ.get("FIELDPROOF_PROGRESS_INTERVAL_S", INTERVAL_S))
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fieldproof-progress", daemon=True)
        self._live_display: Any = None

    def line(self) -> str:
        workers = [w for w in (_read(path) for path in sorted(self.work.glob("*.progress.json"))) if w]
        done, total = self.tests()
        requests = sum(w.get("requests", 0) for w in workers)
        findings = sum(w.get("findings", 0) for w in workers)
        suites = sorted({w["test"].split("::", 1)[0].removesuffix(".py").removeprefix("test_") for w in workers if w.get("test")})
        now = time.time()
        waits = [w["waiting_until"] - now for w in workers if w.get("waiting_until")]
        between = "starting" if not done else "done" if total and done >= total else "collecting"
        parts = [f"[{time.monotonic() - self.started:.0f} s] {', '.join(suites) or between}",
                 f"tests {done}/{total or '?'}", f"requests {requests}" + (f"/{self.budget}" if self.budget else ""),
                 f"findings {findings}"]  # fmt: skip
        if waits:
            parts.append(f"waiting on a 429 for {max(0.0, max(waits)):.0f} s more")
        return "fieldproof: " + " · ".join(parts)

    def start(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.out, highlight=False)
            self._live_display = Live(self.line(), console=console, transient=True, refresh_per_second=4)
            self._live_display.start()
        else:
            print(self.line(), file=self.out, flush=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25 if self.live else self.interval_s):
            if self._live_display is not None:
                self._live_display.update(self.line())
            else:
                print(self.line(), file=self.out, flush=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        if self._live_display is not None:
            self._live_display.stop()
        else:
            print(self.line(), file=self.out, flush=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None
