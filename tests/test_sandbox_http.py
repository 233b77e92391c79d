"""The sandbox over real HTTP: every documented status, header and body shape."""

from __future__ import annotations

import uuid

import httpx
import pytest

from conftest import Api
from fieldproof.headers import parse_traceparent, tracestate_errors
from fieldproof.sandbox.auth import issue_token

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def assert_documented_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["object"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    uuid.UUID(body["id"])
    assert_traced(response)
    return body


def assert_traced(response: httpx.Response) -> None:
    parse_traceparent(response.headers["traceparent"])
    assert tracestate_errors(response.headers.get("tracestate", "")) == []


# success


def test_get_returns_the_run_with_a_weak_etag(api: Api) -> None:
    run = api.new_run(role="resumable")
    response = api.get(run)
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'
    body = response.json()
    assert body["id"] == run["id"] and body["status"] == "paused" and body["version"] == 1
    uuid.UUID(body["last_changed_by"])
    assert_traced(response)


def test_resume_gives_204_with_a_new_etag_no_body_and_bumps_the_version(api: Api) -> None:
    run = api.new_run(role="resumable")
    before = api.get(run).json()
    response = api.write(run, "resume", if_match='W/"1"')
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"2"'
    assert_traced(response)
    after = api.get(run).json()
    assert after["status"] == "live" and after["version"] == 2
    assert after["last_changed_at"] > before["last_changed_at"]


def test_the_new_etag_is_accepted_by_the_next_write_and_the_old_one_is_not(api: Api) -> None:
    run = api.new_run(role="resumable")
    resumed = api.write(run, "resume", if_match='W/"1"')
    assert api.write(run, "pause", if_match='W/"1"').status_code == 412
    paused = api.write(run, "pause", if_match=resumed.headers["ETag"])
    assert paused.status_code == 204
    again = api.write(run, "resume", if_match=paused.headers["ETag"])
    assert api.write(run, "complete", if_match=again.headers["ETag"]).status_code == 204
    assert api.get(run).json()["status"] == "completed"


# 400


@pytest.mark.parametrize(
    "ids, name",
    [
        ({"account_id": "abc"}, "account_id"),
        ({"project_id": "not-a-ulid"}, "project_id"),
        ({"target_group_id": "01jd000000000000000000t101"}, "target_group_id"),
    ],
)
def test_malformed_path_ids_are_400_with_invalid_params(api: Api, ids: dict, name: str) -> None:
    run = api.new_run(role="resumable")
    response = api.client.get(api.url(run, **ids), headers=api.headers())
    body = assert_documented_error(response, 400, "bad_request_error")
    assert [p["name"] for p in body["invalid_params"]] == [name]


@pytest.mark.parametrize("value", ['1', 'W/1', '"a"b"', '"1" "2"', "", ","])
def test_malformed_if_match_is_400_and_changes_nothing(api: Api, value: str) -> None:
    run = api.new_run(role="resumable")
    before = api.raw_row(run)
    assert_documented_error(api.write(run, if_match=value), 400, "bad_request_error")
    assert api.raw_row(run) == before


def test_missing_if_match_is_400_by_default(api: Api) -> None:
    run = api.new_run(role="resumable")
    assert_documented_error(api.write(run, if_match=None), 400, "bad_request_error")
    assert api.get(run).json()["status"] == "paused"


def test_unknown_api_version_is_400(api: Api) -> None:
    run = api.new_run(role="resumable")
    assert_documented_error(api.get(run, Cint_API_Version="1999-01-01"), 400, "bad_request_error")


# 401 / 403


def test_no_token_is_401(api: Api) -> None:
    run = api.new_run(role="resumable")
    assert_documented_error(api.get(run, token=None), 401, "authorization_error")
    assert_documented_error(api.write(run, if_match='W/"1"', token=None), 401, "authorization_error")
    assert api.get(run).json()["version"] == 1


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer " + issue_token("a-different-signing-key-of-32-bytes!", "101")],
    ids=["empty-bearer", "not-a-jwt", "basic-auth", "foreign-signature"],
)
def test_malformed_or_foreign_signed_token_is_401(api: Api, authorization: str) -> None:
    run = api.new_run(role="resumable")
    response = api.client.get(api.url(run), headers={**api.headers(), "Authorization": authorization})
    assert_documented_error(response, 401, "authorization_error")


def test_expired_token_is_403_not_401(api: Api) -> None:
    run = api.new_run(role="resumable")
    expired = api.mint_token(expired=True)
    assert_documented_error(api.write(run, if_match='W/"1"', token=expired), 403, "authorization_error")
    assert api.get(run).json()["version"] == 1


def test_another_accounts_token_is_403_and_changes_nothing(api: Api) -> None:
    run = api.new_run(role="resumable")
    foreign = api.mint_token(account_id="202")
    before = api.raw_row(run)
    assert_documented_error(api.get(run, token=foreign), 403, "authorization_error")
    assert_documented_error(api.write(run, if_match='W/"1"', token=foreign), 403, "authorization_error")
    assert api.raw_row(run) == before


def test_a_path_naming_another_account_is_403_even_with_that_accounts_run(api: Api) -> None:
    foreign_run = api.new_run(role="resumable", account="foreign")
    response = api.client.get(api.url(foreign_run), headers=api.headers())  # main token
    assert_documented_error(response, 403, "authorization_error")


def test_missing_api_version_is_403_required_header_missing(api: Api) -> None:
    run = api.new_run(role="resumable")
    response = api.write(run, if_match='W/"1"', Cint_API_Version=None)
    assert_documented_error(response, 403, "required_header_missing")
    assert api.get(run).json()["status"] == "paused"


# 404 / 405


def test_unknown_run_is_404(api: Api) -> None:
    run = api.new_run(role="resumable")
    unknown = api.url(run, fielding_run_id="01JD00000000000000000NOPE0")
    assert_documented_error(api.client.get(unknown, headers=api.headers()), 404, "not_found_error")
    response = api.client.post(unknown + "/resume", headers=api.headers(If_Match='W/"1"'))
    assert_documented_error(response, 404, "not_found_error")


def test_a_run_under_another_project_is_404(api: Api) -> None:
    run = api.new_run(role="resumable")
    other = api.url(run, "resume", project_id="01JD000000000000000000P999")
    response = api.client.post(other, headers=api.headers(If_Match='W/"1"'))
    assert_documented_error(response, 404, "not_found_error")
    assert api.get(run).json()["version"] == 1


def test_unknown_route_is_404_with_traceparent(api: Api) -> None:
    response = api.client.get(api.sandbox.base_url + "/no/such/route")
    assert_documented_error(response, 404, "not_found_error")


def test_wrong_method_is_405_with_traceparent(api: Api) -> None:
    run = api.new_run(role="resumable")
    response = api.client.delete(api.url(run, "resume"), headers=api.headers())
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert_traced(response)


# 412 / 422


def test_stale_tag_is_412_and_the_row_is_byte_identical(api: Api) -> None:
    run = api.new_run(role="resumable", version=7)
    before = api.raw_row(run)
    for stale in ('W/"6"', 'W/"1"', 'W/"8"', '"zzz"'):
        assert_documented_error(api.write(run, if_match=stale), 412, "precondition_failed_error")
    assert api.raw_row(run) == before


@pytest.mark.parametrize(
    "spec",
    [
        {"role": "goal_reached"},
        {"role": "end_date_passed"},
        {"role": "live"},
        {"role": "completed"},
        {"status": "scheduled"},
    ],
    ids=["goal-reached", "end-date-passed", "live", "completed", "scheduled"],
)
def test_resume_refused_by_business_rules_is_422_and_the_row_is_byte_identical(api: Api, spec: dict) -> None:
    run = api.new_run(**spec)
    before = api.raw_row(run)
    assert_documented_error(api.write(run, "resume"), 422, "invalid_state_error")
    assert api.raw_row(run) == before


def test_pause_of_a_paused_run_and_complete_of_a_completed_run_are_422(api: Api) -> None:
    assert api.write(api.new_run(role="resumable"), "pause").status_code == 422
    assert api.write(api.new_run(role="completed"), "complete").status_code == 422


def test_if_match_list_with_the_current_tag_wins(api: Api) -> None:
    run = api.new_run(role="resumable", version=3)
    assert api.write(run, if_match='W/"1", W/"3"').status_code == 204


def test_if_match_star_matches_an_existing_run_by_default(api: Api) -> None:
    run = api.new_run(role="resumable")
    assert api.write(run, if_match="*").status_code == 204


def test_strong_spelling_of_the_current_tag_matches_by_default(api: Api) -> None:
    run = api.new_run(role="resumable")
    assert api.write(run, if_match='"1"').status_code == 204


# trace context


def test_trace_is_continued_with_a_new_parent_id(api: Api) -> None:
    run = api.new_run(role="resumable")
    for response in (
        api.get(run, traceparent=TRACEPARENT, tracestate="congo=t61rcWkgMzE"),
        api.write(run, if_match='W/"99"', traceparent=TRACEPARENT),  # an error response too
    ):
        parent = parse_traceparent(response.headers["traceparent"])
        assert parent.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert parent.parent_id != "00f067aa0ba902b7"
        assert parent.flags == "01"
    assert response.headers["tracestate"].startswith("fieldproof=")


def test_caller_tracestate_members_are_kept_after_ours(api: Api) -> None:
    run = api.new_run(role="resumable")
    response = api.get(run, traceparent=TRACEPARENT, tracestate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    members = response.headers["tracestate"].split(",")
    assert members[0].startswith("fieldproof=") and members[1:] == ["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]


@pytest.mark.parametrize(
    "incoming",
    ["garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ff-" + TRACEPARENT[3:]],
)
def test_an_invalid_caller_trace_starts_a_new_one(api: Api, incoming: str) -> None:
    run = api.new_run(role="resumable")
    response = api.get(run, traceparent=incoming)
    assert parse_traceparent(response.headers["traceparent"]).trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_control_api_is_off_unless_enabled() -> None:
    from fieldproof.sandbox.process import sandbox_process

    with sandbox_process(["--no-seed"]) as plain, httpx.Client() as client:
        response = client.post(plain.root_url + "/_control/reset")
        assert response.status_code == 404
        assert_traced(response)
