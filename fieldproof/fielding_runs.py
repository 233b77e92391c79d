"""Which runs a test may use, and putting them back as they were.

On the sandbox every test gets fresh runs of its own (so xdist workers never meet). On a file
target the listed runs are shared: a test holds a file lock on the run it uses, and afterwards
the run is put back in its role's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from fieldproof import contract
from fieldproof.client.recording import ApiClient, SandboxControl
from fieldproof.errors import RoleMissing, RunNotReady
from fieldproof.exchange import Snapshot
from fieldproof.target import RunRef, Target


@dataclass(frozen=True)
class Restoration:
    ok: bool  # the run is in its role's state now
    note: str | None = None  # what was done, or what is wrong; None when nothing was needed


def restore_run(client: ApiClient, run: RunRef, seen: Snapshot | None = None) -> Restoration:
    """Put a run back in its role's state (a pause or a resume, nothing else); `seen`: a GET of
    it just made, if any."""
    snapshot = seen if seen is not None else client.snapshot(run)
    want = contract.ROLES[run.role].status
    if snapshot.status is None:
        return Restoration(False, f"{run.fielding_run_id} could not be read (GET answered {snapshot.status_code})")
    if snapshot.status == want:
        return Restoration(True)
    action = {("live", "paused"): "pause", ("paused", "live"): "resume"}.get((snapshot.status, want))
    if action is None:
        return Restoration(False, f"{run.fielding_run_id} is {snapshot.status} and cannot be put back to {want}")
    exchange = client.write(action, run, snapshot.etag, observe=False)
    if exchange.status != 204:
        return Restoration(False, f"{run.fielding_run_id}: {action} to restore it answered {exchange.status}")
    return Restoration(True, f"{run.fielding_run_id} was {snapshot.status}: {action}d back to {want}")


class SandboxRuns:
    def __init__(self, control: SandboxControl, account_id: str) -> None:
        self.control = control
        self.account_id = account_id

    @contextmanager
    def use(self, role: str) -> Iterator[RunRef]:
        yield self.control.new_run(role, self.account_id)


class FileRuns:
    def __init__(self, target: Target, client: ApiClient, lock_dir: Path) -> None:
        self.target = target
        self.client = client
        self.lock_dir = lock_dir
        lock_dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def use(self, role: str) -> Iterator[RunRef]:
        candidates = self.target.runs_of(role)
        if not candidates:
            raise RoleMissing(role)
        lock = self._lock_one(candidates)
        run = candidates[lock[1]]
        restorer = self.client.restoring()
        try:
            # a run left out of its role's state (an interrupted run, a budget spent mid-test)
            # is put back first: no test may judge a run that is not what its role says
            ready = restore_run(restorer, run)
            if not ready.ok:
                raise RunNotReady(f"{ready.note}; fix the run or its role in the target file")
            yield run
        finally:
            try:
                restore_run(restorer, run)
            finally:
                lock[0].release()

    def _lock_one(self, candidates: tuple[RunRef, ...]) -> tuple[FileLock, int]:
        locks = [FileLock(str(self.lock_dir / f"{run.fielding_run_id}.lock")) for run in candidates]
        for index, lock in enumerate(locks):  # a free run first, else wait for the first
            try:
                lock.acquire(timeout=0)
                return lock, index
            except Timeout:
                continue
        locks[0].acquire(timeout=600)
        return locks[0], 0
