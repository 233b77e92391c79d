"""How a session ends when it is told to stop: SIGINT, SIGTERM (how CI cancels a job) and SIGHUP
alike, so that every way a session ends puts the fielding runs back and tells the truth.

- While the suites run, the first signal stops them: a KeyboardInterrupt, which pytest turns
  into an orderly stop (a test's own `finally` still puts its run back).
- Later signals are counted and otherwise ignored, so that nothing is left half done by a
  user pressing Ctrl-C twice (after the session, until the process exits, ignored); during the
  final restore, a third one aborts it
  (RestoreAborted): an impatient user is never stuck, and is told which runs may be changed.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from fieldproof.errors import ExitCode

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CODE_FOR_SIGNAL = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED, signal.SIGHUP: ExitCode.HANGUP}
ABORT_AFTER = 3  # signals in all before a restore gives up


class RestoreAborted(BaseException):
    """A third signal during the restore: stop putting runs back (BaseException: no `except
    Exception` on the way may swallow it)."""


class Interrupts:
    def __init__(self) -> None:
        self.received: list[int] = []
        self.phase = "running"  # running | restoring | reporting
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Once a signal has stopped the session, the process is on its way out with that
        # signal's code: a later one (a second Ctrl-C a moment after the first) is ignored,
        # never the previous handler's KeyboardInterrupt nor death by the signal. SIG_IGN, not
        # a Python handler: the interpreter resets those to SIG_DFL as it shuts down.
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.received else handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) == 1 and self.phase == "running":
            raise KeyboardInterrupt
        if len(self.received) >= ABORT_AFTER and self.phase == "restoring":
            raise RestoreAborted

    @property
    def stopped(self) -> bool:
        return bool(self.received)

    @property
    def exit_code(self) -> ExitCode | None:
        """The code for the first signal received (None: none was)."""
        return CODE_FOR_SIGNAL[signal.Signals(self.received[0])] if self.received else None

    @property
    def name(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else ""

    @contextmanager
    def restoring(self) -> Iterator[None]:
        self.phase = "restoring"
        try:
            yield
        finally:
            self.phase = "reporting"


def stop_once(signums: tuple[int, ...] = SIGNALS) -> None:
    """In a pytest worker (xdist): the first SIGINT, SIGTERM or SIGHUP stops it as Ctrl-C does
    (a KeyboardInterrupt, so that a test's own clean-up runs and puts its run back); later ones
    are ignored. A terminal's Ctrl-C reaches the whole process group, workers included: pressed
    again, a second KeyboardInterrupt would break into that clean-up, or into whatever the
    interpreter runs as the worker winds down, and print its traceback. The controller stops
    the workers in its own time (its Interrupts count every signal)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        for each in signums:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in signums:
        signal.signal(signum, handle)
