"""Is a concurrent history of one fielding run linearizable under the run's sequential model?

A history is what several concurrent clients recorded about ONE run: every request, when it
was sent (`call`), when its answer came back (`ret`) and what the answer said. It is
linearizable when the operations can be put in one order that

* respects real time: an operation that returned before another one was called comes first;
* is a run of the model from the initial state: every answer is one a correct server may give
  in the state left by the operations before it.

The search knows the model only through a small protocol, `Model` (as Porcupine's does): its
`step(state, op)` gives every state `op` may lead to (none: impossible there), `describe_state`
and `describe_op` name them in messages, and five facts of the model are what the reductions
below rest on (`never_changes`, `state_key`, `guard_key`, `new_key`, `kind`). The fielding
run's model, `fieldproof.model.step` over `RunState` and `Observation`, is one such model
(`FieldingRunModel`, `FIELDING_RUN`); `tests/test_linearizability_search.py` runs the same
search on toy ones (registers, a counter).

The search is Wing & Gong's with Lowe's memoisation (the "WGL" algorithm of Porcupine and
Knossos): the call and return entries sit in one list sorted by time (`EntryList`); the
operations that may come next are those called before the earliest return among the operations
not yet placed; each `step` outcome is a branch; a configuration (which operations are placed,
model state) seen once is never explored again; a dead end backtracks. It is iterative
(`Search`, an explicit stack: 10,000 operations are no recursion problem), and two reductions
keep it near-linear when concurrency is bounded:

* an answer that never changes the state (`never_changes`; for a run: a GET, a 412, a 422, a
  429) and that is possible in the current state is placed at once, and nothing else is tried
  at that point: placing it earlier never hurts (everything still pending returned after its
  call; placed later, it could at most have learnt something the state did not know, an
  unknown tag, and the model accepts more with an unknown tag than with a known one), so no
  linearization is lost;
* an operation that may be skipped (below) is only tried where it can change the state, and
  the model changes the state only where the state's key (`state_key`: the run's ETag) is the
  operation's guard key (`guard_key`: its If-Match), or where the state's key is unknown, so
  those operations are looked up by their guard key (`OptionalIndex`; no If-Match or `*`:
  no guard, asked everywhere).
  Where the key is unknown (after a write without an answer took effect) every guard may
  match; optional ops whose guard no operation still to come can make the known key again
  (`new_key`: the ETag its answer carries) then differ only by their `kind` (for a run: the
  operation and its answer), and only the first of each kind is tried.
  `tests/test_linearizability.py` checks the properties of `fieldproof.model.step` these
  reductions rely on over a grid of states and answers, so a change of the model that breaks
  them fails a test.

Which answers never change a run is the model's to say: `FieldingRunModel.never_changes` asks
`fieldproof.model.step` once per operation and status, in every status of the contract with
the tag known and unknown.

Operations without an answer (`observation.status` None: timed out, connection lost) have no
return bound, whatever `ret` says: the server may still act after the client gave up. They may
be placed anywhere after their call, or never (the history may end with them unplaced); the
model already says "took effect or not" for them, and only the outcomes that change the state
are tried (not taking effect is the same as never being placed). A 429 is an answer like any
other: the model says it changed nothing.

When a history is not linearizable, `analyse` looks for a small sub-history that is not either:
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

`analyse` gives up with `ok=None` (inconclusive) rather than running on: after exploring
`max_states` configurations, or `WORK_PER_STATE` times as many model evaluations. A correct
history is usually found linearizable at once (the first order tried works); the cost is in
proving a wrong one wrong, which must try every order: with many writes without an answer
(each may or may not have taken effect, and after one took effect the model no longer knows
the tag), that search can grow until it gives up.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from fieldproof import contract
from fieldproof import model as fielding_model
from fieldproof.model import Observation, RunState

DEFAULT_MAX_STATES = 1_000_000  # configurations explored by one analysis before it gives up
WORK_PER_STATE = 16  # ... or step calls + optional ops looked at, this many per allowed configuration
MINIMIZE_CHECKS = 200  # re-checks spent on making a counterexample small
TIMELINE_WIDTH = 60  # columns of the time axis
TIMELINE_MAX_OPS = 60  # a timeline of a linearizable history shows at most this many operations

_INF = math.inf
_END = -1  # after the last entry of an EntryList

S = TypeVar("S", bound=Hashable)  # a model's state (a memo key: hashable)
Op = TypeVar("Op")  # a model's operation: what one request did and saw
Op_contra = TypeVar("Op_contra", contravariant=True)


# --------------------------------------------------------------------------------------------
# the model protocol


class Model(Protocol[S, Op_contra]):
    """A sequential model, as the search sees it: `step`, and the facts its reductions rest on.

    A model whose facts claim nothing (`never_changes` False, every key None) is searched
    correctly, only slower; each fact it claims must hold in every state.
    """

    def step(self, state: S, op: Op_contra) -> list[S]:
        """Every state `op` may leave `state` in; empty: `op` is impossible in `state`."""
        ...

    def never_changes(self, op: Op_contra) -> bool:
        """True if every outcome of `op`, in every state, allows at most what the state before it
        allows: it changes nothing, or only learns what the state did not know. Where such an
        op is possible without a change, it is placed at once."""
        ...

    def state_key(self, state: S) -> Hashable | None:
        """The key guarded operations are looked up by in `state` (None: unknown, any guard may match)."""
        ...

    def guard_key(self, op: Op_contra) -> Hashable | None:
        """The one state key under which `op` can change a state whose key is known (None:
        unguarded, any)."""
        ...

    def new_key(self, op: Op_contra) -> Hashable | None:
        """The key `op` may give a state (None: none): a step leaves a state with its own key,
        this one, or an unknown one."""
        ...

    def kind(self, op: Op_contra) -> Hashable:
        """`op` without its guard key: where the state key is unknown, ops of one kind whose
        guard keys no operation gives (`new_key`) lead to the same states."""
        ...

    def describe_state(self, state: S) -> str: ...

    def describe_op(self, op: Op_contra) -> str: ...


# --------------------------------------------------------------------------------------------
# the search, over any Model


class EntryList:
    """The call and return entries of the operations that must be placed, sorted by time (a call
    at the moment of a return comes first: they overlap), in a doubly linked list: placing an
    operation lifts its two entries out, backtracking puts them back (Porcupine's lift / unlift;
    unlift the last lifted first, so that each entry's neighbours are as they were).

    `head` is a sentinel before the first entry, `END` follows the last one; the arrays are
    public for the search's inner loop: `next`, `prev` (entry -> entry), `time`, `is_call`,
    `op` (entry -> the operation's index).
    """

    END = _END

    def __init__(self, calls: Sequence[float], returns: Sequence[float | None]) -> None:
        """Entry i is called at `calls[i]` and returns at `returns[i]` (None: no bound)."""
        n = len(calls)
        times = [*calls, *(_INF if ret is None else ret for ret in returns)]
        # entry x < n: the call of op x, else the return of op x - n; a stable sort by time alone
        # orders them by (time, call before return, op), and it is faster than sorting tuples
        order = sorted(range(2 * n), key=times.__getitem__)
        end = self.END
        self.head = 2 * n
        self.next = [*range(1, 2 * n), end, 0] if n else [end]
        self.prev = [self.head, *range(2 * n - 1), end] if n else [end]
        self.time = [times[x] for x in order]
        self.is_call = [x < n for x in order]
        self.op = [x if x < n else x - n for x in order]
        position = [0] * (2 * n)
        for e, x in enumerate(order):
            position[x] = e
        self.call_entry = position[:n]
        self.return_entry = position[n:]

    def window(self) -> tuple[list[int], float]:
        """The operations that may be placed next (called before the first return still in the
        list), in call order, and the time of that return (inf: none left)."""
        nxt, is_call, op, end = self.next, self.is_call, self.op, self.END
        ops: list[int] = []
        e = nxt[self.head]
        while e != end:
            if not is_call[e]:
                return ops, self.time[e]
            ops.append(op[e])
            e = nxt[e]
        return ops, _INF

    def lift(self, i: int) -> None:
        nxt, prv = self.next, self.prev
        e = self.call_entry[i]
        p, q = prv[e], nxt[e]
        nxt[p] = q
        if q != _END:
            prv[q] = p
        e = self.return_entry[i]
        p, q = prv[e], nxt[e]
        nxt[p] = q
        if q != _END:
            prv[q] = p

    def unlift(self, i: int) -> None:
        nxt, prv = self.next, self.prev
        e = self.return_entry[i]
        p, q = prv[e], nxt[e]
        nxt[p] = e
        if q != _END:
            prv[q] = e
        e = self.call_entry[i]
        p, q = prv[e], nxt[e]
        nxt[p] = e
        if q != _END:
            prv[q] = e


def _count(counts: dict[int, int], key: int, by: int) -> None:
    n = counts.get(key, 0) + by
    if n:
        counts[key] = n
    else:
        del counts[key]


def _distinct(states: Iterable[S]) -> list[S]:
    out: list[S] = []
    for s in states:
        if s not in out:
            out.append(s)
    return out


class OptionalIndex(Generic[S, Op]):
    """The operations that may be placed anywhere after their call, or never, in call order and
    looked up by their guard key; and what a configuration placed of them (its memo entry).

    Symmetry. Where the state key is unknown, an optional op's guard does not matter; once its
    guard is not the known key and no operation still to place can make it the known key
    again, the op is "dead": it can only ever act where the key is unknown, so dead ops of one
    kind (all called already: the bound only grows) are interchangeable. Only the first unplaced
    one of each kind is tried, and a configuration remembers how many of each kind it placed,
    not which.

    `reusable`: an optional op may be placed again and again (a coarser relaxation, for the
    counterexample search: nothing is remembered of which optional ops were placed, so their
    combinations cannot multiply the configurations).
    """

    def __init__(
        self,
        model: Model[S, Op],
        optional: Sequence[tuple[float, Op]],
        required_keys: Iterable[Hashable | None],
        reusable: bool = False,
    ) -> None:
        """`optional`: (call, op), in any order; `required_keys`: the `new_key` of each op that
        must be placed."""
        self.model = model
        self.reusable = reusable
        self.order = sorted(range(len(optional)), key=lambda j: optional[j][0])  # j -> index into `optional`
        self.calls = [optional[j][0] for j in self.order]
        self.ops = [optional[j][1] for j in self.order]
        self.guards = [model.guard_key(op) for op in self.ops]
        self.by_key: dict[Hashable, list[int]] = {}
        self.unguarded: list[int] = []  # asked in every state
        for j, guard in enumerate(self.guards):
            if guard is None:
                self.unguarded.append(j)
            else:
                self.by_key.setdefault(guard, []).append(j)
        self._unguarded = set(self.unguarded)
        kinds: dict[Hashable, int] = {}
        self.kinds = [kinds.setdefault(model.kind(op), len(kinds)) for op in self.ops]
        # `future` counts, per guard key, the required ops still to place that may make it the
        # known key (the only way it becomes known again), plus every optional op that may (kept:
        # the dead/alive split must not depend on which optional ops are placed).
        self.future: dict[Hashable, int] = {}
        if self.by_key:
            for key in [*required_keys, *map(model.new_key, self.ops)]:
                if key in self.by_key:
                    self.future[key] = self.future.get(key, 0) + 1
        self.applied = bytearray(len(self.ops))
        self.live = 0  # bits: placed optional ops that are not dead
        self.dead_count: dict[int, int] = {}  # placed dead optional ops, per kind (no zeros; never rebound)

    def __len__(self) -> int:
        return len(self.ops)

    def dead(self, j: int) -> bool:
        return j not in self._unguarded and not self.future.get(self.guards[j])

    def moves(self, state: S, key: Hashable | None, bound: float, out: list[tuple[bool, int, S]]) -> int:
        """Append to `out` the (False, j, outcome) of each optional op called by `bound` that
        may change `state` (whose key is `key`); return the work done (ops looked at, steps)."""
        if key is None:
            candidates: Iterable[int] = range(len(self.ops))
        else:
            candidates = self.by_key.get(key, ())
            if self.unguarded:
                candidates = sorted((*candidates, *self.unguarded))
        calls, applied, kinds, ops, step = self.calls, self.applied, self.kinds, self.ops, self.model.step
        work = 0
        tried: set[int] = set()
        for j in candidates:
            if calls[j] > bound:
                break
            work += 1
            if applied[j]:
                continue
            if key is None and self.dead(j):
                if kinds[j] in tried:
                    continue
                tried.add(kinds[j])
            work += 1
            for s2 in _distinct(step(state, ops[j])):
                if s2 != state:  # not changing it is the same as not being placed
                    out.append((False, j, s2))
        return work

    def place(self, j: int) -> None:
        if self.reusable:
            return
        self.applied[j] = 1
        if self.dead(j):
            _count(self.dead_count, self.kinds[j], 1)
        else:
            self.live |= 1 << j

    def unplace(self, j: int) -> None:
        if self.reusable:
            return
        if self.dead(j):
            _count(self.dead_count, self.kinds[j], -1)
        else:
            self.live ^= 1 << j
        self.applied[j] = 0

    def required_placed(self, key: Hashable) -> None:
        """A required op that may make `key` known was placed (`key` guards optional ops)."""
        left = self.future[key] - 1
        self.future[key] = left
        if not left and not self.reusable:  # placed ops guarded by it die
            for j in self.by_key[key]:
                if self.applied[j]:
                    self.live ^= 1 << j
                    _count(self.dead_count, self.kinds[j], 1)

    def required_unplaced(self, key: Hashable) -> None:
        if not self.future[key] and not self.reusable:
            for j in self.by_key[key]:
                if self.applied[j]:
                    self.live |= 1 << j
                    _count(self.dead_count, self.kinds[j], -1)
        self.future[key] += 1

    def usage(self, key: Hashable | None) -> tuple[int, dict[int, int]]:
        """What a configuration whose state has this key placed: (live ops, count of dead ones
        per kind: read only, it may be the index's own). Ops guarded by the known key are not
        dead there."""
        live, dead = self.live, self.dead_count
        if key is not None and not self.reusable:
            for j in self.by_key.get(key, ()):
                if self.applied[j] and self.dead(j):
                    if dead is self.dead_count:
                        dead = dict(dead)
                    live |= 1 << j
                    _count(dead, self.kinds[j], -1)
        return live, dead


_Usage = tuple[int, tuple[tuple[int, int], ...]]  # live optional ops, dead ones per kind


def _covered(known: list[_Usage], live: int, dead: dict[int, int]) -> bool:
    """Did a configuration seen before place no more optional ops (the same or fewer live ones, no
    more dead ones of any kind)? It had every future this one has: any op it did not place is
    still free there."""
    return any(not (known_live & ~live) and all(dead.get(kind, 0) >= n for kind, n in known_dead) for known_live, known_dead in known)


@dataclass
class SearchResult(Generic[S]):
    ok: bool | None
    order: list[tuple[bool, int]] | None  # when ok: (required?, index into required / optional)
    explored: int
    max_prefix: int  # the most leading (call order) required operations placed in any configuration
    # with `record`: (the longest order found, the states it reaches, the required ops left after it)
    deepest: tuple[list[tuple[bool, int]], list[S], list[int]] | None = None
    work: int = 0  # step calls and optional operations looked at


class Search(Generic[S, Op]):
    """One WGL search: can every `required` op and any of the `optional` ones be placed in an
    order that respects real time and that `model` accepts from `initial`?

    `required`: (call, return, op), in call order (the memo and `max_prefix` count leading
    ops); return None: no bound. `optional`: (call, op), in any order: placed anywhere after
    its call, or never. `record`: keep the deepest order found (for the messages of a failing
    analysis). `reusable`: see `OptionalIndex`.
    """

    def __init__(
        self,
        model: Model[S, Op],
        initial: S,
        required: Sequence[tuple[float, float | None, Op]],
        optional: Sequence[tuple[float, Op]] = (),
        max_states: int = DEFAULT_MAX_STATES,
        *,
        record: bool = False,
        reusable: bool = False,
    ) -> None:
        self.model = model
        self.initial = initial
        self.max_states = max_states
        self.record = record
        calls, returns, ops = zip(*required, strict=True) if required else ((), (), ())
        self.ops: Sequence[Op] = ops
        self.entries = EntryList(calls, returns)
        self.never_changes = [model.never_changes(op) for op in ops]
        if optional:
            new_keys = [model.new_key(op) for op in ops]
            self.optional = OptionalIndex(model, optional, new_keys, reusable)
            by_key = self.optional.by_key
            # the key each required op may make known, where it changes which optional ops are dead
            self.watched = [key if key in by_key else None for key in new_keys]
        else:
            self.optional = OptionalIndex(model, optional, (), reusable)
            self.watched = [None] * len(ops)
        self.work = 0
        entries = self.entries
        # what `expand` reads, in one attribute: it runs once per configuration
        self._expand_with = (
            entries.next, entries.head, entries.is_call, entries.time, entries.op, self.ops, self.never_changes,
            model.step, self.optional, len(self.optional) > 0, self.optional.by_key, bool(self.optional.unguarded),
        )  # fmt: skip

    def expand(self, state: S, key: Hashable | None) -> list[tuple[bool, int, S]]:
        """The moves from `state`: (required?, index, outcome), in the order they are tried.
        `key`: `model.state_key(state)` (read only if there are optional ops)."""
        (nxt, head, is_call, entry_time, entry_op, ops, never_changes, step,
         optional, has_optional, by_key, unguarded) = self._expand_with  # fmt: skip
        moves: list[tuple[bool, int, S]] = []
        work = 0
        e = nxt[head]
        bound = _INF
        while e != _END:
            if not is_call[e]:
                bound = entry_time[e]
                break
            i = entry_op[e]
            work += 1
            outs = step(state, ops[i])
            if outs:
                if never_changes[i] and len(outs) == 1 and outs[0] == state:
                    self.work += work
                    return [(True, i, state)]  # changes nothing: place it now, try nothing else
                if len(outs) == 1:
                    moves.append((True, i, outs[0]))
                else:
                    moves.extend([(True, i, s2) for s2 in _distinct(outs)])
            e = nxt[e]
        if has_optional and (key is None or key in by_key or unguarded):  # else no optional op may act
            work += optional.moves(state, key, bound, moves)
        self.work += work
        return moves

    def run(self) -> SearchResult[S]:
        initial, optional, n = self.initial, self.optional, len(self.ops)
        if n == 0:
            return SearchResult(True, [], 1, 0, ([], [initial], []) if self.record else None)
        lift, unlift, watched = self.entries.lift, self.entries.unlift, self.watched
        has_optional = len(optional) > 0
        state_key = self.model.state_key
        by_key, dead_count = optional.by_key, optional.dead_count
        max_states, max_work, record = self.max_states, WORK_PER_STATE * self.max_states, self.record
        state = initial
        lin = 0  # bit i: required[i] placed
        placed = 0
        # configurations seen: (first required op not placed, placed required ops from there on,
        # state) -> what each placed of the optional ops (see `_covered`)
        memo: dict[tuple[int, int, S], list[_Usage]] = {(0, 0, initial): [(0, ())]}
        live, dead, s2_key = 0, dead_count, None
        mine: _Usage = (0, ())
        seen = 1
        max_prefix = 0
        best: tuple[list[tuple[bool, int]], list[S], list[int]] | None = None
        best_depth = -1
        best_lin = 0
        if record:
            best, best_depth = ([], [initial], list(range(n))), 0
        # frame: [moves, next move, required?, index, state before the move]
        stack: list[list[Any]] = [[self.expand(initial, state_key(initial) if has_optional else None), 0, None, -1, None]]
        while stack:
            frame = stack[-1]
            moves = frame[0]
            k = frame[1]
            if k < len(moves):
                frame[1] = k + 1
                is_required, idx, s2 = moves[k]
                if is_required:
                    lift(idx)
                    lin |= 1 << idx
                    placed += 1
                    if watched[idx] is not None:
                        optional.required_placed(watched[idx])
                    if placed == n:
                        order = [(f[2], f[3]) for f in stack[1:]] + [(True, idx)]
                        return self._result(True, order, seen, n)
                else:
                    optional.place(idx)
                p = (~lin & (lin + 1)).bit_length() - 1  # the first required op not placed yet
                config = (p, lin >> p, s2)
                if has_optional:
                    s2_key = state_key(s2)
                    if s2_key in by_key:  # (None never is) some placed ops may be revived
                        live, dead = optional.usage(s2_key)
                    else:
                        live, dead = optional.live, dead_count
                    mine = (live, tuple(dead.items()) if dead else ())
                known = memo.get(config)
                if known is None:
                    memo[config] = [mine]
                    covered = False
                elif _covered(known, live, dead):
                    covered = True
                else:
                    known.append(mine)
                    covered = False
                if not covered:
                    seen += 1
                    if seen > max_states or self.work > max_work:
                        return self._result(None, None, seen, max_prefix, best)
                    if p > max_prefix:  # noqa: PLR1730 (a call to max() costs more, once per configuration)
                        max_prefix = p
                    if record and placed > best_depth:
                        path = [(f[2], f[3]) for f in stack[1:]] + [(is_required, idx)]
                        done = {i for r, i in path if r}
                        best = (path, [s2], [i for i in range(n) if i not in done])
                        best_depth, best_lin = placed, lin
                    elif record and lin == best_lin and best and s2 not in best[1] and len(best[1]) < 100:
                        best[1].append(s2)  # the same ops placed, other optional ops taking effect
                    stack.append([self.expand(s2, s2_key), 0, is_required, idx, state])
                    state = s2
                    continue
            else:  # every move tried: backtrack
                stack.pop()
                if frame[2] is None:
                    break
                is_required, idx, state = frame[2], frame[3], frame[4]
            if is_required:
                unlift(idx)
                lin ^= 1 << idx
                placed -= 1
                if watched[idx] is not None:
                    optional.required_unplaced(watched[idx])
            else:
                optional.unplace(idx)
        return self._result(False, None, seen, max_prefix, best)

    def _result(
        self,
        ok: bool | None,
        order: list[tuple[bool, int]] | None,
        explored: int,
        max_prefix: int,
        deepest: tuple[list[tuple[bool, int]], list[S], list[int]] | None = None,
    ) -> SearchResult[S]:
        """The result, optional ops named by their index into the `optional` given."""
        to_given = self.optional.order
        if to_given != list(range(len(to_given))):  # (given in call order, they keep their indices)

            def given(path: list[tuple[bool, int]]) -> list[tuple[bool, int]]:
                return [(r, i if r else to_given[i]) for r, i in path]

            if order is not None:
                order = given(order)
            if deepest is not None:
                deepest = (given(deepest[0]), deepest[1], deepest[2])
        return SearchResult(ok, order, explored, max_prefix, deepest, self.work)


def search(
    model: Model[S, Op],
    initial: S,
    required: Sequence[tuple[float, float | None, Op]],
    optional: Sequence[tuple[float, Op]] = (),
    max_states: int = DEFAULT_MAX_STATES,
    *,
    record: bool = False,
    reusable: bool = False,
) -> SearchResult[S]:
    """`Search(...).run()`."""
    return Search(model, initial, required, optional, max_states, record=record, reusable=reusable).run()


# --------------------------------------------------------------------------------------------
# the fielding run's model


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
        return f"{state.status} with ETag {tag}" + ("" if state.resumable else " (not resumable)")

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


def _may_change(op: Entry) -> bool:
    """Could this operation's recorded answer have changed the run? (else it can be left out)"""
    return not FIELDING_RUN.never_changes(op.observation)


def _search(
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


# --------------------------------------------------------------------------------------------
# the verdict


@dataclass(frozen=True)
class _Deepest:
    """The longest order found for a failing (small) history: where every attempt got stuck."""

    placed: tuple[tuple[Entry, bool], ...]  # (operation, relaxed: left out of the counterexample)
    states: tuple[RunState, ...]  # the states reached with those operations placed (left-out writes vary)
    stuck: tuple[Entry, ...]  # the counterexample's operations that could not be placed after it


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


def _call_key(ops: Sequence[Entry]) -> Callable[[Entry], tuple[float, int]]:
    index = {id(op): i for i, op in enumerate(ops)}
    return lambda op: (op.call, index[id(op)])


def render_timeline(ops: Sequence[Entry], numbers: Sequence[int] | None = None) -> str:
    """Operations drawn on one time axis, one lane per client: `[call ==== return]` and the answer.

    `numbers` (optional) labels the operations in call order; by default #1, #2, ... in call order.
    An operation without an answer is drawn `[---->?` up to the end of the axis.
    """
    if not ops:
        return "(no operations)"
    ordered = sorted(ops, key=_call_key(ops))
    labels = list(numbers) if numbers is not None else list(range(1, len(ordered) + 1))
    label_of = {id(op): n for op, n in zip(ordered, labels, strict=True)}
    t0 = min(op.call for op in ordered)
    ends = [op.ret for op in ordered if op.ret is not None and not op.unknown] + [op.call for op in ordered]
    span = max(ends) - t0
    scale, unit = (1.0, "s") if span >= 1.0 else (1000.0, "ms")
    width = TIMELINE_WIDTH

    def col(t: float) -> int:
        return 0 if span <= 0 else min(width - 1, round((t - t0) / span * (width - 1)))

    def fmt(t: float) -> str:
        return f"{(t - t0) * scale:.3f}"

    lanes: dict[str, list[Entry]] = {}
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
# analyse and the counterexample


class _Minimizer:
    """Sub-histories of one failing history H (sorted by call), judged with the rest relaxed."""

    def __init__(self, ops: list[Entry], initial: RunState, max_states: int, max_checks: int) -> None:
        self.ops = ops
        self.relaxable = [_may_change(op) for op in ops]  # else left out, not relaxed
        self.initial = initial
        self.budget = max_states  # states, all re-checks together
        self.max_checks = max_checks
        self.checks = 0
        self.explored = 0

    def split(self, kept: Sequence[int]) -> tuple[list[Entry], list[Entry]]:
        keep = set(kept)
        real = [self.ops[k] for k in sorted(keep)]
        limit = max((op.ret for op in real if op.ret is not None), default=_INF)
        if any(op.ret is None for op in real):
            limit = _INF
        relaxable = self.relaxable
        optional = [op for k, op in enumerate(self.ops) if relaxable[k] and op.call <= limit and k not in keep]
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


def _first_true(lo: int, hi: int, test: Callable[[int], bool]) -> int:
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
    history: list[Entry], real_pos: list[int], initial: RunState, max_prefix: int, max_states: int
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


def analyse(history: Sequence[Entry], initial: RunState, *, max_states: int = DEFAULT_MAX_STATES) -> Analysis:
    """Is `history` (operations on one run, any order) linearizable from `initial`?"""
    if max_states < 1:
        raise ValueError("max_states must be at least 1")
    for op in history:
        if op.ret is not None and op.ret < op.call:
            raise ValueError(f"operation returns before its call: {op}")
    ops = sorted(history, key=_call_key(history))
    real_pos = [k for k, op in enumerate(ops) if not op.unknown]
    unknown = [op for op in ops if op.unknown and _may_change(op)]
    real = [ops[k] for k in real_pos]
    result = _search(real, unknown, initial, max_states)
    base = Analysis(None, initial=initial, history_size=len(ops), unanswered=len(ops) - len(real_pos), checks=1,
                   states_explored=result.explored)  # fmt: skip
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
    kept, prefix_size, mini = _counterexample(ops, real_pos, initial, result.max_prefix, max_states)
    counterexample = [ops[k] for k in kept]
    # where every order of the counterexample gets stuck, for explain()
    real_ce, optional_ce = mini.split(kept)
    final = _search(real_ce, optional_ce, initial, max_states, record=True, reusable=True)
    deepest = None
    if final.deepest is not None:
        path, states, stuck = final.deepest
        placed = tuple((real_ce[i], False) if answered else (optional_ce[i], True) for answered, i in path)
        deepest = _Deepest(placed, tuple(states), tuple(real_ce[i] for i in stuck))
    return replace(
        base, ok=False, counterexample=counterexample, prefix_size=prefix_size,
        states_explored=result.explored + mini.explored + final.explored, checks=1 + mini.checks + 1,
        _deepest=deepest,
    )  # fmt: skip
