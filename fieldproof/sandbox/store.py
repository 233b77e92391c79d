"""The fielding-run state machine, kept in SQLite. Knows nothing of HTTP.

The optimistic lock is the conditional UPDATE in `_write`: `WHERE version = ?` against the
version the decision was made on, so its row count decides who won, across threads and
worker processes alike. No Python lock is involved (but in the lock_per_operation fault).
"""

from __future__ import annotations

import enum
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from fieldproof.contract import CROCKFORD
from fieldproof.errors import SandboxError

STATUSES = ("scheduled", "live", "paused", "completed")


def new_ulid() -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32."""
    value = (int(datetime.now(UTC).timestamp() * 1000) << 80) | secrets.randbits(80)
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as the API writes times."""
    moment = moment.astimezone(UTC)
    # by hand: strftime's %Y does not zero-pad years below 1000 on Linux
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}"
        f":{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Run:
    id: str
    account_id: str
    project_id: str
    target_group_id: str
    status: str
    version: int
    start_fielding_at: str
    end_fielding_at: str
    last_changed_at: str
    last_changed_by: str
    completes: int = 0
    completes_goal: int = 100

    @property
    def goal_reached(self) -> bool:
        return self.completes >= self.completes_goal

    def end_date_passed(self, now: datetime) -> bool:
        return parse_time(self.end_fielding_at) <= now


class Action(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"


class Change(enum.Enum):
    """The fielding run's writes besides pause, resume and complete (the vendor's PUT, launch-now
    and relaunch): the fault modes of those three leave them alone."""

    UPDATE = "update"
    LAUNCH_NOW = "launch-now"
    RELAUNCH = "relaunch"


# action -> (statuses it may start from, status it leads to); the store's own reading of the
# docs, not the harness's table: an oracle must not share the server's code
TRANSITIONS: dict[Action, tuple[frozenset[str], str]] = {
    Action.PAUSE: (frozenset({"live"}), "paused"),
    Action.RESUME: (frozenset({"paused"}), "live"),
    Action.COMPLETE: (frozenset({"live", "scheduled"}), "completed"),  # "a live or scheduled run"
}


class Decision(enum.Enum):
    """What the store decided about one write."""

    CHANGED = "changed"
    NO_OP = "no_op"  # accepted, nothing to change (resume of a live run, when so configured)
    NOT_FOUND = "not_found"
    PRECONDITION_FAILED = "precondition_failed"
    INVALID_STATE = "invalid_state"
    BAD_REQUEST = "bad_request"  # the request's own values are wrong (an update's dates)


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    run: Run | None
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    """The store's answers to the API doc's open questions."""

    resume_live_is_noop: bool = False
    pause_paused_is_noop: bool = False
    complete_paused: bool = False  # a paused run may be completed too
    precondition_first: bool = True
    # deliberate bugs of the state machine (see sandbox/faults.py), for proving the harness
    faults: frozenset[str] = frozenset()
    race_window_s: float = 0.0

    def sources(self, action: Action) -> frozenset[str]:
        sources, _ = TRANSITIONS[action]
        return sources | {"paused"} if action is Action.COMPLETE and self.complete_paused else sources


@dataclass(frozen=True)
class Precondition:
    """Which versions the caller's If-Match names; `None` means any (If-Match: *)."""

    versions: frozenset[int] | None
    force: bool = False  # only the if_match_star_forces fault sets it

    def holds_for(self, run: Run) -> bool:
        return self.holds(run.version)

    def holds(self, version: int) -> bool:
        return self.versions is None or version in self.versions


ANY_VERSION = Precondition(None)
_COLUMNS = (
    "id, account_id, project_id, target_group_id, status, version, start_fielding_at, "
    "end_fielding_at, last_changed_at, last_changed_by, completes, completes_goal"
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    target_group_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    version INTEGER NOT NULL,
    start_fielding_at TEXT NOT NULL,
    end_fielding_at TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    last_changed_by TEXT NOT NULL,
    completes INTEGER NOT NULL,
    completes_goal INTEGER NOT NULL
)
"""


def connect(path: str, schema: str) -> sqlite3.Connection:
    """The sandbox's connection to its database, with `schema` created if missing."""
    try:
        # Autocommit: every statement is its own transaction, so a conditional UPDATE is atomic
        # on its own and no Python-side transaction state can leak between requests.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 10000")
        if path != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute(schema)
    except sqlite3.Error as exc:
        raise SandboxError(f"cannot use database {path}: {exc}") from None
    return db


class Store:
    def __init__(self, path: str | Path, policy: Policy = Policy()) -> None:
        self.path = str(path)
        self.policy = policy
        self._db = connect(self.path, _SCHEMA)
        # the lock_per_operation fault's locks, by (run, action): per process, as such a server's would be
        self._operation_locks: dict[tuple[str, Action], threading.Lock] = {}

    def close(self) -> None:
        self._db.close()

    # reading and seeding

    def get(self, run_id: str) -> Run | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return Run(*row) if row else None

    def all(self) -> list[Run]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY id").fetchall()
        return [Run(*row) for row in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0])

    def put(self, run: Run) -> None:
        """Insert or replace a run as given (seeding and the control API)."""
        if run.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {run.status!r}")
        values = tuple(getattr(run, name.strip()) for name in _COLUMNS.split(","))
        self._db.execute(
            f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})",
            values,
        )

    def delete_all(self) -> None:
        self._db.execute("DELETE FROM runs")

    def touch(self, run_id: str, now: datetime | None = None) -> Run | None:
        """Another client's write: the version moves on, the status stays (for scenarios)."""
        self._db.execute(
            "UPDATE runs SET version = version + 1, last_changed_at = ? WHERE id = ?",
            (format_time(now or utcnow()), run_id),
        )
        return self.get(run_id)

    # the state machine

    def apply(
        self,
        run_id: str,
        action: Action,
        precondition: Precondition,
        actor: str,
        now: datetime | None = None,
    ) -> Outcome:
        """Decide on a snapshot, then write only if the snapshot is still current."""
        now = now or utcnow()
        faults = self.policy.faults
        if "ignore_if_match" in faults or (action is Action.PAUSE and "pause_ignores_if_match" in faults):
            precondition = ANY_VERSION
        elif "accept_stale_tags" in faults and precondition.versions is not None:
            precondition = Precondition(precondition.versions | {v + 1 for v in precondition.versions})
        with self._operation_lock(run_id, action):
            return self._decide_and_write(run_id, action, precondition, actor, now)

    def change(self, run_id: str, change: Change, precondition: Precondition, actor: str,
               dates: Mapping[str, str] | None = None, now: datetime | None = None) -> Outcome:
        """Update (the `dates` given), launch now or relaunch: decided on a snapshot, written by the
        same conditional UPDATE as the actions, retried only for If-Match: *."""
        now = now or utcnow()
        for _ in range(16):
            run = self.get(run_id)
            if run is None:
                return Outcome(Decision.NOT_FOUND, None, "no fielding run with this id")
            stale = None if precondition.holds_for(run) else Outcome(
                Decision.PRECONDITION_FAILED, run, "If-Match does not name the current version")
            changed = self._changed(run, change, dates or {}, actor, now)
            refusal = changed if isinstance(changed, Outcome) else None
            first, second = (stale, refusal) if self.policy.precondition_first else (refusal, stale)
            answer = first or second
            if answer is not None:
                return answer
            assert isinstance(changed, Run)
            if self._write_change(run, changed):
                return Outcome(Decision.CHANGED, changed)
            if precondition.versions is not None:
                return Outcome(Decision.PRECONDITION_FAILED, self.get(run_id), "another write came first")
        return Outcome(Decision.PRECONDITION_FAILED, self.get(run_id), "run kept changing")

    @staticmethod
    def _changed(run: Run, change: Change, dates: Mapping[str, str], actor: str, now: datetime) -> Run | Outcome:
        """The run after the change, or why it is refused (the store's reading of the vendor's words)."""
        bumped = replace(run, version=run.version + 1, last_changed_at=format_time(now), last_changed_by=actor)
        if change is Change.LAUNCH_NOW:
            if run.status != "scheduled":
                return Outcome(Decision.INVALID_STATE, run, f"only a scheduled run can be launched; this one is {run.status}")
            return replace(bumped, status="live", start_fielding_at=format_time(now))
        if change is Change.RELAUNCH:
            if run.status != "completed":
                return Outcome(Decision.INVALID_STATE, run, f"only a completed run can be relaunched; this one is {run.status}")
            if run.goal_reached:
                return Outcome(Decision.INVALID_STATE, run, "the completes goal has been reached")
            if run.end_date_passed(now):
                return Outcome(Decision.INVALID_STATE, run, "the end date has passed")
            return replace(bumped, status="live")
        if run.status == "completed":
            return Outcome(Decision.INVALID_STATE, run, "a completed run cannot be updated")
        start = parse_time(dates.get("start_fielding_at", run.start_fielding_at))
        end = parse_time(dates.get("end_fielding_at", run.end_fielding_at))
        # "a start in the past is refused": a value of the request, not the run's state, so 400;
        # sending the run's own start back is no new start
        if start != parse_time(run.start_fielding_at) and start < now:
            return Outcome(Decision.BAD_REQUEST, run, "start_fielding_at is in the past")
        if end <= start:
            return Outcome(Decision.BAD_REQUEST, run, "end_fielding_at must be later than start_fielding_at")
        return replace(bumped, start_fielding_at=format_time(start), end_fielding_at=format_time(end))

    def _write_change(self, seen: Run, changed: Run) -> bool:
        cursor = self._db.execute(
            "UPDATE runs SET status = ?, version = ?, start_fielding_at = ?, end_fielding_at = ?, last_changed_at = ?, "
            "last_changed_by = ? WHERE id = ? AND version = ? AND status = ?",
            (changed.status, changed.version, changed.start_fielding_at, changed.end_fielding_at, changed.last_changed_at,
             changed.last_changed_by, seen.id, seen.version, seen.status),
        )
        return cursor.rowcount == 1

    def _operation_lock(self, run_id: str, action: Action) -> AbstractContextManager[object]:
        """The lock_per_operation bug: writes of one action on a run queue behind each other, so
        a race of one kind still has one winner, while writes of two kinds decide on the same
        snapshot and both write (an unconditional write: the lock was meant to make it safe)."""
        if "lock_per_operation" not in self.policy.faults:
            return nullcontext()
        return self._operation_locks.setdefault((run_id, action), threading.Lock())

    def _decide_and_write(self, run_id: str, action: Action, precondition: Precondition, actor: str, now: datetime) -> Outcome:
        faults = self.policy.faults
        # Only If-Match: * can lose a race and still be right to try again: a named tag that
        # lost a race is stale by definition. Bounded, so a hot row cannot spin forever.
        for _ in range(16):
            run = self.get(run_id)
            if run is None:
                return Outcome(Decision.NOT_FOUND, None, "no fielding run with this id")
            _, target = TRANSITIONS[action]
            if precondition.force:  # the if_match_star_forces bug: no tag, no state rule
                if run.status == target:
                    return Outcome(Decision.NO_OP, run, f"run is already {run.status}")
                return Outcome(Decision.CHANGED, self._write(run, target, actor, now, action, unconditional=True))
            refusal = self._refusal(run, action, precondition, now)
            if refusal is not None:
                if "refusal_changes_run" in faults:
                    self._db.execute(
                        "UPDATE runs SET last_changed_at = ? WHERE id = ?", (format_time(now), run.id)
                    )
                if ("refused_write_applied" in faults and refusal.decision is Decision.PRECONDITION_FAILED
                        and run.status in self.policy.sources(action) and not self._invalid_state_reason(run, action, now)):
                    self._write(run, target, actor, now, action)  # the bug: applied, then refused
                return refusal
            if run.status not in self.policy.sources(action):  # only the configured no-op gets here
                return Outcome(Decision.NO_OP, run, f"run is already {run.status}")
            changed = self._write(run, target, actor, now, action)
            if changed is not None:
                return Outcome(Decision.CHANGED, changed)
            if precondition.versions is not None:
                return Outcome(
                    Decision.PRECONDITION_FAILED, self.get(run_id), "another write came first"
                )
        return Outcome(Decision.PRECONDITION_FAILED, self.get(run_id), "run kept changing")

    def _refusal(
        self, run: Run, action: Action, precondition: Precondition, now: datetime
    ) -> Outcome | None:
        stale = None
        if not self._holds(run, precondition):
            stale = Outcome(
                Decision.PRECONDITION_FAILED, run, "If-Match does not name the current version"
            )
        invalid_reason = self._invalid_state_reason(run, action, now)
        invalid = Outcome(Decision.INVALID_STATE, run, invalid_reason) if invalid_reason else None
        first, second = (stale, invalid) if self.policy.precondition_first else (invalid, stale)
        return first or second

    def _holds(self, run: Run, precondition: Precondition) -> bool:
        """Whether the precondition holds for the run (and where the locking faults go wrong)."""
        if precondition.holds_for(run):
            return True
        versions, faults = precondition.versions, self.policy.faults
        if not versions:
            return False
        if "if_match_higher_version_accepted" in faults and max(versions) >= run.version:
            return True  # the bug: "refuse older tags" instead of "match the current one"
        if "if_match_other_runs_tag" in faults:  # the bug: any run's current tag will do
            marks = ", ".join("?" * len(versions))
            return self._db.execute(f"SELECT 1 FROM runs WHERE version IN ({marks}) LIMIT 1", tuple(versions)).fetchone() is not None
        return False

    def _invalid_state_reason(self, run: Run, action: Action, now: datetime) -> str | None:
        if run.status not in self.policy.sources(action):
            if action is Action.RESUME and run.status == "live" and self.policy.resume_live_is_noop:
                return None
            if action is Action.PAUSE and run.status == "paused" and self.policy.pause_paused_is_noop:
                return None
            return f"cannot {action.value} a run that is {run.status}"
        faults = self.policy.faults
        if action is Action.RESUME and "skip_business_rules" not in faults:
            goal = run.completes > run.completes_goal if "goal_reached_resumable" in faults else run.goal_reached
            if goal:
                return "the completes goal has been reached"
            if "end_date_calendar_day" in faults:  # the bug: a run that ended earlier today resumes
                if parse_time(run.end_fielding_at).date() < now.astimezone(UTC).date():
                    return "the end date has passed"
            elif run.end_date_passed(now):
                return "the end date has passed"
        return None

    def _write(self, seen: Run, status: str, actor: str, now: datetime, action: Action, unconditional: bool = False
               ) -> Run | None:
        faults = self.policy.faults
        version = seen.version + 1
        if "version_not_bumped" in faults:
            version = seen.version
        elif "recurring_tags" in faults:
            version = 1 + seen.version % 3
        elif "version_wraps_at_8" in faults:
            version = (seen.version + 1) % 8
        if action is Action.COMPLETE and "complete_no_version_bump" in faults:
            changed = replace(seen, status=status)  # the bug: version, time and author stay
        else:
            changed = replace(seen, status=status, version=version, last_changed_at=format_time(now), last_changed_by=actor)
        if "no_change_on_success" in faults:
            return changed  # answers as if written, writes nothing
        args: tuple[str | int, ...]
        if ("check_then_act_race" in faults or "lock_per_operation" in faults
                or (action is Action.PAUSE and "pause_check_then_act" in faults)):
            # the bug: decide, wait, then write unconditionally: a second writer slips in between
            time.sleep(self.policy.race_window_s)
            unconditional = True
        if unconditional:
            condition, args = "WHERE id = ?", (seen.id,)
        else:
            condition, args = "WHERE id = ? AND version = ? AND status = ?", (seen.id, seen.version, seen.status)
        cursor = self._db.execute(
            "UPDATE runs SET status = ?, version = ?, last_changed_at = ?, last_changed_by = ? " + condition,
            (changed.status, changed.version, changed.last_changed_at, changed.last_changed_by, *args),
        )
        return changed if cursor.rowcount == 1 else None


def make_run(
    *,
    account_id: str,
    project_id: str | None = None,
    target_group_id: str | None = None,
    run_id: str | None = None,
    status: str = "paused",
    version: int = 1,
    start_fielding_at: str | None = None,
    end_fielding_at: str | None = None,
    completes: int = 0,
    completes_goal: int = 100,
    last_changed_by: str | None = None,
    now: datetime | None = None,
) -> Run:
    """A run with sensible defaults: started a day ago, ending in thirty days."""
    now = now or utcnow()
    day = 86400
    return Run(
        id=run_id or new_ulid(),
        account_id=str(account_id),
        project_id=project_id or new_ulid(),
        target_group_id=target_group_id or new_ulid(),
        status=status,
        version=version,
        start_fielding_at=start_fielding_at
        or format_time(datetime.fromtimestamp(now.timestamp() - day, UTC)),
        end_fielding_at=end_fielding_at
        or format_time(datetime.fromtimestamp(now.timestamp() + 30 * day, UTC)),
        last_changed_at=format_time(now),
        last_changed_by=last_changed_by or str(uuid.UUID(int=0)),
        completes=completes,
        completes_goal=completes_goal,
    )
