"""Concurrency: N writes with one ETag, released together, have exactly one winner; resume and
pause alike (a server may lock one and not the other)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fieldproof import contract, rules
from fieldproof.client.recording import ApiClient
from fieldproof.exchange import Exchange
from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness

# the write that brings a run back to where the raced one can start (paused for resume, live for pause)
_SET_UP_BY = {"resume": "pause", "pause": "resume"}


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "resume")


def test_concurrent_pauses_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "pause")


def race_writes(fp: Harness, action: str) -> None:
    """fp.rounds rounds: the run brought to where `action` starts, then one `action` per racer
    with the same ETag, released together, then a GET; each round judged by OneWinner."""
    racers = [fp.client.fork() for _ in range(fp.profile.racers)]
    barrier = threading.Barrier(len(racers))
    starts_from = contract.TRANSITIONS[action].sources
    # one thread per racer for the whole test: threads are dear to start, rounds are many
    with ThreadPoolExecutor(max_workers=len(racers)) as pool, fp.run("resumable") as run:
        try:
            for racer in racers:  # open every connection before the first round
                racer.snapshot(run)
            for _ in range(fp.rounds):
                before = fp.client.snapshot(run)
                if before.status is not None and before.status not in starts_from:
                    fp.client.write(_SET_UP_BY[action], run, before.etag, observe=False)
                    before = fp.client.snapshot(run)

                def race(racer: ApiClient, etag: str | None = before.etag) -> Exchange:
                    barrier.wait(timeout=30)
                    return racer.write(action, run, etag, tag=IfMatch.RACE, observe=False)

                round_ = fp.judge(rules.OneWinner(before))
                for future in [pool.submit(race, r) for r in racers]:
                    round_.observe(future.result(timeout=120))
                round_.observe(fp.client.get(run))
                round_.finish()
        finally:
            barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            for racer in racers:
                racer.close()
