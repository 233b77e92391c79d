"""The WGL search of fieldproof.linearizability on its own: its parts (the entry list, the index of
optional operations, the search loop) and the search over toy models (a register, a
compare-and-set register, a counter, a versioned register whose version may be unknown),
against a brute force over every order. Nothing here is a fielding run.
"""

from __future__ import annotations

import dis
import itertools
import math
import types
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldproof.linearizability import checker
from fieldproof.linearizability.checker import FORCED
from fieldproof.linearizability import (
    FIELDING_RUN,
    EntryList,
    Model,
    OptionalIndex,
    Search,
    SearchResult,
    search,
)
from fieldproof.model import Observation

Required = tuple[float, float | None, Any]  # (call, return, op)
Optional_ = tuple[float, Any]  # (call, op)


# --------------------------------------------------------------------------------------------
# toy models


@dataclass(frozen=True)
class Read:
    value: int


@dataclass(frozen=True)
class Write:
    value: int


@dataclass(frozen=True)
class Cas:
    """Compare-and-set: `ok` True swapped, False refused (the value was not `expected`), None no answer."""

    expected: int
    new: int
    ok: bool | None = True


@dataclass(frozen=True)
class Inc:
    """Add one; `answered` False: no answer (it added one, or not)."""

    answered: bool = True


@dataclass(frozen=True)
class FetchInc:
    """Add one, answering the value before."""

    before: int


class Keyless:
    """Facts of a model without keys: every op may act everywhere, no symmetry (always correct)."""

    def never_changes(self, op: Any) -> bool:
        return False

    def state_key(self, state: Any) -> Hashable | None:
        return None

    def guard_key(self, op: Any) -> Hashable | None:
        return None

    def new_key(self, op: Any) -> Hashable | None:
        return None

    def kind(self, op: Any) -> Hashable:
        return op  # type: ignore[no-any-return]

    def describe_state(self, state: Any) -> str:
        return repr(state)

    def describe_op(self, op: Any) -> str:
        return repr(op)


class Register(Keyless):
    """An integer register: writes set it, reads see it."""

    def step(self, state: int, op: Read | Write) -> list[int]:
        if isinstance(op, Write):
            return [op.value]
        return [state] if op.value == state else []

    def never_changes(self, op: Read | Write) -> bool:
        return isinstance(op, Read)


class CasRegister(Keyless):
    """A register with compare-and-set; a CAS can only change a state whose value is `expected`:
    keyed by the value."""

    def step(self, state: int, op: Read | Write | Cas) -> list[int]:
        if isinstance(op, Cas):
            swapped = [op.new] if state == op.expected else []
            if op.ok is None:
                return [state, *swapped]
            if op.ok:
                return swapped
            return [state] if state != op.expected else []
        return REGISTER.step(state, op)

    def never_changes(self, op: Read | Write | Cas) -> bool:
        return isinstance(op, Read) or (isinstance(op, Cas) and op.ok is False)

    def state_key(self, state: int) -> Hashable | None:
        return state

    def guard_key(self, op: Read | Write | Cas) -> Hashable | None:
        return op.expected if isinstance(op, Cas) else None

    def new_key(self, op: Read | Write | Cas) -> Hashable | None:
        if isinstance(op, Cas):
            return op.new
        return op.value if isinstance(op, Write) else None

    def kind(self, op: Read | Write | Cas) -> Hashable:
        return ("cas", op.new, op.ok) if isinstance(op, Cas) else op


class Counter(Keyless):
    def step(self, state: int, op: Read | Inc | FetchInc) -> list[int]:
        if isinstance(op, Inc):
            return [state + 1] if op.answered else [state, state + 1]
        if isinstance(op, FetchInc):
            return [state + 1] if state == op.before else []
        return [state] if op.value == state else []

    def never_changes(self, op: Read | Inc | FetchInc) -> bool:
        return isinstance(op, Read)


@dataclass(frozen=True)
class Bump:
    """Set the version to `to` (None: a version nobody saw) if it is `if_match` (None: whatever it is)."""

    if_match: int | None
    to: int | None
    answered: bool = True


class Versioned(Keyless):
    """A version number that may be unknown (None), as a fielding run's ETag may: a read learns it."""

    def step(self, state: int | None, op: Bump | Read) -> list[int | None]:
        if isinstance(op, Read):
            return [op.value] if state is None or state == op.value else []
        matches = state is None or op.if_match is None or op.if_match == state
        taken = [op.to] if matches else []
        return taken if op.answered else [state, *taken]

    def never_changes(self, op: Bump | Read) -> bool:
        return isinstance(op, Read)

    def state_key(self, state: int | None) -> Hashable | None:
        return state

    def guard_key(self, op: Bump | Read) -> Hashable | None:
        return op.if_match if isinstance(op, Bump) else None

    def new_key(self, op: Bump | Read) -> Hashable | None:
        return op.to if isinstance(op, Bump) else op.value

    def kind(self, op: Bump | Read) -> Hashable:
        return ("bump", op.to, op.answered) if isinstance(op, Bump) else op


REGISTER = Register()
CAS, COUNTER, VERSIONED = CasRegister(), Counter(), Versioned()


def _is_a_model(model: Model[Any, Any]) -> Model[Any, Any]:
    return model  # mypy checks the toy models against the protocol here


TOY_MODELS = [_is_a_model(m) for m in (REGISTER, CAS, COUNTER, VERSIONED)]


# --------------------------------------------------------------------------------------------
# a brute force: every order of the required ops and of every subset of the optional ones


def respects_real_time(order: Sequence[tuple[float, float | None]]) -> bool:
    """(call, return) in order: none placed after an op that returned before it was called."""
    earliest_return_after = math.inf
    for call, ret in reversed(order):
        if earliest_return_after < call:
            return False
        if ret is not None:
            earliest_return_after = min(earliest_return_after, ret)
    return True


def replays(model: Model[Any, Any], initial: Any, ops: Sequence[Any]) -> bool:
    states = {initial}
    for op in ops:
        states = {after for s in states for after in model.step(s, op)}
        if not states:
            return False
    return True


def brute_force(model: Model[Any, Any], initial: Any, required: Sequence[Required],
                optional: Sequence[Optional_] = ()) -> bool:  # fmt: skip
    answered = [(call, ret, op) for call, ret, op in required]
    for r in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, r):
            every = [*answered, *((call, None, op) for call, op in chosen)]
            for order in itertools.permutations(every):
                if respects_real_time([(c, t) for c, t, _ in order]) and replays(model, initial, [o for _, _, o in order]):
                    return True
    return False


def assert_valid_order(model: Model[Any, Any], initial: Any, required: Sequence[Required],
                       optional: Sequence[Optional_], result: SearchResult[Any]) -> None:  # fmt: skip
    assert result.ok is True and result.order is not None
    placed = [(required[i][0], required[i][1], required[i][2]) if r else (optional[i][0], None, optional[i][1])
              for r, i in result.order]  # fmt: skip
    assert sorted(i for r, i in result.order if r) == list(range(len(required)))  # each required op once
    assert len({i for r, i in result.order if not r}) == sum(1 for r, _ in result.order if not r)
    assert respects_real_time([(c, t) for c, t, _ in placed])
    assert replays(model, initial, [o for _, _, o in placed])


# --------------------------------------------------------------------------------------------
# the entry list


def walk(entries: EntryList) -> list[tuple[float, bool, int]]:
    """(time, call?, op) of the entries still in the list, in list order."""
    out, e = [], entries.next[entries.head]
    while e != EntryList.END:
        out.append((entries.time[e], entries.is_call[e], entries.op[e]))
        e = entries.next[e]
    return out


def test_the_entry_list_sorts_calls_and_returns_by_time_a_call_first_at_a_tie() -> None:
    # op 0: [0, 5]; op 1: [5, 7] (called at the moment op 0 returns: they overlap); op 2: no return
    entries = EntryList([0, 5, 1], [5, 7, None])
    assert walk(entries) == [(0, True, 0), (1, True, 2), (5, True, 1), (5, False, 0), (7, False, 1),
                             (math.inf, False, 2)]  # fmt: skip
    assert [entries.time[entries.call_entry[i]] for i in range(3)] == [0, 5, 1]
    assert [entries.time[entries.return_entry[i]] for i in range(3)] == [5, 7, math.inf]


def test_the_window_is_the_ops_called_before_the_first_return_left() -> None:
    entries = EntryList([0, 1, 6], [5, 7, 8])
    assert entries.window() == ([0, 1], 5)
    entries.lift(0)  # placed: its return no longer bounds the others
    assert entries.window() == ([1, 2], 7)
    entries.lift(1)
    entries.lift(2)
    assert entries.window() == ([], math.inf)
    assert EntryList([], []).window() == ([], math.inf)


def test_an_op_without_a_return_never_bounds_the_window() -> None:
    entries = EntryList([0, 3], [None, 4])
    assert entries.window() == ([0, 1], 4)
    entries.lift(1)
    assert entries.window() == ([0], math.inf)


intervals = st.lists(
    st.tuples(st.integers(0, 6), st.none() | st.integers(0, 4)).map(lambda t: (t[0], None if t[1] is None else t[0] + t[1])),
    min_size=1, max_size=8,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(intervals=intervals, data=st.data())
def test_lift_then_unlift_in_reverse_order_puts_the_list_back(intervals: list[tuple[int, int | None]],
                                                               data: st.DataObject) -> None:  # fmt: skip
    entries = EntryList([c for c, _ in intervals], [r for _, r in intervals])
    full = walk(entries)
    assert full == sorted(full, key=lambda x: (x[0], not x[1], x[2]))
    arrays = (list(entries.next), list(entries.prev))
    lifted = data.draw(st.permutations(range(len(intervals))).map(lambda p: p[: len(p) // 2 + 1]), label="lifted")
    for i in lifted:
        entries.lift(i)
        assert walk(entries) == [x for x in full if x[2] not in lifted[: lifted.index(i) + 1]]
    for i in reversed(lifted):
        entries.unlift(i)
    assert walk(entries) == full
    assert (entries.next, entries.prev) == arrays


# --------------------------------------------------------------------------------------------
# the index of optional operations


def test_optional_ops_are_looked_up_by_their_guard_key() -> None:
    optional = [(0, Cas(1, 2)), (1, Cas(3, 4)), (2, Write(9)), (3, Cas(1, 5))]
    index = OptionalIndex(CAS, optional, [])
    assert index.by_key == {1: [0, 3], 3: [1]} and index.unguarded == [2]
    moves: list[tuple[bool, int, int]] = []
    work = index.moves(1, CAS.state_key(1), math.inf, moves)
    assert moves == [(False, 0, 2), (False, 2, 9), (False, 3, 5)]  # not the CAS that expects 3
    assert work == 6  # three looked at, three steps
    moves.clear()
    index.moves(7, 7, math.inf, moves)
    assert moves == [(False, 2, 9)]


def test_optional_ops_are_kept_by_call_and_named_by_their_given_index() -> None:
    optional = [(5, Cas(0, 1)), (0, Cas(5, 6))]
    index = OptionalIndex(CAS, optional, [])
    assert index.calls == [0, 5] and index.order == [1, 0]
    result = search(CAS, 0, [(6, 7, Read(1))], optional)
    assert result.ok is True and result.order == [(False, 0), (True, 0)]  # 0: Cas(0, 1), as given


def test_optional_ops_called_after_the_bound_are_not_tried() -> None:
    index = OptionalIndex(CAS, [(0, Cas(1, 2)), (5, Cas(1, 3))], [])
    moves: list[tuple[bool, int, int]] = []
    index.moves(1, 1, 4.0, moves)
    assert moves == [(False, 0, 2)]


def test_an_optional_op_is_only_a_move_where_it_changes_the_state() -> None:
    index = OptionalIndex(CAS, [(0, Cas(1, 2, ok=None)), (0, Write(1))], [])
    moves: list[tuple[bool, int, int]] = []
    index.moves(1, 1, math.inf, moves)
    assert moves == [(False, 0, 2)]  # not "it did not act" (the same as never placed), nor Write(1)


def test_a_placed_op_is_not_tried_again_unless_reusable() -> None:
    optional = [(0, Cas(1, 2))]
    index = OptionalIndex(CAS, optional, [])
    index.place(0)
    moves: list[tuple[bool, int, int]] = []
    assert index.moves(1, 1, math.inf, moves) == 1 and moves == []
    index.unplace(0)
    assert index.moves(1, 1, math.inf, moves) == 2 and moves == [(False, 0, 2)]
    reusable = OptionalIndex(CAS, optional, [], reusable=True)
    reusable.place(0)
    moves.clear()
    reusable.moves(1, 1, math.inf, moves)
    assert moves == [(False, 0, 2)]
    assert reusable.usage(1) == (0, {})  # it remembers nothing of what was placed


def test_an_op_is_dead_once_nothing_left_can_make_its_guard_key() -> None:
    # optional bumps from 1 and from 2; one required op still to place makes 2 (none makes 1)
    optional = [(0, Bump(1, 5, answered=False)), (0, Bump(2, 6, answered=False))]
    index = OptionalIndex(VERSIONED, optional, [VERSIONED.new_key(Bump(None, 2))])
    assert index.dead(0) and not index.dead(1)
    index.place(0)
    index.place(1)
    assert index.usage(None) == (0b10, {index.kinds[0]: 1})  # the live one by bit, the dead one by kind
    index.required_placed(2)  # the last op that could make 2 is placed: the bump from 2 dies too
    assert index.dead(1)
    assert index.usage(None) == (0, {index.kinds[0]: 1, index.kinds[1]: 1})
    # where the state's key is 2 the bump from 2 is not dead: it can act there
    assert index.usage(2) == (0b10, {index.kinds[0]: 1})
    index.required_unplaced(2)
    assert not index.dead(1) and index.usage(None) == (0b10, {index.kinds[0]: 1})
    index.unplace(1)
    index.unplace(0)
    assert index.usage(None) == (0, {}) and index.live == 0 and not index.dead_count


def test_where_the_key_is_unknown_one_dead_op_of_each_kind_is_tried() -> None:
    optional = [(0, Bump(7, 1, answered=False)), (1, Bump(8, 1, answered=False)),  # dead, one kind
                (2, Bump(9, 2, answered=False)),  # dead, another kind
                (3, Bump(1, 1, answered=False))]  # guarded by a key an op makes: alive  # fmt: skip
    index = OptionalIndex(VERSIONED, optional, [])
    moves: list[tuple[bool, int, int | None]] = []
    index.moves(None, None, math.inf, moves)
    assert moves == [(False, 0, 1), (False, 2, 2), (False, 3, 1)]
    index.place(0)  # the first of its kind is used up: the next one stands for the kind now
    moves.clear()
    index.moves(None, None, math.inf, moves)
    assert moves == [(False, 1, 1), (False, 2, 2), (False, 3, 1)]


# --------------------------------------------------------------------------------------------
# the search loop, on toy models


def test_a_sequential_register_history() -> None:
    required = [(0, 1, Write(1)), (2, 3, Read(1)), (4, 5, Write(2)), (6, 7, Read(2))]
    result = search(REGISTER, 0, required)
    assert result.ok is True and result.order == [(True, 0), (True, 1), (True, 2), (True, 3)]
    stale = [*required[:3], (6, 7, Read(1))]
    assert search(REGISTER, 0, stale).ok is False


def test_a_read_overlapping_a_write_may_see_either_value() -> None:
    for seen in (0, 1):
        required = [(0, 10, Write(1)), (2, 3, Read(seen))]
        result = search(REGISTER, 0, required)
        assert_valid_order(REGISTER, 0, required, [], result)
    assert search(REGISTER, 0, [(0, 10, Write(1)), (2, 3, Read(2))]).ok is False
    assert search(REGISTER, 0, [(0, 1, Write(1)), (2, 3, Read(0))]).ok is False  # after it returned


def test_two_overlapping_compare_and_sets_from_one_value_cannot_both_win() -> None:
    both = [(0, 10, Cas(0, 1)), (1, 5, Cas(0, 2))]
    assert search(CAS, 0, both).ok is False
    one_loses = [(0, 10, Cas(0, 1)), (1, 5, Cas(0, 2, ok=False))]
    result = search(CAS, 0, one_loses)
    assert_valid_order(CAS, 0, one_loses, [], result)
    assert result.order == [(True, 0), (True, 1)]  # the loser after the winner


def test_a_compare_and_set_without_an_answer_may_take_effect_or_not() -> None:
    lost = [(0, Cas(0, 1, ok=None))]
    took = [(5, 6, Read(1))]
    result = search(CAS, 0, took, lost)
    assert_valid_order(CAS, 0, took, lost, result)
    assert result.order == [(False, 0), (True, 0)]
    did_not = [(5, 6, Read(0))]
    assert search(CAS, 0, did_not, lost).order == [(True, 0)]  # never placed
    assert search(CAS, 0, [(5, 6, Read(2))], lost).ok is False


def test_an_op_without_an_answer_may_act_after_later_ops() -> None:
    # no return bound: it took effect between the two reads
    lost = [(0, Inc(answered=False))]
    required = [(1, 2, Read(0)), (3, 4, Read(1))]
    result = search(COUNTER, 0, required, lost)
    assert_valid_order(COUNTER, 0, required, lost, result)
    assert result.order == [(True, 0), (False, 0), (True, 1)]
    assert search(COUNTER, 0, [(1, 2, Read(1)), (3, 4, Read(0))], lost).ok is False
    called_late = [(5, Inc(answered=False))]  # called after the read returned: it cannot explain it
    assert search(COUNTER, 0, [(1, 2, Read(1))], called_late).ok is False


def test_a_counter_with_fetch_and_increment() -> None:
    required = [(0, 10, FetchInc(1)), (1, 2, FetchInc(0)), (3, 4, Read(2))]
    result = search(COUNTER, 0, required)
    assert_valid_order(COUNTER, 0, required, [], result)
    assert search(COUNTER, 0, [(0, 10, FetchInc(0)), (1, 2, FetchInc(0))]).ok is False


def test_an_answer_that_never_changes_the_state_is_placed_at_once() -> None:
    # the read is possible now and changes nothing: nothing else is tried first
    required = [(0, 10, Write(1)), (1, 10, Read(0)), (2, 10, Write(2))]
    moves = Search(REGISTER, 0, required).expand(0, None)
    assert moves == [(True, 1, 0)]
    # a model that says nothing about its ops gets every move
    keyless = type("KeylessRegister", (Keyless,), {"step": Register.step})()
    assert Search(keyless, 0, required).expand(0, None) == [(True, 0, 1), (True, 1, 0), (True, 2, 2)]


def test_answers_that_change_nothing_are_placed_together_in_one_move() -> None:
    # the reads of the current value go at once; once read 3 is placed its return leaves the list,
    # which lets read 4 (called after it) in too; the write still pending bounds the move
    required = [(0, 10, Read(0)), (1, 10, Write(1)), (2, 10, Read(0)), (3, 4, Read(0)), (5, 10, Read(0))]
    assert Search(REGISTER, 0, required).expand(0, None) == [(FORCED, (0, 2, 3, 4), 0)]
    result = search(REGISTER, 0, required)
    assert_valid_order(REGISTER, 0, required, [], result)
    assert [i for _, i in result.order or []] == [0, 2, 3, 4, 1]


def test_a_configuration_seen_before_is_not_explored_again() -> None:
    # n concurrent writes of one value: every order ends in the same state, so the memo keeps the
    # search to the subsets of writes placed, not their orders
    n = 8
    required = [(0, 100, Write(1)) for _ in range(n)] + [(101, 102, Read(2))]
    result = search(REGISTER, 0, required)
    assert result.ok is False
    assert result.explored <= 2**n + 1


def test_max_states_gives_up() -> None:
    required = [(0, 100, Write(v)) for v in range(6)] + [(101, 102, Read(9))]
    result = search(REGISTER, 0, required, max_states=10)
    assert result.ok is None and result.explored > 10
    assert search(REGISTER, 0, required).ok is False


def test_record_keeps_the_deepest_order_and_where_it_got_stuck() -> None:
    required = [(0, 1, Write(1)), (2, 3, Read(1)), (4, 5, Read(2))]
    result = search(REGISTER, 0, required, record=True)
    assert result.ok is False and result.deepest is not None
    path, states, stuck = result.deepest
    assert path == [(True, 0), (True, 1)] and states == [1] and stuck == [2]
    assert result.max_prefix == 2


def test_an_empty_history_is_linearizable() -> None:
    assert search(REGISTER, 0, []).ok is True
    assert search(REGISTER, 0, [], [(0, Write(1))]).order == []


# every toy model against the brute force, on small random histories

reads_writes = st.one_of(st.builds(Read, st.integers(0, 2)), st.builds(Write, st.integers(0, 2)))
cas_ops = st.one_of(reads_writes, st.builds(Cas, st.integers(0, 2), st.integers(0, 2), st.sampled_from([True, False])))
counter_ops = st.one_of(st.builds(Read, st.integers(0, 3)), st.just(Inc()), st.builds(FetchInc, st.integers(0, 2)))
versioned_ops = st.one_of(st.builds(Read, st.integers(1, 3)),
                          st.builds(Bump, st.none() | st.integers(1, 3), st.none() | st.integers(1, 3)))  # fmt: skip
lost_ops: dict[str, st.SearchStrategy[Any]] = {
    "register": st.builds(Write, st.integers(0, 2)),
    "cas": st.builds(Cas, st.integers(0, 2), st.integers(0, 2), st.just(None)),
    "counter": st.just(Inc(answered=False)),
    "versioned": st.builds(Bump, st.none() | st.integers(1, 3), st.none() | st.integers(1, 3), st.just(False)),
}
toys: dict[str, tuple[Model[Any, Any], st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "register": (REGISTER, reads_writes, st.integers(0, 2)),
    "cas": (CAS, cas_ops, st.integers(0, 2)),
    "counter": (COUNTER, counter_ops, st.integers(0, 1)),
    "versioned": (VERSIONED, versioned_ops, st.none() | st.integers(1, 3)),
}


def timed(ops: st.SearchStrategy[Any]) -> st.SearchStrategy[Required]:
    return st.builds(lambda call, length, op: (float(call), float(call + length), op),
                     st.integers(0, 6), st.integers(0, 3), ops)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(toys)), data=st.data())
def test_the_search_agrees_with_a_brute_force_on_toy_models(name: str, data: st.DataObject) -> None:
    model, ops, initials = toys[name]
    initial = data.draw(initials, label="initial")
    required = sorted(data.draw(st.lists(timed(ops), max_size=5), label="required"), key=lambda r: r[0])
    optional = data.draw(st.lists(st.tuples(st.integers(0, 6).map(float), lost_ops[name]), max_size=2), label="optional")
    result = search(model, initial, required, optional)
    assert result.ok is brute_force(model, initial, required, optional)
    if result.ok:
        assert_valid_order(model, initial, required, optional, result)
    if result.ok:  # relaxed (an optional op may act more than once): never less linearizable
        assert search(model, initial, required, optional, reusable=True).ok is True


def overlapping(ops: st.SearchStrategy[Any]) -> st.SearchStrategy[Required]:
    """Long intervals over a short time: most ops overlap several others, there is rarely a moment
    when none is pending."""
    return st.builds(lambda call, length, op: (float(call), float(call + length), op),
                     st.integers(0, 4), st.integers(2, 6), ops)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(toys)), data=st.data())
def test_the_search_agrees_with_a_brute_force_where_ops_overlap_and_most_change_nothing(name: str, data: st.DataObject) -> None:
    model, ops, initials = toys[name]
    reads = st.builds(Read, st.integers(0, 3)) if name != "versioned" else st.builds(Read, st.integers(1, 3))
    initial = data.draw(initials, label="initial")
    drawn = data.draw(st.lists(overlapping(st.one_of(reads, reads, ops)), max_size=6), label="required")
    required = sorted(drawn, key=lambda r: r[0])
    optional = data.draw(st.lists(st.tuples(st.integers(0, 4).map(float), lost_ops[name]), max_size=1), label="optional")
    result = search(model, initial, required, optional)
    assert result.ok is brute_force(model, initial, required, optional)
    if result.ok:
        assert_valid_order(model, initial, required, optional, result)


# --------------------------------------------------------------------------------------------
# the generic part knows no fielding run; the fielding run's model says its own facts


FIELDING_NAMES = {"fielding_model", "model", "contract", "RunState", "Observation", "Entry", "FIELDING_RUN", "FieldingRunModel"}


def _globals_read(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _globals_read(const)
    return names


@pytest.mark.parametrize("part", [checker.EntryList, checker.OptionalIndex, checker.Search,
                                  checker.search, checker._covered, checker._distinct])  # fmt: skip
def test_the_generic_search_does_not_use_the_fielding_run_model(part: Callable[..., Any]) -> None:
    codes = [v.__code__ for v in vars(part).values() if isinstance(v, types.FunctionType)] if isinstance(part, type) \
        else [part.__code__]  # fmt: skip
    assert codes
    for code in codes:
        assert not _globals_read(code) & FIELDING_NAMES, code.co_name


def test_the_fielding_run_model_says_which_answers_never_change_the_run() -> None:
    def never(operation: str, status: int | None) -> bool:
        return FIELDING_RUN.never_changes(Observation(operation, 'W/"1"', status, None, None))

    assert never("get", 200) and never("get", 429) and never("get", None)
    for write in ("pause", "resume", "complete"):
        assert never(write, 412) and never(write, 422) and never(write, 429)
        assert not never(write, 204) and not never(write, None)
    assert not never("other", 200)  # not an operation of the contract: nothing is assumed


def test_the_fielding_run_model_keys() -> None:
    seen = Observation("resume", 'W/"3"', 204, 'W/"4"')
    assert FIELDING_RUN.guard_key(seen) == 'W/"3"' and FIELDING_RUN.new_key(seen) == 'W/"4"'
    assert FIELDING_RUN.guard_key(Observation("resume", " * ", None)) is None
    assert FIELDING_RUN.guard_key(Observation("resume", None, None)) is None
    assert FIELDING_RUN.kind(seen) == FIELDING_RUN.kind(Observation("resume", 'W/"9"', 204, 'W/"4"'))
    assert FIELDING_RUN.describe_op(seen) == 'resume If-Match W/"3" -> 204 W/"4"'
