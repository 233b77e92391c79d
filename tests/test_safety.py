"""Safe on a live target under every fault: a production guard that cannot be bypassed, every
way a run ends puts the runs back and tells the truth, one run per target, bounded in time and
memory whatever the target does, and messages in the terms the user wrote."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from helpers import faulty_target, fieldproof_run, one_run_target, proxied, run_statuses, staging, summary

from fieldproof.errors import ExitCode
from fieldproof.interrupts import SIGNALS as SIGNALS_HANDLED
from fieldproof.interrupts import Interrupts, RestoreAborted

QUICK = ["--profile", "quick"]


# --- the production guard, on the host the client will really connect to --------------------


@pytest.mark.parametrize(
    "base_url",
    ["https://api。cint。com/v1", "https://api．cint．com/v1", "https://api｡cint｡com/v1", "https://ＡＰＩ.cint.com/v1",
     "https://API.Cint.COM/v1", "https://api.cint.com./v1", "https://api.cint.com:443/v1"],
    ids=["ideographic-dots", "fullwidth-dots", "halfwidth-dots", "fullwidth-letters", "case", "trailing-dot", "port"],
)
def test_production_is_refused_however_its_host_is_spelt(tmp_path: Path, base_url: str) -> None:
    result = fieldproof_run(tmp_path, "--target", str(one_run_target(tmp_path / "t.toml", base_url)), env={"FIELDPROOF_TOKEN": "t"})
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr.count("\n") == 1 and "points at production (api.cint.com)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("base_url", ["https://a%2ecint.com/v1", "https://-x..com/v1", "https://u:p@staging.example.com/v1"])
def test_a_host_that_cannot_be_normalised_is_exit_2_with_one_line(tmp_path: Path, base_url: str) -> None:
    result = fieldproof_run(tmp_path, "--target", str(one_run_target(tmp_path / "t.toml", base_url)), env={"FIELDPROOF_TOKEN": "t"})
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


# --- every way a run ends puts the runs back and tells the truth ------------------------------


def _rows(sandbox) -> dict[str, str]:
    return run_statuses(sandbox)


def _versions(sandbox) -> dict[str, int]:
    return {row["id"]: row["version"] for row in httpx.get(sandbox.root_url + "/_control/runs").json()}


def _written_to(sandbox, target: Path) -> Callable[[], bool]:
    """True once a write took effect on a resumable run: a state the run leaves on the target
    that only grows (its version), so that it cannot be missed between two looks."""
    first = _versions(sandbox)
    return lambda: any(_versions(sandbox)[run] > first[run] for run in _resumable(target))


def _locked(tmp_path: Path) -> Callable[[], bool]:
    """True while a run holds a target lock (the holder file it writes beside the lock)."""
    return lambda: any((tmp_path / "state" / "locks").glob("*.holder.json"))


def _resumable(target: Path) -> set[str]:
    return {run["fielding_run_id"] for run in tomllib.loads(target.read_text())["runs"] if run["role"] == "resumable"}


def _wait_until(predicate: Callable[[], bool], process: subprocess.Popen[str], what: str, limit_s: float = 120) -> None:
    """Until the run reaches a state it can be seen in (never a count of requests or a delay)."""
    deadline = time.monotonic() + limit_s  # only guards a hang; the state is what is waited for
    while not predicate():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s"
        time.sleep(0.02)


def _start(tmp_path: Path, target: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}, **env,
                "FIELDPROOF_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen(
        [sys.executable, "-m", "fieldproof", "run", "--target", str(target), "--reports", str(tmp_path / "r"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
    )


SIGNALS = [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.TERMINATED), (signal.SIGHUP, ExitCode.HANGUP)]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("signum, code", SIGNALS, ids=[s.name for s, _ in SIGNALS])
def test_a_signal_mid_run_puts_the_runs_back_and_says_interrupted(tmp_path: Path, signum, code, workers: str) -> None:
    with staging(tmp_path, "--latency-ms", "5") as (sandbox, target, env):
        before = _rows(sandbox)
        process = _start(tmp_path, target, env, "--workers", workers)
        try:
            # a resumable run is live: the run is mid-test, and must put it back
            _wait_until(_written_to(sandbox, target), process, "a write to a listed run")  # mid-run, a run changed
            process.send_signal(signum)
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == code, output[-3000:]
        assert _rows(sandbox) == before
    assert "Traceback" not in output and env["FIELDPROOF_TOKEN"] not in output
    data = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert data["verdict"] == "interrupted" and f"interrupted by {signum.name}" in " ".join(data["notes"])
    assert "INTERRUPTED" in (tmp_path / "r" / "summary.md").read_text() and "PASS" not in output


def test_two_signals_in_quick_succession_still_put_the_runs_back_without_a_traceback(tmp_path: Path) -> None:
    with staging(tmp_path, "--latency-ms", "5") as (sandbox, target, env):
        before = _rows(sandbox)
        process = _start(tmp_path, target, env)
        try:
            _wait_until(_written_to(sandbox, target), process, "a write to a listed run")
            process.send_signal(signal.SIGINT)
            time.sleep(0.15)  # a user pressing Ctrl-C twice: the second must change nothing
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == ExitCode.INTERRUPTED, output[-3000:]
        assert _rows(sandbox) == before
    assert "Traceback" not in output
    for name in ("junit.xml", "summary.json", "summary.md", "report.html"):
        assert (tmp_path / "r" / name).exists(), name


@pytest.fixture
def own_handlers() -> Iterator[None]:
    """This test process's signal handlers as they were, whatever a test leaves installed."""
    before = {signum: signal.getsignal(signum) for signum in SIGNALS_HANDLED}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_third_signal_aborts_the_restore_and_the_first_stops_the_suites(own_handlers) -> None:
    with Interrupts() as interrupts:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises as soon as the signal arrives
        with interrupts.restoring():
            os.kill(os.getpid(), signal.SIGINT)  # counted, not raised: the restore goes on
            with pytest.raises(RestoreAborted):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
        os.kill(os.getpid(), signal.SIGINT)  # while the reports are written: counted only
    assert interrupts.exit_code == ExitCode.TERMINATED and len(interrupts.received) == 4


def test_a_signal_after_a_stopped_session_is_ignored_not_the_death_of_the_process(own_handlers) -> None:
    with Interrupts() as interrupts:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    # a second Ctrl-C as the process exits, even while the interpreter shuts down: its code stays 130
    assert all(signal.getsignal(signum) == signal.SIG_IGN for signum in SIGNALS_HANDLED)
    os.kill(os.getpid(), signal.SIGINT)
    assert interrupts.exit_code == ExitCode.INTERRUPTED and len(interrupts.received) == 1


def test_a_session_no_signal_stopped_gives_the_handlers_back(own_handlers) -> None:
    before = signal.getsignal(signal.SIGINT)
    with Interrupts():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_a_run_left_changed_is_put_back_first_and_the_report_says_so(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        run = sorted(_resumable(target))[0]
        row = httpx.get(f"{sandbox.root_url}/_control/runs/{run}").json()
        url = (f"{sandbox.base_url}/demand/accounts/{row['account_id']}/projects/{row['project_id']}"
               f"/target-groups/{row['target_group_id']}/fielding-runs/{run}/resume")
        headers = {"Authorization": f"Bearer {env['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18"}
        assert httpx.post(url, headers={**headers, "If-Match": f'W/"{row["version"]}"'}).status_code == 204
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "business_rules", env=env)
        assert result.returncode == 0, result.stdout[-3000:]
        assert _rows(sandbox)[run] == "paused"
    said = f"before the suites: {run} was live: paused back to paused (an earlier session left it changed)"
    assert said in result.stdout and said in summary(tmp_path)["notes"]


# --- one run per target at a time -------------------------------------------------------------


def _target_lock(target: Path, wait_s: float = 0.0):
    from fieldproof.locks import target_lock
    from fieldproof.target import load_target

    loaded = load_target(target, env={"FIELDPROOF_TOKEN": "t", "FIELDPROOF_FOREIGN_TOKEN": "f"})
    return target_lock(loaded, wait_s)


def test_a_second_run_on_the_same_target_is_refused_at_once_naming_the_holder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    with staging(tmp_path) as (sandbox, target, env), _target_lock(target):  # another run holds the target
        result = fieldproof_run(tmp_path, "--target", str(target), env=env)
        sent = httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stderr
    assert f"pid {os.getpid()}" in result.stderr and "another fieldproof session holds the target" in result.stderr
    assert "--wait-for-lock" in result.stderr and sent == 0


def test_a_run_holds_its_target_for_its_whole_run_wherever_its_reports_go(tmp_path: Path, monkeypatch) -> None:
    from fieldproof.locks import LockHeld

    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    with staging(tmp_path) as (sandbox, target, env):
        first = _start(tmp_path, target, env, *QUICK)
        try:
            _wait_until(_locked(tmp_path), first, "the first run's lock")
            first.send_signal(signal.SIGSTOP)  # frozen while it holds the lock: no race with its end
            try:
                with pytest.raises(LockHeld, match=f"pid {first.pid}"):
                    with _target_lock(target):
                        pass
            finally:
                first.send_signal(signal.SIGCONT)
            output, _ = first.communicate(timeout=300)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == 0, output[-3000:]
        with _target_lock(target):  # released at its end
            pass


def test_wait_for_lock_waits_for_the_holder_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    with staging(tmp_path) as (sandbox, target, env):
        lock = _target_lock(target)
        lock.__enter__()
        released = False
        try:
            waiting = _start(tmp_path, target, env, *QUICK, "--suites", "business_rules", "--wait-for-lock", "300")
            assert waiting.stdout is not None
            with ThreadPoolExecutor(1) as reader:  # the line the run prints when it starts to wait
                said = reader.submit(waiting.stdout.readline).result(timeout=120)
            assert said.startswith("fieldproof: waiting up to 300 s for the target") and f"pid {os.getpid()}" in said
            assert httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"] == 0  # it waits
            lock.__exit__(None, None, None)
            released = True
            output, _ = waiting.communicate(timeout=300)
        finally:
            if not released:
                lock.__exit__(None, None, None)
            if waiting.poll() is None:
                waiting.kill()
    assert waiting.returncode == 0, output[-3000:]


# --- bounded in time, memory and requests, whatever the target does ---------------------------


def test_a_target_that_stops_answering_stops_the_run_with_exit_3_and_every_request_counted(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--hang-after", "30", timeout_s=1) as (target, root):
        before = _rows(staged[0])
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2], timeout=240)
        sent = proxied(root)
        after = _rows(staged[0])
    assert result.returncode == ExitCode.UNREACHABLE, result.stdout[-3000:] + result.stderr
    assert "the target stopped answering" in result.stdout and staged[2]["FIELDPROOF_TOKEN"] not in result.stdout
    data = summary(tmp_path)
    # a run that could not be put back is named, for the next run puts it back first
    for run, status in after.items():
        assert status == before[run] or f"could not put {run} back" in " ".join(data["notes"]), run
    assert data["requests"] == sent  # also those that never got an answer
    assert sent <= 30 + 5 + 5 + 9  # the answered, five in a row unanswered (and the restore's five), no more


def test_max_duration_s_bounds_the_whole_run_and_the_runs_are_still_put_back(tmp_path: Path) -> None:
    with staging(tmp_path, "--latency-ms", "20") as (sandbox, target, env):
        before = _rows(sandbox)
        short = target.with_name("short.toml")
        short.write_text(target.read_text().replace('token_env = "FIELDPROOF_TOKEN"', 'token_env = "FIELDPROOF_TOKEN"\nmax_duration_s = 4'))
        result = fieldproof_run(tmp_path, "--target", str(short), env=env, timeout=240)
        assert _rows(sandbox) == before
    assert result.returncode == ExitCode.USAGE, result.stdout[-3000:]
    assert "max_duration_s has passed" in result.stdout
    assert {p["kind"] for p in summary(tmp_path)["problems"]} >= {"deadline"}


def test_timeout_s_bounds_a_whole_request_not_each_read(tmp_path: Path) -> None:
    # every GET's body arrives one byte every 2 s: each read is quick, the request never ends
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--drip-ms", "2000", timeout_s=3) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2], timeout=90)
    assert result.returncode == ExitCode.UNREACHABLE, result.stdout[-2000:] + result.stderr
    assert result.stderr.count("\n") == 1 and "no whole answer within timeout_s = 3 s" in result.stderr


def test_a_huge_body_is_cut_off_and_is_a_finding_of_its_own(tmp_path: Path) -> None:
    huge = str(1024**3)  # 1 GiB, generated as it is sent
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--huge-body-bytes", huge) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "lifecycle", env=staged[2])
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    rows = {rule["name"]: rule for rule in summary(tmp_path)["rules"]}
    assert rows["response_body_bounded"]["violations"] > 0
    assert "longer than 1048576 bytes (max_body_bytes)" in rows["response_body_bounded"]["groups"][0]["examples"][0]["message"]
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024  # KiB: the run never held the body


def test_a_token_the_target_echoes_is_in_no_output(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--echo-token") as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "paths,auth", env=staged[2])
    tokens = (staged[2]["FIELDPROOF_TOKEN"], staged[2]["FIELDPROOF_FOREIGN_TOKEN"])
    texts = [result.stdout, result.stderr] + [p.read_text(errors="replace") for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert all(token not in text for token in tokens for text in texts)


# --- messages say what the user wrote, and every flag is checked before the first request -----


def test_the_budget_message_names_max_requests_and_how_it_was_split(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        limited = target.with_name("limited.toml")
        limited.write_text(target.read_text().replace('token_env = "FIELDPROOF_TOKEN"', 'token_env = "FIELDPROOF_TOKEN"\nmax_requests = 70'))
        result = fieldproof_run(tmp_path, "--target", str(limited), *QUICK, "--workers", "2", env=env)
    assert result.returncode == ExitCode.USAGE, result.stdout[-2000:]
    assert f"max_requests = 70 in {limited}" in result.stdout and "(2 workers x" in result.stdout


@pytest.mark.parametrize("args", [["--workers", "abc"], ["--wait-for-lock", "-1"], ["--suites", "nosuch"],
                                  ["--profile", "huge"], ["--baseline", "missing.toml"], ["--contract", "missing.yaml"]])
def test_every_flag_is_checked_before_the_first_request(tmp_path: Path, args: list[str]) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), *args, env=env)
        sent = httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stderr
    assert sent == 0


# --- Ctrl-C pressed again and again, under --workers ------------------------------------------


def test_ctrl_c_three_times_under_workers_puts_the_runs_back_without_a_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to the whole process group: the session and its xdist workers."""
    import xml.etree.ElementTree as ET

    with staging(tmp_path, "--latency-ms", "5") as (sandbox, target, env):
        before = _rows(sandbox)
        full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}, **env,
                    "FIELDPROOF_STATE_DIR": str(tmp_path / "state")}
        process = subprocess.Popen(
            [sys.executable, "-m", "fieldproof", "run", "--target", str(target), "--reports", str(tmp_path / "r"), "--workers", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True,
        )
        try:
            _wait_until(_written_to(sandbox, target), process, "a write to a listed run")
            for _ in range(3):
                os.killpg(process.pid, signal.SIGINT)
                time.sleep(0.05)  # a person pressing Ctrl-C three times in quick succession
            stdout, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert process.returncode == ExitCode.INTERRUPTED, stdout[-3000:] + stderr[-3000:]
        assert _rows(sandbox) == before
    for output in (stdout, stderr):
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert "INTERRUPTED: the session was stopped by SIGINT" in stdout
    reports = tmp_path / "r"
    assert json.loads((reports / "summary.json").read_text())["verdict"] == "interrupted"
    (case,) = [case for case in ET.parse(reports / "junit.xml").iter("testcase") if case.find("error") is not None]
    assert case.get("name") == "interrupted" and "SIGINT" in case.find("error").get("message", "")  # type: ignore[union-attr]
    (invocation,) = json.loads((reports / "fieldproof.sarif").read_text())["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == ExitCode.INTERRUPTED


def test_a_worker_stops_at_the_first_signal_and_ignores_the_next_ones(own_handlers) -> None:
    from fieldproof.interrupts import stop_once

    stop_once()  # as an xdist worker does
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler raises as soon as the signal arrives
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # pressed again, or CI cancelling: ignored
        os.kill(os.getpid(), signum)
    assert all(signal.getsignal(signum) == signal.SIG_IGN for signum in SIGNALS_HANDLED)
