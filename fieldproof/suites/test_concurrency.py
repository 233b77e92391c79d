"""Concurrency: N resumes with one ETag, released together, have exactly one winner."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fieldproof import rules
from fieldproof.client.recording import ApiClient
from fieldproof.exchange import Exchange
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

                def race(racer: ApiClient) -> Exchange:
                    barrier.wait(timeout=30)
                    return racer.write("resume", run, before.etag, observe=False, context={"if_match_kind": "race"})

                results = [future.result(timeout=120) for future in [pool.submit(race, r) for r in racers]]
                after = fp.client.snapshot(run)
                fp.judge(rules.one_winner_among_concurrent_writes, results, before, after)
                if after.status == "live":  # back to paused for the next round
                    fp.client.write("pause", run, after.etag, context={"if_match_kind": "current"})
                fp.check()
        finally:
            barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            for racer in racers:
                racer.close()
