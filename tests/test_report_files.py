"""Report files that cannot be turned against the user: the reports folder checked before the
first request, every report written whole or not at all and never through a symlink, and a
write that fails after the suites told in one line, the verdict and its exit code kept."""

from __future__ import annotations

import json
import resource
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import fieldproof_run, run_statuses, staging

from fieldproof import files
from fieldproof.errors import ExitCode, UsageError
from fieldproof.files import validate_reports_folder, write_file
from fieldproof.records import ProblemKind
from fieldproof.report.summary import Problem, Summary, TestOutcomes
from fieldproof.session import REPORT_FILES, _write_reports

# --- every report file: whole or not at all, never through a symlink ---------------------------


def test_a_symlink_in_place_of_a_report_is_replaced_and_its_target_never_written(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's own file")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "summary.md").symlink_to(precious)
    (reports / "junit.xml").symlink_to(reports / "junit.xml")  # a loop
    write_file(reports / "summary.md", "## report")
    write_file(reports / "junit.xml", "<testsuites/>")
    assert precious.read_text() == "the user's own file"
    assert not (reports / "summary.md").is_symlink() and (reports / "summary.md").read_text() == "## report"
    assert not (reports / "junit.xml").is_symlink() and (reports / "junit.xml").read_text() == "<testsuites/>"
    assert sorted(path.name for path in reports.iterdir()) == ["junit.xml", "summary.md"]  # no temporary left


@pytest.fixture
def file_size_limit() -> Iterator[int]:
    """A disk that fills up mid-write, as the kernel reports it: writes beyond 4 KiB into any
    file fail (EFBIG from RLIMIT_FSIZE, where a full disk gives ENOSPC; the same OSError from
    the same write), for this process, until the test ends."""
    limit = 4096
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_write_that_fails_midway_leaves_the_file_as_it_was_and_no_temporary(tmp_path: Path, file_size_limit: int) -> None:
    report = tmp_path / "summary.json"
    report.write_text("the last session's summary")
    with pytest.raises(OSError):
        write_file(report, "x" * (file_size_limit * 4))
    assert report.read_text() == "the last session's summary"
    assert [path.name for path in tmp_path.iterdir()] == ["summary.json"]


def _summary(problem: str = "") -> Summary:
    problems = [Problem(ProblemKind.INCONCLUSIVE, problem, "t")] if problem else []
    summary = Summary("pass", {"base_url": "http://127.0.0.1:9/v1"}, "quick", 1.0, 10, [], [], TestOutcomes(passed=1), problems)
    summary.decide(ExitCode.INCONCLUSIVE if problem else ExitCode.OK)
    return summary


def test_a_report_that_cannot_be_written_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").mkdir()
    unwritten = _write_reports(tmp_path, _summary(), ())
    assert list(unwritten) == [str(tmp_path / "junit.xml")] and unwritten[str(tmp_path / "junit.xml")] == "Is a directory"
    assert {path.name for path in tmp_path.iterdir() if path.is_file()} == set(REPORT_FILES) - {"junit.xml"}


def test_on_a_full_disk_every_report_is_named_and_none_is_half_written(tmp_path: Path, file_size_limit: int) -> None:
    summary = _summary(problem="x" * file_size_limit)  # every report is larger than the disk has room for
    unwritten = _write_reports(tmp_path, summary, ())
    assert set(unwritten) == {str(tmp_path / name) for name in REPORT_FILES}
    assert set(unwritten.values()) == {"File too large"} and list(tmp_path.iterdir()) == []


def test_every_report_is_redacted_as_it_is_rendered(tmp_path: Path) -> None:
    summary = _summary(problem="the target said: Bearer s3cr3t-t0ken")
    assert _write_reports(tmp_path, summary, ("s3cr3t-t0ken",)) == {}
    for name in REPORT_FILES:
        assert "s3cr3t-t0ken" not in (tmp_path / name).read_text(), name


# --- the reports folder, checked before the first request --------------------------------------


def test_a_reports_folder_that_is_missing_is_made(tmp_path: Path) -> None:
    validate_reports_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []  # the check left nothing


def _in_place_of_the_folder(tmp_path: Path) -> Path:
    (tmp_path / "reports").write_text("a file")
    return tmp_path / "reports"


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("a file")
    return tmp_path / "file" / "reports"


def _a_symlink_loop(tmp_path: Path) -> Path:
    (tmp_path / "reports").symlink_to(tmp_path / "reports")
    return tmp_path / "reports"


@pytest.mark.parametrize(
    "folder, says",
    [
        (_in_place_of_the_folder, "--reports {} is not a folder; give a folder"),
        (_under_a_file, "cannot make the --reports folder {}: Not a directory; choose another --reports"),
        (_a_symlink_loop, "cannot make the --reports folder {}: File exists; choose another --reports"),
        # no one may create a file in /proc, root included (whom a folder's mode does not stop)
        (lambda tmp_path: Path("/proc"), "cannot write in the --reports folder {}: "),
    ],
    ids=["a-file", "under-a-file", "symlink-loop", "not-writable"],
)
def test_a_reports_folder_that_cannot_take_the_reports_is_one_line(tmp_path: Path, folder, says: str) -> None:
    path = folder(tmp_path)
    with pytest.raises(UsageError) as raised:
        validate_reports_folder(path)
    assert str(raised.value).startswith(says.format(path)) and "\n" not in str(raised.value)
    assert raised.value.exit_code == ExitCode.USAGE


def test_a_reports_folder_on_a_nearly_full_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: usage._replace(free=files.MIN_FREE_BYTES - 1))
    with pytest.raises(UsageError, match=r"has \d+ KiB free, less than the 10 MiB the reports may need; free some space"):
        validate_reports_folder(tmp_path)


def test_a_reports_folder_that_takes_no_file_is_refused_before_the_first_request(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), "--reports", "/proc", env=env)
        sent = httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fieldproof: error: cannot write in the --reports folder /proc: ") and sent == 0


# --- a write that fails after the suites -------------------------------------------------------


def _runs(sandbox) -> dict[str, str]:
    return run_statuses(sandbox)


def test_a_report_that_cannot_be_written_after_the_suites_is_one_line_and_the_verdict_stands(tmp_path: Path) -> None:
    (tmp_path / "reports" / "junit.xml").mkdir(parents=True)  # passes the folder's check, fails the write
    (tmp_path / "baseline.toml").mkdir()  # --baseline-update's file, likewise
    with staging(tmp_path, "--fault", "no_traceparent_on_404") as (sandbox, target, env):
        before = _runs(sandbox)
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", "quick", "--suites", "paths,business_rules",
                                "--baseline-update", str(tmp_path / "baseline.toml"), env=env)
        assert _runs(sandbox) == before  # the runs were put back
    assert result.returncode == ExitCode.FINDING, result.stdout[-2000:] + result.stderr  # not 4, as a traceback made it
    assert "Traceback" not in result.stderr and result.stderr.splitlines() == [
        f"fieldproof: error: could not write {tmp_path / 'reports' / 'junit.xml'}: Is a directory; "
        "the verdict stands: FAIL (exit 1)",
        f"fieldproof: error: cannot write baseline file {tmp_path / 'baseline.toml'}: Is a directory; choose another path; "
        "the verdict stands: FAIL (exit 1)",
    ], result.stderr
    assert "FAIL: the target violates the contract" in result.stdout
    assert f"reports: {tmp_path / 'reports'}/ (fieldproof.sarif, report.html, summary.json, summary.md)" in result.stdout
    assert json.loads((tmp_path / "reports" / "summary.json").read_text())["exit_code"] == ExitCode.FINDING


def test_the_reports_folders_lock_never_writes_through_a_symlink(tmp_path: Path) -> None:
    from fieldproof.locks import reports_lock

    precious = tmp_path / "precious.txt"
    precious.write_text("the user's own file")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / ".fieldproof.holder.json").symlink_to(precious)  # who holds the lock is written beside it
    with reports_lock(reports):
        assert "pid" in (reports / ".fieldproof.holder.json").read_text()
    assert precious.read_text() == "the user's own file"
