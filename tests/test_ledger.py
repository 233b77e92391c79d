"""The fact ledger stays true: every documented fact has a rule that asserts it and a probe that
exercises it, every rule asserts a documented fact, every probe it names exists in the suites, and
every open question it names is one of the contract table's."""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest

from fieldproof import contract, ledger, rules, suites

PROBE = re.compile(r"(?P<suite>[a-z_]+)::(?P<test>test_[a-z0-9_]+)|first_pass\[(?P<step>[a-z_]+)\]")


@cache
def _tests_of(suite: str) -> frozenset[str]:
    """The test functions a suite module defines (read, not imported: schemathesis' module binds
    to a session when imported)."""
    path = suites.FOLDER / f"test_{suite}.py"
    if not path.exists():
        return frozenset()
    tree = ast.parse(path.read_text())
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))


@cache
def _first_pass_steps() -> frozenset[str]:
    tree = ast.parse((suites.FOLDER / "test_first_pass.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "STEPS":
            assert isinstance(node.value, ast.Dict)
            return frozenset(key.value for key in node.value.keys if isinstance(key, ast.Constant))
    raise AssertionError("test_first_pass.py defines no STEPS")


def probe_exists(probe: str) -> bool:
    match = PROBE.fullmatch(probe)
    if match is None:
        return False
    if match["step"]:
        return match["step"] in _first_pass_steps()
    return match["test"] in _tests_of(match["suite"])


@pytest.mark.parametrize("fact", ledger.FACTS, ids=lambda fact: fact.name)
def test_every_fact_has_a_rule_and_a_probe_that_exist(fact: ledger.Fact) -> None:
    assert fact.rules, f"{fact.name} has no rule"
    assert fact.probes, f"{fact.name} has no probe"
    assert set(fact.rules) <= set(rules.all_rules()), f"{fact.name} names a rule that does not exist"
    missing = [probe for probe in fact.probes if not probe_exists(probe)]
    assert not missing, f"{fact.name} names probes that do not exist: {missing}"
    assert set(fact.questions) <= set(contract.OPEN_QUESTIONS), f"{fact.name} names an open question that does not exist"
    assert fact.operations <= set(contract.OPERATIONS)


def test_every_rule_asserts_a_documented_fact() -> None:
    asserted = {rule for fact in ledger.FACTS for rule in fact.rules}
    assert set(rules.all_rules()) - asserted == set()


def test_facts_are_named_once() -> None:
    names = [fact.name for fact in ledger.FACTS]
    assert len(names) == len(set(names))


def test_the_probe_names_are_checked() -> None:
    """The check itself: a probe that is not there, or misspelt, is caught."""
    assert probe_exists("if_match::test_only_the_current_tag_wins") and probe_exists("first_pass[concurrency]")
    assert not probe_exists("if_match::test_no_such_test") and not probe_exists("nosuch::test_x")
    assert not probe_exists("first_pass[nosuch]") and not probe_exists("if_match.test_only_the_current_tag_wins")


def test_a_finding_concerns_the_facts_of_its_operation_and_status() -> None:
    facts = ledger.by_name()
    assert facts["write_204_etag"].concerns("resume", 204) and not facts["write_204_etag"].concerns("get", 200)
    assert facts["get_200_etag"].concerns("get", 200) and not facts["get_200_etag"].concerns("pause", 204)
    assert facts["one_winner"].concerns(None, None)  # a sequence rule's finding without an exchange
