"""The fact ledger in the reports: each documented fact's state, decided from a summary's rules
(checks and finding groups) and coverage alone, on hand-built summaries; the section that shows
it in summary.json, summary.md, report.html and the console; and the same, end to end, for a
passing and a failing session on the sandbox."""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import fieldproof_run

from fieldproof import contract, ledger, rules
from fieldproof.errors import ExitCode
from fieldproof.report import render_console, render_html, render_markdown
from fieldproof.report.summary import (
    ACCEPTED,
    NOT_EXERCISED,
    VERIFIED,
    VIOLATED,
    CoverageCell,
    FactRow,
    FindingGroup,
    RuleRow,
    Summary,
    TestOutcomes,
    fact_rows,
    load_summary,
)

# every documented status of every operation answered, as a full session sees them (no 429, no 500)
EVERY_ANSWER = {(op, s): 5 for op, o in contract.OPERATIONS.items() for s in o.statuses if s not in (429, 500)}


def _group(rule: str, signature: str, count: int = 3, accepted: str | None = None) -> FindingGroup:
    operation, _, rest = signature.partition(" ")
    status, colon, problem = rest.partition(": ")
    named = bool(colon) and status.isdigit()  # "<operation> <status>: <problem>", as rules.Signature writes it
    return FindingGroup(rule, signature, count, 0.0, [{"message": signature}], ["t"], accepted=accepted,
                    operation=operation if named else None, status=int(status) if named else None,
                    defect=problem if named else signature)


def _rules(groups: Sequence[FindingGroup] = (), idle: tuple[str, ...] = ("retry_after_on_429",)) -> list[RuleRow]:
    """A row per rule of the harness, each with 10 checks but those `idle`, and the groups given."""
    return [RuleRow(name, "exchange", rule.summary, 0 if name in idle else 10, [g for g in groups if g.rule == name], rule.unexercised)
            for name, rule in rules.all_rules().items()]


def _coverage(observed: Mapping[tuple[str, int], int] = EVERY_ANSWER) -> list[CoverageCell]:
    documented = {op: operation.statuses for op, operation in contract.OPERATIONS.items()}
    return [CoverageCell(op, s, s in documented[op], observed.get((op, s), 0), 0)
            for op in contract.OPERATIONS for s in sorted(documented[op] | {s for o, s in observed if o == op})]


def _states(rows: list[FactRow]) -> dict[str, str]:
    return {row.name: row.state for row in rows}


def _by_name(rows: list[FactRow]) -> dict[str, FactRow]:
    return {row.name: row for row in rows}


# --- the one function that decides ---------------------------------------------------------------


def test_a_session_that_judged_everything_and_saw_every_answer_verifies_every_fact_but_retry_after() -> None:
    rows = fact_rows(_rules(), _coverage())
    assert [row.name for row in rows] == [fact.name for fact in ledger.FACTS]  # a row per fact, in the ledger's order
    states = _states(rows)
    assert states.pop("retry_after_on_429") == NOT_EXERCISED
    assert set(states.values()) == {VERIFIED}
    # no 5xx was seen, and that is what verifies "a 500 is never a pass"
    no_500 = _by_name(rows)["no_server_error"]
    assert no_500.seen == 0 and no_500.scope == "any operation answered 5xx" and no_500.checks == {"documented_status": 10}


def test_a_rule_shared_by_several_facts_breaks_only_those_its_groups_are_about() -> None:
    groups = [_group("etag_on_success", "resume 204: no ETag", 42), _group("etag_on_success", "complete 204: no ETag", 6)]
    rows = _by_name(fact_rows(_rules(groups), _coverage()))
    assert rows["write_204_etag"].state == VIOLATED
    assert [(f.rule, f.signature, f.count) for f in rows["write_204_etag"].findings] == [
        ("etag_on_success", "resume 204: no ETag", 42), ("etag_on_success", "complete 204: no ETag", 6)]
    assert rows["get_200_etag"].state == VERIFIED and rows["get_200_etag"].findings == []  # the same rule, GET's 200s held


def test_a_finding_of_an_operation_breaks_only_the_facts_about_it() -> None:
    groups = [_group("success_changes_the_run", "pause 204: the write did not take effect as answered")]
    states = _states(fact_rows(_rules(groups), _coverage()))
    assert states["pause_makes_paused"] == VIOLATED and states["success_bumps_version"] == VIOLATED
    assert states["resume_makes_live"] == VERIFIED and states["complete_makes_completed"] == VERIFIED


def test_a_finding_about_a_status_breaks_the_facts_about_that_status() -> None:
    groups = [_group("documented_status", "get 418: undocumented status"), _group("documented_status", "other 503: x")]
    rows = _by_name(fact_rows(_rules(groups), _coverage()))
    assert rows["get_statuses"].state == VIOLATED and rows["no_server_error"].state == VIOLATED
    assert [f.signature for f in rows["get_statuses"].findings] == ["get 418: undocumented status"]
    assert [f.signature for f in rows["no_server_error"].findings] == ["other 503: x"]
    assert rows["write_statuses"].state == VERIFIED  # neither is about a write


def test_a_sequence_finding_without_an_exchange_concerns_every_fact_of_its_rule() -> None:
    lost = _group("success_changes_the_run", "(findings whose details were lost)")
    rows = _by_name(fact_rows(_rules([lost]), _coverage()))
    assert {rows[name].state for name in ("resume_makes_live", "pause_makes_paused", "success_bumps_version")} == {VIOLATED}
    assert rows["success_bumps_version"].findings[0].signature == "(findings whose details were lost)"
    # with an exchange, only the facts about that answer (a resume's 204, not a pause's)
    resumed = _group("success_changes_the_run", "resume 204: the write did not take effect as answered")
    states = _states(fact_rows(_rules([resumed]), _coverage()))
    assert states["resume_makes_live"] == VIOLATED and states["success_bumps_version"] == VIOLATED
    assert states["pause_makes_paused"] == VERIFIED


def test_a_group_no_fact_of_its_rule_is_about_concerns_them_all_rather_than_none() -> None:
    rows = _by_name(fact_rows(_rules([_group("etag_on_success", "get 404: no ETag")]), _coverage()))
    assert rows["get_200_etag"].state == VIOLATED and rows["write_204_etag"].state == VIOLATED


def test_accepted_groups_alone_make_a_fact_accepted_and_a_failing_one_beside_them_violated() -> None:
    accepted = _group("etag_on_success", "get 200: no ETag", 7, accepted="the gateway strips it; ticket 12")
    rows = _by_name(fact_rows(_rules([accepted]), _coverage()))
    assert rows["get_200_etag"].state == ACCEPTED and rows["get_200_etag"].findings[0].accepted == "the gateway strips it; ticket 12"
    assert rows["write_204_etag"].state == VERIFIED
    failing = _group("etag_on_success", "get 200: ETag not quoted", 2)
    rows = _by_name(fact_rows(_rules([accepted, failing]), _coverage()))
    assert rows["get_200_etag"].state == VIOLATED
    assert [f.signature for f in rows["get_200_etag"].findings] == ["get 200: ETag not quoted", "get 200: no ETag"]  # failing first


def test_a_fact_whose_rule_judged_other_operations_only_is_not_exercised() -> None:
    seen = {key: n for key, n in EVERY_ANSWER.items() if key != ("complete", 204)}  # success_changes_the_run judged pauses, resumes
    rows = _by_name(fact_rows(_rules(), _coverage(seen)))
    assert rows["complete_makes_completed"].state == NOT_EXERCISED
    assert rows["complete_makes_completed"].reason == "no complete answered 204 was seen"
    assert rows["resume_makes_live"].state == VERIFIED and rows["write_204_etag"].state == VERIFIED  # pause and resume 204s count
    no_get = {key: n for key, n in EVERY_ANSWER.items() if key[0] != "get"}
    rows = _by_name(fact_rows(_rules(), _coverage(no_get)))
    assert rows["get_statuses"].reason == "no get was answered"
    assert rows["get_200_etag"].reason == "no get answered 200 was seen"


def test_a_fact_with_a_rule_that_judged_nothing_is_not_exercised_saying_which_and_why() -> None:
    rows = _by_name(fact_rows(_rules(idle=("retry_after_on_429", "history_linearizable")), _coverage()))
    retry = rows["retry_after_on_429"]
    assert retry.state == NOT_EXERCISED and retry.reason == f"retry_after_on_429: {rules.all_rules()['retry_after_on_429'].unexercised}"
    model = rows["behaves_as_one_run"]  # lifecycle_model_allows judged, history_linearizable did not
    assert model.state == NOT_EXERCISED and model.reason.startswith("history_linearizable: ")
    assert "lifecycle_model_allows" not in model.reason
    assert model.checks == {"lifecycle_model_allows": 10, "history_linearizable": 0}
    # a rule the summary has no row for (an older run, another checker only) judged nothing either
    without = [row for row in _rules() if row.name != "http_message_well_formed"]
    assert _by_name(fact_rows(without, _coverage()))["http_framing"].reason == "http_message_well_formed: not in this session"


def test_a_429_met_exercises_retry_after_and_a_finding_breaks_it() -> None:
    seen = {**EVERY_ANSWER, ("resume", 429): 3}
    assert _by_name(fact_rows(_rules(idle=()), _coverage(seen)))["retry_after_on_429"].state == VERIFIED
    # the rule judged (a 429 met while pacing) but the coverage saw none: not exercised, said so
    assert _by_name(fact_rows(_rules(idle=()), _coverage()))["retry_after_on_429"].reason == "no 429 was answered"
    broken = _group("retry_after_on_429", "resume 429: no Retry-After")
    assert _by_name(fact_rows(_rules([broken], idle=()), _coverage(seen)))["retry_after_on_429"].state == VIOLATED


def test_another_checkers_findings_break_no_fact() -> None:
    external = RuleRow("schemathesis", "external", "", 10, [_group("schemathesis.MissingHeaders", "resume 204: Missing headers")], "")
    assert set(_states(fact_rows([*_rules(), external], _coverage())).values()) == {VERIFIED, NOT_EXERCISED}


# --- the section in the reports --------------------------------------------------------------------


def _summary(groups: list[FindingGroup], observed: Mapping[tuple[str, int], int] = EVERY_ANSWER) -> Summary:
    external = [g for g in groups if g.rule.startswith("schemathesis.")]
    rule_rows, coverage = [*_rules(groups), RuleRow("schemathesis", "external", "", 10, external, "")], _coverage(observed)
    verdict = "violation" if any(g.accepted is None for g in groups) else "pass"
    return Summary(verdict, {"base_url": "http://127.0.0.1:9/v1"}, "quick", 1.0, 10, rule_rows, coverage, TestOutcomes(passed=1), [],
                   facts=fact_rows(rule_rows, coverage))


FAILING = [_group("etag_on_success", "resume 204: no ETag", 42), _group("etag_on_success", "get 200: no ETag", 2, accepted="known"),
           _group("schemathesis.MissingHeaders", "resume 204: Missing required response headers", 5)]


def test_summary_json_has_the_rows_and_counts_per_state_and_reads_back() -> None:
    data = _summary(FAILING)
    written = json.loads(json.dumps(data.to_dict()))
    assert written["fact_counts"] == {"violated": 1, "accepted": 1, "not exercised": 1, "verified": len(ledger.FACTS) - 3,
                                      "documented": len(ledger.FACTS)}
    row = next(r for r in written["facts"] if r["name"] == "write_204_etag")
    assert row["state"] == "violated" and row["source"] and row["says"] == ledger.by_name()["write_204_etag"].says
    assert row["findings"] == [{"rule": "etag_on_success", "signature": "resume 204: no ETag", "count": 42, "accepted": None}]
    again = Summary.from_dict(written)
    assert again.facts == data.facts and again.to_dict() == written


def test_the_console_says_how_many_facts_were_verified_in_one_line() -> None:
    lines = render_console(_summary(FAILING)).splitlines()
    total = len(ledger.FACTS)
    assert f"facts: {total - 3} verified, 1 violated, 1 accepted, 1 not exercised (of {total} documented)" in lines
    assert f"facts: {total - 1} verified, 0 violated, 1 not exercised (of {total} documented)" in render_console(_summary([]))


def test_summary_md_lists_the_facts_violated_first_with_their_findings_or_reason() -> None:
    markdown = render_markdown(_summary(FAILING))
    section = markdown.split("### Documented facts\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "<br>" in line]
    assert len(rows) == len(ledger.FACTS)
    states = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert states[:3] == ["**VIOLATED**", "accepted", "not exercised"] and set(states[3:]) == {"verified"}
    assert rows[0].startswith("| **VIOLATED** | `write_204_etag`<br>a write's 204 carries the new ETag |")
    assert "`etag_on_success` <code>resume 204: no ETag</code>: 42 findings" in rows[0]
    assert "(accepted: known)" in rows[1] and "no 429 was met" in rows[2]
    assert "judged by no_body_on_204 (10 checks); pause, resume or complete answered 204: 15 times" in markdown
    assert "Findings of no documented fact's rule: **schemathesis.MissingHeaders**" in section
    assert "#### Coverage: operation x status" in section  # the matrix is one view of the ledger, under it
    # the most serious findings open it; the ledger, the rules and the other findings follow
    assert markdown.index("### Most serious") < markdown.index("### Documented facts") < markdown.index("### Rules")


def test_report_html_has_the_ledger_violated_first_and_the_coverage_under_it() -> None:
    page = render_html(_summary(FAILING))
    section = page.split("<h2 id='facts'>Documented facts</h2>", 1)[1].split("<h2>", 1)[0]
    states = re.findall(r"<tr class='([a-z-]+)' id='fact-([a-z0-9_]+)'><td>([a-z ]+)</td>", section)
    assert len(states) == len(ledger.FACTS)
    assert [(c, name, s) for c, name, s in states[:3]] == [("bad", "write_204_etag", "violated"), ("ok-ish", "get_200_etag", "accepted"),
                                                           ("idle", "retry_after_on_429", "not exercised")]
    assert {s for _, _, s in states[3:]} == {"verified"}
    assert "<span class='bad'>1 violated</span>" in section and f"of {len(ledger.FACTS)} documented" in section
    assert "<li><code>etag_on_success</code> resume 204: no ETag: 42 findings</li>" in section
    assert "<h3 id='coverage'>Coverage: operation x status</h3>" in section and "href='#coverage'" in section
    assert 'aria-label="coverage: operation x status"' in section  # the heat map beside the matrix
    assert page.index("id='facts'") < page.index("<h2>Rules</h2>")


def test_text_in_a_facts_findings_is_escaped_in_every_report() -> None:
    hostile = "<script>alert(1)</script> | **loud** [x](https://evil.example)"
    data = _summary([_group("etag_on_success", f"resume 204: {hostile}")])
    page = render_html(data)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    row = next(line for line in render_markdown(data).splitlines() if "| `write_204_etag`<br>" in line)
    assert row.count(" | ") == 3  # still four cells
    assert "<script" not in row and "\\*\\*loud\\*\\*" in row and "\\[x\\]" in row


# --- end to end: the three reports of a session ------------------------------------------------------


Session = tuple[Path, subprocess.CompletedProcess[str]]  # its reports folder, and what it printed


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A passing session that ran two suites only: what they exercised is verified, the rest not."""
    tmp_path = tmp_path_factory.mktemp("passing")
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "lifecycle,business_rules")
    assert result.returncode == ExitCode.OK, result.stdout[-3000:]
    return tmp_path / "reports", result


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A sandbox whose writes answer 204 without an ETag (its GETs' 200s still carry one)."""
    tmp_path = tmp_path_factory.mktemp("failing")
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "lifecycle", env={"FIELDPROOF_SANDBOX_FAULT": "no_etag_on_204"})
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    return tmp_path / "reports", result


def _reports(reports: Path) -> tuple[dict[str, dict[str, Any]], dict[str, int], str, str]:
    """summary.json's facts by name and its counts, summary.md's ledger section, report.html's."""
    data = json.loads((reports / "summary.json").read_text())
    markdown = (reports / "summary.md").read_text().split("### Documented facts\n", 1)[1].split("\n### ", 1)[0]
    page = (reports / "report.html").read_text().split("<h2 id='facts'>Documented facts</h2>", 1)[1].split("<h2>", 1)[0]
    return {row["name"]: row for row in data["facts"]}, data["fact_counts"], markdown, page


def _shown(reports: Path, name: str) -> tuple[str, str]:
    """A fact's row in summary.md and in report.html (as text)."""
    _, _, markdown, page = _reports(reports)
    md_row = next(line for line in markdown.splitlines() if f" | `{name}`<br>" in line)
    html_row = re.search(rf"<tr class='[a-z-]+' id='fact-{name}'>(.*?)</tr>", page)
    assert html_row is not None, name
    return md_row, html.unescape(re.sub(r"<[^>]+>", " ", html_row.group(1)))


def _line(counts: Mapping[str, int]) -> str:
    accepted = f", {counts['accepted']} accepted" if counts["accepted"] else ""
    return (f"facts: {counts['verified']} verified, {counts['violated']} violated{accepted}, "
            f"{counts['not exercised']} not exercised (of {counts['documented']} documented)")


def test_a_passing_session_shows_what_it_verified_and_what_its_suites_left_unexercised(passing: Session) -> None:
    reports, result = passing
    facts, counts, markdown, page = _reports(reports)
    assert set(facts) == {fact.name for fact in ledger.FACTS} and counts["documented"] == len(ledger.FACTS)
    assert counts["violated"] == 0 and counts["verified"] > 0 and counts["not exercised"] > 0
    assert sum(counts[state] for state in (VIOLATED, ACCEPTED, VERIFIED, NOT_EXERCISED)) == len(ledger.FACTS)
    for name in ("get_200_etag", "write_204_etag", "resume_makes_live", "complete_makes_completed", "resume_refused_by_goal_or_end_date"):
        assert facts[name]["state"] == VERIFIED, facts[name]
    auth = facts["auth"]  # the auth suite did not run
    assert auth["state"] == NOT_EXERCISED and auth["reason"].startswith("auth_refused: no request without the main token")
    assert facts["retry_after_on_429"]["state"] == NOT_EXERCISED
    md_row, html_row = _shown(reports, "auth")
    assert md_row.startswith("| not exercised |") and "auth_refused: no request without the main token" in md_row
    assert html_row.split()[:2] == ["not", "exercised"] and "auth_refused: no request without the main token" in html_row
    md_row, html_row = _shown(reports, "get_200_etag")
    assert md_row.startswith("| verified |") and "judged by etag_on_success (" in md_row and "get answered 200:" in md_row
    assert html_row.split()[0] == "verified" and "judged by etag_on_success (" in html_row
    assert "**VIOLATED**" not in markdown and "<tr class='bad'" not in page and "<span class='none'>0 violated</span>" in page
    assert f"**{_line(counts)}**" in markdown and f"{counts['verified']} verified</span>" in page
    assert _line(counts) in result.stdout.splitlines()


def test_a_failing_session_shows_the_broken_fact_first_with_its_findings(failing: Session) -> None:
    reports, result = failing
    facts, counts, markdown, page = _reports(reports)
    write, get = facts["write_204_etag"], facts["get_200_etag"]
    assert write["state"] == VIOLATED and get["state"] == VERIFIED  # one rule, etag_on_success: only the writes' 204s broke it
    signatures = {f["signature"] for f in write["findings"]}
    assert {"resume 204: no ETag", "pause 204: no ETag"} <= signatures and all(f["rule"] == "etag_on_success" for f in write["findings"])
    assert get["findings"] == [] and get["checks"]["etag_on_success"] > 0 and get["seen"] > 0
    assert counts["violated"] >= 1
    # violated first, in both pages
    md_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "<br>" in line]
    assert [row.split(" | ")[0] for row in md_rows[: counts["violated"]]] == ["| **VIOLATED**"] * counts["violated"]
    assert md_rows[-1].startswith("| verified |")
    html_states = re.findall(r"<tr class='[a-z-]+' id='fact-[a-z0-9_]+'><td>([a-z ]+)</td>", page)
    assert html_states[: counts["violated"]] == [VIOLATED] * counts["violated"]
    md_row, html_row = _shown(reports, "write_204_etag")
    assert md_row.startswith("| **VIOLATED** |") and "`etag_on_success` <code>resume 204: no ETag</code>:" in md_row
    assert html_row.split()[0] == "violated" and "etag_on_success  resume 204: no ETag:" in html_row
    assert _shown(reports, "get_200_etag")[0].startswith("| verified |")
    assert _line(counts) in result.stdout.splitlines()


def test_summary_json_with_its_facts_reads_back(failing: Session) -> None:
    reports, _ = failing
    data = json.loads((reports / "summary.json").read_text())
    loaded = load_summary(reports / "summary.json")
    assert [row.name for row in loaded.facts] == [fact.name for fact in ledger.FACTS]
    assert next(row for row in loaded.facts if row.name == "write_204_etag").findings[0].rule == "etag_on_success"
    again = loaded.to_dict()
    again["baseline"], data["baseline"] = None, None  # the baseline's entries are not read back
    assert again == data


def test_a_fact_whose_rules_judge_other_facts_requests_needs_one_of_its_own_probes_to_have_run() -> None:
    """trace_restarts' rules judge every response: it is verified only when its probe ran."""
    rows = _by_name(fact_rows(_rules(), _coverage(), ran={"first_pass[concurrency]"}))
    assert rows["trace_restarts"].state == NOT_EXERCISED and "none of its probes ran" in rows["trace_restarts"].reason
    assert rows["traceparent_everywhere"].state == VERIFIED  # any answer exercises it
    ran = {"first_pass[trace_context]"}
    assert _by_name(fact_rows(_rules(), _coverage(), ran=ran))["trace_restarts"].state == VERIFIED
    assert _by_name(fact_rows(_rules(), _coverage(), ran=None))["trace_restarts"].state == VERIFIED  # not known: not held against it


def test_the_probes_that_ran_are_named_as_the_ledger_names_them() -> None:
    from fieldproof.report.summary import SuiteTest, probes_that_ran

    cases = [SuiteTest("fieldproof.suites.test_first_pass", "test_every_rule_once[trace_context]", "passed"),
             SuiteTest("fieldproof.suites.test_paths", "test_a_run_is_named_by_its_whole_path", "failed"),
             SuiteTest("fieldproof.suites.test_auth", "test_the_auth_scheme_is_case_insensitive", "skipped"),
             SuiteTest("fieldproof.suites.test_concurrency", "test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner[live]",
                       "passed")]
    assert probes_that_ran(cases) == {"first_pass[trace_context]", "paths::test_a_run_is_named_by_its_whole_path",
                                      "concurrency::test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner"}
    assert probes_that_ran(cases) <= {probe for fact in ledger.FACTS for probe in fact.probes} | {"first_pass[trace_context]"}
