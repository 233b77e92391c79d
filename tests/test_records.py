"""The record stream between the pytest processes and the summary: every record comes back as it
was written, redacted; an exception that stops a test is one problem kind, whose exit code is the
exception's."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldproof.errors import (
    BrokenResponse,
    BudgetExhausted,
    DeadlineReached,
    ExitCode,
    TargetFault,
    TargetStoppedAnswering,
    TargetUnreachable,
    TokenRejected,
)
from fieldproof.records import (
    EvidenceRecord,
    FindingsRecord,
    FirstPassRecord,
    NoteRecord,
    ProblemKind,
    ProblemRecord,
    Record,
    TotalsRecord,
    from_line,
    problem_of,
    process_file,
    read_records,
    to_line,
    write_records,
)
from fieldproof.report.summary import TestOutcomes, build_summary

RECORDS: list[Record] = [
    FindingsRecord("suites/test_x.py::test_y", "documented_status", "get 500: a server error is never a pass", "get", 500,
                   "a server error is never a pass", "major", 3, 1.5,
                   ({"rule": "documented_status", "signature": "get 500: …", "message": "GET get answered 500", "exchange": None},)),
    FindingsRecord("t", "history_linearizable", "no order", None, None, "no order", "critical", 1, 2.0, ()),
    TotalsRecord(41, 3.0, 10, 1, 2.5, 4.0, {"documented_status": 10}, {"documented_status": 3}, [("get", 200, 9)],
                 [("get", 200, 9)], [("get", 200, 9, [0.01, 0.02])]),
    TotalsRecord(41, 3.0, 0, 0, 0.0, None, {}, {}, [], [], []),
    EvidenceRecord("t", "one_winner_among_concurrent_writes", {"violated": True, "writes": [{"status": 204}]}),
    FirstPassRecord("concurrency", ("one_winner_among_concurrent_writes",), "done", 12),
    *(ProblemRecord(kind, f"because {kind.value}", "t") for kind in ProblemKind),
    NoteRecord("a note", "t"),
    NoteRecord("a session's note"),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{type(r).__name__}")
def test_every_record_comes_back_as_it_was_written(record: Record) -> None:
    assert from_line(to_line(record)) == record


def test_a_work_folder_reads_back_every_process_file_in_order(tmp_path: Path) -> None:
    write_records(process_file(tmp_path, "gw0"), RECORDS[:3])
    write_records(process_file(tmp_path, "gw1"), RECORDS[3:])
    write_records(process_file(tmp_path, "gw1"), [])  # nothing to write: no empty line
    assert read_records(tmp_path) == RECORDS


def test_records_are_redacted_as_they_are_written(tmp_path: Path) -> None:
    secret = "s3cr3t-token-value"
    write_records(process_file(tmp_path, "main"), [NoteRecord(f"the server echoed Bearer {secret}")], (secret,))
    assert secret not in process_file(tmp_path, "main").read_text()
    (note,) = read_records(tmp_path)
    assert isinstance(note, NoteRecord) and "Bearer" in note.message


def test_a_line_that_is_no_record_says_so() -> None:
    with pytest.raises(ValueError, match="not a fieldproof record"):
        from_line('{"type": "findings", "test": "t"}')
    with pytest.raises(ValueError, match="not a fieldproof record"):
        from_line('{"type": "gossip", "message": "x"}')


@pytest.mark.parametrize(
    "error, kind",
    [
        (BudgetExhausted("spent"), ProblemKind.BUDGET_EXHAUSTED),
        (DeadlineReached("late"), ProblemKind.DEADLINE),
        (TargetUnreachable("gone"), ProblemKind.UNREACHABLE),
        (TargetStoppedAnswering("silent"), ProblemKind.UNREACHABLE),
        (TokenRejected("401"), ProblemKind.UNREACHABLE),
        (TargetFault("refused a step"), ProblemKind.NOT_EXERCISED),
        (BrokenResponse("GET x: no status line"), ProblemKind.NOT_EXERCISED),
        (RuntimeError("a bug"), ProblemKind.INCONCLUSIVE),
    ],
)
def test_an_exception_that_stops_a_test_is_one_problem_kind(error: BaseException, kind: ProblemKind) -> None:
    problem = problem_of(error, "t")
    assert problem.kind is kind and problem.test == "t" and str(error) in problem.message
    exit_code = getattr(error, "exit_code", ExitCode.INCONCLUSIVE)
    assert kind.exit_code == exit_code  # the kind's exit code is the exception's


@pytest.mark.parametrize("kind", list(ProblemKind))
def test_a_session_with_a_problem_ends_with_its_kinds_exit_code(tmp_path: Path, kind: ProblemKind) -> None:
    from fieldproof.session import exit_code

    write_records(process_file(tmp_path, "main"), [ProblemRecord(kind, "x", "t")])
    summary = build_summary(tmp_path, target={"base_url": "x"}, profile="quick", duration_s=1.0,
                            tests=TestOutcomes(passed=1, failed=1, failures=["t"]))
    assert exit_code(summary) == kind.exit_code
