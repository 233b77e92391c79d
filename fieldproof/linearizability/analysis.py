"""`analyse`: is a history of one fielding run linearizable, and if not, which small part shows it.

`analyse` gives up (`ok` None, inconclusive) rather than run on: after `max_states`
configurations, or `WORK_PER_STATE` times as many model evaluations. A correct history is usually
found linearizable by the first order tried; the cost is in proving a wrong one wrong, which must
try every order.
"""

from __future__ import annotations

import contextlib
import gc
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from fieldproof.linearizability.checker import DEFAULT_MAX_STATES, WORK_PER_STATE
from fieldproof.linearizability.counterexample import Deepest, minimise
from fieldproof.linearizability.fielding_run import Entry, call_key, describe, describe_state, may_change, search_entries
from fieldproof.linearizability.timeline import TIMELINE_MAX_OPS, render_timeline
from fieldproof.model import RunState

_CALL = operator.attrgetter("call")


@dataclass(frozen=True)
class Analysis:
    """`ok`: True linearizable, False not, None inconclusive (gave up after `max_states`)."""

    ok: bool | None
    linearization: list[Entry] | None = None  # when ok: answered ops, and unknown ops that took effect
    counterexample: list[Entry] | None = None  # when not ok: a small non-linearizable sub-history
    initial: RunState | None = None
    history_size: int = 0
    unanswered: int = 0  # operations of the history without an answer
    prefix_size: int | None = None  # operations in the shortest failing prefix (call order)
    states_explored: int = 0  # configurations, all searches together
    checks: int = 0  # searches run: 1 + the re-checks spent on the counterexample
    reason: str = ""  # why inconclusive
    _deepest: Deepest | None = field(default=None, repr=False, compare=False)

    def timeline(self) -> str:
        """The counterexample (or a short linearizable history) as a timeline, one lane per client."""
        if self.ok is False and self.counterexample is not None:
            return render_timeline(self.counterexample)
        if self.ok and self.linearization is not None:
            ops = self.linearization
            if len(ops) > TIMELINE_MAX_OPS:
                return f"linearizable: {len(ops)} operations placed (a timeline shows at most {TIMELINE_MAX_OPS})"
            order = {id(op): n for n, op in enumerate(ops, 1)}
            text = render_timeline(ops, numbers=[order[id(op)] for op in sorted(ops, key=call_key(ops))])
            return text + "\n(#n: the position in the linearization found)"
        return f"inconclusive: {self.reason}" if self.ok is None else "no timeline"

    def explain(self) -> str:
        """One paragraph: what the verdict means for this history."""
        start = describe_state(self.initial) if self.initial else "the initial state"
        if self.ok:
            lin = self.linearization or []
            took = sum(1 for op in lin if op.unknown)
            text = (
                f"Linearizable: the {self.history_size} operations fit one order that respects real time "
                f"(an operation that returned before another was called comes first) and that the run's "
                f"model accepts from {start}."
            )
            if self.unanswered:
                plural = "s" if self.unanswered != 1 else ""
                text += f" {took} of the {self.unanswered} operation{plural} without an answer took effect in it"
                text += "." if took == self.unanswered else "; the others had no effect."
            return text
        if self.ok is None:
            return f"Inconclusive: {self.reason}. Nothing was found wrong, nor shown right."
        ops = self.counterexample or []
        numbered = {id(op): n for n, op in enumerate(ops, 1)}

        def name(op: Entry) -> str:
            return f"#{numbered[id(op)]} {op.client} {describe(op)}"

        these = "This operation" if len(ops) == 1 else f"These {len(ops)} operations"
        text = (
            f"Not linearizable. {these} (of {self.history_size}"
            + (f"; the shortest failing prefix by call time has {self.prefix_size}" if self.prefix_size else "")
            + f") cannot be put in any order that respects real time (an operation that returned "
            f"before another was called comes first) and that the run's model accepts from {start}, "
            f"even if every other write took effect with its recorded answer at any moment after its "
            f"call (even more than once), or not at all."
        )
        deepest = self._deepest
        if deepest is not None:
            mine = [op for op, relaxed in deepest.placed if not relaxed]
            assumed = " (with other writes taking effect on the way)" if any(r for _, r in deepest.placed) else ""
            states = _some_states(deepest.states, deepest.stuck)
            if mine:
                text += f" The furthest any order gets is {', then '.join(name(op) for op in mine)}{assumed}; "
                text += f"the run is then {states}, and "
                where = "next"
            else:
                text += f" Whatever the other writes did, the run can only be {states} before them, and "
                where = "first"
            if len(deepest.stuck) == 1:
                text += f"{name(deepest.stuck[0])} cannot come {where}"
            else:
                text += "none of " + "; ".join(name(op) for op in deepest.stuck) + f" can come {where}"
            text += (
                " (a correct server does not give that answer there, or it would be placed after an "
                "operation that was called after it returned)."
            )
        return text


def _some_states(states: Sequence[RunState], stuck: Sequence[Entry], most: int = 4) -> str:
    """The states a stuck order can be in, those with the tag a stuck op names first."""
    named = {op.observation.if_match for op in stuck} | {op.observation.etag for op in stuck}
    ranked = sorted(states, key=lambda s: s.etag not in named)  # stable: search order otherwise
    shown = ", or ".join(describe_state(s) for s in ranked[:most])
    more = len(states) - most
    return shown + (f" (or one of {more} other states)" if more > 0 else "")


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The search allocates a great many small containers and no reference cycles: the cyclic
    collector's passes over them, triggered by the allocations alone, free nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def analyse(history: Sequence[Entry], initial: RunState, *, max_states: int = DEFAULT_MAX_STATES) -> Analysis:
    """Is `history` (entries of one run, any order) linearizable from `initial`?"""
    if max_states < 1:
        raise ValueError("max_states must be at least 1")
    for op in history:
        if op.ret is not None and op.ret < op.call:
            raise ValueError(f"operation returns before its call: {op}")
    with _without_cyclic_gc():
        return _analyse(history, initial, max_states)


def _analyse(history: Sequence[Entry], initial: RunState, max_states: int) -> Analysis:
    ops = sorted(history, key=_CALL)  # stable: ties keep their order in `history`
    real_pos = [k for k, op in enumerate(ops) if not op.unknown]
    unknown = [op for op in ops if op.unknown and may_change(op)]
    real = [ops[k] for k in real_pos]
    result = search_entries(real, unknown, initial, max_states)
    base = Analysis(None, initial=initial, history_size=len(ops), unanswered=len(ops) - len(real_pos), checks=1,
                   states_explored=result.explored)
    if result.ok:
        assert result.order is not None
        return replace(base, ok=True, linearization=[(real if answered else unknown)[i] for answered, i in result.order])
    if result.ok is None:
        return replace(
            base,
            reason=(
                f"gave up after exploring {result.explored} configurations with {result.work} model "
                f"evaluations (max_states={max_states}: at most that many configurations, or "
                f"{WORK_PER_STATE} evaluations per configuration allowed)"
            ),
        )
    kept, prefix_size, mini = minimise(ops, real_pos, initial, result.max_prefix, max_states)
    counterexample = [ops[k] for k in kept]
    # where every order of the counterexample gets stuck, for explain()
    real_ce, optional_ce = mini.split(kept)
    final = search_entries(real_ce, optional_ce, initial, max_states, record=True, reusable=True)
    deepest = None
    if final.deepest is not None:
        path, states, stuck = final.deepest
        placed = tuple((real_ce[i], False) if answered else (optional_ce[i], True) for answered, i in path)
        deepest = Deepest(placed, tuple(states), tuple(real_ce[i] for i in stuck))
    return replace(
        base, ok=False, counterexample=counterexample, prefix_size=prefix_size,
        states_explored=result.explored + mini.explored + final.explored, checks=1 + mini.checks + 1,
        _deepest=deepest,
    )
