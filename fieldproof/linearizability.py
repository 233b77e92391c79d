"""Is a concurrent history of one fielding run linearizable under the run's sequential model?

A history is what several concurrent clients recorded about ONE run: every request, when it
was sent (`call`), when its answer came back (`ret`) and what the answer said. It is
linearizable when the operations can be put in one order that

* respects real time: an operation that returned before another one was called comes first;
* is a run of `fieldproof.model.step` from the initial state: every answer is one a correct
  server may give in the state left by the operations before it.

The search is Wing & Gong's with Lowe's memoisation (the "WGL" algorithm of Porcupine and
Knossos): the call and return entries sit in one list sorted by time; the operations that may
come next are those called before the earliest return among the operations not yet placed;
each `model.step` outcome is a branch; a configuration (which operations are placed, model
state) seen once is never explored again; a dead end backtracks. It is iterative (an explicit
stack: 10,000 operations are no recursion problem), and two reductions keep it near-linear
when concurrency is bounded:

* an answer that never changes the run (a GET, a 412, a 422, a 429) and that is possible in
  the current state is placed at once, and nothing else is tried at that point: placing it
  earlier never hurts (everything still pending returned after its call; placed later, it could
  at most have learnt an unknown tag, and the model accepts more with an unknown tag than with
  a known one), so no linearization is lost;
* an operation that may be skipped (below) is only tried where it can change the state, and
  the model changes the state only for a request whose If-Match is the current tag (or when
  the tag is unknown), so those operations are looked up by their If-Match tag.
  Where the tag is unknown (after a write without an answer took effect) every If-Match may
  match; optional ops whose If-Match no operation still to come can make the known tag again
  then differ only by their answer, and only the first of each kind is tried.
  `tests/test_linearizability.py` checks the properties of `model.step` these reductions rely
  on over a grid of states and answers, so a change of the model that breaks them fails a test.

Operations without an answer (`observation.status` None: timed out, connection lost) have no
return bound, whatever `ret` says: the server may still act after the client gave up. They may
be placed anywhere after their call, or never (the history may end with them unplaced); the
model already says "took effect or not" for them, and only the "took effect" outcomes are
tried (not taking effect is the same as never being placed). A 429 is an answer like any other:
the model says it changed nothing.

When a history is not linearizable, `check` looks for a small sub-history that is not either:
the shortest failing prefix by call time, then the latest start of that prefix that still
fails, then operations dropped one at a time while it still fails (deterministic, at most
`MINIMIZE_CHECKS` re-checks). A sub-history is judged with the operations left out *relaxed*
rather than deleted: a left-out write that may have changed the run (a 204 or an unknown
answer) stays as an operation that may take effect with its recorded answer at any time after
its call, or never; left-out answers that never change anything (GETs, 412, 422, 429) are
removed; to keep these re-checks cheap, a relaxed write may even take effect more than once
(a coarser relaxation, still sound). So a counterexample is never produced by the removal itself
(deleting the write that issued a tag would make every later use of the tag look impossible):
it fails whatever the other operations did, it is not linearizable on its own either, and it
proves that the whole history is not linearizable.

`check` gives up with `ok=None` (inconclusive) rather than running on: after exploring
`max_states` configurations, or `WORK_PER_STATE` times as many model evaluations. A correct
history is usually found linearizable at once (the first order tried works); the cost is in
proving a wrong one wrong, which must try every order: with many writes without an answer
(each may or may not have taken effect, and after one took effect the model no longer knows
the tag), that search can grow until it gives up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from fieldproof import model
from fieldproof.model import Observation, RunState

DEFAULT_MAX_STATES = 1_000_000  # configurations explored by one check before it gives up
WORK_PER_STATE = 16  # ... or model.step calls + optional ops looked at, this many per allowed configuration
MINIMIZE_CHECKS = 200  # re-checks spent on making a counterexample small
NO_EFFECT_STATUSES = frozenset({412, 422, 429})  # answers to a write that never change the run
TIMELINE_WIDTH = 60  # columns of the time axis
TIMELINE_MAX_OPS = 60  # a timeline of a linearizable history shows at most this many operations

_INF = math.inf


@dataclass(frozen=True)
class Operation:
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


def describe(op: Operation) -> str:
    """`op If-Match -> status ETag`, e.g. `resume If-Match W/"3" -> 204 W/"4"`."""
    seen = op.observation
    head = seen.operation if seen.operation == "get" else f"{seen.operation} If-Match {seen.if_match or '(none)'}"
    if seen.status is None:
        return f"{head} -> no answer"
    answer = f"{head} -> {seen.status}"
    if seen.etag is not None:
        answer += f" {seen.etag}"
    if seen.run_status is not None:
        answer += f" {seen.run_status}"
    return answer


def describe_state(state: RunState) -> str:
    tag = state.etag if state.etag is not None else "unknown"
    return f"{state.status} with ETag {tag}" + ("" if state.resumable else " (not resumable)")


# --------------------------------------------------------------------------------------------
# the verdict


@dataclass(frozen=True)
class _Deepest:
    """The longest order found for a failing (small) history: where every attempt got stuck."""

    placed: tuple[tuple[Operation, bool], ...]  # (operation, relaxed: left out of the counterexample)
    states: tuple[RunState, ...]  # the states reached with those operations placed (left-out writes vary)
    stuck: tuple[Operation, ...]  # the counterexample's operations that could not be placed after it


@dataclass(frozen=True)
class Verdict:
    """`ok`: True linearizable, False not, None inconclusive (gave up after `max_states`)."""

    ok: bool | None
    linearization: list[Operation] | None = None  # when ok: answered ops, and unknown ops that took effect
    counterexample: list[Operation] | None = None  # when not ok: a small non-linearizable sub-history
    initial: RunState | None = None
    history_size: int = 0
    unanswered: int = 0  # operations of the history without an answer
    prefix_size: int | None = None  # operations in the shortest failing prefix (call order)
    states_explored: int = 0  # configurations, all searches together
    checks: int = 0  # searches run: 1 + the re-checks spent on the counterexample
    reason: str = ""  # why inconclusive
    _deepest: _Deepest | None = field(default=None, repr=False, compare=False)

    def timeline(self) -> str:
        """The counterexample (or a short linearizable history) as a timeline, one lane per client."""
        if self.ok is False and self.counterexample is not None:
            return render_timeline(self.counterexample)
        if self.ok and self.linearization is not None:
            ops = self.linearization
            if len(ops) > TIMELINE_MAX_OPS:
                return f"linearizable: {len(ops)} operations placed (a timeline shows at most {TIMELINE_MAX_OPS})"
            order = {id(op): n for n, op in enumerate(ops, 1)}
            text = render_timeline(ops, numbers=[order[id(op)] for op in sorted(ops, key=_call_key(ops))])
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

        def name(op: Operation) -> str:
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


def _some_states(states: Sequence[RunState], stuck: Sequence[Operation], most: int = 4) -> str:
    """The states a stuck order can be in, those with the tag a stuck op names first."""
    named = {op.observation.if_match for op in stuck} | {op.observation.etag for op in stuck}
    ranked = sorted(states, key=lambda s: s.etag not in named)  # stable: search order otherwise
    shown = ", or ".join(describe_state(s) for s in ranked[:most])
    more = len(states) - most
    return shown + (f" (or one of {more} other states)" if more > 0 else "")


def _call_key(ops: Sequence[Operation]):
    index = {id(op): i for i, op in enumerate(ops)}
    return lambda op: (op.call, index[id(op)])


def render_timeline(ops: Sequence[Operation], numbers: Sequence[int] | None = None) -> str:
    """Operations drawn on one time axis, one lane per client: `[call ==== return]` and the answer.

    `numbers` (optional) labels the operations in call order; by default #1, #2, ... in call order.
    An operation without an answer is drawn `[---->?` up to the end of the axis.
    """
    if not ops:
        return "(no operations)"
    ordered = sorted(ops, key=_call_key(ops))
    labels = list(numbers) if numbers is not None else list(range(1, len(ordered) + 1))
    label_of = {id(op): n for op, n in zip(ordered, labels)}
    t0 = min(op.call for op in ordered)
    ends = [op.ret for op in ordered if op.ret is not None and not op.unknown] + [op.call for op in ordered]
    span = max(ends) - t0
    scale, unit = (1.0, "s") if span >= 1.0 else (1000.0, "ms")
    width = TIMELINE_WIDTH

    def col(t: float) -> int:
        return 0 if span <= 0 else min(width - 1, round((t - t0) / span * (width - 1)))

    def fmt(t: float) -> str:
        return f"{(t - t0) * scale:.3f}"

    lanes: dict[str, list[Operation]] = {}
    for op in ordered:
        lanes.setdefault(op.client, []).append(op)
    lane_width = max(len(c) for c in lanes) + 2
    lines = [f"time axis: 0 = the first call; {width} columns = {span * scale:.3f} {unit}"]
    ruler = "".join("|" if i % 10 == 0 or i == width - 1 else "-" for i in range(width))
    end_label = f"{span * scale:.3f} {unit}"
    lines.append(" " * lane_width + f"0 {unit}".ljust(width - len(end_label)) + end_label)
    lines.append(" " * lane_width + ruler)
    for client, lane in lanes.items():
        for k, op in enumerate(lane):
            head = (f"{client}" if k == 0 else "").ljust(lane_width)
            start = col(op.call)
            if op.unknown or op.ret is None:
                bar = " " * start + "[" + "-" * max(0, width - start - 2) + ">?"
                when = f"{fmt(op.call)} {unit} .. " + ("no answer" if op.unknown else "no return time")
            else:
                end = max(col(op.ret), start + 1)
                bar = " " * start + "[" + "=" * (end - start - 1) + "]"
                when = f"{fmt(op.call)} .. {fmt(op.ret)} {unit}"
            lines.append(f"{head}{bar.ljust(width + 1)} #{label_of[id(op)]} {describe(op)}   ({when})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the search


@dataclass
class _Result:
    ok: bool | None
    order: list[tuple[bool, int]] | None  # (answered?, index into real / optional)
    explored: int
    max_prefix: int  # the most leading (call order) answered operations placed in any configuration
    deepest: tuple[list[tuple[bool, int]], list[RunState], list[int]] | None = None
    work: int = 0  # model.step calls and optional operations looked at


def _count(counts: dict[int, int], key: int, by: int) -> None:
    n = counts.get(key, 0) + by
    if n:
        counts[key] = n
    else:
        del counts[key]


def _distinct(states: Iterable[RunState]) -> list[RunState]:
    out: list[RunState] = []
    for s in states:
        if s not in out:
            out.append(s)
    return out


def _search(
    real: Sequence[Operation],
    optional: Sequence[Operation],
    initial: RunState,
    max_states: int,
    record: bool = False,
    reusable: bool = False,
) -> _Result:
    """WGL over `real` (sorted by call; each must be placed) and `optional` (may be placed
    anywhere after its call, or never; only outcomes that change the state are tried).

    `reusable`: an optional op may even be placed several times (a coarser relaxation, for the
    counterexample search: it forgets which optional ops were placed, so their combinations
    cannot multiply the configurations)."""
    n_real = len(real)
    if n_real == 0:
        return _Result(True, [], 1, 0, ([], initial, []) if record else None)

    # --- the entry list of the answered operations, with Porcupine's lift / unlift
    events = []
    for i, op in enumerate(real):
        events.append((op.call, 0, i))
        events.append((_INF if op.ret is None else op.ret, 1, i))
    events.sort()
    n_ev = len(events)
    head, end = n_ev, -1
    nxt = [e + 1 for e in range(n_ev)] + [0]
    nxt[n_ev - 1] = end
    prv = [e - 1 for e in range(n_ev)] + [end]
    prv[0] = head
    ev_time = [t for t, _, _ in events]
    ev_call = [kind == 0 for _, kind, _ in events]
    ev_op = [i for _, _, i in events]
    cpos = [0] * n_real
    rpos = [0] * n_real
    for e, (_, kind, i) in enumerate(events):
        if kind == 0:
            cpos[i] = e
        else:
            rpos[i] = e
    real_obs = [op.observation for op in real]
    inert = [not _may_change(op) for op in real]  # answers that never change the run

    def lift(i: int) -> None:
        for e in (cpos[i], rpos[i]):
            p, q = prv[e], nxt[e]
            nxt[p] = q
            if q != end:
                prv[q] = p

    def unlift(i: int) -> None:
        for e in (rpos[i], cpos[i]):
            p, q = prv[e], nxt[e]
            nxt[p] = e
            if q != end:
                prv[q] = e

    # --- the optional operations, sorted by call, looked up by If-Match
    opt = sorted(optional, key=lambda op: op.call)
    opt_call = [op.call for op in opt]
    opt_obs = [op.observation for op in opt]
    by_tag: dict[str, list[int]] = {}
    wild: list[int] = []  # no If-Match or `*`: asked in every state (the model may change on them)
    for j, seen in enumerate(opt_obs):
        if seen.if_match is None or seen.if_match.strip() == "*":
            wild.append(j)
        else:
            by_tag.setdefault(seen.if_match, []).append(j)
    applied = bytearray(len(opt))
    # Symmetry. Where the tag is unknown, an optional op's If-Match does not matter; once its
    # If-Match is not the known tag and no operation still to place can make it the known tag
    # again, the op is "dead": it can only ever act where the tag is unknown, so dead ops with the
    # same answer (all called already: the bound only grows) are interchangeable. Only the first
    # unplaced one of each kind is tried, and a configuration remembers how many of each kind it
    # placed, not which.
    # `future` counts, per tag, the answered ops still to place whose answer carries it (the only
    # way a tag becomes the known one again), plus every optional op's answer (kept: the
    # dead/alive split must not depend on which optional ops are placed).
    kinds: dict[tuple, int] = {}
    opt_kind = [kinds.setdefault((o.operation, o.status, o.etag, o.run_status), len(kinds)) for o in opt_obs]
    future: dict[str, int] = {}
    for o in [*real_obs, *opt_obs]:
        if o.etag is not None:
            future[o.etag] = future.get(o.etag, 0) + 1
    wild_set = set(wild)
    dead_count: dict[int, int] = {}  # placed dead optional ops, per kind (no zeros)
    live_bits = 0  # placed optional ops that are not dead
    step = model.step
    work = 0  # model.step calls and optional ops looked at

    def dead(j: int) -> bool:
        return j not in wild_set and not future.get(opt_obs[j].if_match)  # type: ignore[arg-type]

    def expand(state: RunState) -> list[tuple[bool, int, RunState]]:
        nonlocal work
        moves: list[tuple[bool, int, RunState]] = []
        e = nxt[head]
        bound = _INF
        while e != end:
            if not ev_call[e]:
                bound = ev_time[e]
                break
            i = ev_op[e]
            work += 1
            outs = step(state, real_obs[i])
            if outs:
                if inert[i] and len(outs) == 1 and outs[0] == state:
                    return [(True, i, state)]  # changes nothing: place it now, try nothing else
                for s2 in _distinct(outs):
                    moves.append((True, i, s2))
            e = nxt[e]
        if opt:
            unknown_tag = state.etag is None
            if unknown_tag:
                candidates: Iterable[int] = range(len(opt))
            else:
                candidates = by_tag.get(state.etag, ())
                if wild:
                    candidates = sorted((*candidates, *wild))
            tried: set[int] = set()
            for j in candidates:
                if opt_call[j] > bound:
                    break
                work += 1
                if applied[j]:
                    continue
                if unknown_tag and dead(j):
                    if opt_kind[j] in tried:
                        continue
                    tried.add(opt_kind[j])
                work += 1
                for s2 in _distinct(step(state, opt_obs[j])):
                    if s2 != state:
                        moves.append((False, j, s2))
        return moves

    def place(is_real: bool, idx: int) -> None:
        nonlocal lin, placed, live_bits
        if is_real:
            lift(idx)
            lin |= 1 << idx
            placed += 1
            tag = real_obs[idx].etag
            if tag is not None:
                future[tag] -= 1
                if not future[tag] and not reusable:  # placed ops with this If-Match die
                    for j in by_tag.get(tag, ()):
                        if applied[j]:
                            live_bits ^= 1 << j
                            _count(dead_count, opt_kind[j], 1)
        elif not reusable:
            applied[idx] = 1
            if dead(idx):
                _count(dead_count, opt_kind[idx], 1)
            else:
                live_bits |= 1 << idx

    def unplace(is_real: bool, idx: int) -> None:
        nonlocal lin, placed, live_bits
        if is_real:
            unlift(idx)
            lin ^= 1 << idx
            placed -= 1
            tag = real_obs[idx].etag
            if tag is not None:
                if not future[tag] and not reusable:
                    for j in by_tag.get(tag, ()):
                        if applied[j]:
                            live_bits |= 1 << j
                            _count(dead_count, opt_kind[j], -1)
                future[tag] += 1
        elif not reusable:
            if dead(idx):
                _count(dead_count, opt_kind[idx], -1)
            else:
                live_bits ^= 1 << idx
            applied[idx] = 0

    state = initial
    lin = 0  # bit i: real[i] placed
    placed = 0
    # configurations seen: (first answered op not placed, placed answered ops from there on, state)
    # -> what each placed of the optional ops: (live ones, count of dead ones per kind). One that
    # placed no more of them (the same or fewer live ones, no more dead ones of any kind) had
    # every future this one has (any op it did not place is still free there): it covers it.
    memo: dict[tuple, list[tuple[int, tuple[tuple[int, int], ...]]]] = {(0, 0, initial): [(0, ())]}
    seen = 1
    max_prefix = 0
    best: tuple[list[tuple[bool, int]], list[RunState], list[int]] | None = None
    best_depth = -1
    best_lin = 0
    if record:
        best, best_depth = ([], [initial], list(range(n_real))), 0
    # frame: [moves, next move, answered?, index, state before the move]
    stack: list[list] = [[expand(initial), 0, None, -1, None]]
    while stack:
        frame = stack[-1]
        moves = frame[0]
        k = frame[1]
        if k < len(moves):
            frame[1] = k + 1
            is_real, idx, s2 = moves[k]
            place(is_real, idx)
            if placed == n_real:
                order = [(f[2], f[3]) for f in stack[1:]] + [(is_real, idx)]
                return _Result(True, order, seen, n_real, None)
            p = (~lin & (lin + 1)).bit_length() - 1  # the first answered op not placed yet
            key = (p, lin >> p, s2)
            mine_live, mine_dead = live_bits, dict(dead_count)
            if s2.etag is not None and not reusable:  # ops with If-Match the known tag are not dead here
                for j in by_tag.get(s2.etag, ()):
                    if applied[j] and dead(j):
                        mine_live |= 1 << j
                        _count(mine_dead, opt_kind[j], -1)
            mine = (mine_live, tuple(mine_dead.items()))
            masks = memo.get(key)
            if masks is None:
                memo[key] = [mine]
            elif any(
                not (live & ~mine_live) and all(mine_dead.get(kind, 0) >= n for kind, n in dead_counts)
                for live, dead_counts in masks
            ):
                unplace(is_real, idx)
                continue
            else:
                masks.append(mine)
            seen += 1
            if seen > max_states or work > WORK_PER_STATE * max_states:
                return _Result(None, None, seen, max_prefix, best, work)
            if p > max_prefix:
                max_prefix = p
            if record and placed > best_depth:
                path = [(f[2], f[3]) for f in stack[1:]] + [(is_real, idx)]
                done = {i for r, i in path if r}
                best, best_depth, best_lin = (path, [s2], [i for i in range(n_real) if i not in done]), placed, lin
            elif record and lin == best_lin and best and s2 not in best[1] and len(best[1]) < 100:
                best[1].append(s2)  # the same ops placed, other writes left out taking effect
            stack.append([expand(s2), 0, is_real, idx, state])
            state = s2
        else:
            stack.pop()
            if frame[2] is None:
                break
            unplace(frame[2], frame[3])
            state = frame[4]
    return _Result(False, None, seen, max_prefix, best, work)


# --------------------------------------------------------------------------------------------
# check and the counterexample


def _may_change(op: Operation) -> bool:
    """Could this operation's recorded answer have changed the run? (else it can be left out)"""
    seen = op.observation
    return seen.operation != "get" and seen.status not in NO_EFFECT_STATUSES


class _Minimizer:
    """Sub-histories of one failing history H (sorted by call), judged with the rest relaxed."""

    def __init__(self, ops: list[Operation], initial: RunState, max_states: int, max_checks: int) -> None:
        self.ops = ops
        self.initial = initial
        self.budget = max_states  # states, all re-checks together
        self.max_checks = max_checks
        self.checks = 0
        self.explored = 0

    def split(self, kept: Sequence[int]) -> tuple[list[Operation], list[Operation]]:
        keep = set(kept)
        real = [self.ops[k] for k in sorted(keep)]
        limit = max((op.ret for op in real if op.ret is not None), default=_INF)
        if any(op.ret is None for op in real):
            limit = _INF
        optional = [
            op for k, op in enumerate(self.ops)
            if k not in keep and _may_change(op) and op.call <= limit
        ]  # fmt: skip
        return real, optional

    def fails(self, kept: Sequence[int]) -> bool:
        """True only when proven: the sub-history is not linearizable (inconclusive counts as no)."""
        if self.checks >= self.max_checks or self.budget <= 0:
            return False
        self.checks += 1
        real, optional = self.split(kept)
        result = _search(real, optional, self.initial, max(1, self.budget), reusable=True)
        self.explored += result.explored
        self.budget -= result.explored
        return result.ok is False

    def exhausted(self) -> bool:
        return self.checks >= self.max_checks or self.budget <= 0


def _first_true(lo: int, hi: int, test) -> int:
    """The least k in [lo, hi] with test(k), assuming monotone and test(hi) known true: galloping
    up from lo, then a binary search."""
    step, good, bad = 1, hi, lo - 1  # test(good) is true; test(bad) is false (or unknown)
    k = lo
    while k < good:
        if test(k):
            good = k
            break
        bad = k
        k = lo + step
        step *= 2
    while good - bad > 1:
        mid = (bad + good) // 2
        if test(mid):
            good = mid
        else:
            bad = mid
    return good


def _counterexample(
    history: list[Operation], real_pos: list[int], initial: RunState, max_prefix: int, max_states: int
) -> tuple[list[int], int, _Minimizer]:
    """Positions (into the sorted history) of a small failing sub-history, and the prefix size."""
    mini = _Minimizer(history, initial, max_states, MINIMIZE_CHECKS)
    n_real = len(real_pos)
    # 1. the shortest failing prefix: k answered ops in call order (no prefix of <= max_prefix fails)
    k = _first_true(max(1, max_prefix + 1), n_real, lambda k: mini.fails(real_pos[:k]))
    prefix = real_pos[:k]
    prefix_size = prefix[-1] + 1
    # 2. the latest start of that prefix that still fails (its last operation always stays)
    width = _first_true(1, k, lambda w: mini.fails(prefix[k - w :]))
    kept = prefix[k - width :]
    # 3. drop one operation at a time while it still fails, until nothing more can go
    changed = True
    while changed and not mini.exhausted():
        changed = False
        for pos in list(kept):
            if len(kept) == 1 or mini.exhausted():
                break
            trial = [p for p in kept if p != pos]
            if mini.fails(trial):
                kept = trial
                changed = True
    return kept, prefix_size, mini


def check(history: Sequence[Operation], initial: RunState, *, max_states: int = DEFAULT_MAX_STATES) -> Verdict:
    """Is `history` (operations on one run, any order) linearizable from `initial`?"""
    if max_states < 1:
        raise ValueError("max_states must be at least 1")
    for op in history:
        if op.ret is not None and op.ret < op.call:
            raise ValueError(f"operation returns before its call: {op}")
    ops = sorted(history, key=_call_key(history))
    real_pos = [k for k, op in enumerate(ops) if not op.unknown]
    unknown = [op for op in ops if op.unknown and op.observation.operation != "get"]
    real = [ops[k] for k in real_pos]
    result = _search(real, unknown, initial, max_states)
    base = {"initial": initial, "history_size": len(ops), "unanswered": len(ops) - len(real_pos)}
    if result.ok:
        assert result.order is not None
        by_call = sorted(unknown, key=lambda op: op.call)  # the order _search indexes them in
        lin = [(real if answered else by_call)[i] for answered, i in result.order]
        return Verdict(True, linearization=lin, states_explored=result.explored, checks=1, **base)
    if result.ok is None:
        return Verdict(
            None, states_explored=result.explored, checks=1,
            reason=(
                f"gave up after exploring {result.explored} configurations with {result.work} model "
                f"evaluations (max_states={max_states}: at most that many configurations, or "
                f"{WORK_PER_STATE} evaluations per configuration allowed)"
            ),
            **base,
        )  # fmt: skip
    kept, prefix_size, mini = _counterexample(ops, real_pos, initial, result.max_prefix, max_states)
    counterexample = [ops[k] for k in kept]
    # where every order of the counterexample gets stuck, for explain()
    real_ce, optional_ce = mini.split(kept)
    final = _search(real_ce, optional_ce, initial, max_states, record=True, reusable=True)
    deepest = None
    if final.deepest is not None:
        path, states, stuck = final.deepest
        opt_sorted = sorted(optional_ce, key=lambda op: op.call)
        placed = tuple((real_ce[i], False) if answered else (opt_sorted[i], True) for answered, i in path)
        deepest = _Deepest(placed, tuple(states), tuple(real_ce[i] for i in stuck))
    return Verdict(
        False, counterexample=counterexample, prefix_size=prefix_size,
        states_explored=result.explored + mini.explored + final.explored, checks=1 + mini.checks + 1,
        _deepest=deepest, **base,
    )  # fmt: skip
