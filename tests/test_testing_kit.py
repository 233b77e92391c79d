"""The offline kit: each scenario switch gives the documented answer, and the kit and the
sandbox answer one shared table of request sequences identically."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fieldproof.headers import parse_traceparent
from fieldproof.sandbox.process import sandbox_thread
from fieldproof.sandbox.settings import load_settings
from fieldproof.testing import MockApi, mock_api

VERSION = {"Cint-API-Version": "2025-12-18"}


def auth(api: MockApi, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}", **VERSION, **extra}


# scenario switches


def test_a_paused_run_resumes_and_its_new_tag_pauses_it(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    with httpx.Client() as client:
        resumed = client.post(run.url + "/resume", headers=auth(fieldproof_api, **{"If-Match": run.etag}))
        assert resumed.status_code == 204 and resumed.headers["ETag"] == 'W/"2"'
        paused = client.post(run.url + "/pause", headers=auth(fieldproof_api, **{"If-Match": resumed.headers["ETag"]}))
        assert paused.status_code == 204
    assert fieldproof_api.run(run).status == "paused" and fieldproof_api.run(run).version == 3


def test_rate_limit_next_answers_429_with_retry_after_then_serves_again(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    fieldproof_api.rate_limit_next(2, retry_after_s=7)
    with httpx.Client() as client:
        statuses = [client.get(run.url, headers=auth(fieldproof_api)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"
    assert statuses[0].json()["object"] == "too_many_requests_problem_details"


def test_a_concurrent_writer_makes_the_clients_tag_stale(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    fieldproof_api.concurrent_write_before_next_write(run)
    with httpx.Client() as client:
        refused = client.post(run.url + "/resume", headers=auth(fieldproof_api, **{"If-Match": run.etag}))
        assert refused.status_code == 412 and refused.json()["object"] == "precondition_failed_error"
        current = client.get(run.url, headers=auth(fieldproof_api)).headers["ETag"]
        assert current == 'W/"2"'
        assert client.post(run.url + "/resume", headers=auth(fieldproof_api, **{"If-Match": current})).status_code == 204


def test_fail_next_answers_500_and_changes_nothing(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    fieldproof_api.fail_next(1)
    with httpx.Client() as client:
        failed = client.post(run.url + "/resume", headers=auth(fieldproof_api, **{"If-Match": run.etag}))
    assert failed.status_code == 500 and failed.json()["object"] == "unexpected_internal_error"
    assert fieldproof_api.run(run).version == 1


def test_an_expired_token_gets_403(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    with httpx.Client() as client:
        fieldproof_api.expire_token_next()
        assert client.get(run.url, headers=auth(fieldproof_api)).status_code == 403
        expired = {"Authorization": f"Bearer {fieldproof_api.mint_token(expired=True)}", **VERSION}
        assert client.get(run.url, headers=expired).status_code == 403
        assert client.get(run.url, headers=auth(fieldproof_api)).status_code == 200


def test_latency_is_simulated(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    fieldproof_api.configure(latency_ms=120)
    with httpx.Client() as client:
        started = time.monotonic()
        assert client.get(run.url, headers=auth(fieldproof_api)).status_code == 200
    assert time.monotonic() - started >= 0.12


@pytest.mark.parametrize(
    "setting, value, request_kind, status",
    [
        ("missing_if_match", "400", "no-if-match", 400),
        ("missing_if_match", "412", "no-if-match", 412),
        ("resume_live", "422", "resume-live", 422),
        ("resume_live", "204", "resume-live", 204),
        ("if_match_star", "match", "star", 204),
        ("if_match_star", "412", "star", 412),
        ("foreign_account", "403", "foreign", 403),
        ("foreign_account", "404", "foreign", 404),
    ],
)
def test_open_questions_switch_either_way(fieldproof_api: MockApi, setting: str, value: str, request_kind: str, status: int) -> None:
    fieldproof_api.configure(**{setting: value})
    run = fieldproof_api.add_run(status="live" if request_kind == "resume-live" else "paused")
    headers = auth(fieldproof_api, **{"If-Match": run.etag})
    if request_kind == "no-if-match":
        del headers["If-Match"]
    elif request_kind == "star":
        headers["If-Match"] = "*"
    elif request_kind == "foreign":
        headers["Authorization"] = f"Bearer {fieldproof_api.mint_token('foreign')}"
    with httpx.Client() as client:
        assert client.post(run.url + "/resume", headers=headers).status_code == status


def test_the_async_fixture_serves_async_clients(fieldproof_async_api: MockApi) -> None:
    run = fieldproof_async_api.add_run("goal_reached")

    async def resume() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(run.url + "/resume", headers=auth(fieldproof_async_api, **{"If-Match": run.etag}))

    response = asyncio.run(resume())
    assert response.status_code == 422 and response.json()["object"] == "invalid_state_error"


def test_a_base_url_with_another_prefix_is_served(tmp_path) -> None:
    with mock_api("https://staging.example.test/api/cint/v1") as api:
        run = api.add_run(status="paused")
        assert run.url.startswith("https://staging.example.test/api/cint/v1/demand/accounts/101/")
        with httpx.Client() as client:
            assert client.get(run.url, headers=auth(api)).status_code == 200
            assert client.get("https://staging.example.test/api/cint/v1/nope", headers=auth(api)).status_code == 404


def test_calls_outside_the_base_url_are_not_let_through() -> None:
    with mock_api("https://api.cint.com/v1"), httpx.Client() as client:
        with pytest.raises(Exception, match="not mocked|RESPX"):
            client.get("https://elsewhere.example.test/")


def test_trace_context_is_continued_by_the_kit(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with httpx.Client() as client:
        response = client.get(run.url, headers=auth(fieldproof_api, traceparent=incoming))
    assert parse_traceparent(response.headers["traceparent"]).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


# one shared table of request sequences, run against the kit and the sandbox

RUN_SPECS = {
    "paused": {"role": "resumable"},
    "live": {"role": "live"},
    "goal": {"role": "goal_reached"},
    "ended": {"role": "end_date_passed"},
    "done": {"role": "completed"},
}
Step = tuple[str, str, str, dict[str, Any]]  # method, run key, action ('' for GET), headers
CASES: dict[str, list[Step]] = {
    "resume-pause-stale": [
        ("POST", "paused", "resume", {"If-Match": 'W/"1"'}),
        ("POST", "paused", "pause", {"If-Match": 'W/"1"'}),
        ("POST", "paused", "pause", {"If-Match": 'W/"2"'}),
        ("GET", "paused", "", {}),
    ],
    "business-rules": [("POST", key, "resume", {"If-Match": 'W/"1"'}) for key in ("live", "goal", "ended", "done")],
    "if-match-spellings": [
        ("POST", "paused", "resume", {"If-Match": "1"}),
        ("POST", "paused", "resume", {"If-Match": None}),
        ("POST", "paused", "resume", {"If-Match": 'W/"7", W/"8"'}),
        ("POST", "paused", "resume", {"If-Match": '"1"'}),
        ("POST", "paused", "complete", {"If-Match": "*"}),
    ],
    "auth-and-headers": [
        ("GET", "paused", "", {"Authorization": None}),
        ("GET", "paused", "", {"Authorization": "Bearer nope"}),
        ("GET", "paused", "", {"Cint-API-Version": None}),
        ("GET", "paused", "", {"Cint-API-Version": "1999-01-01"}),
    ],
    "unknown": [("GET", "missing", "", {}), ("POST", "missing", "resume", {"If-Match": 'W/"1"'})],
}
_VOLATILE_HEADERS = {"traceparent", "tracestate", "date", "server", "content-length"}


def _normalize(response: httpx.Response) -> tuple[Any, ...]:
    """What must match between kit and sandbox: all but the per-request ids and times."""
    assert "traceparent" in response.headers
    headers = {k: v for k, v in response.headers.items() if k not in _VOLATILE_HEADERS}
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        body.pop("last_changed_at", None)
        if "object" in body:
            body.pop("id", None)  # an error's own uuid
    return response.status_code, headers, body


def _replay(steps: list[Step], runs: dict[str, dict[str, str]], base_url: str, token: str, send: Callable) -> list:
    answers = []
    for method, key, action, extra in steps:
        ids = runs.get(key, {**runs["paused"], "fielding_run_id": "01JD0000000000000000NOPE00"})
        url = (f"{base_url}/demand/accounts/{ids['account_id']}/projects/{ids['project_id']}/target-groups/"
               f"{ids['target_group_id']}/fielding-runs/{ids['fielding_run_id']}" + (f"/{action}" if action else ""))
        headers = {"Authorization": f"Bearer {token}", **VERSION, **extra}
        answers.append(_normalize(send(method, url, {k: v for k, v in headers.items() if v is not None})))
    return answers


def _fixed_spec(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Same ids and dates on both sides, so that bodies compare equal."""
    return {
        **spec,
        "fielding_run_id": "01JD000000000000000000" + {"paused": "PA01", "live": "LV01", "goal": "GR01",
                                                        "ended": "ED01", "done": "DN01"}[key],
        "project_id": "01JD000000000000000000P101",
        "target_group_id": "01JD000000000000000000T101",
        "start_fielding_at": "2026-01-01T00:00:00.000Z",
        "end_fielding_at": "2025-01-01T00:00:00.000Z" if key == "ended" else "2030-01-01T00:00:00.000Z",
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_kit_and_the_sandbox_answer_alike(case: str, tmp_path) -> None:
    with mock_api("https://api.cint.com/v1") as api, httpx.Client() as client:
        runs = {}
        for key, spec in RUN_SPECS.items():
            run = api.add_run(**_fixed_spec(key, spec))
            runs[key] = {"account_id": run.account_id, "project_id": run.project_id,
                         "target_group_id": run.target_group_id, "fielding_run_id": run.id}
        kit = _replay(CASES[case], runs, api.base_url, api.token,
                      lambda m, u, h: client.request(m, u, headers=h))
    settings = load_settings(env={}, overrides={"db": str(tmp_path / "s.db"), "control": True})
    with sandbox_thread(settings) as sandbox, httpx.Client() as client:
        token = client.post(sandbox.root_url + "/_control/tokens", json={"account_id": "101"}).json()["token"]
        for key, spec in RUN_SPECS.items():
            assert client.post(sandbox.root_url + "/_control/runs", json=_fixed_spec(key, spec)).status_code == 201
        served = _replay(CASES[case], runs, sandbox.base_url, token,
                         lambda m, u, h: client.request(m, u, headers=h))
    assert kit == served


# the kit stays in its lane


def test_a_client_with_the_kits_transport_needs_no_patching_and_leaves_other_clients_alone(sandbox) -> None:
    with MockApi(base_url="https://api.cint.com/v1") as api:
        run = api.add_run(status="paused")
        headers = {"Authorization": f"Bearer {api.token}", "Cint-API-Version": "2025-12-18"}
        with httpx.Client(transport=api.transport) as client:
            resumed = client.post(run.url + "/resume", headers={**headers, "If-Match": run.etag})
        assert resumed.status_code == 204 and api.run(run).status == "live"
        # nothing is patched: any other client still reaches the network (here a local sandbox)
        assert httpx.get(sandbox.root_url + "/healthz").status_code == 200
        assert len(api.calls) == 1


def test_an_async_client_with_the_kits_transport() -> None:
    with MockApi() as api:
        run = api.add_run(status="live", version=4)
        headers = {"Authorization": f"Bearer {api.token}", "Cint-API-Version": "2025-12-18"}

        async def pause() -> httpx.Response:
            async with httpx.AsyncClient(transport=api.async_transport) as client:
                return await client.post(run.url + "/pause", headers={**headers, "If-Match": run.etag})

        paused = asyncio.run(pause())
        assert paused.status_code == 204 and paused.headers["ETag"] == 'W/"5"'


def test_pass_through_lets_a_testclient_and_other_named_hosts_through(sandbox) -> None:
    import warnings

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("the team's own app"))])
    with mock_api(pass_through=["testserver", "127.0.0.1"]) as api:
        run = api.add_run(status="paused")
        headers = {"Authorization": f"Bearer {api.token}", "Cint-API-Version": "2025-12-18"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Starlette's TestClient warns about httpx
            with TestClient(app) as client:
                assert client.get("/").text == "the team's own app"
        assert httpx.get(sandbox.root_url + "/healthz").status_code == 200  # 127.0.0.1 passes too
        assert httpx.post(run.url + "/resume", headers={**headers, "If-Match": run.etag}).status_code == 204


class Retrying(httpx.BaseTransport):
    """A team's own transport around httpx's network one: retries a 429 once."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.attempts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(2):
            self.attempts += 1
            response = self.inner.handle_request(request)
            if response.status_code != 429:
                break
        return response


def test_a_clients_own_transport_is_never_replaced(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    own = httpx.MockTransport(lambda request: httpx.Response(299, text="the client's own"))
    with httpx.Client(transport=own) as client:
        assert client.get(run.url, headers=auth(fieldproof_api)).text == "the client's own"
        assert client.get("https://elsewhere.example.test/").status_code == 299  # not refused: it never goes out
    assert len(fieldproof_api.calls) == 0


def test_a_clients_own_transport_runs_its_code_around_the_kits_answers(fieldproof_api: MockApi) -> None:
    run = fieldproof_api.add_run(status="paused")
    fieldproof_api.rate_limit_next(1)
    retrying = Retrying()
    with httpx.Client(transport=retrying) as client:
        assert client.get(run.url, headers=auth(fieldproof_api)).status_code == 200
    assert retrying.attempts == 2 and [answer.status_code for _, answer in fieldproof_api.calls] == [429, 200]


def test_an_async_clients_own_transport_is_never_replaced(fieldproof_async_api: MockApi) -> None:
    run = fieldproof_async_api.add_run(status="paused")

    async def get() -> httpx.Response:
        own = httpx.MockTransport(lambda request: httpx.Response(299))
        async with httpx.AsyncClient(transport=own) as client:
            return await client.get(run.url, headers=auth(fieldproof_async_api))

    assert asyncio.run(get()).status_code == 299 and len(fieldproof_async_api.calls) == 0


def test_a_testclient_needs_no_pass_through(fieldproof_api: MockApi) -> None:
    import warnings

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("the team's own app"))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's TestClient warns about httpx
        with TestClient(app) as client:
            assert client.get("/").text == "the team's own app"


@pytest.mark.parametrize("fieldproof_api_pass_through", [["127.0.0.1"]])
def test_the_fixture_takes_pass_through(fieldproof_api: MockApi, sandbox) -> None:
    run = fieldproof_api.add_run(status="paused")
    with httpx.Client() as client:
        assert client.get(sandbox.root_url + "/healthz").status_code == 200  # a real server, reached
        assert client.get(run.url, headers=auth(fieldproof_api)).status_code == 200  # the kit, still answering
        with pytest.raises(Exception, match="not mocked|RESPX"):
            client.get("https://elsewhere.example.test/")


def test_a_host_neither_mocked_nor_passed_through_is_refused() -> None:
    import respx

    with mock_api(pass_through=["auth.example.test"]):
        with pytest.raises(respx.models.AllMockedAssertionError):
            httpx.get("https://elsewhere.example.test/anything")


def test_a_kit_run_says_how_it_was_added() -> None:
    with mock_api() as api:
        run = api.add_run(status="live", version=4)
        assert (run.status, run.version, run.etag) == ("live", 4, 'W/"4"')
        assert run.url.endswith(f"/fielding-runs/{run.id}") and run.url.startswith(api.base_url)


def test_the_manual_lists_every_fault_the_kit_accepts() -> None:
    from pathlib import Path

    from fieldproof import manual
    from fieldproof.sandbox.faults import FAULT_MODES

    page = manual.fill((Path(__file__).resolve().parents[1] / "docs" / "sandbox.md").read_text())
    missing = [name for name in FAULT_MODES if f"`{name}`" not in page]
    assert missing == []
