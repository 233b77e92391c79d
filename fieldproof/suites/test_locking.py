"""Locking: every conditional write of the contract document besides pause, resume and complete
(which their own suites judge), on every resource this part judges (fielding runs always; other
kinds when opted in: `--resources KIND`, or a target file's [[resources]]), judged by the generic
locking oracles: the current tag wins once with a new ETag; stale, foreign and never-issued tags,
a missing If-Match and lists of tags none current are refused and change nothing; `*` and lists
as RFC 9110 says; N writes with one tag have one winner; a concurrent history is linearizable
against a versioned register. Every change is put back at the end."""

from __future__ import annotations

import pytest

from fieldproof.harness import STATE, Harness
from fieldproof.probes import LockingCase, judge_conditional_write, locking_cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per (judged resource, conditional write), known from the part's settings when
    the suites are collected (outside `fieldproof run` there are none)."""
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(STATE, None)
    cases = locking_cases(state.settings, state.target) if state is not None else []
    if not cases:  # said as what it is, not pytest's "got empty parameter set"
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(
            reason="no conditional write opted into: fieldproof run --resources KIND,…|all (fielding-runs for the run's "
                   "update, launch-now and relaunch), or [[resources]] in the target file"))], ids=["not-opted-in"])
        return
    metafunc.parametrize("case", cases, ids=[case.id for case in cases])


def test_a_conditional_write_is_locked(fp: Harness, case: LockingCase) -> None:
    judge_conditional_write(fp, case)
