"""The reference client, checked against the offline kit: what it assumes of the API holds."""

from __future__ import annotations

import httpx
import pytest

from fieldproof.client import (
    FieldingRunsClient,
    InvalidState,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
)
from fieldproof.testing import MockApi


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(fieldproof_api: MockApi, slept: list[float]):
    with FieldingRunsClient(fieldproof_api.base_url, fieldproof_api.token, sleep=slept.append) as client:
        yield client


def fetch(client: FieldingRunsClient, run) -> object:
    return client.get(run.account_id, run.project_id, run.target_group_id, run.id)


def test_it_carries_the_etag_from_write_to_write(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    run = fetch(client, fieldproof_api.add_run(status="paused"))
    assert (run.status, run.etag) == ("paused", 'W/"1"')
    run = client.resume(run)
    assert (run.status, run.etag) == ("live", 'W/"2"')
    run = client.pause(run)
    assert (run.status, run.etag) == ("paused", 'W/"3"')
    run = client.complete(client.resume(run))  # "completes a live or scheduled fielding run"
    assert run.status == "completed" and fieldproof_api.run(run.id).status == "completed"


def test_it_waits_out_a_429_by_its_retry_after(fieldproof_api: MockApi, client: FieldingRunsClient, slept: list[float]) -> None:
    kit_run = fieldproof_api.add_run(status="paused")
    fieldproof_api.rate_limit_next(2, retry_after_s=3)
    run = client.resume(fetch(client, kit_run))
    assert slept == [3.0, 3.0] and run.status == "live"


def test_it_gives_up_on_a_429_that_outlasts_its_patience(fieldproof_api: MockApi, slept: list[float]) -> None:
    kit_run = fieldproof_api.add_run(status="paused")
    with FieldingRunsClient(fieldproof_api.base_url, fieldproof_api.token, sleep=slept.append, max_wait_s=5) as client:
        run = fetch(client, kit_run)
        fieldproof_api.rate_limit_next(10, retry_after_s=2)
        with pytest.raises(RateLimited):
            client.resume(run)
    assert slept == [2.0, 2.0]
    assert fieldproof_api.run(kit_run).status == "paused"


def test_a_412_is_raised_unless_the_caller_asks_for_a_refresh(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    kit_run = fieldproof_api.add_run(status="paused")
    run = fetch(client, kit_run)
    fieldproof_api.concurrent_write_before_next_write(kit_run)
    with pytest.raises(PreconditionFailed) as refused:
        client.resume(run)
    assert refused.value.code == "precondition_failed_error"
    assert fieldproof_api.run(kit_run).status == "paused"
    fieldproof_api.concurrent_write_before_next_write(kit_run)
    resumed = client.resume(run, refresh_on_conflict=True)
    assert resumed.status == "live" and fieldproof_api.run(kit_run).status == "live"


def test_a_422_is_never_retried(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    kit_run = fieldproof_api.add_run("goal_reached")
    run = fetch(client, kit_run)
    calls_before = len(fieldproof_api.calls)
    with pytest.raises(InvalidState):
        client.resume(run, refresh_on_conflict=True)
    assert len(fieldproof_api.calls) == calls_before + 1


def test_a_500_on_a_write_is_raised_not_retried(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    run = fetch(client, fieldproof_api.add_run(status="paused"))
    fieldproof_api.fail_next(1)
    with pytest.raises(ServerError):
        client.resume(run)
    assert client.resume(run).status == "live"  # the 500 changed nothing, the tag still holds


def test_an_unknown_run_is_not_found(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    run = fieldproof_api.add_run(status="paused")
    with pytest.raises(NotFound):
        client.get(run.account_id, run.project_id, run.target_group_id, "01JD00000000000000000NOPE0")


def test_it_sends_the_documented_headers(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    run = fetch(client, fieldproof_api.add_run(status="paused"))
    client.resume(run)
    request, _ = fieldproof_api.calls[-1]
    assert request.headers["If-Match"] == 'W/"1"'
    assert request.headers["Cint-API-Version"] == "2025-12-18"
    assert request.headers["Authorization"] == f"Bearer {fieldproof_api.token}"
    assert isinstance(request, httpx.Request)


def test_the_client_assumptions_example_runs_green() -> None:
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "client-assumptions"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "9 passed" in result.stdout
