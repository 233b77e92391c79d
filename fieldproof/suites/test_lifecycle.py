"""Lifecycle: a run walked through many versions, each write with the tag the last one gave,
refuses every tag it ever had; complete ends the lifecycle (on the sandbox)."""

from __future__ import annotations

import dataclasses

import pytest

from fieldproof import contract, rules
from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness


def test_every_tag_of_a_long_life_is_stale(fp: Harness) -> None:
    """Walk the run through `life_writes` writes (resume, pause, …, each with the tag the last
    204 gave), then send every tag it ever had, however many versions ago, with the write its
    state allows, so that only the tag can refuse it: each one gets 412 and changes nothing."""
    with fp.run("resumable") as run:
        look = fp.require_state(fp.client.snapshot(run), "looking at the run before its walk")
        tags = [look.etag]
        chain = fp.judge(rules.NewTagAccepted())
        for _ in range(fp.profile.life_writes):
            written = fp.client.write(_allowed(look.status), run, tags[-1], before=look)
            chain.observe(fp.require(written, 204, f"walking the run: {written.operation} with the last 204's tag"))
            assert written.after is not None
            look = fp.require_state(written.after, "walking the run")
            tags.append(written.header("etag") or look.etag)
        old = list(dict.fromkeys(tag for tag in tags[:-1] if tag))  # oldest first, each once
        for action in ("resume", "pause"):
            for tag in old:
                if look.status not in contract.TRANSITIONS[action].sources:  # set up (again, if a stale tag won)
                    set_up = fp.client.write(_allowed(look.status), run, look.etag, before=look)
                    assert set_up.after is not None
                    look = fp.require_state(set_up.after, f"setting the run up for a {action} with an old tag")
                attempt = fp.client.write(action, run, tag, tag=IfMatch.STALE, before=look)
                assert attempt.after is not None
                look = fp.require_state(attempt.after, f"looking at the run after a {action} with an old tag")


def _allowed(status: str | None) -> str:
    """The write a run in this status allows (the walk alternates them); resume otherwise,
    whose refusal then stops the walk as a set-up that failed."""
    return "pause" if status == "live" else "resume"


def test_complete_ends_the_lifecycle(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only exercised on the sandbox's own runs")
    with fp.run("resumable") as run:
        chain = fp.judge(rules.NewTagAccepted())
        resumed = fp.require(fp.client.write("resume", run), 204, "resume")
        chain.observe(resumed)
        chain.observe(fp.client.write("complete", run, resumed.header("etag")))
        fp.client.write("resume", dataclasses.replace(run, role="completed"))
