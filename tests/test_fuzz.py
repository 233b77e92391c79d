"""Our rules as schemathesis checks: registered once, named after the rules, and firing inside
plain schemathesis (as `st run` or a team's own schemathesis tests would use them)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis

from fieldproof import fuzz, rules
from fieldproof.contract import CONTRACT_PATH
from fieldproof.sandbox.process import sandbox_thread
from fieldproof.sandbox.settings import load_settings

GET_PATH = "/demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}"


def test_every_rule_that_needs_no_suite_facts_is_a_registered_check() -> None:
    checks = fuzz.register_checks()
    expected = {name for name, rule in rules.EXCHANGE_RULES.items() if not rule.expectation} - {
        "refusal_changes_nothing", "success_changes_the_run",  # need GETs around the request
    }  # fmt: skip
    assert set(checks) == expected
    assert all(check.__name__ == name for name, check in checks.items())
    assert fuzz.register_checks() is checks  # idempotent: no second registration


@pytest.fixture
def faulty_sandbox(tmp_path):
    settings = load_settings(env={}, overrides={"db": str(tmp_path / "s.db"), "control": True, "fault": "no_traceparent_on_404"})
    with sandbox_thread(settings) as sandbox:
        yield sandbox


def _unknown_run_case(token: str):
    schema = schemathesis.openapi.from_path(str(CONTRACT_PATH))
    operation = schema[GET_PATH]["GET"]
    return operation.Case(
        path_parameters={"account_id": 101, "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "NOPE"},
        headers={"Authorization": f"Bearer {token}", "Cint-API-Version": "2025-12-18"},
    )


def test_our_check_fires_inside_schemathesis_on_a_faulty_target(faulty_sandbox) -> None:
    checks = fuzz.register_checks()
    token = httpx.post(faulty_sandbox.root_url + "/_control/tokens", json={}).json()["token"]
    case = _unknown_run_case(token)
    response = case.call(base_url=faulty_sandbox.base_url)
    assert response.status_code == 404
    with pytest.raises(BaseException) as failure:
        case.validate_response(response, checks=[checks["traceparent_on_every_response"]])
    assert "no traceparent header" in str(failure.value) or any(
        "no traceparent header" in str(e) for e in getattr(failure.value, "exceptions", [])
    )


def test_our_check_passes_a_correct_target(tmp_path) -> None:
    checks = fuzz.register_checks()
    settings = load_settings(env={}, overrides={"db": str(tmp_path / "s.db"), "control": True})
    with sandbox_thread(settings) as sandbox:
        token = httpx.post(sandbox.root_url + "/_control/tokens", json={}).json()["token"]
        case = _unknown_run_case(token)
        response = case.call(base_url=sandbox.base_url)
        case.validate_response(response, checks=list(checks.values()))  # raises on any finding
