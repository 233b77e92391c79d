"""Concurrency: N resumes with one ETag, released together, have exactly one winner."""

from __future__ import annotations

import threading

from fieldproof import rules
from fieldproof.exchange import Exchange
from fieldproof.plugin import Harness


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    racers = [fp.client.fork() for _ in range(fp.profile.racers)]
    try:
        with fp.run("resumable") as run:
            for racer in racers:  # open every connection before the first round
                racer.snapshot(run)
            for _ in range(fp.rounds):
                before = fp.client.snapshot(run)
                barrier = threading.Barrier(len(racers))
                results: list[Exchange] = []
                errors: list[BaseException] = []

                def race(racer) -> None:
                    try:
                        barrier.wait(timeout=30)
                        results.append(racer.write("resume", run, before.etag, observe=False,
                                                   context={"if_match_kind": "race"}))  # fmt: skip
                    except BaseException as exc:  # surfaced below, after every thread is done
                        errors.append(exc)

                threads = [threading.Thread(target=race, args=(r,)) for r in racers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
                if errors:
                    raise errors[0]
                after = fp.client.snapshot(run)
                fp.judge(rules.one_winner_among_concurrent_writes, results, before, after)
                if after.status == "live":  # back to paused for the next round
                    fp.client.write("pause", run, after.etag, context={"if_match_kind": "current"})
                fp.check()
    finally:
        for racer in racers:
            racer.close()
