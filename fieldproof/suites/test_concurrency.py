"""Concurrency: N resumes with one ETag, released together, have exactly one winner."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fieldproof import rules
from fieldproof.client.recording import ApiClient
from fieldproof.exchange import Exchange
from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    racers = [fp.client.fork() for _ in range(fp.profile.racers)]
    barrier = threading.Barrier(len(racers))
    # one thread per racer for the whole test: threads are dear to start, rounds are many
    with ThreadPoolExecutor(max_workers=len(racers)) as pool, fp.run("resumable") as run:
        try:
            for racer in racers:  # open every connection before the first round
                racer.snapshot(run)
            for _ in range(fp.rounds):
                before = fp.client.snapshot(run)

                def race(racer: ApiClient, etag: str | None = before.etag) -> Exchange:
                    barrier.wait(timeout=30)
                    return racer.write("resume", run, etag, tag=IfMatch.RACE, observe=False)

                round_ = fp.judge(rules.OneWinner(before))
                for future in [pool.submit(race, r) for r in racers]:
                    round_.observe(future.result(timeout=120))
                after = fp.client.get(run)
                round_.observe(after)
                round_.finish()
                if rules.observation_of(after).run_status == "live":
                    fp.client.write("pause", run, after.header("etag"))  # back to paused for the next round
        finally:
            barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            for racer in racers:
                racer.close()
