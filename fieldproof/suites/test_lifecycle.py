"""Lifecycle: resume -> the run is live at a new version -> pause with the new tag -> every
earlier tag is refused."""

from __future__ import annotations

from fieldproof import rules
from fieldproof.plugin import Harness


def test_resume_then_pause_with_the_new_tag_and_every_old_tag_is_stale(fp: Harness) -> None:
    with fp.run("resumable") as run:
        tags = [fp.client.snapshot(run).etag]
        resumed = fp.require(fp.client.write("resume", run, tags[-1], context={"if_match_kind": "current"}), 204, "resume")
        paused = fp.client.write("pause", run, resumed.header("etag"), context={"if_match_kind": "current"})
        fp.judge(rules.new_etag_accepted_by_next_write, resumed, paused)
        tags += [resumed.header("etag"), paused.header("etag")]
        for old in tags[:-1]:
            for action in ("resume", "pause"):
                fp.client.write(action, run, old, context={"if_match_kind": "stale"})
        fp.check()


def test_complete_ends_the_lifecycle(fp: Harness) -> None:
    if not fp.is_sandbox:
        import pytest

        pytest.skip("complete cannot be undone, so it is only exercised on the sandbox's own runs")
    with fp.run("resumable") as run:
        resumed = fp.require(fp.client.write("resume", run, context={"if_match_kind": "current"}), 204, "resume")
        completed = fp.client.write("complete", run, resumed.header("etag"), context={"if_match_kind": "current"})
        fp.judge(rules.new_etag_accepted_by_next_write, resumed, completed)
        fp.client.write("resume", run, context={"if_match_kind": "current", "role": "completed"})
        fp.check()
