"""Each open question of the API doc is a sandbox setting; each answer behaves as named."""

from __future__ import annotations

import time

import pytest
from test_sandbox_http import assert_documented_error, assert_traced

from fieldproof.sandbox.settings import SettingsError, load_settings


def test_missing_if_match_can_be_412(sandbox_with) -> None:
    api = sandbox_with(missing_if_match="412")
    run = api.new_run(role="resumable")
    assert_documented_error(api.write(run, if_match=None), 412, "precondition_failed_error")
    assert api.get(run).json()["version"] == 1


def test_missing_if_match_can_be_428(sandbox_with) -> None:
    api = sandbox_with(missing_if_match="428")
    run = api.new_run(role="resumable")
    assert_documented_error(api.write(run, if_match=None), 428, "precondition_required_error")
    assert api.raw_row(run)["version"] == 1


def test_a_malformed_if_match_can_match_nothing(sandbox_with) -> None:
    api = sandbox_with(malformed_if_match="412")
    run = api.new_run(role="resumable")
    assert_documented_error(api.write(run, if_match="1"), 412, "precondition_failed_error")


def test_an_if_match_list_can_be_refused(sandbox_with) -> None:
    api = sandbox_with(if_match_list="400")
    run = api.new_run(role="resumable")
    assert_documented_error(api.write(run, if_match='W/"9", W/"1"'), 400, "bad_request_error")
    assert api.write(run, if_match='W/"1"').status_code == 204


@pytest.mark.parametrize("answer, status, route", [
    ("400", 400, {"project_id": "not-a-ulid"}),
    ("400", 404, {"fielding_run_id": "x" * 300}),  # run ids are looked up as they are
    ("400-ulid-run-ids", 400, {"fielding_run_id": "x" * 300}),
    ("400-ulid-run-ids", 404, {"fielding_run_id": "0" * 26}),  # a ULID no run has
    ("404", 404, {"project_id": "not-a-ulid"}),
    ("404", 404, {"account_id": "abc"}),
])
def test_a_malformed_id_is_answered_as_the_setting_says(sandbox_with, answer: str, status: int, route: dict) -> None:
    api = sandbox_with(malformed_id=answer)
    run = api.new_run(role="resumable")
    response = api.client.get(api.url(run, **route), headers=api.headers())
    assert_documented_error(response, status, "bad_request_error" if status == 400 else "not_found_error")


@pytest.mark.parametrize("answer, status", [("405", 405), ("501", 501), ("404", 404)])
def test_an_undeclared_method_is_answered_as_the_setting_says(sandbox_with, answer: str, status: int) -> None:
    api = sandbox_with(undeclared_method=answer)
    run = api.new_run(role="resumable")
    for method, action in (("QUERY", None), ("GET", "resume"), ("DELETE", None)):
        response = api.client.request(method, api.url(run, action), headers=api.headers())
        assert response.status_code == status, (method, action)
        assert_traced(response)
        assert ("allow" in response.headers) == (status == 405)
    assert api.raw_row(run)["version"] == 1


def test_pause_of_a_paused_run_can_be_a_204_no_op(sandbox_with) -> None:
    api = sandbox_with(pause_paused="204")
    run = api.new_run(role="resumable", version=3)
    before = api.raw_row(run)
    response = api.write(run, "pause", if_match='W/"3"')
    assert response.status_code == 204 and response.headers["ETag"] == 'W/"3"'
    assert api.raw_row(run) == before
    assert api.write(run, "pause", if_match='W/"2"').status_code == 412


@pytest.mark.parametrize("answer, status, after", [("422", 422, "paused"), ("204", 204, "completed")])
def test_complete_of_a_paused_run_is_answered_as_the_setting_says(sandbox_with, answer: str, status: int, after: str) -> None:
    api = sandbox_with(complete_paused=answer)
    run = api.new_run(role="resumable")
    assert api.write(run, "complete").status_code == status
    assert api.raw_row(run)["status"] == after


def test_resume_of_a_live_run_can_be_a_204_no_op(sandbox_with) -> None:
    api = sandbox_with(resume_live="204")
    run = api.new_run(role="live", version=4)
    before = api.raw_row(run)
    response = api.write(run, "resume", if_match='W/"4"')
    assert response.status_code == 204 and response.headers["ETag"] == 'W/"4"'
    assert api.raw_row(run) == before
    # the stale-tag rule still holds for the no-op
    assert api.write(run, "resume", if_match='W/"3"').status_code == 412


@pytest.mark.parametrize("answer, status", [("412", 412), ("400", 400)])
def test_if_match_star_can_be_refused(sandbox_with, answer: str, status: int) -> None:
    api = sandbox_with(if_match_star=answer)
    run = api.new_run(role="resumable")
    assert api.write(run, if_match="*").status_code == status
    assert api.get(run).json()["status"] == "paused"


def test_exact_comparison_refuses_the_strong_spelling(sandbox_with) -> None:
    api = sandbox_with(if_match_comparison="exact")
    run = api.new_run(role="resumable")
    assert api.write(run, if_match='"1"').status_code == 412
    assert api.write(run, if_match='W/"1"').status_code == 204


@pytest.mark.parametrize("order, status", [("412-first", 412), ("422-first", 422)])
def test_gate_order_decides_stale_tag_on_a_refused_state(sandbox_with, order: str, status: int) -> None:
    api = sandbox_with(gate_order=order)
    run = api.new_run(role="goal_reached", version=2)
    assert api.write(run, if_match='W/"1"').status_code == status


def test_foreign_account_can_be_404(sandbox_with) -> None:
    api = sandbox_with(foreign_account="404")
    run = api.new_run(role="resumable")
    foreign = api.mint_token(account_id="202")
    assert_documented_error(api.write(run, if_match='W/"1"', token=foreign), 404, "not_found_error")


@pytest.mark.parametrize("answer, status", [("403", 403), ("accept", 200)])
def test_unknown_api_version_answers(sandbox_with, answer: str, status: int) -> None:
    api = sandbox_with(unknown_api_version=answer)
    run = api.new_run(role="resumable")
    assert api.get(run, Cint_API_Version="2020-01-01").status_code == status


def test_status_can_be_title_case(sandbox_with) -> None:
    api = sandbox_with(status_case="title")
    assert api.get(api.new_run(role="live")).json()["status"] == "Live"


def test_rate_limit_answers_429_with_retry_after_and_the_documented_body(sandbox_with) -> None:
    api = sandbox_with(rate_limit_burst=3, rate_limit_refill=0.5)
    run = api.new_run(role="resumable")
    statuses = [api.get(run).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get(run)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json() == {
        "object": "too_many_requests_problem_details",
        "details": limited.json()["details"],
    } and limited.json()["details"]
    assert_traced(limited)
    # a write refused with 429 changes nothing
    assert api.write(run, if_match='W/"1"').status_code == 429
    assert api.raw_row(run)["version"] == 1


def test_rate_limit_is_per_token(sandbox_with) -> None:
    api = sandbox_with(rate_limit_burst=1, rate_limit_refill=0.01)
    run = api.new_run(role="resumable")
    assert api.get(run).status_code == 200
    assert api.get(run).status_code == 429
    other = api.mint_token()  # a new token of the same account gets its own bucket
    assert api.get(run, token=other).status_code == 200


def test_error_rate_one_answers_every_api_request_500_with_trace(sandbox_with) -> None:
    api = sandbox_with(error_rate=1.0)
    run = api.new_run(role="resumable")
    assert_documented_error(api.get(run), 500, "unexpected_internal_error")
    assert_documented_error(api.write(run, if_match='W/"1"'), 500, "unexpected_internal_error")
    assert api.raw_row(run)["version"] == 1


def test_latency_is_added(sandbox_with) -> None:
    api = sandbox_with(latency_ms=150)
    run = api.new_run(role="resumable")
    started = time.monotonic()
    assert api.get(run).status_code == 200
    assert time.monotonic() - started >= 0.15


# reading settings


def test_precedence_is_flag_over_env_over_file(tmp_path) -> None:
    config = tmp_path / "sandbox.toml"
    config.write_text('missing-if-match = "412"\nlatency_ms = 5\nworkers = 2\n')
    env = {"FIELDPROOF_SANDBOX_LATENCY_MS": "7", "FIELDPROOF_SANDBOX_WORKERS": "3"}
    settings = load_settings(config, env=env, overrides={"workers": "4"})
    assert (settings.missing_if_match, settings.latency_ms, settings.workers) == ("412", 7.0, 4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"missing_if_match": "429"}, "must be one of 400, 412, 428"),
        ({"workers": "two"}, "must be int"),
        ({"workers": "0"}, "at least 1"),
        ({"error_rate": "1.5"}, "at most 1"),
        ({"control": "maybe"}, "must be bool"),
    ],
)
def test_bad_settings_say_what_is_wrong(overrides, message) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env={}, overrides=overrides)


def test_unknown_key_in_a_settings_file_is_named(tmp_path) -> None:
    config = tmp_path / "sandbox.toml"
    config.write_text("lantency_ms = 5\n")
    with pytest.raises(SettingsError, match="unknown setting 'lantency_ms'"):
        load_settings(config, env={})


def test_the_manual_documents_every_setting() -> None:
    from pathlib import Path

    from fieldproof import manual
    from fieldproof.sandbox.settings import setting_fields

    page = manual.fill((Path(__file__).resolve().parents[1] / "docs" / "sandbox.md").read_text())
    missing = [f.name for f in setting_fields() if "--" + f.name.replace("_", "-") not in page]
    assert missing == []
