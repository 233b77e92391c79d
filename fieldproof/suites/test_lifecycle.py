"""Lifecycle: resume -> the run is live at a new version -> pause with the new tag -> every
earlier tag is refused."""

from __future__ import annotations

import dataclasses

import pytest

from fieldproof import rules
from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness


def test_resume_then_pause_with_the_new_tag_and_every_old_tag_is_stale(fp: Harness) -> None:
    with fp.run("resumable") as run:
        tags = [fp.client.snapshot(run).etag]
        chain = fp.judge(rules.NewTagAccepted())
        resumed = fp.require(fp.client.write("resume", run, tags[-1]), 204, "resume")
        chain.observe(resumed)
        paused = fp.client.write("pause", run, resumed.header("etag"))
        chain.observe(paused)
        tags += [resumed.header("etag"), paused.header("etag")]
        for old in tags[:-1]:
            for action in ("resume", "pause"):
                fp.client.write(action, run, old, tag=IfMatch.STALE)


def test_complete_ends_the_lifecycle(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only exercised on the sandbox's own runs")
    with fp.run("resumable") as run:
        chain = fp.judge(rules.NewTagAccepted())
        resumed = fp.require(fp.client.write("resume", run), 204, "resume")
        chain.observe(resumed)
        chain.observe(fp.client.write("complete", run, resumed.header("etag")))
        fp.client.write("resume", dataclasses.replace(run, role="completed"))
