"""A finding group's reproduction re-creates its preconditions: a write takes the run's tag now,
a stale tag says it is one, a race is a script that releases the writes together, a sandbox
session says how to get its target back, and no secret is ever in the text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from helpers import staging

from fieldproof import contract
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch, PathKind, RequestFacts
from fieldproof.reproduce import CURL, RACE_SCRIPT, Race, Where, group_id, race_of, reproduction, sandbox_command
from fieldproof.rules import Finding
from fieldproof.sandbox.settings import SandboxSettings

BASE = "http://127.0.0.1:40001/v1"
SESSION_RUN = contract.run_path("101", "01M9855RYWSSBMARJ5G59K6JR6", "01M9855RYWJZ9H98PRY3VTBQZA", "01M9855RYWJ3TT1F001C5RR8B1")
SEEDED_RESUMABLE = contract.run_path("101", "01JD000000000000000000P101", "01JD000000000000000000T101", "01JD0000000000000000000R01")
TOKEN = "eyJ-not-a-real-token-but-a-secret"


def example(url: str, *, rule: str = "current_tag_wins", operation: str = "resume", if_match: str | None = 'W/"7"',
            kind: IfMatch = IfMatch.CURRENT, before: tuple[str, str] | None = ("paused", 'W/"7"'), status: int = 412,
            role: str = "resumable") -> dict[str, Any]:
    """A finding's dict as summary.json holds it, for a write of `operation` to `url`."""
    headers = {"Cint-API-Version": "2025-12-18", "Authorization": "Bearer [REDACTED]", **({"If-Match": if_match} if if_match else {})}
    snapshot = Snapshot(200, before[1], {"status": before[0]}) if before else None
    exchange = Exchange(operation, "POST", url, headers, status, {}, b"", 0.01, facts=RequestFacts(if_match=kind, role=role),
                        before=snapshot, secret_env={"Authorization": "FIELDPROOF_TOKEN"})
    return Finding(rule, "a problem", "a message", exchange).to_dict()


FILE_TARGET = Where(BASE, None)
SANDBOX = Where(BASE, {"fault": "accept_stale_tags"})


def test_a_write_with_the_current_tag_takes_the_runs_tag_first() -> None:
    made = reproduction("current_tag_wins", [example(BASE + SESSION_RUN + "/resume")], FILE_TARGET)
    assert made is not None and made.kind == CURL
    lines = made.text.splitlines()
    take = next(n for n, line in enumerate(lines) if line.startswith("etag=$("))
    assert "-X GET" in lines[take] and f"{BASE + SESSION_RUN} | sed" in lines[take]  # the run itself, looked at first
    assert '-H "If-Match: ${etag}"' in lines[-1] and 'W/"7"' not in lines[-1]
    assert lines[-1].startswith("curl -i -g --path-as-is -X POST") and lines[-1].endswith(BASE + SESSION_RUN + "/resume")
    assert "the run was paused" in made.text


def test_a_stale_tag_is_sent_as_it_was_and_says_so() -> None:
    made = reproduction("stale_tag_refused", [example(BASE + SESSION_RUN + "/resume", if_match='W/"2"', kind=IfMatch.STALE)],
                        FILE_TARGET)
    assert made is not None
    assert "etag=$(" not in made.text
    assert "If-Match W/\"2\" is a tag the run had before it changed (stale)" in made.text
    assert "-H 'If-Match: W/\"2\"'" in made.text.splitlines()[-1]


def test_the_strong_spelling_of_the_current_tag_stays_strong() -> None:
    made = reproduction("if_match_variant_answered", [example(BASE + SESSION_RUN + "/resume", if_match='"7"',
                                                              kind=IfMatch.STRONG_SPELLING_OF_CURRENT)], FILE_TARGET)
    assert made is not None and '-H "If-Match: ${etag#W/}"' in made.text


def test_no_secret_in_a_reproduction_the_token_is_read_from_its_variable() -> None:
    made = reproduction("current_tag_wins", [example(BASE + SESSION_RUN + "/resume")], FILE_TARGET)
    assert made is not None
    assert "[REDACTED]" not in made.text and TOKEN not in made.text
    assert made.text.count('"Authorization: Bearer ${FIELDPROOF_TOKEN}"') == 2  # the look and the write


def test_on_the_sandbox_it_says_how_to_start_one_like_it_and_names_a_seeded_run() -> None:
    made = reproduction("current_tag_wins", [example(BASE + SESSION_RUN + "/resume")], SANDBOX,
                        replay="fieldproof replay reports abcd1234")
    assert made is not None
    assert "`fieldproof sandbox --port 40001 --fault accept_stale_tags`" in made.needs[0]
    assert "export FIELDPROOF_TOKEN=$(fieldproof sandbox token)" in made.needs[0]
    assert made.needs[1].endswith("fieldproof replay reports abcd1234")
    # the session's own run is gone with it: the seed's run of the same role stands in
    assert SESSION_RUN not in made.text and BASE + SEEDED_RESUMABLE + "/resume" in made.text


def test_a_target_files_run_is_kept() -> None:
    made = reproduction("current_tag_wins", [example(BASE + SESSION_RUN + "/resume")], FILE_TARGET)
    assert made is not None and BASE + SESSION_RUN + "/resume" in made.text
    assert made.needs == ("FIELDPROOF_TOKEN holds the target's main token, as for the session",)


def test_a_race_is_a_script_with_the_rounds_kinds_and_racers() -> None:
    finding = example(BASE + SESSION_RUN + "/complete", rule="one_winner_among_concurrent_writes", operation="complete",
                      kind=IfMatch.RACE, before=None, status=204, role="live")
    evidence = [{"rule": "one_winner_among_concurrent_writes", "run_status": "live", "violated": True,
                 "requests": [[0, 1, 204, f"racer {n} {kind}"] for n, kind in enumerate(["pause", "resume", "complete"] * 2)]}]
    assert race_of(finding, evidence) == Race(("pause", "resume", "complete") * 2, "live", "live")
    made = reproduction("one_winner_among_concurrent_writes", [finding], FILE_TARGET, evidence=evidence)
    assert made is not None and made.kind == RACE_SCRIPT
    assert "KINDS = ['pause', 'resume', 'complete', 'pause', 'resume', 'complete']" in made.text
    assert f"RUN = '{BASE + SESSION_RUN}'" in made.text
    compile(made.text, "race.py", "exec")


def test_without_evidence_a_race_is_the_examples_write_from_where_it_starts() -> None:
    finding = example(BASE + SESSION_RUN + "/resume", rule="one_winner_among_concurrent_writes", kind=IfMatch.RACE, before=None)
    assert race_of(finding) == Race(("resume",) * 8, "paused", "resumable")


def test_sandbox_flags_are_the_behaviour_that_differs_and_never_the_signing_key() -> None:
    settings = SandboxSettings(port=9999, fault="check_then_act_race", race_window_ms=25.0, jwt_secret="s3cret", control=True)
    assert settings.record() == {"fault": "check_then_act_race", "race_window_ms": "25.0"}
    command = sandbox_command(settings.record(), 8080)
    assert command == "fieldproof sandbox --port 8080 --fault check_then_act_race --race-window-ms 25.0"


def test_a_group_id_depends_on_rule_and_signature_alone() -> None:
    assert group_id("a", "resume 204: x") == group_id("a", "resume 204: x")
    assert len({group_id("a", "resume 204: x"), group_id("b", "resume 204: x"), group_id("a", "pause 204: x")}) == 3


# --- against a real server ------------------------------------------------------------------


def _seeded_run(base_url: str, role: str) -> str:
    live = contract.run_path("101", "01JD000000000000000000P101", "01JD000000000000000000T101", "01JD000000000000000000LV01")
    runs = {"resumable": SEEDED_RESUMABLE, "live": live}
    return base_url + runs[role]


def test_a_writes_curl_run_with_a_real_curl_takes_the_current_tag(tmp_path: Path) -> None:
    """The write was found on the run at W/"7"; the run here is at its first version. The
    reproduction takes the run's tag now, so the write is the same precondition again (a
    current tag: 204), where the tag as it was would be stale (412)."""
    with staging(tmp_path) as (sandbox, _, tokens):
        run = _seeded_run(sandbox.base_url, "resumable")
        made = reproduction("current_tag_wins", [example(run + "/resume")], Where(sandbox.base_url, None))
        assert made is not None
        env = {**os.environ, "FIELDPROOF_TOKEN": tokens["FIELDPROOF_TOKEN"]}
        result = subprocess.run(["bash", "-c", made.text], capture_output=True, text=True, timeout=30, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].startswith("HTTP/1.1 204"), result.stdout
        headers = {"Authorization": f"Bearer {tokens['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18"}
        assert httpx.get(run, headers=headers).json()["status"].lower() == "live"


def test_a_race_script_run_against_a_correct_server_sees_one_change(tmp_path: Path) -> None:
    """The script stands alone: it brings the run to where the race starts (the live run is
    paused first), releases the writes and counts the changes: one, on a correct server."""
    with staging(tmp_path) as (sandbox, _, tokens):
        run = _seeded_run(sandbox.base_url, "live")
        finding = example(run + "/resume", rule="one_winner_among_concurrent_writes", kind=IfMatch.RACE, before=None, status=204)
        made = reproduction("one_winner_among_concurrent_writes", [finding], Where(sandbox.base_url, None))
        assert made is not None
        script = tmp_path / "race.py"
        script.write_text(made.text)
        env = {**os.environ, "FIELDPROOF_TOKEN": tokens["FIELDPROOF_TOKEN"]}
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("the run is paused, ETag ")
        answers = [line.split()[1] for line in lines[1:-1]]
        assert sorted(answers) == ["204"] + ["412"] * 7, result.stdout
        assert lines[-1] == "writes that changed the run: 1 (a correct server: exactly 1)"


def _path_example(url: str, kinds: tuple[PathKind, ...], auth_env: str = "FIELDPROOF_TOKEN") -> dict[str, Any]:
    headers = {"Cint-API-Version": "2025-12-18", "Authorization": "Bearer [REDACTED]"}
    exchange = Exchange("get", "GET", url, headers, 200, {}, b"", 0.01, facts=RequestFacts(path=frozenset(kinds), role="resumable"),
                        secret_env={"Authorization": auth_env})
    return Finding("unknown_path_refused", "a problem", "a message", exchange).to_dict()


def test_a_path_off_the_run_keeps_only_the_ids_its_facts_say_were_off_on_purpose() -> None:
    other_project = "01M9855RYWSSBMARJ5G59K6XXX"
    url = BASE + contract.run_path("101", other_project, "01M9855RYWJZ9H98PRY3VTBQZA", "01M9855RYWJ3TT1F001C5RR8B1")
    made = reproduction("unknown_path_refused", [_path_example(url, (PathKind.OTHER_SCOPE,))], SANDBOX)
    assert made is not None
    # the session's run is gone with its sandbox: the seeded run's ids, but the other project kept
    sent = made.text.splitlines()[-1]
    assert other_project in sent and "01JD0000000000000000000R01" in sent and "01M9855RYWJ3TT1F001C5RR8B1" not in sent


def test_another_accounts_token_is_a_need_of_its_own() -> None:
    url = BASE + SEEDED_RESUMABLE
    made = reproduction("auth_refused", [_path_example(url, (), auth_env="FIELDPROOF_FOREIGN_TOKEN")], SANDBOX)
    assert made is not None
    assert any("export FIELDPROOF_FOREIGN_TOKEN=$(fieldproof sandbox token --account 202)" in need for need in made.needs)
    on_file = reproduction("auth_refused", [_path_example(url, (), auth_env="FIELDPROOF_FOREIGN_TOKEN")], FILE_TARGET)
    assert on_file is not None and "FIELDPROOF_FOREIGN_TOKEN holds the token it held for the session" in on_file.needs
