"""Exit codes, defined once, and the base of every error a user can cause.

Each exit code means one thing:

| code | meaning |
|---|---|
| 0 | the contract holds (or the command did what was asked) |
| 1 | a finding: the target violates the contract |
| 2 | usage: a bad flag, target file, contract document, baseline or setting; or the request budget ran out |
| 3 | the target is unreachable or rejects the main token |
| 4 | inconclusive: a suite could not reach a verdict (a harness or set-up error, not a finding) |
| 129 | hung up (SIGHUP) |
| 130 | interrupted (SIGINT) |
| 143 | terminated (SIGTERM) |

A signal stops a run the same way whichever it is (the runs are put back, the reports say
"interrupted"); the code says which one it was.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FINDING = 1
    USAGE = 2
    UNREACHABLE = 3
    INCONCLUSIVE = 4
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


class FieldproofError(Exception):
    """An error a user can cause and fix: one line that says what to do, and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BudgetExhausted(FieldproofError):
    """The target's max_requests is spent; no further request is sent."""

    exit_code = ExitCode.USAGE


class DeadlineReached(FieldproofError):
    """The run's max_duration_s has passed; no further request is sent."""

    exit_code = ExitCode.USAGE


class TargetUnreachable(FieldproofError):
    """The target did not answer (connection refused, DNS, no whole answer within timeout_s)."""

    exit_code = ExitCode.UNREACHABLE


class TargetStoppedAnswering(TargetUnreachable):
    """Several requests in a row got no answer: the run stops sending."""
