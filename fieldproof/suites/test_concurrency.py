"""Concurrency: N writes with one ETag, released together, have exactly one winner: resume,
pause (a server may lock one write and not the other) and, on the sandbox's own runs, complete;
and writes of different kinds released together (a server may lock each kind apart) change the
run at most once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from fieldproof import contract, rules
from fieldproof.client.recording import ApiClient
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness
from fieldproof.target import RunRef

# the write that brings a run to where the raced one can start: paused for resume, live for
# pause and complete (complete from paused is an open question)
_SET_UP_BY = {"resume": "pause", "pause": "resume", "complete": "resume"}
# where a round of several kinds starts: (the role of its run, the write that puts the run back there)
MIXED_STARTS = {"live": ("live", "resume"), "paused": ("resumable", "pause")}


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "resume")


def test_concurrent_pauses_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "pause")


def test_concurrent_completes_with_one_etag_have_one_winner(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only raced on the sandbox's own runs")
    race_writes(fp, "complete")


@pytest.mark.parametrize("start", list(MIXED_STARTS))
def test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner(fp: Harness, start: str) -> None:
    race_mixed_writes(fp, start)


def race_writes(fp: Harness, action: str, racers: Racers | None = None) -> None:
    """fp.rounds rounds of one `action` per racer, from where `action` starts."""
    race_rounds(fp, (action,), "resumable", contract.TRANSITIONS[action].sources, _SET_UP_BY[action], racers)


def mixed_kinds(fp: Harness) -> tuple[str, ...]:
    """Every write the target lets be sent together: complete only on the sandbox's own runs (it
    cannot be undone), so that there a pause and a complete, which both change a live run, meet."""
    return ("pause", "resume", *(("complete",) if fp.is_sandbox else ()))


def mixed_round_runs_on(fp: Harness, start: str) -> bool:
    """Whether the target has a run to start a round of several kinds from `start` (if not, the
    suite's test is skipped, saying which role would enable it)."""
    return fp.is_sandbox or bool(fp.target.runs_of(MIXED_STARTS[start][0]))


def race_mixed_writes(fp: Harness, start: str, racers: Racers | None = None) -> None:
    """fp.rounds rounds of writes of every kind (mixed_kinds, in turn among the racers) with one
    ETag, from a run that is `start` (live or paused)."""
    role, set_up = MIXED_STARTS[start]
    race_rounds(fp, mixed_kinds(fp), role, frozenset({start}), set_up, racers)


class Racers:
    """fp.profile.racers clients, each with its own connection and thread, released together by
    a barrier; opened once for any number of rounds (threads are dear to start, rounds are many,
    and each connection costs a request to open before the first round)."""

    def __init__(self, fp: Harness) -> None:
        self.clients = [fp.client.fork() for _ in range(fp.profile.racers)]
        self.barrier = threading.Barrier(len(self.clients))
        self.pool = ThreadPoolExecutor(max_workers=len(self.clients))
        self.connected = False

    def connect(self, run: RunRef) -> None:
        """Open every connection before the first round (a GET of `run` each), once."""
        if not self.connected:
            for client in self.clients:
                client.snapshot(run)
            self.connected = True

    def release(self, kinds: tuple[str, ...], run: RunRef, etag: str | None) -> list[Exchange]:
        """One write per racer, of the `kinds` in turn, all with `etag`, released together."""

        def race(client: ApiClient, action: str) -> Exchange:
            self.barrier.wait(timeout=30)
            return client.write(action, run, etag, tag=IfMatch.RACE, observe=False)

        futures = [self.pool.submit(race, c, kinds[n % len(kinds)]) for n, c in enumerate(self.clients)]
        try:
            return [future.result(timeout=120) for future in futures]
        except BaseException:
            self.barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            raise

    def close(self) -> None:
        self.barrier.abort()
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()


@contextmanager
def racing(fp: Harness) -> Iterator[Racers]:
    racers = Racers(fp)
    try:
        yield racers
    finally:
        racers.close()


def race_complete_on_a_completable_run(fp: Harness, racers: Racers | None = None) -> None:
    """On a target file, complete is raced only on a run the file lets a session complete (role
    completable): one round of complete and pause from live, which a server whose lock is keyed
    per operation lets both win. A pause that wins leaves the run for the next session; a
    complete that wins uses it up."""
    race_rounds(fp, ("complete", "pause"), "completable", frozenset({"live"}), "resume", racers, rounds=1)


def race_rounds(fp: Harness, kinds: tuple[str, ...], role: str, starts_from: frozenset[str], set_up_by: str,
                racers: Racers | None = None, rounds: int | None = None) -> None:  # fmt: skip
    """fp.rounds rounds: a run of `role` brought to a status in `starts_from` (by `set_up_by`; a
    new run on the sandbox once one is completed), then one write per racer, of the `kinds` in
    turn, with the same ETag, released together, then a GET; each round judged by OneWinner.
    `racers`: those of a caller that races more than once (else this call's own)."""
    if racers is None:
        with racing(fp) as own:
            race_rounds(fp, kinds, role, starts_from, set_up_by, own, rounds)
        return
    with fp.run(role) as first:
        run: RunRef = first
        racers.connect(run)
        last: Snapshot | None = None  # the look after the last round: the next one's before
        for _ in range(fp.rounds if rounds is None else rounds):
            before = last if last is not None else fp.client.snapshot(run)
            if before.status == "completed":  # only a race with complete gets here, on the sandbox
                run = fp.fresh(run)
                before = fp.client.snapshot(run)
            if before.status is not None and before.status not in starts_from:
                set_up = fp.client.write(set_up_by, run, before.etag, observe=False, before=before)
                # a round from the wrong state would judge a correct server wrongly: stop instead
                fp.require(set_up, 204, f"{set_up.operation} to set the run up for a {'/'.join(kinds)} race")
                before = fp.client.snapshot(run)
            round_ = fp.judge(rules.OneWinner(before, resumable=contract.ROLES[run.role].resumable))
            for exchange in racers.release(kinds, run, before.etag):
                round_.observe(exchange)
            after = fp.client.get(run)
            round_.observe(after)
            round_.finish()
            last = Snapshot.of(after)
