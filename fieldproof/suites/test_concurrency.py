"""Concurrency: N writes with one ETag, released together, have exactly one winner: resume,
pause (a server may lock one write and not the other) and, on the sandbox's own runs, complete;
and writes of different kinds released together (a server may lock each kind apart) change the
run at most once."""

from __future__ import annotations

import pytest

from fieldproof.harness import Harness
from fieldproof.probes import MIXED_STARTS, race_mixed_writes, race_writes


def test_concurrent_resumes_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "resume")


def test_concurrent_pauses_with_one_etag_have_one_winner(fp: Harness) -> None:
    race_writes(fp, "pause")


def test_concurrent_completes_with_one_etag_have_one_winner(fp: Harness) -> None:
    if not fp.is_sandbox:
        pytest.skip("complete cannot be undone, so it is only raced on the sandbox's own runs")
    race_writes(fp, "complete")


@pytest.mark.parametrize("start", list(MIXED_STARTS))
def test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner(fp: Harness, start: str) -> None:
    race_mixed_writes(fp, start)
