"""`fieldproof replay`: a group's requests sent again with their preconditions re-created,
judged by the same rule: a race on the race fault's sandbox is reproduced and on a clean one
not, an exchange rule's group likewise; a bad reports folder or group is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import fieldproof_run, staging

from fieldproof import cli, rules
from fieldproof.errors import ExitCode
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch, RequestFacts
from fieldproof.replay import ordered, pick
from fieldproof.report.summary import FindingGroup, RuleRow, Summary, TestOutcomes
from fieldproof.reproduce import group_id
from fieldproof.rules import Finding
from fieldproof.target import SANDBOX_SOURCE

RACE = {"FIELDPROOF_SANDBOX_FAULT": "check_then_act_race", "FIELDPROOF_SANDBOX_RACE_WINDOW_MS": "25"}
# a run the session created (gone with its sandbox): the replay takes a run of the same role
GONE_RUN = ("http://127.0.0.1:40001/v1/demand/accounts/101/projects/01M9855RYWSSBMARJ5G59K6JR6/target-groups/"
            "01M9855RYWJZ9H98PRY3VTBQZA/fielding-runs/01M9855RYWJ3TT1F001C5RR8B1")


@pytest.fixture(autouse=True)
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The target locks a replay takes on a target file: never the user's own."""
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    for name in ("FIELDPROOF_SANDBOX_FAULT", "FIELDPROOF_SANDBOX_RACE_WINDOW_MS"):
        monkeypatch.delenv(name, raising=False)


def stale_write(status: int = 204) -> dict[str, Any]:
    """A resume sent with the tag the run had one version before, as summary.json keeps it."""
    headers = {"Cint-API-Version": "2025-12-18", "Authorization": "Bearer [REDACTED]", "If-Match": 'W/"2"'}
    exchange = Exchange("resume", "POST", GONE_RUN + "/resume", headers, status, {}, b"", 0.01,
                        facts=RequestFacts(if_match=IfMatch.STALE, role="resumable"),
                        before=Snapshot(200, 'W/"3"', {"status": "paused"}), secret_env={"Authorization": "FIELDPROOF_TOKEN"})
    return Finding("stale_tag_refused", "expected 412: If-Match held a stale tag", "a message", exchange).to_dict()


def group(rule: str, signature: str, count: int = 1, examples: list[dict[str, Any]] | None = None,
          accepted: str | None = None) -> FindingGroup:
    operation, _, rest = signature.partition(" ")
    status, _, problem = rest.partition(": ")
    return FindingGroup(rule, signature, count, 0.0, examples or [], ["test_x.py::test_y"], accepted,
                    severity=rules.severity_of(rule).value, operation=operation, status=int(status), defect=problem)


def write_summary(reports: Path, groups: list[FindingGroup], target: dict[str, Any]) -> Path:
    rows = [RuleRow(g.rule, "exchange", "", 1, [g], "") for g in groups]
    summary = Summary("violation", target, "quick", 1.0, 10, rows, [], TestOutcomes(), [])
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "summary.json").write_text(json.dumps(summary.to_dict()))
    return reports


def sandbox_target(**flags: str) -> dict[str, Any]:
    return {"base_url": "http://127.0.0.1:40001/v1", "source": SANDBOX_SOURCE, "max_requests": None,
            "token_env": "FIELDPROOF_TOKEN", "sandbox": flags}


STALE = "resume 204: expected 412: If-Match held a stale tag"


Capsys = pytest.CaptureFixture[str]


def test_an_exchange_rules_group_is_reproduced_on_its_fault_and_not_on_a_clean_sandbox(tmp_path: Path, capsys: Capsys) -> None:
    faulty = write_summary(tmp_path / "faulty", [group("stale_tag_refused", STALE, examples=[stale_write()])],
                           sandbox_target(fault="accept_stale_tags"))
    assert cli.main(["replay", str(faulty)]) == ExitCode.FINDING
    out = capsys.readouterr().out
    assert "a built-in sandbox like the session's (--fault accept_stale_tags)" in out
    assert 'POST resume If-Match W/"' in out and out.splitlines()[-1].startswith("reproduced: POST resume answered 204")
    clean = write_summary(tmp_path / "clean", [group("stale_tag_refused", STALE, examples=[stale_write()])], sandbox_target())
    assert cli.main(["replay", str(clean), group_id("stale_tag_refused", STALE)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "-> 412" in out and out.splitlines()[-1] == "not reproduced: the rule held on every request above"


def test_a_replayed_race_is_reproduced_on_the_race_fault_and_not_on_a_clean_sandbox(tmp_path: Path, capsys: Capsys) -> None:
    session = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "concurrency", env=RACE)
    assert session.returncode == ExitCode.FINDING, session.stdout[-2000:]
    reports = tmp_path / "reports"
    data = json.loads((reports / "summary.json").read_text())
    assert data["target"]["sandbox"] == {"fault": "check_then_act_race", "race_window_ms": "25.0"}
    assert cli.main(["replay", str(reports), "1"]) == ExitCode.FINDING
    out = capsys.readouterr().out
    assert "[one_winner_among_concurrent_writes]" in out and "--fault check_then_act_race --race-window-ms 25.0" in out
    assert out.splitlines()[-1].startswith("reproduced")
    with staging(tmp_path / "clean") as (_, target, tokens):
        with pytest.MonkeyPatch.context() as patch:
            for name, value in tokens.items():
                patch.setenv(name, value)
            assert cli.main(["replay", str(reports), "1", "--target", str(target)]) == ExitCode.OK
    out = capsys.readouterr().out
    rounds = [line for line in out.splitlines() if line.startswith("  round ")]
    assert len(rounds) == 5 and all(line.count("204") == 1 for line in rounds), out
    assert out.splitlines()[-1].startswith("not reproduced")


def test_groups_are_numbered_failing_and_most_severe_first() -> None:
    summary = Summary("violation", sandbox_target(), "quick", 1.0, 1, [
        RuleRow("r", "exchange", "", 1, [group("traceparent_on_every_response", "get 404: no traceparent", count=40),
                                         group("stale_tag_refused", STALE, count=2),
                                         group("documented_status", "get 500: undocumented", count=90, accepted="known")], ""),
    ], [], TestOutcomes(), [])
    assert [g.rule for g in ordered(summary)] == ["stale_tag_refused", "traceparent_on_every_response", "documented_status"]
    reports = Path("reports")
    assert pick(summary, None, reports).rule == "stale_tag_refused"
    assert pick(summary, "2", reports).rule == "traceparent_on_every_response"
    assert pick(summary, group_id("documented_status", "get 500: undocumented"), reports).rule == "documented_status"
    assert pick(summary, "get 404: no traceparent", reports).rule == "traceparent_on_every_response"


def test_a_missing_reports_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nowhere")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.json does not exist; give the reports folder of a `fieldproof run`" in err


def test_a_summary_that_is_not_one_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "summary.json").write_text('{"verdict": "pass"}')
    assert cli.main(["replay", str(tmp_path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be read as a fieldproof summary" in err


def test_an_unknown_group_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = write_summary(tmp_path, [group("stale_tag_refused", STALE, examples=[stale_write()])], sandbox_target())
    for wanted in ("nope", "0", "2"):
        assert cli.main(["replay", str(reports), wanted]) == ExitCode.USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert f"no finding group {wanted!r}" in err and f"{group_id('stale_tag_refused', STALE)} ({STALE})" in err


def test_a_session_without_findings_has_nothing_to_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(write_summary(tmp_path, [], sandbox_target()))]) == ExitCode.USAGE
    assert "has no finding group: nothing to replay" in capsys.readouterr().err


def test_a_group_replay_cannot_rerun_says_where_its_reproduction_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = write_summary(tmp_path, [group("lifecycle_model_allows", "resume 204: an answer no correct server gives",
                                             examples=[stale_write()])], sandbox_target())
    assert cli.main(["replay", str(reports)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a lifecycle_model_allows group is not replayed" in err
