"""The sequential model of one fielding run, as the documented contract describes it: a
compare-and-set register holding a status and the current ETag.

One step of the model says which answers a correct server may give to one request in a given
state, and what state each answer leads to. The lifecycle state machine and the
linearizability checker both ask this model, so both judge by the same reading of the docs.
Where the docs leave a question open, the model allows every answer the question allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldproof.contract import TRANSITIONS, Effect, write_effects


@dataclass(frozen=True)
class RunState:
    run_status: str  # lower case
    etag: str | None  # None: not known (a write whose answer was lost may have changed it)
    resumable: bool = True  # the completes goal and end date allow a resume (not a run field)


@dataclass(frozen=True)
class Observation:
    """What one request saw. `status` None: no answer (timed out): it may or may not have acted."""

    operation: str  # get | pause | resume | complete
    if_match: str | None
    status: int | None
    etag: str | None = None  # the ETag answered (200 and 204)
    run_status: str | None = None  # the status a GET's body showed, lower case


def _tag_matches(state: RunState, tag: str | None) -> bool | None:
    """Does `tag` name the current version? None when the model cannot tell (state.etag unknown)."""
    if state.etag is None:
        return None
    return tag is not None and tag == state.etag


def step(state: RunState, seen: Observation) -> list[RunState]:
    """The states the run may be in after `seen`, if a correct server answered it from `state`.

    An empty list means no correct server gives this answer here: the history is wrong.
    Rate-limited (429) answers change nothing and are always possible.
    """
    if seen.status is None:  # no answer: it took effect or it did not
        taken = step(state, Observation(seen.operation, seen.if_match, 204, None)) if seen.operation != "get" else []
        return [state, *taken]
    if seen.status == 429:
        return [state]
    if seen.operation == "get":
        if seen.status != 200:
            return []
        status_ok = seen.run_status is None or seen.run_status == state.run_status
        if not status_ok:
            return []
        if state.etag is None:  # the unknown tag is learnt here
            return [RunState(state.run_status, seen.etag, state.resumable)]
        return [state] if seen.etag == state.etag else []
    effects = write_effects(seen.operation, state.run_status)
    if seen.operation == "resume" and not state.resumable and Effect.CHANGE in effects:
        effects = (effects - {Effect.CHANGE}) | {Effect.REFUSE}  # the completes goal or end date forbids it
    to = TRANSITIONS[seen.operation].to
    matches = _tag_matches(state, seen.if_match)
    outcomes: list[RunState] = []
    if seen.status == 204:
        if matches is not False and Effect.CHANGE in effects:
            if seen.etag is None or seen.etag != seen.if_match:
                outcomes.append(RunState(to, seen.etag, state.resumable))
        # a 204 no-op (resume of a live run, an open question): nothing changes, same tag
        if matches is not False and Effect.NO_OP in effects:
            if seen.etag is None or state.etag is None or seen.etag == state.etag:
                outcomes.append(RunState(state.run_status, state.etag or seen.etag, state.resumable))
    elif seen.status == 412:
        if matches is not True:
            outcomes.append(state)
    elif seen.status == 422:
        # refused by the state: with the current tag, or with a stale one (the gate order is open)
        if Effect.REFUSE in effects:
            outcomes.append(state)
    return outcomes
