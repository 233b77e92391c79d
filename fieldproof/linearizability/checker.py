"""The Wing & Gong search with Lowe's memoisation (the "WGL" algorithm of Porcupine and Knossos),
over any sequential `Model`: it knows nothing of fielding runs.

A history is linearizable when its entries can be put in one order that respects real time (an
entry that returned before another was called comes first) and that the model accepts from the
initial state. The call and return events sit in one list sorted by time (`EntryList`); the
entries that may come next are those called before the earliest pending return; each outcome of
`Model.step` is a branch; a configuration (which entries are placed, the model state) is explored
once; a dead end backtracks. The search is iterative (an explicit stack), so a long history is no
recursion problem.

Two reductions keep it near-linear when concurrency is bounded; each rests on a fact the model
states (`Model`), and a model that claims none is searched correctly, only slower:

* an entry that never changes the state (`never_changes`) and is possible where it stands is
  placed at once, and nothing else is tried there: placing it earlier never hurts (everything
  still pending returned after its call; placed later it could at most have learnt what the state
  did not know, and the model accepts more with an unknown key than with a known one);
* an optional entry (no answer: it may act at any time after its call, or never) is only tried
  where it can change the state, looked up by its guard key (`OptionalIndex`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

DEFAULT_MAX_STATES = 1_000_000  # configurations explored by one analysis before it gives up
WORK_PER_STATE = 16  # ... or step calls + optional ops looked at, this many per allowed configuration

_INF = math.inf
_END = -1  # after the last entry of an EntryList

S = TypeVar("S", bound=Hashable)  # a model's state (a memo key: hashable)
Op = TypeVar("Op")  # a model's operation: what one request did and saw
Op_contra = TypeVar("Op_contra", contravariant=True)


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

    def moves(self, state: S, key: Hashable | None, bound: float, out: list[Move[S]]) -> int:
        """Append to `out` the (OPTIONAL, j, outcome) of each optional op called by `bound` that
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
                    out.append((OPTIONAL, j, s2))
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


# a move: (OPTIONAL, index, outcome), (REQUIRED, index, outcome) or (FORCED, required indices, outcome)
OPTIONAL, REQUIRED, FORCED = 0, 1, 2
Move = tuple[int, Any, S]


def _path(stack: list[list[Any]], kind: int, idx: Any) -> list[tuple[bool, int]]:
    """The ops placed by the moves on `stack` and then (kind, idx): (required?, index)."""
    path: list[tuple[bool, int]] = []
    for move_kind, move_idx in [*((f[2], f[3]) for f in stack[1:]), (kind, idx)]:
        if move_kind == FORCED:
            path.extend((True, i) for i in move_idx)
        else:
            path.append((move_kind == REQUIRED, move_idx))
    return path


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
        self._outcomes_in: S | None = None
        self._outcomes: dict[int, list[S]] = {}
        entries = self.entries
        # what `expand` reads, in one attribute: it runs once per configuration
        self._expand_with = (
            entries.next, entries.prev, entries.head, entries.is_call, entries.time, entries.op, self.ops, self.never_changes,
            model.step, self.optional, len(self.optional) > 0, self.optional.by_key, bool(self.optional.unguarded),
        )

    def expand(self, state: S, key: Hashable | None) -> list[Move[S]]:
        """The moves from `state`: (kind, index, outcome), in the order they are tried: kind
        REQUIRED or OPTIONAL and the op's index, or FORCED and a tuple of required ops.
        `key`: `model.state_key(state)` (read only if there are optional ops).

        Ops that change nothing and are possible are placed at once, nothing else tried (see the
        module's docstring); placing one may let more such ops in (its return leaves the list),
        so they are placed in one move, FORCED, and only its end is a configuration of the memo:
        the configurations on the way have that one move and nothing else."""
        (nxt, prv, head, is_call, entry_time, entry_op, ops, never_changes, step,
         optional, has_optional, by_key, unguarded) = self._expand_with
        work = 0
        # a move that changes nothing leaves the very same state, and the next expansion reads the
        # same pending ops in it again: their outcomes are kept until the state changes
        if state is not self._outcomes_in:
            self._outcomes_in, self._outcomes = state, {}
        outcomes = self._outcomes
        forced: list[int] = []
        moves: list[Move[S]] = []
        e = nxt[head]
        bound = _INF
        while e != _END:
            if not is_call[e]:
                bound = entry_time[e]
                break
            i = entry_op[e]
            outs = outcomes.get(i)
            if outs is None:
                work += 1
                outs = outcomes[i] = step(state, ops[i])
            if outs:
                if never_changes[i] and len(outs) == 1 and (outs[0] is state or outs[0] == state):
                    # placed: its return leaves the list, and the scan goes on from the entry
                    # before it (still in the list); the ops before it stay as they were, in this same state
                    forced.append(i)
                    before = prv[e]
                    self.entries.lift(i)
                    e = nxt[before]
                    continue
                if len(outs) == 1:
                    moves.append((REQUIRED, i, outs[0]))
                else:
                    moves.extend([(REQUIRED, i, s2) for s2 in _distinct(outs)])
            e = nxt[e]
        if forced:
            for i in reversed(forced):
                self.entries.unlift(i)
            self.work += work
            return [(REQUIRED, forced[0], state)] if len(forced) == 1 else [(FORCED, tuple(forced), state)]
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
        # which required ops are placed: all before `base` (the first not placed), and bit i of
        # `bits` for op base + i. Shifted as `base` moves on, the int stays as small as the window
        # of pending ops; a bit per op of the whole history would make every update cost O(n).
        base, bits = 0, 0
        placed = 0
        # configurations seen: (base, bits, state) -> what each placed of the optional ops (see `_covered`)
        memo: dict[tuple[int, int, S], list[_Usage]] = {(0, 0, initial): [(0, ())]}
        live, dead, s2_key = 0, dead_count, None
        mine: _Usage = (0, ())
        seen = 1
        max_prefix = 0
        best: tuple[list[tuple[bool, int]], list[S], list[int]] | None = None
        best_depth = -1
        best_lin = (0, 0)
        if record:
            best, best_depth = ([], [initial], list(range(n))), 0
        # frame: [moves, next move, kind, index, state, base and bits before the move]
        stack: list[list[Any]] = [[self.expand(initial, state_key(initial) if has_optional else None), 0, None, -1, None, 0, 0]]
        while stack:
            frame = stack[-1]
            moves = frame[0]
            k = frame[1]
            if k < len(moves):
                frame[1] = k + 1
                kind, idx, s2 = moves[k]
                before_base, before_bits = base, bits
                if kind:
                    if kind == REQUIRED:
                        lift(idx)
                        bits |= 1 << (idx - base)
                        placed += 1
                        if watched[idx] is not None:
                            optional.required_placed(watched[idx])
                    else:
                        for i in idx:
                            lift(i)
                            bits |= 1 << (i - base)
                            if watched[i] is not None:
                                optional.required_placed(watched[i])
                        placed += len(idx)
                    if bits & 1:  # shift out the ops placed from base on
                        shift = (~bits & (bits + 1)).bit_length() - 1
                        bits >>= shift
                        base += shift
                    if placed == n:
                        return self._result(True, _path(stack, kind, idx), seen, n)
                else:
                    optional.place(idx)
                config = (base, bits, s2)
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
                    if base > max_prefix:  # noqa: PLR1730 (a call to max() costs more, once per configuration)
                        max_prefix = base
                    if record and placed > best_depth:
                        path = _path(stack, kind, idx)
                        done = {i for r, i in path if r}
                        best = (path, [s2], [i for i in range(n) if i not in done])
                        best_depth, best_lin = placed, (base, bits)
                    elif record and (base, bits) == best_lin and best and s2 not in best[1] and len(best[1]) < 100:
                        best[1].append(s2)  # the same ops placed, other optional ops taking effect
                    stack.append([self.expand(s2, s2_key), 0, kind, idx, state, before_base, before_bits])
                    state = s2
                    continue
            else:  # every move tried: backtrack
                stack.pop()
                if frame[2] is None:
                    break
                kind, idx, state, before_base, before_bits = frame[2], frame[3], frame[4], frame[5], frame[6]
            if kind == REQUIRED:
                unlift(idx)
                base, bits = before_base, before_bits
                placed -= 1
                if watched[idx] is not None:
                    optional.required_unplaced(watched[idx])
            elif kind:
                for i in reversed(idx):
                    unlift(i)
                    if watched[i] is not None:
                        optional.required_unplaced(watched[i])
                base, bits = before_base, before_bits
                placed -= len(idx)
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
