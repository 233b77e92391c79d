"""`fieldproof run` as users run it: verdicts, exit codes, reports, safety on a file target."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from helpers import fieldproof_run, one_run_target, summary
from helpers import staging as _staging

from fieldproof.records import TotalsRecord, to_line
from fieldproof.rules.locking import LOCKING_RULES
from fieldproof.sandbox.process import RunningSandbox
from fieldproof.sandbox.server import bind

QUICK = ["--profile", "quick", "--workers", "2"]


# the built-in sandbox


def test_the_contract_holds_on_the_sandbox_and_every_report_is_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = fieldproof_run(work, *QUICK, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PASS: the contract holds" in result.stdout
    # hypothesis keeps its tables in the user's cache between sessions, not in the working directory
    assert sorted(p.name for p in work.iterdir()) == ["reports", "state"]
    assert list((tmp_path / "cache" / "fieldproof" / "hypothesis").glob("unicode_data/*/charmap.json.gz"))
    reports = work / "reports"
    for name in ("junit.xml", "report.html", "summary.json", "summary.md"):
        assert (reports / name).stat().st_size > 0, name
    data = summary(work)
    assert data["verdict"] == "pass" and data["requests"] > 100
    checks = {rule["name"]: rule["checks"] for rule in data["rules"]}
    unexercised = {name for name, n in checks.items() if n == 0 and name != "retry_after_on_429"}
    # every rule was really applied, not just registered; the locking oracles only where a session
    # opts in (tests/test_locking_end_to_end.py: every one of them applied with --resources all)
    assert unexercised == set(LOCKING_RULES)
    cells = {(c["operation"], c["status"]): c for c in data["coverage"]}
    for cell in [("resume", 204), ("resume", 412), ("resume", 422), ("resume", 401), ("resume", 404), ("get", 403)]:
        assert cells[cell]["observed"] and cells[cell]["asserted"], cell
    assert "<html lang=\"en\">" in (reports / "report.html").read_text()
    assert "| operation |" in (reports / "summary.md").read_text()


def test_the_contract_holds_with_latency_and_a_tight_rate_limit(tmp_path: Path) -> None:
    env = {
        "FIELDPROOF_SANDBOX_LATENCY_MS": "5",
        "FIELDPROOF_SANDBOX_JITTER_MS": "10",
        "FIELDPROOF_SANDBOX_RATE_LIMIT_BURST": "40",
        "FIELDPROOF_SANDBOX_RATE_LIMIT_REFILL": "150",
    }
    result = fieldproof_run(tmp_path, *QUICK, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    cells = {(c["operation"], c["status"]): c for c in summary(tmp_path)["coverage"]}
    assert cells[("get", 429)]["observed"] > 0  # the probe met the limit, and it was waited out
    checks = {rule["name"]: rule["checks"] for rule in summary(tmp_path)["rules"]}
    assert checks["retry_after_on_429"] > 0


@pytest.mark.parametrize(
    "fault, rule",
    [
        ("no_etag_on_204", "etag_on_success"),
        ("ignore_if_match", "stale_tag_refused"),
        ("no_traceparent_on_404", "traceparent_on_every_response"),
        ("skip_business_rules", "business_rules_refuse"),
    ],
)
def test_a_faulty_sandbox_fails_with_exit_1_naming_the_rule(tmp_path: Path, fault: str, rule: str) -> None:
    result = fieldproof_run(tmp_path, *QUICK, env={"FIELDPROOF_SANDBOX_FAULT": fault})
    assert result.returncode == 1, result.stdout[-3000:]
    assert "FAIL: the target violates the contract" in result.stdout
    violated = {r["name"]: r for r in summary(tmp_path)["rules"] if r["violations"]}
    assert rule in violated, sorted(violated)
    assert "curl -i" in violated[rule]["groups"][0]["examples"][0]["exchange"]["curl"]


# usage errors and unreachable targets


def _write_target(path: Path, base_url: str, runs: list[dict], **extra: object) -> Path:
    lines = [f'base_url = "{base_url}"', 'api_version = "2025-12-18"', 'account_id = "101"',
             'token_env = "FIELDPROOF_TOKEN"', 'foreign_token_env = "FIELDPROOF_FOREIGN_TOKEN"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    for run in runs:
        lines += ["", "[[runs]]"] + [f'{k} = "{v}"' for k, v in run.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


ONE_RUN = [{"role": "resumable", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}]


@pytest.mark.parametrize(
    "setup, says",
    [
        (lambda p: p / "missing.toml", "does not exist"),
        (lambda p: _write_target(p / "t.toml", "http://staging.example.test/v1", ONE_RUN), "allow_insecure_http"),
        (lambda p: _write_target(p / "t.toml", "https://api.cint.com/v1", ONE_RUN), "allow_production"),
    ],
    ids=["missing-file", "insecure-http", "production"],
)
def test_a_bad_target_file_is_exit_2_with_one_line(tmp_path: Path, setup, says: str) -> None:
    result = fieldproof_run(tmp_path, "--target", str(setup(tmp_path)), env={"FIELDPROOF_TOKEN": "t", "FIELDPROOF_FOREIGN_TOKEN": "f"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr


def test_a_missing_token_env_var_is_exit_2(tmp_path: Path) -> None:
    target = _write_target(tmp_path / "t.toml", "https://staging.example.test/v1", ONE_RUN)
    result = fieldproof_run(tmp_path, "--target", str(target))
    assert result.returncode == 2 and "FIELDPROOF_TOKEN is not set" in result.stderr


@pytest.mark.parametrize("args", [["--profile", "extreme"], ["--workers", "many"]])
def test_bad_flags_are_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = fieldproof_run(tmp_path, *args)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_target_is_exit_3(tmp_path: Path) -> None:
    sock = bind("127.0.0.1", 0)  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    try:
        target = _write_target(tmp_path / "t.toml", f"http://127.0.0.1:{port}/v1", ONE_RUN)
        result = fieldproof_run(tmp_path, "--target", str(target), env={"FIELDPROOF_TOKEN": "t", "FIELDPROOF_FOREIGN_TOKEN": "f"})
    finally:
        sock.close()
    assert result.returncode == 3
    assert "cannot reach the target" in result.stderr and "Traceback" not in result.stderr


# a file target: a seeded sandbox standing in for a staging deployment


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[tuple[RunningSandbox, Path, dict[str, str]]]:
    with _staging(tmp_path) as running:
        yield running


def _api_requests(sandbox: RunningSandbox) -> int:
    return httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]


def _statuses(sandbox: RunningSandbox, target: Path, env: dict[str, str]) -> dict[str, str]:
    config = tomllib.loads(target.read_text())
    headers = {"Authorization": f"Bearer {env['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18"}
    result = {}
    for run in (r for r in config["runs"] if r["role"] != "completable"):  # a session may complete those
        url = (f"{config['base_url']}/demand/accounts/101/projects/{run['project_id']}"
               f"/target-groups/{run['target_group_id']}/fielding-runs/{run['fielding_run_id']}")
        result[run["fielding_run_id"]] = httpx.get(url, headers=headers).json()["status"]
    return result


def test_a_file_target_passes_and_its_runs_are_put_back_and_no_token_is_written(tmp_path: Path, staging) -> None:
    sandbox, target, env = staging
    before = _statuses(sandbox, target, env)
    result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _statuses(sandbox, target, env) == before
    sent = _api_requests(sandbox)
    assert sent <= 2000
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert env["FIELDPROOF_TOKEN"] not in text and env["FIELDPROOF_FOREIGN_TOKEN"] not in text, path
    assert env["FIELDPROOF_TOKEN"] not in result.stdout + result.stderr


def test_max_requests_is_never_exceeded(tmp_path: Path, staging) -> None:
    sandbox, target, env = staging
    limited = target.with_name("limited.toml")
    limited.write_text(target.read_text().replace('token_env = "FIELDPROOF_TOKEN"', 'token_env = "FIELDPROOF_TOKEN"\nmax_requests = 120'))
    before = _statuses(sandbox, target, env)
    result = fieldproof_run(tmp_path, "--target", str(limited), *QUICK, env=env)
    found = [g["signature"] for rule in summary(tmp_path)["rules"] for g in rule["groups"]]
    assert result.returncode == 2, found or result.stdout[-2000:]
    assert "the request budget is spent: max_requests = 120 in" in result.stdout
    assert _api_requests(sandbox) <= 120
    assert _statuses(sandbox, target, env) == before


def test_a_budget_spent_before_schemathesis_does_not_start_its_pytest_session(tmp_path: Path, staging) -> None:
    sandbox, target, env = staging
    limited = target.with_name("limited.toml")
    limited.write_text(target.read_text().replace('token_env = "FIELDPROOF_TOKEN"', 'token_env = "FIELDPROOF_TOKEN"\nmax_requests = 120'))
    result = fieldproof_run(tmp_path, "--target", str(limited), "--profile", "quick", env=env)  # one worker: two parts
    data = summary(tmp_path)
    assert result.returncode == 2, result.stdout[-2000:]
    assert any(note.startswith("schemathesis did not run: the request budget is spent") for note in data["notes"]), data["notes"]
    assert not [case for case in data["tests"]["cases"] if "schemathesis" in case["classname"]]
    assert _api_requests(sandbox) <= 120


def test_an_unknown_suite_is_exit_2(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--suites", "if_match,nosuch")
    assert result.returncode == 2 and "unknown suite 'nosuch'" in result.stderr


# the schemathesis suite


def test_the_schemathesis_suite_passes_on_the_sandbox(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--suites", "schemathesis", "--profile", "quick")
    assert result.returncode == 0, result.stdout[-3000:]
    rows = {rule["name"]: rule for rule in summary(tmp_path)["rules"]}
    assert rows["schemathesis"]["checks"] > 50 and rows["documented_status"]["checks"] > 50
    assert summary(tmp_path)["tests"]["passed"] == 5  # four operations and the stateful links


@pytest.mark.parametrize(
    "env, rules",
    [
        ({"FIELDPROOF_SANDBOX_FAULT": "no_traceparent_on_404"}, {"traceparent_on_every_response"}),
        (
            {"FIELDPROOF_SANDBOX_FAULT": "no_retry_after_on_429", "FIELDPROOF_SANDBOX_RATE_LIMIT_BURST": "20",
             "FIELDPROOF_SANDBOX_RATE_LIMIT_REFILL": "50"},
            {"retry_after_on_429"},
        ),
    ],
    ids=["no-traceparent-on-404", "no-retry-after-on-429"],
)
def test_the_schemathesis_suite_fails_on_a_faulty_sandbox(tmp_path: Path, env: dict[str, str], rules: set[str]) -> None:
    result = fieldproof_run(tmp_path, "--suites", "schemathesis", "--profile", "quick", env=env)
    assert result.returncode == 1, result.stdout[-3000:]
    violated = {rule["name"] for rule in summary(tmp_path)["rules"] if rule["violations"]}
    assert rules <= violated, violated
    assert "schemathesis" not in violated  # its missing-header failure is the rule's finding, counted once


def test_hypothesis_keeps_its_tables_in_the_users_cache_or_without_a_home_in_the_session(monkeypatch: pytest.MonkeyPatch,
                                                                                          tmp_path: Path) -> None:
    from fieldproof.session import hypothesis_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert hypothesis_cache_dir() == tmp_path / "fieldproof" / "hypothesis"
    monkeypatch.delenv("XDG_CACHE_HOME")

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert hypothesis_cache_dir() is None  # the session's own folder serves then



def test_without_a_home_the_target_locks_ask_for_a_folder_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    from fieldproof.errors import UsageError
    from fieldproof.locks import state_dir

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("FIELDPROOF_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "fieldproof"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(UsageError, match="no home directory to keep the target locks in; set FIELDPROOF_STATE_DIR"):
        state_dir()  # never a session's own folder: it would not keep two sessions on one target apart

# one session, two pytest sessions: schemathesis' costly collection after the other suites


def test_schemathesis_runs_in_a_pytest_session_of_its_own_after_the_other_suites() -> None:
    from fieldproof import suites
    from fieldproof.session import _parts

    others = tuple(name for name in suites.names() if name != "schemathesis")
    assert _parts((), 1) == [("", others), ("schemathesis-", ("schemathesis",))]
    assert _parts(("auth", "schemathesis"), 1) == [("", ("auth",)), ("schemathesis-", ("schemathesis",))]
    assert _parts((), 2) == [("", ())]  # xdist: each pytest session would start its workers again
    assert _parts(("schemathesis",), 1) == [("", ("schemathesis",))]
    assert _parts(("auth", "paths"), 1) == [("", ("auth", "paths"))]


def test_the_pytest_sessions_of_one_run_share_its_budget_its_learned_rate_and_its_liveness(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldproof.errors import TargetStoppedAnswering
    from fieldproof.harness import Harness, PartSettings, build_state

    monkeypatch.setenv("FIELDPROOF_TOKEN", "t")
    target = one_run_target(tmp_path / "t.toml", "http://127.0.0.1:9/v1")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first_state = build_state(PartSettings(str(target), str(tmp_path / "a"), budget=400))
    first = Harness(first_state)
    first.client.budget.spend()
    first.client.liveness.waited(1.5)
    for _ in range(5):  # the target stopped answering during the first part
        first.client.liveness.answered(False)
    # the session hands the next part of its process the limits the first spent from
    second = Harness(build_state(PartSettings(str(target), str(tmp_path / "a"), budget=400, part="schemathesis-"), first_state.limits))
    other = Harness(build_state(PartSettings(str(target), str(tmp_path / "b"), budget=400)))
    assert first_state.limits.why_nothing_more_is_sent() is not None  # a later part would not start
    try:
        assert second.client.budget is first.client.budget and second.client.budget.spent == 1
        assert second.client.pacer is first.client.pacer
        with pytest.raises(TargetStoppedAnswering):  # the second sends nothing more to it
            second.client.liveness.raise_if_stopped()
        # ... and reports only its own: the first already reported its unanswered and its wait
        assert (first.unanswered, first.waited_429_s) == (5, 1.5) and (second.unanswered, second.waited_429_s) == (0, 0.0)
        assert other.client.budget is not first.client.budget and other.client.pacer is not first.client.pacer
        other.client.liveness.raise_if_stopped()
        assert second.recorder is not first.recorder  # each pytest session reports its own requests
    finally:
        for harness in (first, second, other):
            harness.close()


def test_the_rate_a_process_learned_is_counted_once_however_many_pytest_sessions_reported_it(tmp_path: Path) -> None:
    from fieldproof.recorder import Recorder
    from fieldproof.report import TestOutcomes, build_summary

    def totals(process: int, at: float, rps: float) -> str:
        return to_line(dataclasses.replace(Recorder(()).totals(paced_rps=rps), process=process, at=at))

    (tmp_path / "main.jsonl").write_text(totals(1, 10.0, 40.0) + "\n")
    (tmp_path / "schemathesis-main.jsonl").write_text(totals(1, 20.0, 35.0) + "\n")  # the same pacer, later
    (tmp_path / "gw1.jsonl").write_text(totals(2, 15.0, 20.0) + "\n")  # another process: its own share
    data = build_summary(tmp_path, target={"base_url": "http://x/v1"}, profile="quick", duration_s=1.0, tests=TestOutcomes())
    assert data.paced_rps == 55.0  # the process's latest rate (not its highest), and the other's


def test_latency_percentiles_weigh_each_sample_by_the_answers_it_was_drawn_from(tmp_path: Path) -> None:
    from fieldproof.report import TestOutcomes, build_summary

    def totals(process: int, count: int, seconds: float) -> str:
        return to_line(TotalsRecord(process, 0.0, count, 0, 0.0, None, {}, {}, [], [], [("get", 200, count, [seconds] * 300)]))

    # 3 000 answers in 10 ms, sampled to 300; then a pytest session of 300 answers in 1 s
    (tmp_path / "main.jsonl").write_text(totals(1, 3000, 0.01) + "\n")
    (tmp_path / "schemathesis-main.jsonl").write_text(totals(1, 300, 1.0) + "\n")
    data = build_summary(tmp_path, target={"base_url": "http://x/v1"}, profile="quick", duration_s=1.0, tests=TestOutcomes())
    (row,) = data.latency
    assert row.count == 3300
    assert row.ms[50] == 10.0 and row.ms[95] == 1000.0  # unweighted, half the sample is 1 s: p50 would be 1 000


def test_the_command_waits_for_a_thread_still_working_before_it_exits(tmp_path: Path) -> None:
    # `fieldproof` skips the interpreter's teardown (cli.entry), but never a thread's work
    done = tmp_path / "done"
    code = ("import sys, threading, time\nfrom fieldproof import cli\n"
            f"threading.Thread(target=lambda: (time.sleep(1), open({str(done)!r}, 'w').close())).start()\n"
            "sys.argv = ['fieldproof', 'sandbox', '--fault', 'list']\ncli.entry()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "check_then_act_race" in result.stdout and done.exists()
