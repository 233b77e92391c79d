"""If-Match properties: whatever the tag, a documented answer, the run unchanged unless the
current tag won, and only the current tag wins."""

from __future__ import annotations

from fieldproof.facts import IfMatch
from fieldproof.harness import Harness
from fieldproof.probes import if_match_answerer, make_tags_stale
from fieldproof.strategies import if_match_choices


def test_if_match_values_are_answered_by_the_contract(fp: Harness) -> None:
    with fp.run("resumable") as run:
        fp.explore(if_match_choices(), if_match_answerer(fp, run))


def test_only_the_current_tag_wins(fp: Harness) -> None:
    with fp.run("resumable") as run:
        stale = make_tags_stale(fp, run)
        for tag in stale:
            fp.client.write("resume", run, tag, tag=IfMatch.STALE)
        fp.client.write("resume", run)
