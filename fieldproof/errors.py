"""Every error a user can cause, and the exit codes, each defined once.

A user's mistake (a bad flag, target file, setting, an unreachable host) is one of the errors
below: a `FieldproofError` carrying one line that says what is wrong and what to do, and the
exit code it ends the command with. `fieldproof.cli.main` is the one place that turns them into
that line on stderr and the code; nothing else prints them or picks a code for them.

Two exceptions are the target's doing, not the user's, and are here because they cross stages
(the client or a suite raises them, the records name them): `BrokenResponse` and `TargetFault`.
The harness's own control flow inside one module, an API client's refusals and the sandbox's
HTTP answers live with the code that raises them.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a `fieldproof` command's exit status means; each code means one thing."""

    OK = 0
    FINDING = 1
    USAGE = 2
    UNREACHABLE = 3
    INCONCLUSIVE = 4
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "the contract holds (or the command did what was asked)",
    ExitCode.FINDING: "a finding: the target violates the contract (and nothing else: no harness error is a 1)",
    ExitCode.USAGE: "usage: a bad flag, target file, contract document, baseline, setting or seed file, a "
    "busy port, or the request budget (max_requests) or max_duration_s ran out; one line on stderr "
    "says what to fix",
    ExitCode.UNREACHABLE: "the target is unreachable or rejects the main token",
    ExitCode.INCONCLUSIVE: "inconclusive: a suite could not reach a verdict (a set-up step that could not be "
    "done, a hypothesis or schemathesis error, a bug in fieldproof); not a finding",
    ExitCode.HANGUP: "stopped by SIGHUP: the runs are put back, the reports say interrupted",
    ExitCode.INTERRUPTED: "stopped by SIGINT (Ctrl-C): the runs are put back, the reports say interrupted",
    ExitCode.TERMINATED: "stopped by SIGTERM (how CI cancels a job): the runs are put back, the reports say interrupted",
}


def exit_codes_help() -> str:
    """The table of exit codes, as `--help` shows it."""
    return "exit codes:\n" + "\n".join(f"  {int(code):<4} {MEANINGS[code]}" for code in ExitCode)


class FieldproofError(Exception):
    """An error a user can cause and fix: one line that says what to do, and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


# --- usage (exit 2): what the user gave cannot be used -------------------------------------


class UsageError(FieldproofError):
    """A bad flag or option value; the message names it and what is accepted."""

    exit_code = ExitCode.USAGE


class TomlFileError(UsageError):
    """A file is missing, unreadable or not TOML; the message names it."""


class TargetError(UsageError):
    """A target file that cannot be used; the message says what to fix."""


class RoleMissing(TargetError):
    """The target lists no run of a role a test needs (the test is skipped, saying so)."""

    def __init__(self, role: str) -> None:
        super().__init__(f"the target file lists no {role!r} run; add a [[runs]] entry with role = {role!r} to enable this test")
        self.role = role


class RoleUsedUp(RoleMissing):
    """A completable run a session completed: the tests that need one are skipped, saying so."""

    def __init__(self, why: str) -> None:
        UsageError.__init__(self, why)
        self.role = "completable"


class ContractError(UsageError):
    """The contract document cannot be read or lacks one of the operations the suites drive."""


class BaselineError(UsageError):
    """A baseline file that cannot be read or written; the message says which entry and why."""


class SettingsError(UsageError):
    """A bad sandbox setting; the message names it and says what would be accepted."""


class SeedError(UsageError):
    """A bad seed file or run spec; the message says which entry and what to fix."""


class SandboxError(UsageError):
    """The sandbox cannot start (a busy port, a database it cannot open); the message says why."""


class LockHeld(UsageError):
    """Another session holds a lock this session needs; the message names the holder."""


class SelfcheckError(UsageError):
    """A selfcheck that cannot be run as asked (an unknown fault name)."""


class SwarmError(UsageError):
    """`fieldproof swarm` cannot start as asked (a bad option, Locust missing, no master)."""


class BudgetExhausted(UsageError):
    """The target's max_requests is spent; no further request is sent."""


class DeadlineReached(UsageError):
    """The session's max_duration_s has passed; no further request is sent."""


# --- inconclusive (exit 4): a suite could not reach a verdict ------------------------------


class RunNotReady(FieldproofError):
    """A run the target file lists is not in its role's state and could not be put back."""

    exit_code = ExitCode.INCONCLUSIVE


# --- the target (exit 3) -------------------------------------------------------------------


class TargetUnreachable(FieldproofError):
    """The target did not answer (connection refused, DNS, no whole answer within timeout_s)."""

    exit_code = ExitCode.UNREACHABLE


class TargetStoppedAnswering(TargetUnreachable):
    """Several requests in a row got no answer: the session stops sending."""


class TokenRejected(TargetUnreachable):
    """The target answers the main token 401 or 403: nothing can be judged with it."""


# --- the target's doing, stopping one test (a finding already; no exit code of their own) ---


class BrokenResponse(Exception):
    """The target's answer could not be read as HTTP (recorded as a finding of
    http_message_well_formed); the test that sent it cannot go on from it."""


class TargetFault(Exception):
    """The target's own answer keeps a test from going on: it refused a write the run's state
    allows, with the current tag, or its GET did not show the run. What it broke is a finding
    of the rule it breaks, recorded with the exchange; the test is not exercised."""


TARGETS_DOING: tuple[type[Exception], ...] = (BrokenResponse, TargetFault)  # not the user's: no exit code
