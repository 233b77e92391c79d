"""The linearizability checker (fieldproof.linearizability) against hand-made and generated histories.

Generated histories come from a simulated correct server written here (not from the model):
a history it produces is linearizable by construction, and a mutation of one answer that no
server could give (two 204s for one If-Match tag, a read from the future, a stale read) must
be caught, with the mutated operation in the counterexample.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fieldproof import model
from fieldproof.linearizability import Analysis, Entry, analyse, describe
from fieldproof.model import TRANSITIONS, Observation, RunState


def T(n: int | str) -> str:
    return f'W/"{n}"'


def op(client: str, call: float, ret: float | None, operation: str, if_match: str | None = None,
       status: int | None = 200, etag: str | None = None, run_status: str | None = None) -> Entry:
    return Entry(client, call, ret, Observation(operation, if_match, status, etag, run_status))


def get(client: str, call: float, ret: float, etag: str, run_status: str | None = None) -> Entry:
    return op(client, call, ret, "get", None, 200, etag, run_status)


def write(client: str, call: float, ret: float | None, operation: str, if_match: str | None,
          status: int | None, etag: str | None = None) -> Entry:
    return op(client, call, ret, operation, if_match, status, etag)


PAUSED = RunState("paused", T(1))
LIVE = RunState("live", T(1))


def replay_ok(ops: list[Entry], initial: RunState) -> bool:
    """Does this sequence run through the model (any of its branches)?"""
    states = {initial}
    for o in ops:
        states = {s2 for s in states for s2 in model.step(s, o.observation)}
        if not states:
            return False
    return True


def respects_real_time(ops: list[Entry]) -> bool:
    """No operation is placed after one that was called after it returned."""
    earliest_return_after = float("inf")  # the earliest return among the operations placed later
    for o in reversed(ops):
        if earliest_return_after < o.call:
            return False
        if not o.unknown and o.ret is not None:
            earliest_return_after = min(earliest_return_after, o.ret)
    return True


def assert_valid_linearization(history: list[Entry], verdict: Analysis, initial: RunState) -> None:
    assert verdict.ok is True, verdict.explain()
    lin = verdict.linearization
    assert lin is not None
    answered = [o for o in history if not o.unknown]
    assert sorted(map(id, (o for o in lin if not o.unknown))) == sorted(map(id, answered))
    assert all(any(o is h for h in history) for o in lin)
    assert len({id(o) for o in lin}) == len(lin)
    assert respects_real_time(lin)
    assert replay_ok(lin, initial)


def assert_not_linearizable(history: list[Entry], initial: RunState, *must: Entry) -> Analysis:
    verdict = analyse(history, initial)
    assert verdict.ok is False, verdict.explain()
    ce = verdict.counterexample
    assert ce, "a failing verdict has a counterexample"
    assert all(any(c is h for h in history) for c in ce)
    for m in must:
        assert any(c is m for c in ce), f"{describe(m)} missing from the counterexample:\n{verdict.timeline()}"
    # the counterexample alone is not linearizable either
    assert analyse(ce, initial).ok is False
    return verdict


# --------------------------------------------------------------------------------------------
# sequential histories


def test_a_sequential_history_that_follows_the_model_is_linearizable() -> None:
    history = [
        get("a", 0, 1, T(1), "paused"),
        write("a", 2, 3, "resume", T(1), 204, T(2)),
        get("a", 4, 5, T(2), "live"),
        write("a", 6, 7, "pause", T(1), 412),  # stale tag
        write("a", 8, 9, "pause", T(2), 429),  # rate limited: nothing changes
        write("a", 10, 11, "pause", T(2), 204, T(3)),
        write("a", 12, 13, "pause", T(3), 422),  # already paused
        get("a", 14, 15, T(3), "paused"),
        write("a", 16, 17, "complete", T(3), 204, T(4)),
        write("a", 18, 19, "resume", T(4), 422),  # completed
        get("a", 20, 21, T(4), "completed"),
    ]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)
    assert verdict.linearization == history  # sequential: only one order
    assert "Linearizable" in verdict.explain()


def test_a_run_whose_goal_is_reached_answers_resume_with_422() -> None:
    done = RunState("paused", T(1), resumable=False)
    assert analyse([write("a", 0, 1, "resume", T(1), 422)], done).ok is True
    bad = write("a", 0, 1, "resume", T(1), 204, T(2))
    verdict = assert_not_linearizable([get("a", -2, -1, T(1), "paused"), bad], done, bad)
    assert [describe(o) for o in verdict.counterexample] == [describe(bad)]


@pytest.mark.parametrize(
    "wrong",
    [
        get("a", 2, 3, T(2), "paused"),  # the resume made it live
        get("a", 2, 3, T(1), "live"),  # the tag changed
        write("a", 2, 3, "pause", T(2), 412),  # T(2) is current
        write("a", 2, 3, "pause", T(1), 204, T(3)),  # T(1) is stale
        write("a", 2, 3, "resume", T(2), 204, T(3)),  # live: no transition (204 no-op keeps the tag)
        write("a", 2, 3, "pause", T(2), 500),  # not an answer of a correct server
    ],
    ids=["status", "tag", "412-on-current", "204-on-stale", "resume-live-new-tag", "500"],
)
def test_a_wrong_answer_in_a_sequential_history_is_the_counterexample(wrong: Entry) -> None:
    first = write("a", 0, 1, "resume", T(1), 204, T(2))
    verdict = assert_not_linearizable([first, wrong], PAUSED, wrong)
    assert len(verdict.counterexample) <= 2


def test_an_empty_history_is_linearizable() -> None:
    verdict = analyse([], PAUSED)
    assert verdict.ok is True and verdict.linearization == []


# --------------------------------------------------------------------------------------------
# classic concurrent cases


@pytest.mark.parametrize("winner_first", [True, False])
def test_two_overlapping_resumes_with_one_tag_one_204_one_412(winner_first: bool) -> None:
    a = write("a", 0, 10, "resume", T(1), 204, T(2))
    b = write("b", 1, 5, "resume", T(1), 412)
    history = [a, b] if winner_first else [b, a]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)


def test_two_overlapping_resumes_with_one_tag_both_204_is_not_linearizable() -> None:
    a = write("a", 0, 10, "resume", T(1), 204, T(2))
    b = write("b", 1, 5, "resume", T(1), 204, T(3))
    verdict = assert_not_linearizable([a, b], PAUSED, a, b)
    assert len(verdict.counterexample) == 2
    # with noise around them, the counterexample is still those two
    noise = [get("c", -3, -2, T(1), "paused"), write("c", 2, 3, "pause", T(1), 412), get("d", 20, 21, T(2))]
    verdict = assert_not_linearizable([*noise, a, b], PAUSED, a, b)
    assert len(verdict.counterexample) == 2


@pytest.mark.parametrize("seen", [T(1), T(2)], ids=["old", "new"])
def test_a_get_overlapping_a_write_may_see_the_old_or_the_new_tag(seen: str) -> None:
    w = write("a", 0, 10, "resume", T(1), 204, T(2))
    g = get("b", 2, 4, seen)
    verdict = analyse([w, g], PAUSED)
    assert_valid_linearization([w, g], verdict, PAUSED)
    assert [o is g for o in verdict.linearization] == ([True, False] if seen == T(1) else [False, True])


def test_a_get_after_a_204_returned_that_shows_the_old_tag_is_a_stale_read() -> None:
    w = write("a", 0, 10, "resume", T(1), 204, T(2))
    g = get("b", 11, 12, T(1))
    verdict = assert_not_linearizable([w, g], PAUSED, w, g)
    assert len(verdict.counterexample) == 2
    # the same GET overlapping the write by a hair is fine
    assert analyse([w, replace(g, call=9.9)], PAUSED).ok is True


def test_a_lost_update_after_an_unseen_204_is_not_linearizable() -> None:
    # a's 204 issued W/"2" (nobody saw it); b then writes with the older W/"1" and gets 204 too
    a = write("a", 0, 1, "resume", T(1), 204, T(2))
    b = write("b", 2, 3, "complete", T(1), 204, T(3))  # fine on its own (complete a paused run)
    assert analyse([b], PAUSED).ok is True
    verdict = assert_not_linearizable([a, b], PAUSED, a, b)
    assert len(verdict.counterexample) == 2


def test_real_time_order_decides() -> None:
    a = write("a", 0, 10, "resume", T(1), 204, T(2))
    b = write("b", 5, 6, "pause", T(2), 204, T(3))  # called before a returned: a can go first
    assert analyse([a, b], PAUSED).ok is True
    early = replace(b, call=-2, ret=-1)  # returned before a was called: it must go first, and fails
    assert_not_linearizable([a, early], PAUSED, early)


def test_a_call_at_the_very_moment_of_a_return_counts_as_overlapping() -> None:
    w = write("a", 0, 5, "resume", T(1), 204, T(2))
    assert analyse([w, get("b", 5, 6, T(1), "paused")], PAUSED).ok is True
    assert analyse([w, get("b", 5.001, 6, T(1), "paused")], PAUSED).ok is False


def test_a_429_changed_nothing() -> None:
    throttled = write("a", 0, 1, "resume", T(1), 429)
    assert analyse([throttled, get("b", 2, 3, T(1), "paused")], PAUSED).ok is True
    changed = get("b", 2, 3, T(1), "live")
    assert_not_linearizable([throttled, changed], PAUSED, changed)


# --------------------------------------------------------------------------------------------
# operations without an answer


def test_a_timed_out_write_then_a_get_showing_it_took_effect() -> None:
    lost = write("a", 0, None, "resume", T(1), None)
    g = get("b", 5, 6, T(2), "live")
    verdict = analyse([lost, g], PAUSED)
    assert_valid_linearization([lost, g], verdict, PAUSED)
    assert verdict.linearization[0] is lost  # it took effect, before the GET
    assert "1 of the 1 operation without an answer took effect" in verdict.explain()


def test_a_timed_out_write_then_a_get_showing_it_did_not() -> None:
    lost = write("a", 0, None, "resume", T(1), None)
    g = get("b", 5, 6, T(1), "paused")
    verdict = analyse([lost, g], PAUSED)
    assert_valid_linearization([lost, g], verdict, PAUSED)
    assert verdict.linearization == [g]  # never placed: it had no effect


def test_a_timed_out_write_may_take_effect_after_later_requests() -> None:
    # no return bound: the server may act on it after the client gave up (ret is ignored)
    lost = write("a", 0, 1, "resume", T(1), None)
    history = [lost, get("b", 5, 6, T(1), "paused"), get("b", 7, 8, T(2), "live")]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)
    assert verdict.linearization.index(lost) == 1


def test_a_timed_out_write_cannot_explain_everything() -> None:
    lost = write("a", 0, None, "resume", T(1), None)
    wrong = get("b", 5, 6, T(2), "paused")  # it took effect (new tag) but the run is not live
    assert_not_linearizable([lost, wrong], PAUSED, wrong)
    stale = write("a", 0, None, "resume", T(7), None)  # a tag that was never current: no effect possible
    assert_not_linearizable([stale, get("b", 5, 6, T(2), "live")], PAUSED)


def test_a_timed_out_write_sent_after_a_get_returned_cannot_explain_it() -> None:
    g = get("b", 0, 1, T(2), "live")
    lost = write("a", 2, None, "resume", T(1), None)
    assert_not_linearizable([g, lost], PAUSED, g)
    assert analyse([replace(g, ret=3), lost], PAUSED).ok is True  # overlapping: it can


def test_two_timed_out_writes_in_a_row() -> None:
    # once one took effect the model no longer knows the tag: the second may match it
    history = [write("a", 0, None, "resume", T(1), None), write("b", 1, None, "pause", T(2), None),
               get("c", 5, 6, T(3), "paused")]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)
    assert len(verdict.linearization) == 3


def test_a_run_whose_tag_is_unknown_at_the_start() -> None:
    vague = RunState("paused", None)
    lost = write("a", 0, None, "resume", T(1), None)
    g = get("c", 0.5, 0.6, T(1), "paused")  # the tag is learnt here
    # possible only if the lost resume took effect after the GET (a pause of the paused run may
    # be a 204 no-op, an open question, but a no-op would keep the tag W/"1")
    p = write("b", 1, 2, "pause", T(1), 204, T(2))
    verdict = analyse([lost, g, p], vague)
    assert_valid_linearization([lost, g, p], verdict, vague)
    assert verdict.linearization == [g, lost, p]


def test_a_204_without_etag_is_not_taken_for_a_no_op_too_early() -> None:
    # resuming the live run with its tag is a 204 no-op (an open question the model allows), but
    # after the pause (whose 204 did not say the new tag either) the same answer is a real resume
    x = write("a", 0, 10, "resume", T(1), 204)
    p = write("b", 1, 2, "pause", T(1), 204)
    g = get("c", 8, 9, T(5), "live")
    verdict = analyse([x, p, g], LIVE)
    assert_valid_linearization([x, p, g], verdict, LIVE)
    assert verdict.linearization == [p, x, g]


def test_timed_out_writes_are_not_interchangeable_when_their_tag_comes_back() -> None:
    # the tag is unknown at first: either timed-out pause fits there, but only the one with
    # If-Match W/"5" can act again later, when the resume has made W/"5" the known tag
    vague = RunState("live", None)
    keep = write("a", 0, None, "pause", T(5), None)
    spare = write("b", 0.1, None, "pause", T(9), None)
    history = [keep, spare, get("c", 1, 2, T(3), "paused"), write("c", 3, 4, "resume", T(3), 204, T(5)),
               get("c", 6, 7, T(7), "paused")]
    verdict = analyse(history, vague)
    assert_valid_linearization(history, verdict, vague)
    assert verdict.linearization.index(spare) < verdict.linearization.index(keep)


def test_which_timed_out_writes_are_left_matters() -> None:
    # a configuration reached with more timed-out writes used up does not cover one reached
    # with fewer: here the resume with If-Match W/"8" must still be free at the end
    r = write("a", 0, 10, "resume", T(1), 204, T(2))
    v = write("b", 1, None, "pause", T(2), None)
    x = write("c", 2, None, "resume", T(8), None)
    w = write("d", 3, None, "pause", T(3), None)
    u = write("e", 4, None, "resume", T(4), None)
    rr = write("a", 11, 12, "pause", T(7), 204, T(8))
    g = get("a", 13, 14, T(20), "live")
    history = [r, v, x, w, u, rr, g]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)
    assert verdict.linearization[-2:] == [x, g]


def test_timed_out_writes_naming_a_tag_learnt_later() -> None:
    # found by a random search: configurations that differ only in how many timed-out writes
    # of one kind they used up must not be taken for one another
    vague = RunState("paused", None)
    history = [
        write("a", 1, 5, "resume", T(2), 204),  # no ETag: the tag stays unknown
        write("b", 2, None, "pause", T(2), None),
        get("c", 5, 6, T(2), "paused"),
        write("b", 6, None, "resume", T(2), None),
        op("c", 8, 14, "get", None, 200, None, "paused"),  # no ETag
    ]
    verdict = analyse(history, vague)
    assert_valid_linearization(history, verdict, vague)


def test_a_history_may_end_with_writes_that_never_took_effect() -> None:
    history = [write("a", 0, 1, "resume", T(1), 204, T(2)), write("b", 2, None, "pause", T(9), None),
               write("c", 3, None, "pause", T(2), None)]
    verdict = analyse(history, PAUSED)
    assert_valid_linearization(history, verdict, PAUSED)


# --------------------------------------------------------------------------------------------
# the checker's limits and its output


def test_max_states_gives_an_inconclusive_verdict() -> None:
    history = [write(c, 0, 10, "resume", T(9), 412) for c in "abc"] + [get("d", 0, 10, T(5))]
    verdict = analyse(history, PAUSED, max_states=1)
    assert verdict.ok is None
    assert verdict.linearization is None and verdict.counterexample is None
    assert "max_states=1" in verdict.explain() and "inconclusive" in verdict.timeline()
    with pytest.raises(ValueError):
        analyse(history, PAUSED, max_states=0)
    with pytest.raises(ValueError):
        analyse([get("a", 5, 4, T(1))], PAUSED)


def test_the_counterexample_of_a_long_history_is_small_and_holds_the_bad_operation() -> None:
    history, initial, _ = simulate(50, seed=3, clients=4, p_timeout=0.0)
    assert analyse(history, initial).ok is True
    ordered = sorted(history, key=lambda o: o.call)
    middle = ordered[15:35]
    # flip a 412 whose tag another write won with into a second 204 for that tag
    winners = {o.observation.if_match for o in ordered if o.observation.status == 204
               and o.observation.etag != o.observation.if_match}
    loser = next(o for o in middle if o.observation.status == 412 and o.observation.if_match in winners)
    bad = replace(loser, observation=replace(loser.observation, status=204, etag=T("bad")))
    mutated = [bad if o is loser else o for o in history]
    assert len(mutated) == 50
    verdict = assert_not_linearizable(mutated, initial, bad)
    assert len(verdict.counterexample) <= 5
    timeline = verdict.timeline()
    lines = timeline.splitlines()
    assert len(lines) >= 3 + len(verdict.counterexample)
    for o in verdict.counterexample:
        assert any(line.startswith(o.client) for line in lines), timeline
        assert describe(o) in timeline
    explanation = verdict.explain()
    assert explanation.startswith("Not linearizable") and "\n" not in explanation
    assert describe(bad) in explanation
    # deterministic
    again = analyse(mutated, initial)
    assert [id(o) for o in again.counterexample] == [id(o) for o in verdict.counterexample]


def test_timeline_draws_lanes_on_one_time_axis() -> None:
    a = write("alpha", 0.0, 0.004, "resume", T(1), 204, T(2))
    b = write("beta", 0.001, 0.002, "resume", T(1), 204, T(3))
    c = write("gamma", 0.0005, None, "pause", T(1), None)
    verdict = analyse([a, b, c], PAUSED)
    text = verdict.timeline()
    lines = text.splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in ("alpha", "beta", "gamma")}
    assert set(rows) == {"alpha", "beta"}  # the unknown write is not in the counterexample
    assert rows["alpha"].index("[") < rows["beta"].index("[") < rows["beta"].index("]") < rows["alpha"].index("]")
    assert "ms" in lines[0]
    # a linearizable history is drawn too (in call order, numbered by its place in the order),
    # an operation without an answer as [--->?
    lost = write("gamma", 0.0, None, "resume", T(1), None)
    ok = analyse([lost, get("beta", 0.002, 0.003, T(2), "live")], PAUSED)
    assert ok.ok is True
    drawn = ok.timeline()
    assert ">?" in drawn and "#1 resume" in drawn and "#2 get" in drawn, drawn
    assert analyse([c], PAUSED).timeline()  # nothing placed: still a string


# --------------------------------------------------------------------------------------------
# what the checker assumes of the model (a change of model.py that breaks these breaks the search)

GRID_STATES = [
    RunState(status, etag, resumable)
    for status in ("scheduled", "live", "paused", "completed")
    for etag in (T(1), None)
    for resumable in (True, False)
]
GRID_OBSERVATIONS = [
    Observation(operation, if_match, status, etag, run_status)
    for operation in ("get", "pause", "resume", "complete")
    for if_match in (T(1), T(2), None, "*")
    for status in (200, 204, 400, 412, 422, 429, 500, None)
    for etag in (T(1), T(2), None)
    for run_status in (None, "live", "paused")
]


def _learnt_only(before: RunState, after: RunState) -> bool:
    return after == before or (before.etag is None and replace(after, etag=None) == before)


def test_model_changes_the_run_only_with_the_current_tag_or_an_unknown_one() -> None:
    # the search looks the unanswered writes up by If-Match
    for state, seen in itertools.product(GRID_STATES, GRID_OBSERVATIONS):
        if seen.if_match in (None, "*"):
            continue  # asked in every state anyway
        for after in model.step(state, seen):
            if not _learnt_only(state, after):
                assert state.etag is None or seen.if_match == state.etag, (state, seen, after)


def test_model_gets_412_422_429_never_change_the_run() -> None:
    # the search places such an answer as soon as it is possible, and the counterexample
    # search leaves them out
    for state, seen in itertools.product(GRID_STATES, GRID_OBSERVATIONS):
        if seen.operation == "get" or seen.status in (412, 422, 429):
            for after in model.step(state, seen):
                assert _learnt_only(state, after), (state, seen, after)


def test_model_accepts_at_least_as_much_with_an_unknown_tag() -> None:
    # placing a GET early may leave a tag unknown where a later GET would have learnt it
    for state, seen in itertools.product(GRID_STATES, GRID_OBSERVATIONS):
        if state.etag is None:
            continue
        vague = replace(state, etag=None)
        widened = model.step(vague, seen)
        for after in model.step(state, seen):
            assert after in widened or replace(after, etag=None) in widened, (state, seen, after)


# --------------------------------------------------------------------------------------------
# a simulated correct server (written here, not taken from the model)


class ToyServer:
    """One run as a correct server keeps it. `state_first`: the 422 gate before the 412 one;
    `noop_resume`: resuming a live run is a 204 that changes nothing (else 422)."""

    def __init__(self, status: str = "paused", resumable: bool = True, state_first: bool = False,
                 noop_resume: bool = False) -> None:
        self.status, self.version, self.resumable = status, 1, resumable
        self.state_first, self.noop_resume = state_first, noop_resume

    @property
    def tag(self) -> str:
        return T(self.version)

    def state(self) -> RunState:
        return RunState(self.status, self.tag, self.resumable)

    def answer(self, operation: str, if_match: str | None) -> tuple[int, str | None, str | None]:
        if operation == "get":
            return 200, self.tag, self.status
        sources, target = TRANSITIONS[operation].sources, TRANSITIONS[operation].to
        noop = operation == "resume" and self.status == "live" and self.noop_resume
        allowed = noop or (self.status in sources and (operation != "resume" or self.resumable))
        if self.state_first and not allowed:
            return 422, None, None
        if if_match != self.tag:
            return 412, None, None
        if not allowed:
            return 422, None, None
        if not noop:
            self.status, self.version = target, self.version + 1
        return 204, self.tag, None


def simulate(
    n_ops: int, seed: int, clients: int = 8, p_timeout: float = 0.01, p_429: float = 0.02, p_complete: float = 0.01,
    **server_options: bool,
) -> tuple[list[Entry], RunState, ToyServer]:
    """Concurrent clients (each: GET, or a write with the tag it saw last) against one server;
    a request takes effect at a random moment between its call and its return."""
    rng = random.Random(seed)
    server = ToyServer(**server_options)
    initial = server.state()
    known: list[tuple[str | None, str | None]] = [(None, None)] * clients
    queue: list[tuple[float, int, str, int, tuple]] = []
    counter = itertools.count()
    for k in range(clients):
        heapq.heappush(queue, (rng.uniform(0, 1), next(counter), "send", k, ()))
    sent, history = 0, []
    while queue:
        t, _, kind, k, payload = heapq.heappop(queue)
        if kind == "send":
            if sent == n_ops:
                continue
            sent += 1
            tag, status = known[k]
            if tag is None or rng.random() < 0.4:
                operation, if_match = "get", None
            else:
                operation = {"live": "pause", "paused": "resume"}.get(status or "", "resume")
                if rng.random() < 0.1:
                    operation = rng.choice(("pause", "resume"))
                if rng.random() < p_complete:
                    operation = "complete"
                if_match = tag if rng.random() < 0.9 else T(rng.randint(1, server.version + 1))
            heapq.heappush(queue, (t + rng.uniform(0.1, 2), next(counter), "apply", k, (t, operation, if_match)))
        elif kind == "apply":
            call, operation, if_match = payload
            if rng.random() < p_timeout:
                if rng.random() < 0.5:
                    server.answer(operation, if_match)
                history.append(write(f"c{k}", call, None, operation, if_match, None))
                heapq.heappush(queue, (t + 5, next(counter), "send", k, ()))
                continue
            if rng.random() < p_429:
                answer: tuple = (429, None, None)
            else:
                answer = server.answer(operation, if_match)
            payload = (call, operation, if_match, *answer)
            heapq.heappush(queue, (t + rng.uniform(0.1, 2), next(counter), "return", k, payload))
        else:
            call, operation, if_match, status, etag, run_status = payload
            history.append(op(f"c{k}", call, t, operation, if_match, status, etag, run_status))
            if status == 200:
                known[k] = (etag, run_status)
            elif status == 204:
                known[k] = (etag, TRANSITIONS[operation].to if etag != if_match else known[k][1])
            heapq.heappush(queue, (t + rng.uniform(0, 1), next(counter), "send", k, ()))
    return history, initial, server


# --------------------------------------------------------------------------------------------
# property tests


@dataclass(frozen=True)
class Step:
    operation: str
    tag: str  # current | previous | next (a guessed version) | garbage | none
    fate: str  # answered | throttled | lost-applied | lost-not-applied
    before: float  # call = effect time - before
    after: float  # return = effect time + after


steps = st.builds(
    Step,
    operation=st.sampled_from(["get", "get", "pause", "resume", "resume", "complete"]),
    tag=st.sampled_from(["current", "current", "current", "previous", "previous", "next", "garbage", "none"]),
    fate=st.sampled_from(["answered"] * 12 + ["throttled", "lost-applied", "lost-not-applied"]),
    before=st.floats(0, 3.5, allow_nan=False),
    after=st.floats(0, 3.5, allow_nan=False),
)
servers = st.fixed_dictionaries({
    "status": st.sampled_from(["paused", "paused", "live", "scheduled"]),
    "resumable": st.booleans(),
    "state_first": st.booleans(),
    "noop_resume": st.booleans(),
})


def sequential_then_jittered(plan: list[Step], options: dict, lost: bool = True) -> tuple[list[Entry], RunState]:
    """Run `plan` one request at a time on a ToyServer (request k takes effect at time k), then
    widen every interval around its effect time and give the requests to clients."""
    server = ToyServer(**options)
    initial = server.state()
    timed: list[tuple[float, float | None, Observation]] = []
    for k, s in enumerate(plan):
        fate = s.fate if lost else ("answered" if s.fate.startswith("lost") else s.fate)
        if_match = {"current": server.tag, "previous": T(max(1, server.version - 1)), "next": T(server.version + 1),
                    "garbage": T("x"), "none": None}[s.tag] if s.operation != "get" else None
        effect = float(k)
        if fate == "throttled":
            seen = Observation(s.operation, if_match, 429)
        elif fate.startswith("lost"):
            if fate == "lost-applied":
                server.answer(s.operation, if_match)
            seen = Observation(s.operation, if_match, None)
        else:
            status, etag, run_status = server.answer(s.operation, if_match)
            seen = Observation(s.operation, if_match, status, etag, run_status)
        ret = None if seen.status is None else effect + s.after
        timed.append((effect - s.before, ret, seen))
    # clients: the first whose previous request has returned (an unanswered one holds it forever)
    free_at: list[float] = []
    history = []
    for call, ret, seen in sorted(timed, key=lambda x: x[0]):
        lane = next((c for c, t in enumerate(free_at) if t < call), None)
        if lane is None:
            free_at.append(0.0)
            lane = len(free_at) - 1
        free_at[lane] = float("inf") if ret is None else ret
        history.append(Entry(f"c{lane}", call, ret, seen))
    return history, initial


@settings(max_examples=150, deadline=None)
@given(plan=st.lists(steps, max_size=40), options=servers)
def test_a_correct_server_history_with_overlaps_is_linearizable(plan: list[Step], options: dict) -> None:
    history, initial = sequential_then_jittered(plan, options)
    verdict = analyse(history, initial)
    assert_valid_linearization(history, verdict, initial)


def _mutations(history: list[Entry]) -> list[tuple[str, Entry, Entry]]:
    """(kind, original, mutated) for answers no correct server can give in this history."""
    out = []
    changes = [o for o in history if o.observation.status == 204 and o.observation.etag != o.observation.if_match]
    won = {o.observation.if_match for o in changes}
    for o in history:
        seen = o.observation
        if seen.status == 412 and seen.if_match in won:
            out.append(("second-204", o, replace(o, observation=replace(seen, status=204, etag=T("mut")))))
        if seen.operation == "get" and seen.status == 200:
            for w in changes:
                if w.call > o.ret:
                    out.append(("future-read", o, replace(o, observation=replace(seen, etag=w.observation.etag))))
                if o.call > w.ret:
                    out.append(("stale-read", o, replace(o, observation=replace(seen, etag=w.observation.if_match))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(plan=st.lists(steps, min_size=6, max_size=40), options=servers, data=st.data())
def test_an_impossible_answer_is_caught(plan: list[Step], options: dict, data: st.DataObject) -> None:
    # no unanswered requests here: after one the model no longer knows the tag (anything goes)
    history, initial = sequential_then_jittered(plan, options, lost=False)
    candidates = _mutations(history)
    assume(candidates)
    kind, original, mutated = data.draw(st.sampled_from(candidates), label="mutation")
    bad = [mutated if o is original else o for o in history]
    verdict = assert_not_linearizable(bad, initial, mutated)
    assert verdict.counterexample is not None and len(verdict.counterexample) <= len(bad)


# tiny arbitrary histories (most of them wrong), against a brute force over every order

tiny_ops = st.builds(
    lambda client, operation, if_match, status, etag, run_status, call, length, answered: Entry(
        client, float(call), float(call + length) if answered else None,
        Observation(operation, if_match, status if answered else None, etag, run_status)),
    client=st.sampled_from(["a", "b", "c"]),
    operation=st.sampled_from(["get", "pause", "resume", "complete"]),
    if_match=st.sampled_from([T(1), T(2), T(3), None]),
    status=st.sampled_from([200, 204, 204, 412, 422, 429]),
    etag=st.sampled_from([T(1), T(2), T(3), None]),
    run_status=st.sampled_from([None, None, "live", "paused"]),
    call=st.integers(0, 8),
    length=st.integers(0, 4),
    answered=st.sampled_from([True, True, False]),
)
tiny_initial = st.builds(RunState, st.sampled_from(["live", "paused", "completed"]),
                         st.sampled_from([T(1), T(2), None]), st.booleans())


def brute_force(history: list[Entry], initial: RunState) -> bool:
    answered = [o for o in history if not o.unknown]
    unknown = [o for o in history if o.unknown]
    for r in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, r):
            for order in itertools.permutations([*answered, *chosen]):
                if respects_real_time(list(order)) and replay_ok(list(order), initial):
                    return True
    return False


@settings(max_examples=500, deadline=None)
@given(history=st.lists(tiny_ops, max_size=6), initial=tiny_initial)
def test_the_checker_agrees_with_a_brute_force_on_tiny_histories(history: list[Entry], initial: RunState) -> None:
    verdict = analyse(history, initial)
    assert verdict.ok is brute_force(history, initial)
    if verdict.ok:
        assert_valid_linearization(history, verdict, initial)
    else:
        assert verdict.counterexample and brute_force(verdict.counterexample, initial) is False


# small histories of a correct server with one answer changed at random, against an exhaustive
# search without any of the checker's reductions


def exhaustive(history: list[Entry], initial: RunState) -> bool:
    """Every order, memoised on (operations placed, state): unknown ops anywhere after their call, or never."""
    ops = list(history)
    answered = frozenset(k for k, o in enumerate(ops) if not o.unknown)
    ends = [float("inf") if o.unknown or o.ret is None else o.ret for o in ops]
    failed: set[tuple[frozenset[int], RunState]] = set()

    def search(placed: frozenset[int], state: RunState) -> bool:
        if answered <= placed:
            return True
        if (placed, state) in failed:
            return False
        bound = min(ends[k] for k in answered - placed)
        for k, o in enumerate(ops):
            if k not in placed and o.call <= bound:
                if any(search(placed | {k}, after) for after in set(model.step(state, o.observation))):
                    return True
        failed.add((placed, state))
        return False

    return search(frozenset(), initial)


changes = st.tuples(
    st.integers(0, 100),
    st.sampled_from(["status", "etag", "if_match", "run_status", "ret"]),
    st.sampled_from([204, 412, 422, 200, None]),
    st.sampled_from([T(1), T(2), T(3), T(4), None]),
    st.sampled_from(["live", "paused", "completed"]),
    st.floats(0, 1, allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(plan=st.lists(steps, max_size=10), options=servers, change=st.none() | changes, vague=st.booleans())
def test_the_checker_agrees_with_an_exhaustive_search(plan: list[Step], options: dict, change, vague: bool) -> None:
    history, initial = sequential_then_jittered(plan, options)
    if vague:
        initial = replace(initial, etag=None)
    if change is not None and history:
        k, what, status, tag, run_status, fraction = change
        k %= len(history)
        o = history[k]
        seen = {"status": replace(o.observation, status=status), "etag": replace(o.observation, etag=tag),
                "if_match": replace(o.observation, if_match=tag),
                "run_status": replace(o.observation, run_status=run_status)}.get(what, o.observation)
        o = replace(o, observation=seen)
        if what == "ret" and o.ret is not None:
            o = replace(o, ret=o.call + fraction)
        history = [*history[:k], o, *history[k + 1 :]]
    verdict = analyse(history, initial)
    assert verdict.ok is exhaustive(history, initial)
    if verdict.ok:
        assert_valid_linearization(history, verdict, initial)
    else:
        assert verdict.counterexample and exhaustive(verdict.counterexample, initial) is False


# histories where the tag mostly stays unknown (answers without an ETag, many writes without
# an answer): the search's symmetry between timed-out writes works hardest there

vague_histories = st.tuples(
    st.lists(st.tuples(st.sampled_from(["pause", "resume", "complete"]), st.sampled_from([T(1), T(2), T(90), T(91)]),
                       st.integers(0, 6)), min_size=1, max_size=6),
    st.lists(st.tuples(st.sampled_from(["get", "get", "pause", "resume"]), st.sampled_from([T(1), T(2), T(3)]),
                       st.sampled_from([204, 412]), st.sampled_from([None, None, T(1), T(2)]),
                       st.sampled_from(["live", "paused"]), st.integers(0, 12), st.integers(0, 6)),
             min_size=1, max_size=6),
    st.sampled_from(["live", "paused"]),
    st.sampled_from([None, T(1)]),
)


@settings(max_examples=300, deadline=None)
@given(vague_histories)
def test_the_checker_agrees_with_an_exhaustive_search_where_the_tag_is_unknown(case) -> None:
    lost, answered, status, tag = case
    history = [write("u", call, None, operation, if_match, None) for operation, if_match, call in lost]
    for operation, if_match, code, etag, run_status, call, length in answered:
        if operation == "get":
            history.append(op("r", call, call + length, "get", None, 200, etag, run_status))
        else:
            history.append(write("r", call, call + length, operation, if_match, code, etag))
    initial = RunState(status, tag)
    verdict = analyse(history, initial)
    assert verdict.ok is exhaustive(history, initial)
    if verdict.ok:
        assert_valid_linearization(history, verdict, initial)


# --------------------------------------------------------------------------------------------
# scale


def test_ten_thousand_operations_from_eight_clients() -> None:
    history, initial, server = simulate(10_000, seed=11, clients=8, p_complete=0.0)
    assert len(history) == 10_000
    t0 = time.perf_counter()
    verdict = analyse(history, initial)
    elapsed = time.perf_counter() - t0
    assert verdict.ok is True, verdict.explain()
    assert elapsed < 60, f"{elapsed:.1f} s: pathological (bench/checker_cost.py measures the real time)"
    assert respects_real_time(verdict.linearization) and replay_ok(verdict.linearization, initial)
    # a lost update at the very end: two writes with the final tag, both 204 (impossible even if
    # an unanswered write left the tag unknown): found, and the counterexample is small
    end = max(o.ret for o in history if o.ret is not None)
    operation = {"live": "pause", "paused": "resume"}.get(server.status, "complete")
    late = [write(f"late{k}", end + 1 + k, end + 3, operation, server.tag, 204, T(f"lost{k}")) for k in range(2)]
    t0 = time.perf_counter()
    verdict = assert_not_linearizable([*history, *late], initial, *late)
    assert time.perf_counter() - t0 < 60
    assert len(verdict.counterexample) <= 5


def test_the_counterexample_search_never_asks_of_one_sub_history_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a counterexample small asks of many sub-histories whether they still fail; each is
    searched once (the prefix, the window and the drops may ask of the same one again)."""
    from fieldproof.linearizability import counterexample

    history, initial, server = simulate(2_000, seed=11, clients=8, p_complete=0.0)
    end = max(o.ret for o in history if o.ret is not None)
    operation = {"live": "pause", "paused": "resume"}.get(server.status, "complete")
    late = [write(f"late{k}", end + 1 + k, end + 3, operation, server.tag, 204, T(f"lost{k}")) for k in range(2)]
    searched: list[tuple[int, ...]] = []
    real_search = counterexample.search_entries

    def counting(real: list[Entry], optional: list[Entry], *args: Any, **kwargs: Any) -> Any:
        searched.append(tuple(id(entry) for entry in real))
        return real_search(real, optional, *args, **kwargs)

    monkeypatch.setattr(counterexample, "search_entries", counting)
    verdict = analyse([*history, *late], initial)
    assert verdict.ok is False and len(verdict.counterexample) <= 5
    assert searched and len(searched) == len(set(searched)), "a sub-history was searched more than once"
