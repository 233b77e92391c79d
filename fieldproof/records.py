"""The records a pytest process (or a swarm's master) leaves for the summary: one dataclass per
kind, one way to write them (`write_records`) and one to read them back (`read_records`).

Each process appends its records, one JSON line each, to its own file in the session's work
folder; the summary reads every file there. A record is redacted as it is written, so that no
later step (rendering, escaping) has to find a secret.

A problem (what kept a test from a verdict) has a `ProblemKind`, mapped from the exception that
stopped the test in one place, `problem_of`; the kind says the exit code the session ends with.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fieldproof.errors import TARGETS_DOING, BrokenResponse, BudgetExhausted, DeadlineReached, ExitCode, FieldproofError, TargetUnreachable
from fieldproof.exchange import redact_text

RECORDS_GLOB = "*.jsonl"


class ProblemKind(enum.StrEnum):
    """What kept a test, and so the session, from a verdict."""

    UNREACHABLE = "unreachable"  # the target stopped answering
    BUDGET_EXHAUSTED = "budget_exhausted"  # max_requests spent
    DEADLINE = "deadline"  # max_duration_s passed
    NOT_EXERCISED = "not exercised"  # the target's own answer kept the test from going on (a finding says what)
    INCONCLUSIVE = "inconclusive"  # anything else that stopped a test: a set-up step, a bug
    COLLECTION = "collection"  # a suite that could not be collected

    @property
    def exit_code(self) -> ExitCode:
        """The code a session with this problem (and no finding) ends with: the exit code of the
        exception class it is mapped from (a kind no FieldproofError maps to: inconclusive)."""
        code: ExitCode = next((getattr(cls, "exit_code", ExitCode.INCONCLUSIVE) for cls, kind in _KINDS if kind is self),
                              ExitCode.INCONCLUSIVE)
        return code

# the exception classes that stop a test, most specific first; any other is INCONCLUSIVE
_KINDS: tuple[tuple[type[BaseException], ProblemKind], ...] = (
    (BudgetExhausted, ProblemKind.BUDGET_EXHAUSTED),
    (DeadlineReached, ProblemKind.DEADLINE),
    (TargetUnreachable, ProblemKind.UNREACHABLE),
    *((cls, ProblemKind.NOT_EXERCISED) for cls in TARGETS_DOING),  # the target's doing stopped the test: not exercised
)


@dataclass(frozen=True)
class FindingsRecord:
    """A test's findings of one rule with one signature: how many, and a few distinct examples."""

    type: ClassVar[str] = "findings"
    test: str
    rule: str
    signature: str  # rules.Signature.text
    operation: str | None
    status: int | None
    defect: str
    severity: str  # rules.Severity's value
    count: int
    at: float  # epoch seconds of the first one
    examples: tuple[dict[str, Any], ...]  # rules.Finding.to_dict()


@dataclass(frozen=True)
class TotalsRecord:
    """A pytest session's counts in one process (a process's latest line says what it knows)."""

    type: ClassVar[str] = "totals"
    process: int
    at: float
    requests: int  # answered and recorded
    unanswered: int  # sent, and no answer came
    waited_429_s: float  # spent waiting out 429s
    paced_rps: float | None  # the rate learned from them
    checks: dict[str, int]  # verdicts per rule
    found: dict[str, int]  # findings per rule
    observed: list[tuple[str, int, int]]  # (operation, status, answers)
    asserted: list[tuple[str, int, int]]  # (operation, status, answers a rule expected)
    latencies: list[tuple[str, int, int, list[float]]]  # (operation, status, answers, a uniform sample of seconds)
    severities: dict[str, int] = field(default_factory=dict)  # findings per severity (each finding's own)


@dataclass(frozen=True)
class EvidenceRecord:
    """A picture's data (a race round, a counterexample) from a sequence rule."""

    type: ClassVar[str] = "evidence"
    test: str
    rule: str
    data: dict[str, Any]


@dataclass(frozen=True)
class FirstPassRecord:
    """What one first-pass step did, the rules it exercises and the requests it costs."""

    type: ClassVar[str] = "first_pass"
    step: str
    rules: tuple[str, ...]
    outcome: str  # done | skipped | stopped
    cost: int


@dataclass(frozen=True)
class ProblemRecord:
    """What stopped a test before its verdict."""

    type: ClassVar[str] = "problem"
    kind: ProblemKind
    message: str
    test: str = ""


@dataclass(frozen=True)
class NoteRecord:
    """Something the reader should know that is neither a finding nor a problem."""

    type: ClassVar[str] = "note"
    message: str
    test: str = ""


@dataclass(frozen=True)
class TestRecord:
    """One suite test's outcome as the controlling process saw it (every worker's reports reach
    it), or a suite module that could not be collected."""

    __test__: ClassVar[bool] = False  # not a test class, whatever its name says to pytest
    type: ClassVar[str] = "test"
    nodeid: str
    outcome: str  # passed | skipped | failed | uncollected
    seconds: float = 0.0
    message: str = ""  # a skip's reason, a failure's text
    teardown: bool = False  # failed in its teardown (after its call was reported)


@dataclass(frozen=True)
class CreatedRecord:
    """A resource a test created (a kind the target file lists in create_delete), written as soon
    as it exists: what the session deletes at its end if the test did not (a `DeletedRecord`)."""

    type: ClassVar[str] = "created"
    kind: str
    ids: dict[str, str]  # its path parameters besides account_id
    test: str = ""


@dataclass(frozen=True)
class DeletedRecord:
    """A resource a test created has been deleted again (by the test itself)."""

    type: ClassVar[str] = "deleted"
    kind: str
    ids: dict[str, str]
    test: str = ""


Record = (FindingsRecord | TotalsRecord | EvidenceRecord | FirstPassRecord | ProblemRecord | NoteRecord | TestRecord
          | CreatedRecord | DeletedRecord)
_TYPES: dict[str, type[Any]] = {cls.type: cls for cls in (FindingsRecord, TotalsRecord, EvidenceRecord, FirstPassRecord,
                                                          ProblemRecord, NoteRecord, TestRecord, CreatedRecord, DeletedRecord)}


def left_created(records: Iterable[Record]) -> list[CreatedRecord]:
    """The resources tests created and did not delete, in the order they were created."""
    created: dict[tuple[str, tuple[tuple[str, str], ...]], CreatedRecord] = {}
    for record in records:
        if isinstance(record, CreatedRecord | DeletedRecord):
            key = (record.kind, tuple(sorted(record.ids.items())))
            if isinstance(record, CreatedRecord):
                created[key] = record
            else:
                created.pop(key, None)
    return list(created.values())


def problem_of(error: BaseException, test: str = "") -> ProblemRecord:
    """The one place an exception that stopped a test becomes a problem's kind."""
    kind = next((kind for cls, kind in _KINDS if isinstance(error, cls)), ProblemKind.INCONCLUSIVE)
    if isinstance(error, BrokenResponse):
        message = f"the target's answer broke HTTP ({error})"
    elif kind is ProblemKind.INCONCLUSIVE and not isinstance(error, FieldproofError):
        message = f"{type(error).__name__}: {error}"
    else:
        message = str(error)
    return ProblemRecord(kind, message, test)


def to_line(record: Record) -> str:
    data = asdict(record)
    if isinstance(record, ProblemRecord):
        data["kind"] = record.kind.value
    return json.dumps({"type": record.type, **data})


def from_line(line: str) -> Record:
    """A record read back (ValueError if the line is no record)."""
    data = json.loads(line)
    try:
        cls = _TYPES[data.pop("type")]
        if cls is ProblemRecord:
            data["kind"] = ProblemKind(data["kind"])
        elif cls is FindingsRecord:
            data["examples"] = tuple(data["examples"])
        elif cls is FirstPassRecord:
            data["rules"] = tuple(data["rules"])
        elif cls is TotalsRecord:
            for key in ("observed", "asserted", "latencies"):
                data[key] = [tuple(row) for row in data[key]]
        record: Record = cls(**data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a fieldproof record: {line[:200]!r} ({exc!r})") from None
    return record


def write_records(path: Path, records: Iterable[Record], secrets: tuple[str, ...] = ()) -> None:
    """Append records to a process's file, each redacted as it is written."""
    lines = [redact_text(to_line(record), secrets) for record in records]
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.writelines(line + "\n" for line in lines)


def read_records(work_dir: Path) -> list[Record]:
    """Every record every process left in a session's work folder, file by file."""
    records = []
    for path in sorted(work_dir.glob(RECORDS_GLOB)):
        for raw in path.read_text().splitlines():
            if raw.strip():
                records.append(from_line(raw))
    return records


def process_file(work_dir: Path, name: str) -> Path:
    """A process's records file in the work folder."""
    return work_dir / f"{name}.jsonl"


# --- a process's status: overwritten as it goes (never appended), read by the progress line ---


@dataclass(frozen=True)
class WorkerStatus:
    """What one pytest process last wrote of itself."""

    requests: int = 0
    findings: Mapping[str, int] = field(default_factory=dict)  # per severity (each finding's own)
    waiting_until: float | None = None  # time.time() a 429's Retry-After is waited out to
    cases: int = 0  # schemathesis cases done
    at: float = field(default_factory=time.time)  # when it was written

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "findings": dict(self.findings), "waiting_until": self.waiting_until,
                "cases": self.cases, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerStatus:
        return cls(requests=int(data.get("requests", 0)), findings=dict(data.get("findings") or {}),
                   waiting_until=data.get("waiting_until"), cases=int(data.get("cases", 0)), at=float(data.get("at", 0.0)))


def write_status(path: Path, status: WorkerStatus) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(status.to_dict()))
    temporary.replace(path)  # never half a file for the reader


def read_status(path: Path) -> WorkerStatus | None:
    try:
        return WorkerStatus.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
