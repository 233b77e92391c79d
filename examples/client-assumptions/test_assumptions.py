"""What the campaign scheduler assumes of the Demand API, checked offline with fieldproof's kit.

Run: `pytest examples/client-assumptions` (with fieldproof installed, which provides the
`fieldproof_api` fixture).
"""

from __future__ import annotations

import pytest

from campaign_ops import resume_all
from fieldproof.client import FieldingRunsClient
from fieldproof.testing import MockApi


@pytest.fixture
def client(fieldproof_api: MockApi):
    with FieldingRunsClient(fieldproof_api.base_url, fieldproof_api.token, sleep=lambda s: None) as client:
        yield client


def runs_of(client: FieldingRunsClient, *kit_runs):
    return [client.get(r.account_id, r.project_id, r.target_group_id, r.id) for r in kit_runs]


def test_paused_runs_are_resumed(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    runs = runs_of(client, fieldproof_api.add_run(status="paused"), fieldproof_api.add_run(status="paused"))
    assert [o.resumed for o in resume_all(client, runs)] == [True, True]
    assert {fieldproof_api.run(r.id).status for r in runs} == {"live"}


@pytest.mark.parametrize("role", ["goal_reached", "end_date_passed", "completed"])
def test_runs_that_cannot_be_resumed_are_reported_not_retried(fieldproof_api: MockApi, client, role: str) -> None:
    (run,) = runs_of(client, fieldproof_api.add_run(role))
    (outcome,) = resume_all(client, [run])
    assert not outcome.resumed and "cannot be resumed" in outcome.reason
    assert fieldproof_api.run(run.id).version == 1


def test_someone_elses_change_is_retried_once(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    kit_run = fieldproof_api.add_run(status="paused")
    (run,) = runs_of(client, kit_run)
    fieldproof_api.concurrent_write_before_next_write(kit_run)
    assert resume_all(client, [run])[0].resumed


def test_a_run_that_keeps_changing_is_reported(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    kit_run = fieldproof_api.add_run(status="paused")
    (run,) = runs_of(client, kit_run)
    fieldproof_api.concurrent_write_before_next_write(kit_run, count=2)
    (outcome,) = resume_all(client, [run])
    assert not outcome.resumed and "kept changing" in outcome.reason


def test_a_rate_limit_is_waited_out(fieldproof_api: MockApi, client: FieldingRunsClient) -> None:
    (run,) = runs_of(client, fieldproof_api.add_run(status="paused"))
    fieldproof_api.rate_limit_next(3, retry_after_s=2)
    assert resume_all(client, [run])[0].resumed


@pytest.mark.parametrize("answer", ["422", "204"])
def test_resuming_a_live_run_is_harmless_either_way(fieldproof_api: MockApi, client, answer: str) -> None:
    """The docs leave open whether resuming a live run is 422 or a 204 no-op: we must not care."""
    fieldproof_api.configure(resume_live=answer)
    (run,) = runs_of(client, fieldproof_api.add_run(status="live"))
    resume_all(client, [run])
    assert fieldproof_api.run(run.id).status == "live"
