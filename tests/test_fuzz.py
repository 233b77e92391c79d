"""Our rules as schemathesis checks: registered once, named after the rules, and firing inside
plain schemathesis (as `st run` or a team's own schemathesis tests would use them)."""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis

from fieldproof import contract, fuzz, rules
from fieldproof.contract import CONTRACT_PATH
from fieldproof.document import ContractDocument
from fieldproof.sandbox.process import sandbox_thread
from fieldproof.sandbox.settings import load_settings

GET_PATH = "/demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}"


def test_every_rule_that_needs_no_suite_facts_is_a_registered_check() -> None:
    checks = fuzz.register_checks()
    expected = {name for name, rule in rules.EXCHANGE_RULES.items() if not rule.expectation} - {
        "refusal_changes_nothing", "success_changes_the_run",  # need GETs around the request
    }
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


def test_the_users_own_schemathesis_setup_is_not_taken(tmp_path, monkeypatch) -> None:
    """A schemathesis.toml in the working folder (headers, auth: its OAuth fetches tokens
    itself) and a SCHEMATHESIS_HOOKS module are the user's set-up for their own schemathesis
    runs; fieldproof's requests carry only what its suites chose."""
    (tmp_path / "schemathesis.toml").write_text('headers = { "X-Theirs" = "1" }\n[auth]\nbasic = { username = "u", password = "p" }\n')
    hooks = tmp_path / "hooks.py"
    hooks.write_text(f"open({str(tmp_path / 'loaded')!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCHEMATHESIS_HOOKS", str(hooks))
    schema = fuzz.load_schema(ContractDocument.load(), base_url="http://127.0.0.1:9/v1", max_examples=1, with_complete=True)
    assert schema.config.headers is None and schema.config.auth.basic is None
    assert not (tmp_path / "loaded").exists()
    assert os.environ["SCHEMATHESIS_HOOKS"] == str(hooks)  # put back for the user's own runs


def test_valid_headers_tells_generated_valid_headers_from_negative_ones(tmp_path) -> None:
    """The vendor's document allows any text as Cint-API-Version and If-Match: a value generated
    as valid is then put right by the suite (the target's version, the run's tag); one generated
    to be invalid stays, as the negative case it is."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from vendor_like import write_vendor_like

    document = ContractDocument.load(write_vendor_like(tmp_path / "vendor-like.yml"))
    operation = fuzz.load_schema(document, base_url="http://127.0.0.1:9/v1", max_examples=1, with_complete=True)[
        contract.RUN_PATH + "/resume"]["POST"]
    seen: dict[GenerationMode, set[bool]] = {GenerationMode.POSITIVE: set(), GenerationMode.NEGATIVE: set()}
    for mode in seen:

        @given(operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        def draw(case) -> None:
            seen[case.meta.generation.mode].add(fuzz.valid_headers(case))

        draw()
    assert seen[GenerationMode.POSITIVE] == {True}
    assert False in seen[GenerationMode.NEGATIVE]


def test_a_case_with_a_body_is_never_sent_and_one_without_is() -> None:
    """The operations take no body and the client sends none: a case with one (a provider's
    document that declares a body) is not sent, or schemathesis would judge a request that
    never left."""
    schema = schemathesis.openapi.from_path(str(CONTRACT_PATH))
    operation = schema[GET_PATH + "/resume"]["POST"]
    ids = {"account_id": 101, "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}
    document = ContractDocument.load()
    assert fuzz.may_send(document, operation.Case(path_parameters=ids))
    assert not fuzz.may_send(document, operation.Case(path_parameters=ids, body={"status": "live"}, media_type="application/json"))
