"""The runs a test may use on a target file: a run's lock is released however the test ends,
the restore before it included (a budget spent while putting the run back must not leave the
run locked for every later test of the session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from fieldproof.errors import BudgetExhausted
from fieldproof.fielding_runs import FileRuns
from fieldproof.target import RunRef, Target

RUN = RunRef("resumable", "101", "0" * 26, "1" * 26, "R1")


class _SpentClient:
    """A client whose budget is spent: every look at a run raises."""

    def restoring(self) -> _SpentClient:
        return self

    def snapshot(self, run: RunRef) -> Any:
        raise BudgetExhausted("the request budget of 10 is spent")


def test_a_runs_lock_is_released_when_putting_it_back_first_fails(tmp_path: Path) -> None:
    target = Target("https://staging.example.com/v1", "2025-12-18", "101", "tok", runs=(RUN,))
    runs = FileRuns(target, _SpentClient(), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted) as raised:  # kept, as pytest keeps a failed test's: its frames live on
        with runs.use("resumable"):
            pytest.fail("the test must not start on a run that could not be put back")
    lock = FileLock(str(tmp_path / "R1.lock"))
    lock.acquire(timeout=0)  # free: a later test is not held for ten minutes
    lock.release()
    assert raised.value.__traceback__ is not None
