"""An exchange rule's guards (what it leaves alone: another operation, a 429, a request with
another unusual fact) are declared on its `@exchange_rule` and applied in one place, the
registry's judging wrapper, before the body runs: no body tests them itself, and every way a
rule is called (the recorder, schemathesis, the manual, a test) is guarded alike."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldproof import contract, rules
from fieldproof.exchange import Exchange
from fieldproof.facts import ApiVersion, Auth, IfMatch, PathKind, RequestFacts
from fieldproof.rules import EXCHANGE_RULES, Guards

URL = "https://staging.example.test/v1/demand/accounts/101/projects/P/target-groups/T/fielding-runs/R"

# each rule's guards, as the rule bodies tested them before they were declared; the rules every
# response must satisfy judge every operation the document declares (the resources' too)
ORDINARY = {"only_ours": True}
DECLARED = {"only_declared": True}
LOCKING = {"only_resource_writes": True, "skip_rate_limited": True, "ordinary_besides": "if_match"}
EXPECTED: dict[str, Guards] = {
    "documented_status": Guards(**DECLARED),
    "traceparent_on_every_response": Guards(**DECLARED),
    "trace_continues_callers_trace": Guards(**DECLARED),
    "tracestate_well_formed": Guards(**DECLARED),
    "etag_on_success": Guards(**ORDINARY),
    "run_body_documented": Guards(),
    "no_body_on_204": Guards(**DECLARED),
    "retry_after_on_429": Guards(**DECLARED),
    "error_body_documented": Guards(**ORDINARY),
    "refusal_changes_nothing": Guards(**ORDINARY),
    "success_changes_the_run": Guards(),
    "undeclared_method_refused": Guards(only_undeclared=True),
    "http_message_well_formed": Guards(),
    "response_body_bounded": Guards(),
    "current_tag_wins": Guards(skip_rate_limited=True, ordinary_besides="if_match"),
    "stale_tag_refused": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="if_match"),
    "if_match_variant_answered": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="if_match"),
    "business_rules_refuse": Guards(skip_rate_limited=True, ordinary_besides="if_match"),
    "get_serves_the_run": Guards(skip_rate_limited=True, ordinary_besides="if_match"),
    "auth_refused": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="auth"),
    "unknown_path_refused": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="path"),
    "api_version_required": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="api_version"),
    "unknown_api_version_answered": Guards(only_ours=True, skip_rate_limited=True, ordinary_besides="api_version"),
    "conditional_write_current_tag_succeeds": Guards(**LOCKING),
    "conditional_write_issues_new_etag": Guards(only_resource_writes=True),
    "conditional_write_stale_tag_refused": Guards(**LOCKING),
    "conditional_write_missing_if_match_refused": Guards(**LOCKING),
    "conditional_write_if_match_star_and_lists": Guards(**LOCKING),
}


def exchange(operation: str, status: int, facts: RequestFacts | None = None, method: str | None = None) -> Exchange:
    """A bare answer: no headers, no body (every rule that judges it at all has something to say)."""
    known = contract.OPERATIONS.get(operation)
    return Exchange(operation=operation, method=method or (known.method if known else "PATCH"), url=URL,
                    request_headers={}, status=status, response_headers={}, body=b"", elapsed_s=0.01,
                    facts=facts or RequestFacts(role="resumable"))


def body(name: str) -> Callable[[Exchange], rules.Result]:
    """The rule's own body, without the registry's guards."""
    unguarded: Callable[[Exchange], rules.Result] = inspect.unwrap(EXCHANGE_RULES[name].judge)
    assert unguarded is not EXCHANGE_RULES[name].judge, f"{name} is registered without the judging wrapper"
    return unguarded


def test_every_exchange_rule_declares_the_guards_its_body_used_to_test() -> None:
    assert {name: rule.guards for name, rule in EXCHANGE_RULES.items()} == EXPECTED


def test_no_exchange_rule_tests_a_guard_itself() -> None:
    """The guards' predicates are called by the registry only: a body (or a helper it calls)
    that tests one again would be a second place the same guard is written."""
    declared: list[str] = []
    for module in ("exchange.py", "locking.py"):  # the four operations' rules, then the generic locking oracles
        source = Path(inspect.getfile(rules.exchange_rule)).with_name(module)
        tree = ast.parse(source.read_text())
        guards = {"ours", "_ours", "rate_limited", "_rate_limited", "ordinary", "declared", "resource_write"}
        # the functions (a sequence rule's class, which judges rounds, may ask what was rate-limited)
        functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        calls = [(node.lineno, ast.unparse(node.func)) for top in functions for node in ast.walk(top) if isinstance(node, ast.Call)
                 and (node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)) in guards]
        assert calls == [], module
        declared += [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and any(
            ast.unparse(d.func if isinstance(d, ast.Call) else d) == "exchange_rule" for d in node.decorator_list)]
    assert declared == list(EXCHANGE_RULES), "every exchange rule is written in rules/exchange.py or rules/locking.py, in registry order"


def test_an_operation_outside_the_contract_is_left_alone_by_every_rule_on_the_four() -> None:
    probe = exchange(contract.OTHER, 500, method="PATCH")
    ours_only = [name for name, rule in EXCHANGE_RULES.items() if rule.guards.only_ours]
    assert {name: EXCHANGE_RULES[name].judge(probe) for name in ours_only} == dict.fromkeys(ours_only)
    # the guard, not the body, keeps them quiet: unguarded, they judge the probe
    assert body("etag_on_success")(exchange(contract.OTHER, 200, method="PATCH")) and body("error_body_documented")(probe)
    declared_only = [name for name, rule in EXCHANGE_RULES.items() if rule.guards.only_declared]
    assert {name: EXCHANGE_RULES[name].judge(probe) for name in declared_only} == dict.fromkeys(declared_only)
    assert body("documented_status")(probe) and body("traceparent_on_every_response")(probe)


def test_an_operation_of_the_contract_is_left_alone_by_the_rule_on_undeclared_methods() -> None:
    served = exchange("get", 200)
    assert rules.undeclared_method_refused(served) is None
    assert body("undeclared_method_refused")(served)


# requests that call for a refusal; answered 429, each is left to retry_after_on_429
CALLS_FOR_A_REFUSAL: dict[str, RequestFacts] = {
    "stale_tag_refused": RequestFacts(if_match=IfMatch.STALE, role="resumable"),
    "auth_refused": RequestFacts(auth=Auth.NONE, role="resumable"),
    "unknown_path_refused": RequestFacts(path=frozenset({PathKind.UNKNOWN_RUN}), role="resumable"),
    "api_version_required": RequestFacts(api_version=ApiVersion.MISSING, role="resumable"),
    "get_serves_the_run": RequestFacts(role="resumable"),
}


@pytest.mark.parametrize("name", sorted(CALLS_FOR_A_REFUSAL))
def test_a_rate_limited_answer_is_left_to_retry_after_on_429(name: str) -> None:
    facts = CALLS_FOR_A_REFUSAL[name]
    limited = exchange("pause" if facts.if_match is not IfMatch.NOT_A_WRITE else "get", 429, facts)
    assert EXCHANGE_RULES[name].guards.skip_rate_limited
    assert EXCHANGE_RULES[name].judge(limited) is None
    assert body(name)(limited), "unguarded, the rule would judge the 429 as the wrong refusal"


def test_a_request_with_two_unusual_facts_is_judged_by_neither_facts_rule() -> None:
    """No token to an unknown run: which refusal comes first is not the contract's to say."""
    both = exchange("get", 404, RequestFacts(auth=Auth.NONE, path=frozenset({PathKind.UNKNOWN_RUN}), role="resumable"))
    assert rules.auth_refused(both) is None and rules.unknown_path_refused(both) is None
    assert body("auth_refused")(both), "unguarded, auth_refused would want a 401"
    alone = exchange("get", 404, RequestFacts(auth=Auth.NONE, role="resumable"))
    assert rules.auth_refused(alone), "with one unusual fact the rule judges"


def test_a_rule_is_not_declared_for_only_ours_and_only_undeclared_at_once() -> None:
    """Such a rule would never judge anything."""
    with pytest.raises(ValueError, match="not only each"):
        Guards(only_ours=True, only_undeclared=True)


def test_a_guard_naming_no_request_fact_is_refused_when_it_is_declared() -> None:
    with pytest.raises(KeyError, match="no request fact 'ifmatch'"):
        Guards(ordinary_besides="ifmatch")
