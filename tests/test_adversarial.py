"""Bugs the harness's authors did not write: the independent server's fault modes
(tests/servers/docs_server.py --fault, invented from the API docs alone) and the sandbox's
modes taken from them, each caught by the rule it breaks; and the never-issued tags that look
valid, as rendered for a run."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import docs_server, fieldproof_run, rules_by_name, summary

from fieldproof.facts import IfMatch
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.selfcheck import FAULT_NEEDS
from fieldproof.strategies import PLAUSIBLE_KINDS, IfMatchChoice, every_if_match_variant, render_if_match


@pytest.mark.parametrize(
    "fault, answers, rule",
    [
        # refuses a tag only when its number is lower than the version: W/"8" on a run at 7 wins
        ("if_match_higher_version_accepted", "other", "stale_tag_refused"),
        ("if_match_higher_version_accepted", "likely", "stale_tag_refused"),
        # drops quotes, W/ and letter case before comparing
        ("if_match_unquoted_or_case", "likely", "if_match_variant_answered"),
        # takes the current tag of any run for this run's
        ("if_match_other_runs_tag", "likely", "stale_tag_refused"),
    ],
)
def test_a_fault_written_by_someone_else_is_caught_by_the_rule_it_breaks(tmp_path: Path, fault: str, answers: str,
                                                                          rule: str) -> None:
    with docs_server(tmp_path, "--fault", fault, "--answers", answers) as (target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", "quick", env=env)
    rows = rules_by_name(summary(tmp_path))
    assert result.returncode == 1, result.stdout[-2000:]
    assert rows[rule]["violations"], {name: row["violations"] for name, row in rows.items() if row["violations"]}


def _render(kind: IfMatch, index: int, current: str = 'W/"7"', stale: tuple[str, ...] = ('W/"5"', 'W/"6"'),
            version: int | None = 7) -> tuple[IfMatch, str | None]:
    return render_if_match(IfMatchChoice(kind, "rnd", True, index), current, list(stale), None, version)


def test_never_issued_tags_include_the_next_version_a_much_higher_one_and_the_current_in_other_case() -> None:
    rendered = {_render(IfMatch.NEVER_ISSUED, i)[1] for i in range(PLAUSIBLE_KINDS)}
    assert {'W/"8"', 'W/"1007"'} <= rendered
    opaque = {_render(IfMatch.NEVER_ISSUED, i, current='W/"ab3f"', stale=(), version=3)[1] for i in range(PLAUSIBLE_KINDS)}
    assert {'W/"ab4f"', 'W/"ab1003f"', 'W/"AB3F"', 'W/"4"'} <= opaque  # W/"4": the version as a whole tag


def test_a_stale_tags_strong_spelling_is_sent_as_stale() -> None:
    assert _render(IfMatch.NEVER_ISSUED, 3) in {(IfMatch.STALE, '"5"'), (IfMatch.STALE, '"6"')}


def test_a_plausible_tag_is_never_the_current_or_a_stale_one() -> None:
    for index in range(PLAUSIBLE_KINDS * 3):
        for current, stale, version in [('W/"7"', ('W/"8"', 'W/"1007"'), 7), ('"x1"', ('"X1"',), 1), ('W/"2"', (), None)]:
            kind, value = _render(IfMatch.NEVER_ISSUED, index, current, stale, version)
            if kind is IfMatch.NEVER_ISSUED:
                assert value != current and value not in stale, (index, value)


def test_the_first_pass_sweep_has_every_kind_and_every_spelling() -> None:
    variants = every_if_match_variant()
    assert {v.kind for v in variants} >= {IfMatch.NEVER_ISSUED, IfMatch.MALFORMED, IfMatch.OTHER_RUN, IfMatch.STAR}
    assert {v.index for v in variants if v.kind is IfMatch.NEVER_ISSUED} == set(range(PLAUSIBLE_KINDS))


# The sandbox's fault modes invented from the API doc alone (the second half of `--fault list`),
# each with the rule it breaks: a quick run on the built-in sandbox must fail by that rule.
INDEPENDENT_MODES = {
    "if_match_higher_version_accepted": "stale_tag_refused",  # a never-issued W/"8" on a run at 7
    "if_match_other_runs_tag": "stale_tag_refused",
    "if_match_unquoted_or_case": "if_match_variant_answered",  # an unquoted 7 is malformed
    "if_match_star_forces": "if_match_variant_answered",  # * on a goal-reached run must not win
    "version_wraps_at_8": "success_changes_the_run",  # the version went from 7 to 0
    "stale_get_cache": "success_changes_the_run",  # the next read does not show the write
    "write_etag_pre_bump": "success_changes_the_run",  # the 204's ETag is not the current one
    "etag_missing_after_write": "etag_on_success",
    "pause_ignores_if_match": "stale_tag_refused",  # an old tag pauses a live run
    "pause_check_then_act": "one_winner_among_concurrent_writes",
    "refused_write_applied": "refusal_changes_nothing",
    "complete_no_version_bump": "success_changes_the_run",
    "goal_reached_resumable": "business_rules_refuse",
    "end_date_calendar_day": "business_rules_refuse",  # the run ended earlier today
    "get_foreign_token_served": "auth_refused",
    "get_without_token_served": "auth_refused",
    "missing_token_403": "auth_refused",
    "version_header_missing_400": "api_version_required",
    "no_traceparent_on_429": "traceparent_on_every_response",
    "no_traceparent_on_refusals": "traceparent_on_every_response",
    "retry_after_http_date": "retry_after_on_429",
}


def test_every_independent_mode_has_the_rule_it_breaks() -> None:
    names = list(FAULT_MODES)
    assert list(INDEPENDENT_MODES) == names[names.index("error_body_without_detail") + 1:]


@pytest.mark.parametrize("fault", list(INDEPENDENT_MODES))
def test_an_independent_sandbox_fault_is_caught_by_the_rule_it_breaks(tmp_path: Path, fault: str) -> None:
    env = {**FAULT_NEEDS.get(fault, {}), "FIELDPROOF_SANDBOX_FAULT": fault}
    result = fieldproof_run(tmp_path, "--profile", "quick", env=env)
    assert result.returncode == 1, result.stdout[-2000:]
    rows = rules_by_name(summary(tmp_path))
    assert rows[INDEPENDENT_MODES[fault]]["violations"], {name: row["violations"] for name, row in rows.items() if row["violations"]}


# The independent tester's second set (docs_server.py, issue 21: caches, replicas, retry caches,
# framework defaults, locks keyed per operation, clocks, scoping, header handling, connection
# reuse, rate limiters, parsing shortcuts, error bodies, trace context), each with the rule it
# breaks and what the server needs to show it; a quick session on a target file must fail by it.
# Not here: account_id_python_int, which serves the account's own run for "+101" or "1_01": the
# docs say how a client sends an account id, not that a server must refuse another spelling of
# it, and the integer parsers of several stacks read "+101" as 101.
RATE_LIMITED = ("--rate-limit-burst", "40", "--rate-limit-refill", "150")
SECOND_SET: dict[str, tuple[str, tuple[str, ...]]] = {
    "get_etag_cached": ("current_tag_wins", ()),
    "if_match_checked_on_replica": ("current_tag_wins", ("--stale-read-ms", "300")),
    "write_retry_replayed": ("stale_tag_refused", ()),
    "action_route_any_method": ("undeclared_method_refused", ()),
    "content_length_on_204": ("http_message_well_formed", ()),
    "unmatched_route_framework_404": ("error_body_documented", ()),
    "lock_per_action": ("one_winner_among_concurrent_writes", ("--race-window-ms", "25")),
    "last_changed_at_frozen": ("success_changes_the_run", ()),
    "last_changed_at_naive": ("run_body_documented", ()),
    "run_lookup_ignores_parents": ("unknown_path_refused", ()),
    "account_from_token": ("unknown_path_refused", ()),
    "bearer_scheme_case_sensitive": ("get_serves_the_run", ()),
    "etag_header_duplicated": ("etag_on_success", ()),
    "auth_sticky_on_connection": ("auth_refused", ()),
    "trace_id_sticky_on_connection": ("trace_continues_callers_trace", ()),
    "retry_after_fractional": ("retry_after_on_429", RATE_LIMITED),
    "rate_limit_generic_error_body": ("error_body_documented", RATE_LIMITED),
    "run_id_compared_truncated": ("unknown_path_refused", ()),
    "errors_problem_json": ("error_body_documented", ()),
    "invalid_params_as_map": ("error_body_documented", ()),
    "traceparent_invalid_continued": ("trace_continues_callers_trace", ()),
    "tracestate_copied_verbatim": ("tracestate_well_formed", ()),
}


@pytest.mark.parametrize("fault", list(SECOND_SET))
def test_a_fault_of_the_second_independent_set_is_caught_on_a_target_file(tmp_path: Path, fault: str) -> None:
    rule, needs = SECOND_SET[fault]
    with docs_server(tmp_path, "--fault", fault, *needs) as (target, env):
        if needs == RATE_LIMITED:  # the burst probe is the target file's to allow
            target.write_text(target.read_text().replace("token_env =", "rate_limit_probe = true\ntoken_env =", 1))
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", "quick", env=env)
    rows = rules_by_name(summary(tmp_path))
    assert result.returncode == 1, result.stdout[-2000:]
    assert rows[rule]["violations"], {name: row["violations"] for name, row in rows.items() if row["violations"]}
