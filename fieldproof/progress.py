"""Progress of a long session: on a terminal one live line, in colour (the suite, tests done of
all, schemathesis' cases, requests of the budget, findings so far by severity, a 429 being
waited out and for how long); without one (CI) the same line in plain text every INTERVAL_S
seconds and when a suite starts. `fieldproof run --quiet` turns it off; NO_COLOR takes the
colour away.

Each pytest process writes what it knows to `<work>/<part><worker>.progress.json` twice a
second (`ProgressWriter`); the controller reads those beside its own count of finished tests.

The line goes to a duplicate of the output's file descriptor, taken before pytest starts:
pytest captures file descriptor 1 while a test runs, and whatever is written to it then is
kept for a failure's report instead of reaching the person or the CI log.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO, cast

from rich.text import Text

from fieldproof.files import TolerantOutput
from fieldproof.records import WorkerStatus, read_status, write_status
from fieldproof.rules import Severity

INTERVAL_S = 10.0  # a plain line this often (FIELDPROOF_PROGRESS_INTERVAL_S overrides: tests)
WRITE_EVERY_S = 0.5
SWARM_PROGRESS = "swarm.progress.json"  # in the session's work folder: what the swarm's master knows so far
LIVE_REFRESH_S = 0.25
STYLES = {"critical": "bold red", "major": "red", "minor": "yellow"}


# --- in a pytest process ----------------------------------------------------------------------


_cases = [0]  # schemathesis cases run by this process, in all its pytest sessions


def count_case() -> None:
    """One schemathesis case done: its tests are few and long, so its cases show it moving."""
    _cases[0] += 1


def cases_counted() -> int:
    return _cases[0]


class ProgressWriter:
    """In a pytest process: what it has done so far, written to a file for the controller."""

    def __init__(self, path: Path, read: Callable[[], WorkerStatus]) -> None:
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
        try:
            status = self.read()
        except RuntimeError:  # a count changed while it was copied: the next write has it
            return
        write_status(self.path, status)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.write()


# --- in the controller ------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """What the line shows at one moment."""

    elapsed_s: float
    running: tuple[str, ...] = ()  # suites with a test running
    detail: str | None = None  # what the one running test works on (schemathesis: its operation)
    done: int = 0  # tests finished
    total: int = 0  # tests collected so far
    later: tuple[str, ...] = ()  # suites in pytest sessions not collected yet
    cases: int = 0
    requests: int = 0
    budget: int | None = None
    findings: Mapping[str, int] = field(default_factory=dict)  # severity -> findings, most severe first
    wait_left_s: float | None = None  # a 429 being waited out: seconds left ...
    wait_s: float | None = None  # ... of a wait this long
    finished: bool = False
    counts_tests: bool = True  # False: no tests to count (the swarm)


def render(moment: Moment) -> Text:
    """The line, styled; `.plain` is the text without a terminal."""
    line = Text()
    line.append(f"fieldproof: [{moment.elapsed_s:.0f} s] ", style="dim")
    if moment.running:
        line.append(", ".join(moment.running), style="bold cyan")
        if moment.detail:
            line.append(f" ({moment.detail})", style="cyan")
    else:
        line.append("done" if moment.finished else "starting" if not moment.done
                    else "finishing" if moment.done >= moment.total and not moment.later else "collecting")
    if moment.counts_tests:
        line.append(f" · tests {moment.done}/{moment.total or '?'}")
    if moment.later:
        line.append(f" + {', '.join(moment.later)}", style="dim")
    if moment.cases:
        line.append(f" · cases {moment.cases}")
    line.append(f" · requests {moment.requests}" + (f"/{moment.budget}" if moment.budget else ""))
    line.append(" · findings ")
    if not moment.findings:
        line.append("0", style="green")
    for n, (severity, count) in enumerate(moment.findings.items()):
        line.append(", " if n else "")
        line.append(f"{count} {severity}", style=STYLES.get(severity, "red"))
    if moment.wait_left_s is not None:
        length = f" of {moment.wait_s:.0f} s" if moment.wait_s else ""
        line.append(f" · waiting out a 429: {math.ceil(moment.wait_left_s)} s left{length}", style="magenta")
    return line


def by_severity(counts: Mapping[str, int]) -> dict[str, int]:
    """Findings per severity, most severe first (none: left out)."""
    return {severity.value: counts[severity.value] for severity in Severity if counts.get(severity.value)}


def suite_of(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem.removeprefix("test_")


def _detail(nodeid: str) -> str | None:
    """The parameter of a parametrized test; an operation (schemathesis') by its method and the
    last step of its path."""
    parameter = nodeid.rpartition("::")[2].partition("[")[2].removesuffix("]")
    method, _, path = parameter.partition(" ")
    if path.startswith("/") and path.count("/") > 1:
        return f"{method} …/{path.rstrip('/').rpartition('/')[2]}"
    return parameter or None


def colour_wanted() -> bool:
    """https://no-color.org: a NO_COLOR that is set and not empty turns colour off."""
    return not os.environ.get("NO_COLOR")


class Progress:
    """In the controller: the line, live on a terminal or every interval_s seconds in CI. Also a
    pytest plugin of the controller's pytest sessions: a suite's first test shows the line."""

    def __init__(self, work: Path, tests: Callable[[], tuple[int, int]], budget: int | None, out: TextIO,
                 live: bool | None = None) -> None:
        self.work = work
        self.tests = tests  # (done, collected so far)
        self.budget = budget
        self.later: tuple[str, ...] = ()  # suites of pytest sessions still to come
        self.stream, self._owned = _own_stream(out)
        self.live = (self.stream.isatty() and os.environ.get("TERM") != "dumb") if live is None else live
        self.interval_s = float(os.environ.get("FIELDPROOF_PROGRESS_INTERVAL_S", INTERVAL_S))
        self.started = time.monotonic()
        self.finished = False
        self._started_suites: set[str] = set()
        self._running: dict[str, None] = {}  # node ids of the tests running, in the order they started
        self._waits: dict[float, float] = {}  # a wait's end -> its length, as first seen
        self._lock = threading.Lock()  # for _running: pytest's hooks change it, the line's thread reads it
        self._output = threading.Lock()  # one line drawn at a time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fieldproof-progress", daemon=True)
        self._live_display: Any = None

    def moment(self) -> Moment:
        workers = [w for w in (read_status(path) for path in sorted(self.work.glob("*.progress.json"))) if w]
        done, total = self.tests()
        found: dict[str, int] = {}
        for worker in workers:
            for severity, count in worker.findings.items():
                found[severity] = found.get(severity, 0) + count
        with self._lock:
            tests = list(self._running)
        running = tuple(sorted({suite_of(test) for test in tests}))
        now = time.time()
        waits = [w for w in workers if w.waiting_until and w.waiting_until > now]
        wait_left = wait_s = None
        if waits:
            longest = max(waits, key=lambda w: w.waiting_until or 0.0)
            end = longest.waiting_until or now
            # seen by its first write, at most WRITE_EVERY_S after the wait began: a Retry-After is whole seconds
            wait_s = self._waits.setdefault(end, math.ceil(end - longest.at - 0.05) if longest.at else 0.0)
            wait_left = end - now
        return Moment(elapsed_s=time.monotonic() - self.started, running=running,
                      detail=_detail(tests[0]) if len(tests) == 1 else None, done=done, total=total,
                      later=() if self.finished else self.later, cases=sum(w.cases for w in workers),
                      requests=sum(w.requests for w in workers), budget=self.budget,
                      findings=by_severity(found), wait_left_s=wait_left, wait_s=wait_s or None,
                      finished=self.finished)

    def line(self) -> str:
        return render(self.moment()).plain

    def start(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, highlight=False, no_color=not colour_wanted())
            self._live_display = Live(self._text(), console=console, transient=True, auto_refresh=False)
            self._live_display.start(refresh=True)
        else:
            self._print()
        self._thread.start()

    def show(self) -> None:
        """The line now: redrawn on a terminal, printed without one."""
        with self._output:
            if self._live_display is not None:
                self._live_display.update(self._text(), refresh=True)
            else:
                self._print()

    def _text(self) -> Text:
        text = render(self.moment())
        return text if colour_wanted() else Text(text.plain)

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(LIVE_REFRESH_S if self.live else self.interval_s):
            self.show()

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        with self._lock:
            self._running[nodeid] = None
        suite = suite_of(nodeid)
        if suite not in self._started_suites:
            self._started_suites.add(suite)
            self.show()

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        with self._lock:
            self._running.pop(nodeid, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(2)
        self.finished = True
        self.show()
        with self._output:
            if self._live_display is not None:
                self._live_display.stop()
            if self._owned:
                self.stream.close()
            else:
                self.stream.flush()


def _own_stream(out: TextIO) -> tuple[TextIO, bool]:
    """A stream on a duplicate of `out`'s file descriptor (see the module's docstring), and True;
    or `out` itself where it has none (a test's StringIO), and False."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return out, False
    out.flush()
    stream = os.fdopen(os.dup(fd), "w", encoding=getattr(out, "encoding", None) or "utf-8", errors="replace")
    return cast(TextIO, TolerantOutput(stream)), True


# --- `fieldproof swarm` -----------------------------------------------------------------------


class SwarmProgress:
    """Locust's output, read as it comes: every line kept in the log, Locust's own periodic
    statistics table passed on at most every interval_s seconds, each followed by the findings
    so far (the master's SWARM_PROGRESS file); Locust's warnings and errors always."""

    def __init__(self, locust_output: IO[bytes], log: IO[str], work: Path, budget: int | None, out: TextIO) -> None:
        self.source = locust_output
        self.log = log
        self.work = work
        self.budget = budget
        self.out = out
        self.interval_s = float(os.environ.get("FIELDPROOF_PROGRESS_INTERVAL_S", INTERVAL_S))
        self.started = time.monotonic()
        self._shown_at: float | None = None  # when a table was last passed on
        self._held: list[str] = []  # the latest table, if not passed on yet
        self._thread = threading.Thread(target=self._relay, name="fieldproof-swarm-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        """Once Locust has ended: the rest of its output relayed, and its latest table with the
        findings, if they were held back."""
        self._thread.join(timeout_s)
        if self._held:
            self._show(self._held)

    def line(self) -> Text:
        status = read_status(self.work / SWARM_PROGRESS) or WorkerStatus()
        moment = Moment(elapsed_s=time.monotonic() - self.started, running=("swarm",), requests=status.requests,
                        budget=self.budget, findings=by_severity(status.findings), counts_tests=False)
        return render(moment)

    def _relay(self) -> None:
        table: list[str] = []
        for raw in self.source:
            text = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(text + "\n")
            if text.startswith("Type ") and not table:  # Locust's statistics table begins
                table = [text]
            elif table:
                table.append(text)
                if not text.strip():  # and ends with an empty line
                    now = time.monotonic()
                    if self._shown_at is None or now - self._shown_at >= self.interval_s:
                        self._shown_at, self._held = now, []
                        self._show(table)
                    else:
                        self._held = table
                    table = []
            elif _is_a_locust_problem(text):
                self._show([text], findings=False)
        self.log.flush()

    def _show(self, lines: list[str], findings: bool = True) -> None:
        for text in lines:
            print(text, file=self.out)
        if findings:
            line = self.line()
            if self.out.isatty() and colour_wanted():
                from rich.console import Console

                Console(file=self.out, highlight=False).print(line)
            else:
                print(line.plain, file=self.out)
        self.out.flush()


def _is_a_locust_problem(text: str) -> bool:
    return any(f"/{level}/" in text for level in ("WARNING", "ERROR", "CRITICAL"))
