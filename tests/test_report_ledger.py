"""The fact ledger in the reports: each documented fact's state, decided from a summary's rules
(checks and finding groups) and coverage alone, on hand-built summaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fieldproof import contract, ledger, rules
from fieldproof.report.summary import (
    ACCEPTED,
    NOT_EXERCISED,
    VERIFIED,
    VIOLATED,
    CoverageCell,
    FactRow,
    GroupRow,
    RuleRow,
    fact_rows,
)  # fmt: skip

# every documented status of every operation answered, as a full session sees them (no 429, no 500)
EVERY_ANSWER = {(op, s): 5 for op, o in contract.OPERATIONS.items() for s in o.statuses if s not in (429, 500)}


def _group(rule: str, signature: str, count: int = 3, accepted: str | None = None) -> GroupRow:
    return GroupRow(rule, signature, count, 0.0, [{"message": signature}], ["t"], accepted=accepted)


def _rules(groups: Sequence[GroupRow] = (), idle: tuple[str, ...] = ("retry_after_on_429",)) -> list[RuleRow]:
    """A row per rule of the harness, each with 10 checks but those `idle`, and the groups given."""
    return [RuleRow(name, "exchange", rule.summary, 0 if name in idle else 10, [g for g in groups if g.rule == name], rule.unexercised)
            for name, rule in rules.all_rules().items()]  # fmt: skip


def _coverage(observed: Mapping[tuple[str, int], int] = EVERY_ANSWER) -> list[CoverageCell]:
    documented = {op: operation.statuses for op, operation in contract.OPERATIONS.items()}
    return [CoverageCell(op, s, s in documented[op], observed.get((op, s), 0), 0)
            for op in contract.OPERATIONS for s in sorted(documented[op] | {s for o, s in observed if o == op})]  # fmt: skip


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
        ("etag_on_success", "resume 204: no ETag", 42), ("etag_on_success", "complete 204: no ETag", 6)]  # fmt: skip
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
    lost = _group("new_etag_accepted_by_next_write", "(findings whose details were lost)")
    rows = _by_name(fact_rows(_rules([lost]), _coverage()))
    assert rows["success_bumps_version"].state == VIOLATED and rows["new_tag_works"].state == VIOLATED
    assert rows["success_bumps_version"].findings[0].signature == "(findings whose details were lost)"
    # with an exchange, only the facts about that answer (the refusing write, not a 204)
    refused = _group("new_etag_accepted_by_next_write", "complete 400: the tag a 204 returned was refused by the next write")
    states = _states(fact_rows(_rules([refused]), _coverage()))
    assert states["new_tag_works"] == VIOLATED and states["success_bumps_version"] == VERIFIED


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
    rows = _by_name(fact_rows(_rules(idle=("retry_after_on_429", "refusal_changes_nothing")), _coverage()))
    retry = rows["retry_after_on_429"]
    assert retry.state == NOT_EXERCISED and retry.reason == f"retry_after_on_429: {rules.all_rules()['retry_after_on_429'].unexercised}"
    auth = rows["auth"]  # auth_refused judged, refusal_changes_nothing did not
    assert auth.state == NOT_EXERCISED and auth.reason.startswith("refusal_changes_nothing: ") and "auth_refused" not in auth.reason
    assert auth.checks == {"auth_refused": 10, "refusal_changes_nothing": 0}
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
