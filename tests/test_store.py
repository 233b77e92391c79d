"""The fielding-run state machine in fieldproof/sandbox/store.py.

Expectations come from /work/shared/api/fielding-runs.md: pause live->paused, resume paused->live
(only while the completes goal and the end date are not reached), complete live|paused->completed;
every change bumps `version` by one; a stale If-Match changes nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldproof.sandbox.resources import Decision as ResourceDecision
from fieldproof.sandbox.resources import Resource, ResourceStore
from fieldproof.sandbox.seed import run_from_spec
from fieldproof.sandbox.store import (
    ANY_VERSION,
    STATUSES,
    TRANSITIONS,
    Action,
    Change,
    Decision,
    Outcome,
    Policy,
    Precondition,
    Run,
    Store,
    format_time,
    make_run,
    new_ulid,
    parse_time,
)

UTC = timezone.utc
SEEDED_AT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW = SEEDED_AT + timedelta(minutes=5, milliseconds=250)
ACTOR = "8f0c3a52-3d3b-4f8a-9a55-0d6f1f0c2a11"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Written from the API doc, not copied from TRANSITIONS.
EXPECTED_TARGET = {
    (Action.PAUSE, "live"): "paused",
    (Action.RESUME, "paused"): "live",
    (Action.COMPLETE, "live"): "completed",
    (Action.COMPLETE, "scheduled"): "completed",  # "completes a live or scheduled fielding run"
}
# the open questions a Policy answers the other way: (action, status) -> what then happens
OPEN_TARGET = {(Action.COMPLETE, "paused"): "completed"}


def seeded(store: Store, **fields) -> Run:
    fields.setdefault("account_id", "101")
    fields.setdefault("now", SEEDED_AT)
    run = make_run(**fields)
    store.put(run)
    assert store.get(run.id) == run
    return run


def current(run: Run) -> Precondition:
    return Precondition(frozenset({run.version}))


def raw_row(store: Store, run_id: str) -> tuple | None:
    """The row as SQLite holds it, read over a connection of its own."""
    with closing(sqlite3.connect(store.path)) as db:
        return db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()


def assert_unchanged(store: Store, before: Run, raw_before: tuple) -> None:
    assert store.get(before.id) == before
    assert raw_row(store, before.id) == raw_before


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "s.db", Policy())
    yield s
    s.close()


@pytest.fixture
def make_store(tmp_path: Path):
    opened: list[Store] = []

    def make(policy: Policy = Policy()) -> Store:
        s = Store(tmp_path / "s.db", policy)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


# --------------------------------------------------------------------------- transitions


def test_transitions_table_is_the_documented_one() -> None:
    table = {(action, src): target for action, (srcs, target) in TRANSITIONS.items() for src in srcs}
    assert table == EXPECTED_TARGET
    assert set(STATUSES) == {"scheduled", "live", "paused", "completed"}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(Action))
def test_every_status_action_pair(store: Store, status: str, action: Action) -> None:
    run = seeded(store, status=status, version=7)
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, action, current(run), ACTOR, now=NOW)
    expected_target = EXPECTED_TARGET.get((action, status))
    if expected_target is None:
        assert outcome.decision is Decision.INVALID_STATE
        assert outcome.run == run
        assert outcome.reason
        assert_unchanged(store, run, raw_before)
        return
    assert outcome.decision is Decision.CHANGED
    after = store.get(run.id)
    assert outcome.run == after
    assert after.status == expected_target
    assert after.version == run.version + 1
    assert after.last_changed_at == format_time(NOW) == "2025-06-01T12:05:00.250Z"
    assert after.last_changed_by == ACTOR
    # nothing else moves
    untouched = ("id", "account_id", "project_id", "target_group_id", "start_fielding_at",
                 "end_fielding_at", "completes", "completes_goal")
    assert {f: getattr(after, f) for f in untouched} == {f: getattr(run, f) for f in untouched}
    raw_after = raw_row(store, run.id)
    assert raw_after != raw_before
    assert raw_after[4:6] == (expected_target, run.version + 1)


def test_a_refused_write_leaves_the_other_runs_alone(store: Store) -> None:
    a = seeded(store, status="paused")
    b = seeded(store, status="paused")
    assert store.apply(a.id, Action.RESUME, current(a), ACTOR, now=NOW).decision is Decision.CHANGED
    assert store.get(b.id) == b
    assert store.count() == 2


# --------------------------------------------------------------------------- resume rules


@pytest.mark.parametrize("completes, goal", [(100, 100), (101, 100), (0, 0)])
def test_resume_once_the_goal_is_reached_is_invalid_state(store: Store, completes: int, goal: int) -> None:
    run = seeded(store, status="paused", completes=completes, completes_goal=goal)
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW)
    assert outcome.decision is Decision.INVALID_STATE
    assert_unchanged(store, run, raw_before)


def test_resume_one_short_of_the_goal_is_allowed(store: Store) -> None:
    run = seeded(store, status="paused", completes=99, completes_goal=100)
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW).decision is Decision.CHANGED


@pytest.mark.parametrize(
    "end_offset, decision",
    [
        (timedelta(0), Decision.INVALID_STATE),  # the end date itself counts as reached
        (-timedelta(milliseconds=1), Decision.INVALID_STATE),
        (-timedelta(days=3), Decision.INVALID_STATE),
        (timedelta(milliseconds=1), Decision.CHANGED),
        (timedelta(days=3), Decision.CHANGED),
    ],
)
def test_resume_and_the_end_date(store: Store, end_offset: timedelta, decision: Decision) -> None:
    run = seeded(store, status="paused", end_fielding_at=format_time(NOW + end_offset))
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW)
    assert outcome.decision is decision
    if decision is Decision.INVALID_STATE:
        assert_unchanged(store, run, raw_before)
    else:
        assert store.get(run.id).status == "live"


def test_the_end_date_uses_the_now_parameter(store: Store) -> None:
    end = NOW + timedelta(hours=1)
    run = seeded(store, status="paused", end_fielding_at=format_time(end))
    later = end + timedelta(seconds=1)
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=later).decision is Decision.INVALID_STATE
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW).decision is Decision.CHANGED


def test_goal_and_end_date_do_not_stop_pause_or_complete(store: Store) -> None:
    past = format_time(NOW - timedelta(days=1))
    run = seeded(store, status="live", completes=100, completes_goal=100, end_fielding_at=past)
    assert store.apply(run.id, Action.PAUSE, current(run), ACTOR, now=NOW).decision is Decision.CHANGED
    other = seeded(store, status="live", completes=100, completes_goal=100, end_fielding_at=past)
    assert store.apply(other.id, Action.COMPLETE, current(other), ACTOR, now=NOW).decision is Decision.CHANGED
    assert store.get(other.id).status == "completed"


@pytest.mark.parametrize("allowed", [False, True])
def test_complete_of_a_paused_run_is_the_policys_answer(make_store, allowed: bool) -> None:
    store = make_store(Policy(complete_paused=allowed))
    run = seeded(store, status="paused")
    outcome = store.apply(run.id, Action.COMPLETE, current(run), ACTOR, now=NOW)
    assert outcome.decision is (Decision.CHANGED if allowed else Decision.INVALID_STATE)
    assert store.get(run.id).status == ("completed" if allowed else "paused")


def test_resume_of_a_scheduled_run_is_invalid_state(store: Store) -> None:
    run = seeded(store, status="scheduled")
    raw_before = raw_row(store, run.id)
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW).decision is Decision.INVALID_STATE
    assert store.apply(run.id, Action.RESUME, ANY_VERSION, ACTOR, now=NOW).decision is Decision.INVALID_STATE
    assert_unchanged(store, run, raw_before)


# --------------------------------------------------------------------------- preconditions


def test_the_current_version_wins(store: Store) -> None:
    run = seeded(store, status="paused", version=3)
    outcome = store.apply(run.id, Action.RESUME, Precondition(frozenset({3})), ACTOR, now=NOW)
    assert outcome.decision is Decision.CHANGED and outcome.run.version == 4


def test_a_list_naming_the_current_version_wins(store: Store) -> None:
    run = seeded(store, status="paused", version=3)
    outcome = store.apply(run.id, Action.RESUME, Precondition(frozenset({1, 2, 3})), ACTOR, now=NOW)
    assert outcome.decision is Decision.CHANGED


@pytest.mark.parametrize("versions", [{2}, {4}, {0}, {1, 2, 4}, set()])
def test_a_precondition_without_the_current_version_fails_and_changes_nothing(
    store: Store, versions: set[int]
) -> None:
    run = seeded(store, status="paused", version=3)
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, Action.RESUME, Precondition(frozenset(versions)), ACTOR, now=NOW)
    assert outcome.decision is Decision.PRECONDITION_FAILED
    assert outcome.run == run
    assert_unchanged(store, run, raw_before)


def test_any_version_wins(store: Store) -> None:
    run = seeded(store, status="paused", version=9)
    outcome = store.apply(run.id, Action.RESUME, ANY_VERSION, ACTOR, now=NOW)
    assert outcome.decision is Decision.CHANGED
    assert store.get(run.id).version == 10


@pytest.mark.parametrize("precondition", [ANY_VERSION, Precondition(frozenset({1})), Precondition(frozenset())])
@pytest.mark.parametrize("action", list(Action))
def test_an_unknown_id_is_not_found(store: Store, precondition: Precondition, action: Action) -> None:
    other = seeded(store, status="paused")
    outcome = store.apply("01JUNKNOWN0000000000000000", action, precondition, ACTOR, now=NOW)
    assert outcome == Outcome(Decision.NOT_FOUND, None, outcome.reason)
    assert store.get(other.id) == other
    assert store.count() == 1


# --------------------------------------------------------------------------- policy


def test_resume_live_is_noop_policy(make_store) -> None:
    store = make_store(Policy(resume_live_is_noop=True))
    run = seeded(store, status="live", version=4)
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW)
    assert outcome.decision is Decision.NO_OP
    assert outcome.run == run
    assert_unchanged(store, run, raw_before)
    stale = store.apply(run.id, Action.RESUME, Precondition(frozenset({3})), ACTOR, now=NOW)
    assert stale.decision is Decision.PRECONDITION_FAILED
    assert_unchanged(store, run, raw_before)
    # the policy is only about resuming a live run
    paused = seeded(store, status="paused")
    assert store.apply(paused.id, Action.PAUSE, current(paused), ACTOR, now=NOW).decision is Decision.INVALID_STATE
    completed = seeded(store, status="completed")
    assert store.apply(completed.id, Action.RESUME, current(completed), ACTOR, now=NOW).decision is Decision.INVALID_STATE


def test_without_the_noop_policy_resuming_a_live_run_is_invalid_state(make_store) -> None:
    store = make_store(Policy(resume_live_is_noop=False))
    run = seeded(store, status="live", version=4)
    raw_before = raw_row(store, run.id)
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW).decision is Decision.INVALID_STATE
    assert_unchanged(store, run, raw_before)


@pytest.mark.parametrize(
    "precondition_first, decision",
    [(False, Decision.INVALID_STATE), (True, Decision.PRECONDITION_FAILED)],
)
def test_gate_order_for_a_stale_tag_on_a_goal_reached_run(
    make_store, precondition_first: bool, decision: Decision
) -> None:
    store = make_store(Policy(precondition_first=precondition_first))
    run = seeded(store, status="paused", version=2, completes=100, completes_goal=100)
    raw_before = raw_row(store, run.id)
    outcome = store.apply(run.id, Action.RESUME, Precondition(frozenset({1})), ACTOR, now=NOW)
    assert outcome.decision is decision
    assert_unchanged(store, run, raw_before)
    # either order: a stale tag on an otherwise allowed write is a 412, a current tag on a refused one a 422
    ok = seeded(store, status="paused", version=2)
    assert store.apply(ok.id, Action.RESUME, Precondition(frozenset({1})), ACTOR, now=NOW).decision is Decision.PRECONDITION_FAILED
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, now=NOW).decision is Decision.INVALID_STATE


# --------------------------------------------------------------------------- the lock


def test_a_write_that_lost_the_race_on_its_snapshot_is_refused(make_store, monkeypatch) -> None:
    """Deterministic interleaving: A decides on v1 (paused); before A writes, B resumes and
    pauses the run again (v3, paused once more). A's UPDATE must not succeed on the stale
    snapshot although the status matches again."""
    a, b = make_store(), make_store()
    run = seeded(a, status="paused", version=1)
    original = a._refusal
    fired = []

    def interleaved(*args, **kwargs):
        result = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            assert b.apply(run.id, Action.RESUME, Precondition(frozenset({1})), "b", now=NOW).decision is Decision.CHANGED
            assert b.apply(run.id, Action.PAUSE, Precondition(frozenset({2})), "b", now=NOW).decision is Decision.CHANGED
        return result

    monkeypatch.setattr(a, "_refusal", interleaved)
    outcome = a.apply(run.id, Action.RESUME, Precondition(frozenset({1})), "a", now=NOW)
    assert fired
    assert outcome.decision is Decision.PRECONDITION_FAILED
    final = b.get(run.id)
    assert (final.status, final.version, final.last_changed_by) == ("paused", 3, "b")
    assert outcome.run == final


def test_if_match_star_that_lost_the_race_retries_on_the_new_state(make_store, monkeypatch) -> None:
    a, b = make_store(), make_store()
    run = seeded(a, status="paused", version=1)
    original = a._refusal
    fired = []

    def interleaved(*args, **kwargs):
        result = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            b.apply(run.id, Action.RESUME, ANY_VERSION, "b", now=NOW)
            b.apply(run.id, Action.PAUSE, ANY_VERSION, "b", now=NOW)
        return result

    monkeypatch.setattr(a, "_refusal", interleaved)
    outcome = a.apply(run.id, Action.RESUME, ANY_VERSION, "a", now=NOW)
    assert outcome.decision is Decision.CHANGED
    final = a.get(run.id)
    assert (final.status, final.version, final.last_changed_by) == ("live", 4, "a")
    assert outcome.run == final


THREADS = 16
ROUNDS = 20
RUN_ID = "01J00000000000000000000RUN"


def race(stores: list[Store], tag_for, rounds: int = ROUNDS):
    """Each round: reset the run, release all threads at once, collect their outcomes."""
    seeder = stores[0]
    for round_no in range(rounds):
        version = round_no + 1
        seeder.put(make_run(account_id="101", run_id=RUN_ID, status="paused", version=version, now=SEEDED_AT))
        barrier = threading.Barrier(len(stores))
        results: list[Outcome | BaseException | None] = [None] * len(stores)

        def worker(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                results[i] = stores[i].apply(RUN_ID, Action.RESUME, tag_for(version), f"t{i}", now=NOW)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                results[i] = exc

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        errors = [r for r in results if not isinstance(r, Outcome)]
        assert not errors, errors
        yield version, results, seeder.get(RUN_ID)


@pytest.fixture
def sixteen_stores(tmp_path: Path):
    # one connection each, like separate worker processes on one database file
    stores = [Store(tmp_path / "s.db", Policy()) for _ in range(THREADS)]
    yield stores
    for s in stores:
        s.close()


def test_concurrent_resumes_with_the_same_tag_have_exactly_one_winner(sixteen_stores) -> None:
    for version, results, final in race(sixteen_stores, lambda v: Precondition(frozenset({v}))):
        decisions = Counter(r.decision for r in results)
        assert decisions == {Decision.CHANGED: 1, Decision.PRECONDITION_FAILED: THREADS - 1}, (version, decisions)
        winner = next(i for i, r in enumerate(results) if r.decision is Decision.CHANGED)
        assert final.version == version + 1
        assert final.status == "live"
        assert final.last_changed_by == f"t{winner}"
        assert results[winner].run == final


def test_concurrent_resumes_with_if_match_star_have_exactly_one_winner(sixteen_stores) -> None:
    for version, results, final in race(sixteen_stores, lambda v: ANY_VERSION, rounds=5):
        decisions = Counter(r.decision for r in results)
        # the losers retry, find the run live, and are refused
        assert decisions == {Decision.CHANGED: 1, Decision.INVALID_STATE: THREADS - 1}, (version, decisions)
        assert final.version == version + 1


# --------------------------------------------------------------------------- model-based


def model_step(status: str, version: int, action: Action, versions, policy: Policy, goal: bool, ended: bool):
    """(decision, status, version) after one call, per the API doc and the Policy settings."""
    stale = versions is not None and version not in versions
    noop = (action is Action.RESUME and status == "live" and policy.resume_live_is_noop
            or action is Action.PAUSE and status == "paused" and policy.pause_paused_is_noop)
    target = EXPECTED_TARGET.get((action, status)) or (OPEN_TARGET.get((action, status)) if policy.complete_paused else None)
    invalid = (target is None and not noop) or (
        action is Action.RESUME and target is not None and (goal or ended)
    )
    gates = [(stale, Decision.PRECONDITION_FAILED), (invalid, Decision.INVALID_STATE)]
    if not policy.precondition_first:
        gates.reverse()
    for failed, decision in gates:
        if failed:
            return decision, status, version
    if noop:
        return Decision.NO_OP, status, version
    return Decision.CHANGED, target, version + 1


# Weighted towards live/paused runs and current tags, so that sequences do not all end in the
# absorbing states (completed, scheduled) or in a string of 412s.
offsets = st.sampled_from([0, "any", 0, -1, 0, "with-current", 1, 0, "empty", -2])
actions = st.sampled_from([Action.RESUME, Action.PAUSE, Action.RESUME, Action.PAUSE, Action.COMPLETE])
steps = st.lists(st.tuples(actions, offsets), min_size=1, max_size=25)
POLICIES = [Policy(resume_live_is_noop=other, pause_paused_is_noop=other, complete_paused=other, precondition_first=first)
            for other in (False, True) for first in (False, True)]


def precondition_for(version: int, offset) -> Precondition:
    if offset == "any":
        return ANY_VERSION
    if offset == "empty":
        return Precondition(frozenset())
    if offset == "with-current":
        return Precondition(frozenset({version - 1, version, version + 7}))
    return Precondition(frozenset({version + offset}))


@pytest.fixture(scope="module")
def store_per_policy(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    stores = {policy: Store(directory / f"{i}.db", policy) for i, policy in enumerate(POLICIES)}
    yield stores
    for s in stores.values():
        s.close()


@given(
    status=st.sampled_from(["paused", "live", "paused", "live", "scheduled", "completed"]),
    version=st.integers(1, 1000),
    steps=steps,
)
def test_random_sequences_match_the_model(store_per_policy, status, version, steps) -> None:
    # every sequence runs under every policy, with and without the goal / end date reached
    for policy, goal, ended in itertools.product(POLICIES, (False, True), (False, True)):
        store = store_per_policy[policy]  # each run has an id of its own
        end = NOW - timedelta(hours=1) if ended else NOW + timedelta(days=1)
        run = seeded(store, status=status, version=version, completes=100 if goal else 10,
                     completes_goal=100, end_fielding_at=format_time(end))
        m_status, m_version = status, version
        for i, (action, offset) in enumerate(steps):
            before = store.get(run.id)
            precondition = precondition_for(m_version, offset)
            outcome = store.apply(run.id, action, precondition, f"actor{i}", now=NOW)
            decision, m_status, new_version = model_step(
                m_status, m_version, action, precondition.versions, policy, goal, ended
            )
            assert outcome.decision is decision, (policy, goal, ended, i, action, offset, before)
            after = store.get(run.id)
            assert (after.status, after.version) == (m_status, new_version)
            assert outcome.run == after
            if decision is Decision.CHANGED:
                assert after.version == before.version + 1
                assert after.last_changed_by == f"actor{i}"
            else:
                assert after == before
            m_version = new_version


# --------------------------------------------------------------------------- ids and times


def test_new_ulid_shape_and_time() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    ulids = [new_ulid() for _ in range(500)]
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert len(set(ulids)) == len(ulids)
    for ulid in ulids:
        assert re.fullmatch(r"[0-9A-Z]{26}", ulid)
        assert set(ulid) <= set(CROCKFORD), ulid  # no I, L, O, U
        assert ulid[0] in "01234567"  # 128 bits in 26 characters
        value = 0
        for ch in ulid:
            value = value * 32 + CROCKFORD.index(ch)
        assert before <= value >> 80 <= after


def test_new_ulid_uses_random_bits() -> None:
    ulids = {new_ulid()[10:] for _ in range(200)}
    assert len(ulids) == 200
    # every Crockford character shows up somewhere in the random part
    assert set("".join(ulids)) == set(CROCKFORD)


RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.mark.parametrize(
    "moment, text",
    [
        (datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "2025-01-02T03:04:05.678Z"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05.000Z"),
        (datetime(2025, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2024-12-31T23:30:00.000Z"),
        (datetime(2025, 1, 1, 22, 0, 0, 5000, tzinfo=timezone(timedelta(hours=-5))), "2025-01-02T03:00:00.005Z"),
    ],
)
def test_format_time_examples(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
    assert parse_time(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_format_time_writes_a_four_digit_year() -> None:
    # RFC 3339: date-fullyear = 4DIGIT
    moment = datetime(999, 12, 31, 23, 59, 59, 123000, tzinfo=UTC)
    assert format_time(moment) == "0999-12-31T23:59:59.123Z"
    assert parse_time(format_time(moment)) == moment


offsets_tz = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)


@given(
    st.datetimes(
        # years below 1000 are covered by test_format_time_writes_a_four_digit_year
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=offsets_tz,
    )
)
def test_format_time_is_rfc3339_utc_ms_and_parses_back(moment: datetime) -> None:
    text = format_time(moment)
    assert RFC3339_MS.fullmatch(text), text
    parsed = parse_time(text)
    assert parsed.utcoffset() == timedelta(0)
    assert timedelta(0) <= moment - parsed < timedelta(milliseconds=1)


# the store's fault modes taken from the independent server (sandbox/faults.py): each does the
# one wrong thing its description says, and nothing else


def faulty(tmp_path: Path, fault: str) -> Store:
    return Store(tmp_path / "runs.db", Policy(faults=frozenset({fault})))


def test_if_match_higher_version_accepted_takes_any_version_not_lower(tmp_path: Path) -> None:
    store = faulty(tmp_path, "if_match_higher_version_accepted")
    run = seeded(store, version=7)
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({6})), ACTOR, NOW).decision is Decision.PRECONDITION_FAILED
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({8})), ACTOR, NOW).decision is Decision.CHANGED


def test_if_match_other_runs_tag_takes_the_version_any_run_holds(tmp_path: Path) -> None:
    store = faulty(tmp_path, "if_match_other_runs_tag")
    run, _ = seeded(store, version=3), seeded(store, version=9, status="live")
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({5})), ACTOR, NOW).decision is Decision.PRECONDITION_FAILED
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({9})), ACTOR, NOW).decision is Decision.CHANGED


def test_if_match_star_forces_past_the_state_rules(tmp_path: Path) -> None:
    store = faulty(tmp_path, "if_match_star_forces")
    run = seeded(store, completes=100, completes_goal=100)
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({run.version})), ACTOR, NOW).decision is Decision.INVALID_STATE
    outcome = store.apply(run.id, Action.RESUME, Precondition(None, force=True), ACTOR, NOW)
    assert outcome.decision is Decision.CHANGED and store.get(run.id).status == "live"


def test_version_wraps_at_8_gives_0_after_7(tmp_path: Path) -> None:
    store = faulty(tmp_path, "version_wraps_at_8")
    run = seeded(store, version=7)
    assert store.apply(run.id, Action.RESUME, current(run), ACTOR, NOW).run.version == 0


def test_pause_ignores_if_match_but_resume_does_not(tmp_path: Path) -> None:
    store = faulty(tmp_path, "pause_ignores_if_match")
    live, paused = seeded(store, status="live", version=4), seeded(store, version=4)
    never = Precondition(frozenset({99}))
    assert store.apply(live.id, Action.PAUSE, never, ACTOR, NOW).decision is Decision.CHANGED
    assert store.apply(paused.id, Action.RESUME, never, ACTOR, NOW).decision is Decision.PRECONDITION_FAILED


def test_refused_write_applied_answers_412_and_writes_anyway(tmp_path: Path) -> None:
    store = faulty(tmp_path, "refused_write_applied")
    run = seeded(store, version=4)
    assert store.apply(run.id, Action.RESUME, Precondition(frozenset({3})), ACTOR, NOW).decision is Decision.PRECONDITION_FAILED
    assert (store.get(run.id).status, store.get(run.id).version) == ("live", 5)


def test_complete_no_version_bump_changes_the_status_only(tmp_path: Path) -> None:
    store = faulty(tmp_path, "complete_no_version_bump")
    run = seeded(store, status="live", version=4)
    assert store.apply(run.id, Action.COMPLETE, current(run), ACTOR, NOW).decision is Decision.CHANGED
    assert store.get(run.id) == dataclasses.replace(run, status="completed")


def test_goal_reached_resumable_lets_equal_completes_through(tmp_path: Path) -> None:
    store = faulty(tmp_path, "goal_reached_resumable")
    at_goal, past_goal = seeded(store, completes=100), seeded(store, completes=101)
    assert store.apply(at_goal.id, Action.RESUME, current(at_goal), ACTOR, NOW).decision is Decision.CHANGED
    assert store.apply(past_goal.id, Action.RESUME, current(past_goal), ACTOR, NOW).decision is Decision.INVALID_STATE


def test_end_date_calendar_day_resumes_a_run_that_ended_earlier_today(tmp_path: Path) -> None:
    store = faulty(tmp_path, "end_date_calendar_day")
    today = seeded(store, end_fielding_at=format_time(NOW - timedelta(hours=1)))
    yesterday = seeded(store, end_fielding_at=format_time(NOW - timedelta(days=1)))
    assert store.apply(today.id, Action.RESUME, current(today), ACTOR, NOW).decision is Decision.CHANGED
    assert store.apply(yesterday.id, Action.RESUME, current(yesterday), ACTOR, NOW).decision is Decision.INVALID_STATE


@pytest.mark.parametrize("now, ended", [
    (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 1, 11, 0, tzinfo=UTC)),
    (datetime(2026, 3, 1, 0, 20, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),  # not yesterday
    (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
])
def test_the_seeded_end_date_run_ended_earlier_today(now: datetime, ended: datetime) -> None:
    run = run_from_spec({"role": "end_date_passed"}, {"main": "101"}, now=now)
    assert parse_time(run.end_fielding_at) == ended
    assert run.end_date_passed(now)


# --------------------------------------------------------------------------- the fielding run's other writes

def test_a_run_change_that_lost_the_race_on_its_snapshot_is_refused(make_store, monkeypatch) -> None:
    """A decides an update on v1; before A writes, B updates the run (v2). A's conditional UPDATE
    must change nothing: B's dates stay."""
    a, b = make_store(), make_store()
    run = seeded(a, status="live", version=1)
    original = a._changed
    fired = []

    def interleaved(*args, **kwargs):
        result = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            assert b.change(run.id, Change.UPDATE, current(run), "b", {"end_fielding_at": "2099-01-01T00:00:00Z"},
                            now=NOW).decision is Decision.CHANGED
        return result

    monkeypatch.setattr(a, "_changed", interleaved)
    outcome = a.change(run.id, Change.UPDATE, current(run), "a", {"end_fielding_at": "2098-01-01T00:00:00Z"}, now=NOW)
    assert fired and outcome.decision is Decision.PRECONDITION_FAILED
    final = b.get(run.id)
    assert (final.version, final.end_fielding_at, final.last_changed_by) == (2, "2099-01-01T00:00:00.000Z", "b")


@pytest.mark.parametrize(("status", "change", "decision", "to"), [
    ("scheduled", Change.LAUNCH_NOW, Decision.CHANGED, "live"),
    ("live", Change.LAUNCH_NOW, Decision.INVALID_STATE, None),
    ("completed", Change.RELAUNCH, Decision.CHANGED, "live"),
    ("paused", Change.RELAUNCH, Decision.INVALID_STATE, None),
    ("completed", Change.UPDATE, Decision.INVALID_STATE, None),
    ("paused", Change.UPDATE, Decision.CHANGED, "paused"),
])
def test_launch_relaunch_and_update_by_status(store: Store, status: str, change: Change, decision: Decision, to: str | None) -> None:
    run = seeded(store, status=status, version=3)
    raw = raw_row(store, run.id)
    outcome = store.change(run.id, change, current(run), "actor", {}, now=NOW)
    assert outcome.decision is decision, outcome.reason
    if to is None:
        assert_unchanged(store, run, raw)
        return
    after = store.get(run.id)
    assert (after.status, after.version, after.last_changed_by) == (to, 4, "actor")
    if change is Change.LAUNCH_NOW:
        assert after.start_fielding_at == format_time(NOW)


def test_a_stale_run_change_is_refused_and_changes_nothing(store: Store) -> None:
    run = seeded(store, status="scheduled", version=2)
    raw = raw_row(store, run.id)
    for change in Change:
        assert store.change(run.id, change, Precondition(frozenset({1})), "x", {}, now=NOW).decision is Decision.PRECONDITION_FAILED
    assert_unchanged(store, run, raw)


@pytest.mark.parametrize(("fields", "dates"), [
    ({"completes": 100, "completes_goal": 100}, {}),
    ({"end_fielding_at": format_time(NOW - timedelta(seconds=1))}, {}),
])
def test_relaunch_is_refused_when_the_goal_or_end_date_forbid(store: Store, fields, dates) -> None:
    run = seeded(store, status="completed", **fields)
    assert store.change(run.id, Change.RELAUNCH, current(run), "x", dates, now=NOW).decision is Decision.INVALID_STATE


def test_an_update_with_a_new_start_in_the_past_or_an_end_before_its_start_is_a_bad_request(store: Store) -> None:
    run = seeded(store, status="live")
    past = format_time(NOW - timedelta(minutes=1))
    assert store.change(run.id, Change.UPDATE, current(run), "x", {"start_fielding_at": past}, now=NOW).decision is Decision.BAD_REQUEST
    later, earlier = format_time(NOW + timedelta(days=2)), format_time(NOW + timedelta(days=1))
    bad = {"start_fielding_at": later, "end_fielding_at": earlier}
    assert store.change(run.id, Change.UPDATE, current(run), "x", bad, now=NOW).decision is Decision.BAD_REQUEST
    # the run's own start, in the past, sent back: no new start
    own = {"start_fielding_at": run.start_fielding_at, "end_fielding_at": later}
    assert store.change(run.id, Change.UPDATE, current(run), "x", own, now=NOW).decision is Decision.CHANGED


# --------------------------------------------------------------------------- the other resources (resources.py)

@pytest.fixture
def resource_stores(tmp_path: Path):
    """Two connections to one database file, like two worker processes; the project at version 1."""
    a, b = ResourceStore(tmp_path / "r.db"), ResourceStore(tmp_path / "r.db")
    a.put(Resource("projects", "101", "P1", 1, {"name": "first"}))
    yield a, b
    a.close()
    b.close()


def test_a_stale_version_changes_nothing(resource_stores) -> None:
    a, _ = resource_stores
    assert a.write("projects", "101", "P1", Precondition(frozenset({1})), {"name": "second"}).decision is ResourceDecision.CHANGED
    stale = a.write("projects", "101", "P1", Precondition(frozenset({1})), {"name": "third"})
    assert stale.decision is ResourceDecision.PRECONDITION_FAILED
    assert a.get("projects", "101", "P1") == Resource("projects", "101", "P1", 2, {"name": "second"})
    assert a.delete("projects", "101", "P1", Precondition(frozenset({1}))).decision is ResourceDecision.PRECONDITION_FAILED
    assert a.get("projects", "0101", "P1") is not None  # 0101 is account 101


def test_two_writers_deciding_on_one_version_exactly_one_wins(resource_stores) -> None:
    """Both decide on version 1 (each its own connection), then both commit: the conditional
    UPDATE's row count lets one through."""
    a, b = resource_stores
    first = a.decide("projects", "101", "P1", Precondition(frozenset({1})), {"name": "by a"})
    second = b.decide("projects", "101", "P1", Precondition(frozenset({1})), {"name": "by b"})
    assert first.decision is second.decision is ResourceDecision.CHANGED
    assert first.resource and second.resource
    assert [a.commit(first.seen_version, first.resource), b.commit(second.seen_version, second.resource)] == [True, False]
    assert b.get("projects", "101", "P1") == Resource("projects", "101", "P1", 2, {"name": "by a"})


def test_two_writers_in_threads_one_wins(resource_stores) -> None:
    a, b = resource_stores
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def write(store: ResourceStore, name: str) -> None:
        barrier.wait(timeout=30)
        outcomes[name] = store.write("projects", "101", "P1", Precondition(frozenset({1})), {"name": name}).decision

    threads = [threading.Thread(target=write, args=(store, name)) for store, name in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(outcomes.values()) == {ResourceDecision.CHANGED: 1, ResourceDecision.PRECONDITION_FAILED: 1}
    assert a.get("projects", "101", "P1").version == 2


def test_a_delete_decided_on_a_version_another_write_moved_on_deletes_nothing(resource_stores, monkeypatch) -> None:
    a, b = resource_stores
    original = a.get

    def then_b_writes(*args):
        seen = original(*args)
        b.write("projects", "101", "P1", Precondition(frozenset({1})), {"name": "by b"})
        return seen

    monkeypatch.setattr(a, "get", then_b_writes)
    assert a.delete("projects", "101", "P1", Precondition(frozenset({1}))).decision is ResourceDecision.PRECONDITION_FAILED
    assert b.get("projects", "101", "P1") == Resource("projects", "101", "P1", 2, {"name": "by b"})


def test_created_resources_get_new_ulids_at_version_1(tmp_path: Path) -> None:
    store = ResourceStore(tmp_path / "r.db")
    made = [store.create("webhooks", "101", {"url": "https://x.example", "id": "mine"}) for _ in range(2)]
    assert made[0].key != made[1].key and all(re.fullmatch("[0-9A-Z]{26}", m.key) and m.version == 1 for m in made)
    assert made[0].body == {"url": "https://x.example"}  # an id is not the body's to set
    store.close()
