"""The first pass: every suite once, at its smallest size (one example per property, one race
round, a 16-operation history), before any suite explores. It runs first, so that on a small
`max_requests` every rule is exercised before the budget goes to exploring; the suites then
run at the profile's size with what is left, schemathesis last.

Each step calls a suite's own probe (fieldproof.probes), or the suite tests marked
`@pytest.mark.first_pass(step)` as they are (nothing here re-implements one), and says which
rules it exercises; a step that is skipped (the target lists no run of a role it needs, a probe that is
opt-in) takes its rules out of what the session must exercise. The summary reads these lines:
when the budget ends the session, it exits 2 only if a rule of a step that ran was never
exercised."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fieldproof import contract, probes
from fieldproof.harness import Harness, SuiteStopped

EVERY_RESPONSE = ("documented_status", "traceparent_on_every_response", "trace_continues_callers_trace",
                  "tracestate_well_formed", "response_body_bounded", "http_message_well_formed", "run_body_documented")


def _as_is(step: str) -> Callable[[Harness], None]:
    """The suite tests marked `@pytest.mark.first_pass(step)`, run as they are (their suites then
    leave them out), but those that need a credential or a run the target does not have: the
    suite says why."""
    return lambda fp: fp.run_as_is(step)


def _every_write_raced_once(fp: Harness) -> None:
    """Every write raced, one round each (complete only on the sandbox: it cannot be undone),
    then one round of every kind together from a live run and one from a paused run (on a
    target file, each where it lists a run of the role: the suite's own test says which role
    would enable the other)."""
    with probes.racing(fp) as racers:  # their connections opened once for all
        for action in ("resume", "pause", *(("complete",) if fp.is_sandbox else ())):
            probes.race_writes(fp, action, racers)
        for start in probes.MIXED_STARTS:
            if probes.mixed_round_runs_on(fp, start):
                probes.race_mixed_writes(fp, start, racers)
        # the sandbox's mixed rounds race complete already; a completable run an earlier session
        # completed is used up (the set-up's note says so)
        if not fp.is_sandbox and any(fp.client.snapshot(run).run_status != "completed" for run in fp.target.runs_of("completable")):
            probes.race_complete_on_a_completable_run(fp, racers)


# step: (what it calls at the first pass's size, the rules it exercises, the requests it costs on a
# target file: what the advice on a too small max_requests adds up; tests/test_budget.py runs them)
STEPS: dict[str, tuple[Callable[[Harness], None], tuple[str, ...], int]] = {
    "concurrency": (_every_write_raced_once, ("one_winner_among_concurrent_writes", *EVERY_RESPONSE), 51),
    "lifecycle": (probes.every_tag_of_a_long_life_is_stale,
                  ("current_tag_wins", "stale_tag_refused", "etag_on_success", "no_body_on_204", "success_changes_the_run",
                   "new_etag_accepted_by_next_write", "refusal_changes_nothing", "error_body_documented"), 18),
    "lifecycle_model": (probes.clients_follow_the_model,
                        ("lifecycle_model_allows",), 14),
    "linearizability": (probes.a_concurrent_history_is_linearizable, ("history_linearizable",), 20),
    "business_rules": (_as_is("business_rules"), ("business_rules_refuse",), 14),
    "auth": (_as_is("auth"), ("auth_refused",), 16),
    "api_version": (_as_is("api_version"), ("api_version_required", "unknown_api_version_answered"), 6),
    # every kind and spelling of If-Match once: a server that compares carelessly shows here
    "if_match": (probes.answer_every_if_match_variant, ("if_match_variant_answered", "stale_tag_refused"), 59),
    "paths": (probes.unknown_runs_are_404, ("unknown_path_refused",), 6),
    "whole_path": (_as_is("whole_path"), ("unknown_path_refused", "run_body_documented"), 17),
    "trace_context": (_as_is("trace_context"), ("traceparent_on_every_response", "trace_continues_callers_trace"), 22),
    "undeclared_methods": (lambda fp: probes.probe_undeclared_methods(fp, (None, "resume"), contract.SAFE_UNDECLARED_METHODS),
                           ("undeclared_method_refused",), 10),
}
# Not here: the burst probe (test_rate_limit, opt-in) runs once, at its own size, right after
# the first pass; schemathesis is another checker, and takes what the budget leaves.


@pytest.mark.parametrize("step", list(STEPS))
def test_every_rule_once(fp: Harness, step: str) -> None:
    call, rules, cost = STEPS[step]
    outcome = "stopped"  # by the budget, the deadline, or a harness problem
    try:
        call(fp.at_first_pass_size())
        outcome = "done"
    except pytest.skip.Exception as exc:
        outcome = "stopped" if isinstance(exc, SuiteStopped) else "skipped"
        raise
    finally:
        fp.note_first_pass(step, rules, outcome, cost)
