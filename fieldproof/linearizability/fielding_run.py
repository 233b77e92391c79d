"""The fielding run's model (`fieldproof.model`) as the search's `Model`, and a history's `Entry`.

Which answers never change a run is the model's to say: `FieldingRunModel.never_changes` asks
`fieldproof.model.step`, in every status of the contract with the tag known and unknown.
tests/test_linearizability.py checks the properties of the model the search's reductions rest on,
so a change of the model that breaks them fails a test.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from fieldproof import contract
from fieldproof import model as fielding_model
from fieldproof.linearizability.checker import SearchResult, search
from fieldproof.model import Observation, RunState

_PROBE_TAGS = ('W/"probe-1"', 'W/"probe-2"')


@functools.cache
def _never_changes_the_run(operation: str, status: int | None) -> bool:
    """Does `fieldproof.model.step` say that this answer to `operation` never changes a run?

    Asked in every status of the contract, resumable or not, with the tag known and unknown, for
    every If-Match, ETag and body status the model can tell apart (it only compares tags). An
    answer the model never allows changes nothing either.
    """
    if operation not in contract.OPERATIONS:
        return False
    known, other = _PROBE_TAGS
    for run_status in contract.STATUSES:
        for etag in (known, None):
            for resumable in (True, False):
                state = RunState(run_status, etag, resumable)
                for if_match in (known, other, None, "*"):
                    for answered_tag in (known, other, None):
                        for body_status in (None, *contract.STATUSES):
                            seen = Observation(operation, if_match, status, answered_tag, body_status)
                            for after in fielding_model.step(state, seen):
                                learnt = state.etag is None and replace(after, etag=None) == state
                                if after != state and not learnt:
                                    return False
    return True


class FieldingRunModel:
    """The model of one fielding run (`fieldproof.model`) as a `Model`: states are `RunState`s,
    operations the `Observation`s of requests. A state's key is its ETag (None: unknown); an
    observation is guarded by its If-Match (none, or `*`: unguarded), may make known the ETag it
    answered, and its kind is all of it but the If-Match."""

    step = staticmethod(fielding_model.step)

    def never_changes(self, op: Observation) -> bool:
        return _never_changes_the_run(op.operation, op.status)

    # the ETag (None: unknown), read by a C getter: the search asks once per configuration
    state_key = operator.attrgetter("etag")

    def guard_key(self, op: Observation) -> str | None:
        tag = op.if_match
        return None if tag is None or tag.strip() == "*" else tag

    def new_key(self, op: Observation) -> str | None:
        return op.etag

    def kind(self, op: Observation) -> tuple[str, int | None, str | None, str | None]:
        return (op.operation, op.status, op.etag, op.run_status)

    def describe_state(self, state: RunState) -> str:
        tag = state.etag if state.etag is not None else "unknown"
        return f"{state.run_status} with ETag {tag}" + ("" if state.resumable else " (not resumable)")

    def describe_op(self, op: Observation) -> str:
        """`op If-Match -> status ETag`, e.g. `resume If-Match W/"3" -> 204 W/"4"`."""
        head = op.operation if op.operation == "get" else f"{op.operation} If-Match {op.if_match or '(none)'}"
        if op.status is None:
            return f"{head} -> no answer"
        answer = f"{head} -> {op.status}"
        if op.etag is not None:
            answer += f" {op.etag}"
        if op.run_status is not None:
            answer += f" {op.run_status}"
        return answer


FIELDING_RUN = FieldingRunModel()


@dataclass(frozen=True)
class Entry:
    """One request of one client: sent at `call`, answered at `ret` (None: no answer / unknown).

    Times are `time.monotonic()` seconds (any common clock will do).
    """

    client: str
    call: float
    ret: float | None
    observation: Observation

    @property
    def unknown(self) -> bool:
        """No answer: it may have taken effect, or not, at any time after its call."""
        return self.observation.status is None


def describe(op: Entry) -> str:
    """`op If-Match -> status ETag`, e.g. `resume If-Match W/"3" -> 204 W/"4"`."""
    return FIELDING_RUN.describe_op(op.observation)


def describe_state(state: RunState) -> str:
    return FIELDING_RUN.describe_state(state)


def may_change(op: Entry) -> bool:
    """Could this operation's recorded answer have changed the run? (else it can be left out)"""
    return not FIELDING_RUN.never_changes(op.observation)


def search_entries(
    real: Sequence[Entry],
    optional: Sequence[Entry],
    initial: RunState,
    max_states: int,
    record: bool = False,
    reusable: bool = False,
) -> SearchResult[RunState]:
    """`search` with the fielding run's model: `real` (sorted by call) must be placed, `optional`
    may be (indices in the result are into these two)."""
    required = [(op.call, op.ret, op.observation) for op in real]
    maybe = [(op.call, op.observation) for op in optional]
    return search(FIELDING_RUN, initial, required, maybe, max_states, record=record, reusable=reusable)


def call_key(ops: Sequence[Entry]) -> Callable[[Entry], tuple[float, int]]:
    """Sorts `ops` by call time, ties in their order in `ops`."""
    index = {id(op): i for i, op in enumerate(ops)}
    return lambda op: (op.call, index[id(op)])
