"""Concurrency: N writes with one ETag, released together, have exactly one winner: resume,
pause (a server may lock one write and not the other) and, on the sandbox's own runs, complete."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "resume")


def test_concurrent_pauses_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "pause")


def test_concurrent_completes_with_one_etag_have_one_winner(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only raced on the sandbox's own runs")
    race_writes(fp, "complete")


def race_writes(fp: Harness, action: str) -> None:
    """fp.rounds rounds: the run brought to where `action` starts (a new run on the sandbox
    once one is completed), then one `action` per racer with the same ETag, released together,
    then a GET; each round judged by OneWinner."""
    racers = [fp.client.fork() for _ in range(fp.profile.racers)]
    barrier = threading.Barrier(len(racers))
    starts_from = contract.TRANSITIONS[action].sources
    # one thread per racer for the whole test: threads are dear to start, rounds are many
    with ThreadPoolExecutor(max_workers=len(racers)) as pool, fp.run("resumable") as first:
        run: RunRef = first
        try:
            for racer in racers:  # open every connection before the first round
                racer.snapshot(run)
            last: Snapshot | None = None  # the look after the last round: the next one's before
            for _ in range(fp.rounds):
                before = last if last is not None else fp.client.snapshot(run)
                if before.status == "completed":  # only a complete race gets here, on the sandbox
                    run = fp.fresh(run)
                    before = fp.client.snapshot(run)
                if before.status is not None and before.status not in starts_from:
                    set_up = fp.client.write(_SET_UP_BY[action], run, before.etag, observe=False, before=before)
                    # a round from the wrong state would judge a correct server wrongly: stop instead
                    fp.require(set_up, 204, f"{set_up.operation} to set the run up for a {action} race")
                    before = fp.client.snapshot(run)

                def race(racer: ApiClient, etag: str | None = before.etag, run: RunRef = run) -> Exchange:
                    barrier.wait(timeout=30)
                    return racer.write(action, run, etag, tag=IfMatch.RACE, observe=False)

                round_ = fp.judge(rules.OneWinner(before))
                for future in [pool.submit(race, r) for r in racers]:
                    round_.observe(future.result(timeout=120))
                after = fp.client.get(run)
                round_.observe(after)
                round_.finish()
                last = Snapshot.of(after)
        finally:
            barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            for racer in racers:
                racer.close()
