"""The progress line a person and a CI log follow: what it says (suite, tests, schemathesis'
cases, requests of the budget, findings by severity, a 429 wait), that it reaches the output
while pytest captures file descriptor 1, live and in colour on a terminal (none under
NO_COLOR), plain lines without one, schemathesis' pytest session included."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import fieldproof_run

from fieldproof import rules
from fieldproof.progress import SWARM_PROGRESS, Moment, Progress, SwarmProgress, by_severity, render
from fieldproof.records import WorkerStatus, write_status

SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour or text style; cursor control is something else
LINE = re.compile(r"fieldproof: \[\d+ s\] [^\r\n]*")


def _progress(tmp_path: Path, out: io.TextIOBase | None = None, budget: int | None = None,
              tests: tuple[int, int] = (0, 0)) -> Progress:
    return Progress(tmp_path, lambda: tests, budget, out or io.StringIO(), live=False)  # type: ignore[arg-type]


def _a_rule_of_each_severity() -> dict[str, str]:
    """severity -> one rule of it, from the rule registry as it is."""
    found: dict[str, str] = {}
    for name in rules.all_rules():
        found.setdefault(str(getattr(rules.severity_of(name), "value", rules.severity_of(name))), name)
    return found


# --- what the line says -----------------------------------------------------------------------


def test_findings_are_counted_by_severity_most_severe_first() -> None:
    counts = by_severity({"minor": 7, "critical": 1, "major": 0})
    assert list(counts.items()) == [("critical", 1), ("minor", 7)]  # a severity with no finding is left out


def test_the_line_says_suite_operation_tests_cases_requests_budget_findings_and_the_429_wait() -> None:
    moment = Moment(elapsed_s=12.2, running=("schemathesis",), detail="POST …/pause", done=36, total=40, cases=143,
                    requests=1387, budget=5000, findings={"critical": 1, "minor": 12}, wait_left_s=6.6, wait_s=8.0)
    assert render(moment).plain == ("fieldproof: [12 s] schemathesis (POST …/pause) · tests 36/40 · cases 143 · requests 1387/5000"
                                    " · findings 1 critical, 12 minor · waiting out a 429: 7 s left of 8 s")


def test_while_a_later_pytest_session_is_not_collected_the_line_names_what_is_still_to_come(tmp_path: Path) -> None:
    progress = _progress(tmp_path, tests=(3, 35))
    progress.later = ("schemathesis",)
    assert "tests 3/35 + schemathesis" in progress.line()  # not "35/35 done" before schemathesis has begun
    progress.later = ()
    assert "tests 3/35 ·" in progress.line()
    between = _progress(tmp_path, tests=(35, 35))
    between.later = ("schemathesis",)
    assert "] collecting · tests 35/35 + schemathesis" in between.line()  # the first session done, the next one coming
    between.later = ()
    assert "] finishing · tests 35/35 ·" in between.line()


def test_the_line_adds_up_what_every_pytest_process_wrote(tmp_path: Path) -> None:
    by_severity_name = _a_rule_of_each_severity()
    rule = next(iter(by_severity_name.values()))
    severity = next(iter(by_severity_name))
    now = time.time()
    write_status(tmp_path / "main.progress.json", WorkerStatus(requests=900, findings={severity: 2}))
    write_status(tmp_path / "schemathesis-main.progress.json",
                 WorkerStatus(requests=100, findings={severity: 1}, cases=57, at=now - 0.3, waiting_until=now + 100.4))
    progress = _progress(tmp_path, budget=5000, tests=(35, 40))
    progress.pytest_runtest_logstart("test_schemathesis.py::test_the_contract_document_holds[GET /a/{b}/runs/{run_id}]", None)
    line = progress.line()
    assert " schemathesis (GET …/{run_id}) · tests 35/40 · cases 57 · requests 1000/5000 · " in line
    assert f"findings 3 {severity}" in line
    assert re.search(r"waiting out a 429: \d+ s left of 101 s$", line)  # its length: from when it was first written


# --- where the line goes ----------------------------------------------------------------------


def test_the_line_reaches_the_output_while_pytest_captures_its_file_descriptor(tmp_path: Path) -> None:
    shown, captured = tmp_path / "shown.txt", tmp_path / "captured.txt"
    with shown.open("w") as out, captured.open("w") as capture:
        progress = _progress(tmp_path, out=out)  # type: ignore[arg-type]
        saved = os.dup(out.fileno())
        os.dup2(capture.fileno(), out.fileno())  # what pytest's fd capture does to file descriptor 1 during a test
        try:
            progress.pytest_runtest_logstart("test_schemathesis.py::test_stateful_sequences_through_the_links", None)
            progress.stop()
        finally:
            os.dup2(saved, out.fileno())
            os.close(saved)
    assert "schemathesis" in shown.read_text() and captured.read_text() == ""


def test_without_a_terminal_each_suite_shows_a_plain_line_when_it_starts(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = _progress(tmp_path, out=out)
    for nodeid in ["test_lifecycle.py::test_a", "test_lifecycle.py::test_b", "test_schemathesis.py::test_c[GET /x]"]:
        progress.pytest_runtest_logstart(nodeid, None)
        progress.pytest_runtest_logfinish(nodeid, None)
    lines = out.getvalue().splitlines()
    assert all(LINE.fullmatch(line) for line in lines)
    assert [line.split("] ")[1].split(" ")[0] for line in lines] == ["lifecycle", "schemathesis"]  # one a suite, not a test


def _on_a_terminal(tmp_path: Path, env: dict[str, str]) -> str:
    """A Progress writing to a pseudo-terminal, as `fieldproof run` in a terminal: what it shows."""
    code = ("import sys, time; from pathlib import Path; from fieldproof.progress import Progress; from fieldproof.records import WorkerStatus, write_status\n"
            f"work = Path({str(tmp_path)!r})\n"
            "write_status(work / 'main.progress.json', WorkerStatus(requests=7, findings={sys.argv[1]: 2}))\n"
            "progress = Progress(work, lambda: (1, 2), None, sys.stdout)\n"
            "progress.start(); progress.pytest_runtest_logstart('test_schemathesis.py::test_x', None); progress.stop()\n")
    rule = next(iter(_a_rule_of_each_severity()))  # a severity's name
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", code, rule], stdout=follower, stderr=follower,
                               env={**os.environ, "TERM": "xterm", "COLUMNS": "200", **env})
    os.close(follower)
    output = _read_all(leader)
    assert process.wait(timeout=60) == 0, output
    return output


def _read_all(leader: int) -> str:
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return output.decode(errors="replace")


def test_on_a_terminal_the_line_is_live_and_in_colour(tmp_path: Path) -> None:
    output = _on_a_terminal(tmp_path, {"NO_COLOR": ""})  # an empty NO_COLOR asks for nothing
    assert "\r\x1b[2K" in output  # redrawn in place
    assert SGR.search(output) and "schemathesis" in SGR.sub("", output)
    assert _counted_by_severity(LINE.findall(SGR.sub("", output))[-1])


def test_no_color_takes_the_colour_away_and_keeps_the_live_line(tmp_path: Path) -> None:
    output = _on_a_terminal(tmp_path, {"NO_COLOR": "1"})
    assert "\r\x1b[2K" in output and "schemathesis" in output
    assert not SGR.search(output), repr(output)


# --- in a session -----------------------------------------------------------------------------


FAULT = {"FIELDPROOF_SANDBOX_FAULT": "no_etag_on_204"}  # findings in lifecycle and schemathesis alike


def _counted_by_severity(line: str) -> bool:
    """Does the line count its findings by severity (the rule registry's), at least one?"""
    severities = "|".join(_a_rule_of_each_severity())
    return re.search(rf" · findings [1-9]\d* ({severities})(, \d+ ({severities}))*( · |$)", line) is not None


def _running(frame: str) -> str:
    return frame.split("] ")[1].split(" ")[0]


def _in_schemathesis_with_cases(frames: list[str]) -> bool:
    """A line drawn while schemathesis' tests ran: cases counted, and schemathesis named as running
    (a line drawn between tests says 'collecting' or names a suite as it starts, before any case)."""
    return any(_running(frame) == "schemathesis" and re.search(r" · cases [1-9]", frame) for frame in frames[:-1])


def test_piped_the_lines_come_while_the_suites_run_schemathesis_included(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "lifecycle,schemathesis",
                            env={"FIELDPROOF_PROGRESS_INTERVAL_S": "0.1", **FAULT})
    assert result.returncode == 1, result.stdout[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("fieldproof: [")]
    assert "\x1b[" not in result.stdout
    named = [_running(line) for line in lines]
    assert named[0] == "starting" and named[-1] == "done"
    in_order = [name for n, name in enumerate(named) if name in ("lifecycle", "schemathesis") and name not in named[:n]]
    assert in_order == ["lifecycle", "schemathesis"]
    assert all("+ schemathesis" in line for line in lines if _running(line) == "lifecycle")  # its tests are collected later
    assert _in_schemathesis_with_cases(lines)  # not swallowed by pytest's capture while its tests run
    assert _counted_by_severity(lines[-1]), lines[-1]


def test_on_a_terminal_the_live_line_follows_schemathesis_and_counts_findings_by_severity(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDPROOF_", "NO_COLOR"))}
    env.update({"FIELDPROOF_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm", "COLUMNS": "250", **FAULT})
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "fieldproof", "run", "--profile", "quick", "--suites", "lifecycle,schemathesis",
                                "--reports", str(tmp_path / "reports")], stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output = _read_all(leader)
    assert process.wait(timeout=300) == 1, output[-2000:]
    frames = LINE.findall(SGR.sub("", output))
    assert SGR.search(output)  # in colour
    assert _in_schemathesis_with_cases(frames)  # redrawn while its tests run
    assert _counted_by_severity(frames[-1]), frames[-1]


@pytest.mark.parametrize("data", [{}, {"requests": 3, "findings": {"minor": 1}, "waiting_until": None, "cases": 2, "at": 1.0}])
def test_a_worker_status_reads_back_as_written(tmp_path: Path, data: dict[str, object]) -> None:
    path = tmp_path / "w.progress.json"
    path.write_text(json.dumps(data))
    status = WorkerStatus.from_dict(json.loads(path.read_text()))
    write_status(path, status)
    assert WorkerStatus.from_dict(json.loads(path.read_text())) == status


# --- fieldproof swarm -------------------------------------------------------------------------


def _locust_table(requests: int) -> list[str]:
    return ["Type     Name          # reqs      # fails |    Avg", "--------|-------------|-------|-------------|-------",
            f"GET      get 200       {requests}     0(0.00%) |    101", f"         Aggregated    {requests}     0(0.00%) |    101",
            ""]


def test_the_swarm_passes_on_locusts_statistics_each_with_the_findings_so_far(tmp_path: Path) -> None:
    rule, severity = next((rule, severity) for severity, rule in _a_rule_of_each_severity().items())
    write_status(tmp_path / SWARM_PROGRESS, WorkerStatus(requests=40, findings={severity: 3}))
    lines = [*_locust_table(5), "[2026-12-07 12:00:00] host/WARNING/locust.runners: a worker is missing", *_locust_table(40)]
    log, out = io.StringIO(), io.StringIO()
    progress = SwarmProgress(io.BytesIO("\n".join(lines).encode() + b"\n"), log, tmp_path, 1000, out)
    progress.interval_s = 3600.0  # the second table comes too soon after the first: held back till the end
    progress.start()
    progress.join(10)
    shown = out.getvalue().splitlines()
    assert log.getvalue().splitlines() == lines  # Locust's output kept whole
    assert shown[:5] == _locust_table(5) and shown[6].endswith("a worker is missing") and shown[7:12] == _locust_table(40)
    assert shown[5] == shown[12] and re.fullmatch(rf"fieldproof: \[\d+ s\] swarm · requests 40/1000 · findings 3 {severity}", shown[5])
    assert len(shown) == 13


def test_a_swarm_shows_locusts_statistics_and_the_findings_while_it_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    env.update({"FIELDPROOF_STATE_DIR": str(tmp_path / "state"), "FIELDPROOF_PROGRESS_INTERVAL_S": "0.1", **FAULT})
    result = subprocess.run([sys.executable, "-m", "fieldproof", "swarm", "--reports", str(tmp_path / "reports"), "--duration", "6s",
                             "--users", "10", "--spawn-rate", "10"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    before_the_report = result.stdout.partition("\nrule ")[0].splitlines()
    tables = [n for n, line in enumerate(before_the_report) if line.startswith("Type ") and "# reqs" in line]
    findings = [line for line in before_the_report if line.startswith("fieldproof: [") and " swarm · " in line]
    assert len(tables) >= 2 and len(findings) >= len(tables)  # each table followed by the findings so far
    assert _counted_by_severity(findings[-1]), findings[-1]
