"""The versioned register (fieldproof.linearizability.register), the model of any conditionally
written resource: hand-made histories, the properties the search's reductions rest on, and the
generic checker against a brute force over every order on tiny generated histories."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldproof.linearizability.register import READ, REGISTER, WRITE, RegisterEntry, RegisterOp, Version, check_register


def T(n: int) -> str:
    return f'"{n}"'


def B(n: int) -> str:
    return f'{{"name":"b{n}"}}'


START = Version(T(1), B(1))


def read(client: str, call: float, ret: float | None, etag: str | None, body: str | None, status: int | None = 200) -> RegisterEntry:
    return RegisterEntry(client, call, ret, RegisterOp(READ, status, etag, body))


def write(client: str, call: float, ret: float | None, if_match: str | None, body: str, status: int | None,
          etag: str | None = None) -> RegisterEntry:
    return RegisterEntry(client, call, ret, RegisterOp(WRITE, status, etag, body, if_match))


def ok(history: list[RegisterEntry], initial: Version = START) -> bool | None:
    return check_register(history, initial).ok


def test_a_sequential_history_of_a_correct_server_is_linearizable() -> None:
    assert ok([read("a", 0, 1, T(1), B(1)), write("a", 2, 3, T(1), B(2), 200, T(2)), read("b", 4, 5, T(2), B(2)),
               write("b", 6, 7, T(1), B(3), 412), write("b", 8, 9, T(2), B(3), 204, T(3)), read("a", 10, 11, T(3), B(3))])


def test_two_overlapping_writes_with_one_tag_one_wins() -> None:
    assert ok([write("a", 0, 2, T(1), B(2), 200, T(2)), write("b", 1, 3, T(1), B(3), 412)])


def test_two_winners_with_one_tag_is_not_linearizable() -> None:
    assert ok([write("a", 0, 2, T(1), B(2), 200, T(2)), write("b", 1, 3, T(1), B(3), 200, T(3))]) is False


def test_a_lost_update_shows_in_the_read_after() -> None:
    """Both writes answered 2xx without ETags (a register cannot tell them apart by tag), but
    only one body may be the resource's afterwards, and the tag cannot have stayed current."""
    assert ok([write("a", 0, 2, T(1), B(2), 204), write("b", 1, 3, T(1), B(3), 204)]) is False


def test_a_write_that_keeps_its_etag_while_the_body_changes_is_not_linearizable() -> None:
    assert ok([write("a", 0, 1, T(1), B(2), 204, T(1))]) is False
    assert ok([write("a", 0, 1, T(1), B(1), 204, T(1))]), "a write that changes nothing may keep its tag"


def test_a_412_to_the_current_tag_is_not_linearizable() -> None:
    assert ok([write("a", 0, 1, T(1), B(2), 412)]) is False


def test_a_stale_read_after_a_write_returned_is_not_linearizable() -> None:
    assert ok([write("a", 0, 1, T(1), B(2), 200, T(2)), read("b", 2, 3, T(1), B(1))]) is False
    assert ok([write("a", 0, 2, T(1), B(2), 200, T(2)), read("b", 1, 3, T(1), B(1))]), "overlapping: either"


def test_an_unanswered_write_may_or_may_not_have_taken_effect() -> None:
    assert ok([write("a", 0, None, T(1), B(2), None), read("b", 1, 2, T(1), B(1))])
    assert ok([write("a", 0, None, T(1), B(2), None), read("b", 1, 2, T(9), B(2))])
    assert ok([write("a", 0, None, T(1), B(2), None), read("b", 1, 2, T(9), B(3))]) is False


def test_a_write_without_an_etag_learns_it_from_the_next_read() -> None:
    assert ok([write("a", 0, 1, T(1), B(2), 204), read("a", 2, 3, T(2), B(2)), write("a", 4, 5, T(2), B(3), 204, T(3))])
    assert ok([write("a", 0, 1, T(1), B(2), 204), read("a", 2, 3, T(2), B(2)), write("a", 4, 5, T(1), B(3), 204, T(3))]) is False


def test_another_refusal_changes_nothing() -> None:
    assert ok([write("a", 0, 1, T(1), B(2), 422), read("a", 2, 3, T(1), B(1))])
    assert ok([write("a", 0, 1, T(1), B(2), 422), read("a", 2, 3, T(2), B(2))]) is False


def test_reads_and_refusals_never_change_the_state() -> None:
    """The fact the search's first reduction rests on: such an op leaves a state as it was, or
    only learns what it did not know."""
    ops = [RegisterOp(READ, status, etag, body) for status in (200, 404, 429, None) for etag in (T(1), T(2), None)
           for body in (B(1), None)]
    ops += [RegisterOp(WRITE, status, etag, B(2), tag) for status in (400, 412, 422, 429) for etag in (T(2), None)
            for tag in (T(1), T(2), None)]
    for state in (START, Version(None, B(1)), Version(T(1), None), Version(None, None)):
        for op in ops:
            assert REGISTER.never_changes(op)
            for after in REGISTER.step(state, op):
                assert after == state or ((state.etag is None or after.etag == state.etag) and (
                    state.body is None or after.body == state.body)), (state, op, after)


def test_a_known_tag_accepts_no_more_than_an_unknown_one() -> None:
    """The search's reductions rest on it: whatever a state with a known tag allows, the same
    state with the tag unknown allows too."""
    ops = [RegisterOp(WRITE, status, etag, body, tag) for status in (200, 204, 412, None) for etag in (T(1), T(2), None)
           for body in (B(1), B(2)) for tag in (T(1), T(2), "*", None)]
    for body in (B(1), None):
        for op in ops:
            if REGISTER.step(Version(T(1), body), op):
                assert REGISTER.step(Version(None, body), op), op


def test_a_write_changes_a_known_tag_only_when_guarded_by_it() -> None:
    for op in [RegisterOp(WRITE, 200, T(3), B(2), tag) for tag in (T(1), T(2))]:
        changed = [after for after in REGISTER.step(START, op) if after != START]
        assert bool(changed) is (REGISTER.guard_key(op) == START.etag)


# tiny arbitrary histories (most of them wrong), against a brute force over every order

tiny = st.builds(
    lambda client, kind, status, etag, body, tag, call, length, answered: RegisterEntry(
        client, float(call), float(call + length) if answered else None,
        RegisterOp(kind, status if answered else None, etag, body, tag if kind == WRITE else None)),
    client=st.sampled_from(["a", "b", "c"]),
    kind=st.sampled_from([READ, WRITE, WRITE]),
    status=st.sampled_from([200, 204, 412, 422]),
    etag=st.sampled_from([T(1), T(2), T(3), None]),
    body=st.sampled_from([B(1), B(2), B(3)]),
    tag=st.sampled_from([T(1), T(2), T(3), "*"]),
    call=st.integers(0, 8),
    length=st.integers(0, 4),
    answered=st.sampled_from([True, True, False]),
)
tiny_initial = st.builds(Version, st.sampled_from([T(1), T(2), None]), st.sampled_from([B(1), None]))


def respects_real_time(order: list[RegisterEntry]) -> bool:
    return all(not (later.ret is not None and later.ret < earlier.call) for k, earlier in enumerate(order) for later in order[k + 1:])


def replays(order: list[RegisterEntry], initial: Version) -> bool:
    states = {initial}
    for entry in order:
        states = {after for state in states for after in REGISTER.step(state, entry.op)}
        if not states:
            return False
    return True


def brute_force(history: list[RegisterEntry], initial: Version) -> bool:
    """Every order of the answered entries and of any subset of the unanswered writes (an
    unanswered read shows nothing: left out)."""
    answered = [e for e in history if not e.unknown]
    unknown = [e for e in history if e.unknown and e.op.kind == WRITE]
    for r in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, r):
            for order in itertools.permutations([*answered, *chosen]):
                if respects_real_time(list(order)) and replays(list(order), initial):
                    return True
    return False


@settings(max_examples=400, deadline=None)
@given(history=st.lists(tiny, max_size=6), initial=tiny_initial)
def test_the_checker_agrees_with_a_brute_force_on_tiny_histories(history: list[RegisterEntry], initial: Version) -> None:
    assert check_register(history, initial).ok is brute_force(history, initial)
