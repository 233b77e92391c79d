"""Lifecycle: a run walked through many versions, each write with the tag the last one gave,
refuses every tag it ever had; complete ends the lifecycle (on the sandbox)."""

from __future__ import annotations

import dataclasses

import pytest

from fieldproof import rules
from fieldproof.harness import Harness
from fieldproof.probes import every_tag_of_a_long_life_is_stale


def test_every_tag_of_a_long_life_is_stale(fp: Harness) -> None:
    every_tag_of_a_long_life_is_stale(fp)


def test_complete_ends_the_lifecycle(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only exercised on the sandbox's own runs")
    with fp.run("resumable") as run:
        chain = fp.judge(rules.NewTagAccepted())
        resumed = fp.require(fp.client.write("resume", run), 204, "resume")
        chain.observe(resumed)
        chain.observe(fp.client.write("complete", run, resumed.header("etag")))
        fp.client.write("resume", dataclasses.replace(run, role="completed"))
