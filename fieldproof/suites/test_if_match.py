"""If-Match properties: whatever the tag, a documented answer, the run unchanged unless the
current tag won, and only the current tag wins."""

from __future__ import annotations

from collections.abc import Callable

from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness
from fieldproof.strategies import IfMatchChoice, every_if_match_variant, if_match_choices, render_if_match
from fieldproof.target import RunRef


def _history(fp: Harness, run: RunRef) -> list[str]:
    """Move the run through resume -> pause once, so it has stale tags; returns them, oldest first."""
    first = fp.client.snapshot(run)
    resumed = fp.require(fp.client.write("resume", run, first.etag), 204, "resuming to make the first tag stale")
    fp.require(fp.client.write("pause", run, resumed.header("etag")), 204, "pausing to make the second tag stale")
    return [t for t in (first.etag, resumed.header("etag")) if t]


def test_if_match_values_are_answered_by_the_contract(fp: Harness) -> None:
    with fp.run("resumable") as run:
        fp.explore(if_match_choices(), _answerer(fp, run))


def answer_every_if_match_variant(fp: Harness) -> None:
    """Resume once with each If-Match variant (the first pass's share of this suite)."""
    with fp.run("resumable") as run:
        answer = _answerer(fp, run)
        for choice in every_if_match_variant():
            with fp.stopping():
                answer(choice)


def _answerer(fp: Harness, run: RunRef) -> Callable[[IfMatchChoice], None]:
    """Give the run stale tags; then a function that resumes it with one If-Match choice
    rendered for the run as it is, and pauses it again if that won."""
    stale = _history(fp, run)
    other_tag = fp.other_run_tag(run)
    # the last look at the run: each write's look after it is the next one's before (the run is
    # this test's alone), so an example costs its write and one GET
    last = fp.client.snapshot(run)

    def answer(choice: IfMatchChoice) -> None:
        nonlocal last
        current = last if last.etag is not None else fp.client.snapshot(run)
        if current.etag is None:  # a GET without an ETag is etag_on_success's finding
            return
        version = current.version if isinstance(current.version, int) else None
        kind, value = render_if_match(choice, current.etag, stale, other_tag, version)
        exchange = fp.client.write("resume", run, value, tag=kind, before=current)
        assert exchange.after is not None
        last = exchange.after
        if exchange.status == 204:  # put it back for the next example
            stale.append(current.etag)
            paused = fp.client.write("pause", run, exchange.header("etag"), before=exchange.after)
            fp.require(paused, 204, "pausing the run again for the next example")
            assert paused.after is not None
            last = paused.after

    return answer


def test_only_the_current_tag_wins(fp: Harness) -> None:
    with fp.run("resumable") as run:
        stale = _history(fp, run)
        for tag in stale:
            fp.client.write("resume", run, tag, tag=IfMatch.STALE)
        fp.client.write("resume", run)
