"""Linearizability: several clients send GET, pause and resume, each with the tag it holds,
concurrently; the recorded history (call and return times, answers) must have an order that
respects real time and that the run's sequential model accepts. A violation is reported as the
smallest non-linearizable sub-history, printed as a timeline."""

from __future__ import annotations

from fieldproof.harness import Harness
from fieldproof.probes import a_concurrent_history_is_linearizable


def test_a_concurrent_history_is_linearizable(fp: Harness) -> None:
    a_concurrent_history_is_linearizable(fp)
