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
from fieldproof.client.recording import ApiClient
from fieldproof.errors import RoleMissing, RoleUsedUp, RunNotReady, TargetFault
from fieldproof.exchange import Snapshot
from fieldproof.rules import end_date_passed
from fieldproof.sandbox.control_client import SandboxControl
from fieldproof.target import RunRef, Target


@dataclass(frozen=True)
class Restoration:
    ok: bool  # the run is in its role's state now
    note: str | None = None  # what was done, or what is wrong; None when nothing was needed
    # when not ok: the target file is wrong (the GET shows the run missing, or in a state its
    # role cannot be put back to), rather than the target (it refused a write its run's state
    # allows, or its GET did not show the run)
    file_is_wrong: bool = False
    used_up: bool = False  # a run a session spent as its role allows (completed, launched): nothing to put back, nor to use again



def restore_run(client: ApiClient, run: RunRef, seen: Snapshot | None = None) -> Restoration:
    """Put a run back in its role's state (a pause or a resume, nothing else); `seen`: a GET of
    it just made, if any."""
    snapshot = seen if seen is not None else client.snapshot(run)
    role = contract.ROLES[run.role]
    want = role.status
    if role.spent_as is not None and snapshot.run_status == role.spent_as:
        return Restoration(False, f"{run.fielding_run_id} ({run.role}) is {role.spent_as}, as its role lets a session make it: "
                                  f"list a new {role.status} run with role = {run.role!r} for the next {role.spent_by}",
                           used_up=True)
    if snapshot.status_code == 404:
        return Restoration(False, f"{run.fielding_run_id} ({run.role}) is not found (GET answered 404)", file_is_wrong=True)
    if snapshot.run_status is None:
        shown = "without the run in its body" if snapshot.status_code == 200 else ""
        return Restoration(False, f"{run.fielding_run_id} could not be read (GET answered {snapshot.status_code}{shown and ' '}{shown})")
    if snapshot.run_status == want:
        return Restoration(True)
    action = {("live", "paused"): "pause", ("paused", "live"): "resume"}.get((snapshot.run_status, want))
    if action is None:
        return Restoration(False, f"{run.fielding_run_id} is {snapshot.run_status} and cannot be put back to {want}", file_is_wrong=True)
    # the look it was sent on goes with it, so that the rules judge a refusal of a write the
    # run's state allows (current_tag_wins)
    exchange = client.write(action, run, snapshot.etag, observe=False, before=snapshot)
    if exchange.status == 422 and action == "resume" and end_date_passed(exchange):
        return Restoration(False, f"{run.fielding_run_id} ({run.role}) has passed its end date (end_fielding_at "
                                  f"{snapshot.body.get('end_fielding_at') if snapshot.body else '?'}): it cannot be resumed",
                           file_is_wrong=True)
    if exchange.status != 204:
        return Restoration(False, f"the target refused to {action} {run.fielding_run_id} ({snapshot.run_status}) with its "
                                  f"current ETag (answered {exchange.status})")
    return Restoration(True, f"{run.fielding_run_id} was {snapshot.run_status}: {action}d back to {want}")


def ready_or_raise(ready: Restoration, doing: str) -> None:
    """A run that could not be put in its role's state for `doing`: the target file's fault
    (RunNotReady, which says to fix it) or the target's (TargetFault)."""
    if ready.ok:
        return
    if ready.used_up:
        raise RoleUsedUp(ready.note or "")
    if ready.file_is_wrong:
        raise RunNotReady(f"{ready.note}; fix the run or its role in the target file")
    raise TargetFault(f"{ready.note}, so {doing}")


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
        candidates = list(self.target.runs_of(role))
        if not candidates:
            raise RoleMissing(role)
        restorer = self.client.restoring()
        while True:
            lock, index = self._lock_one(tuple(candidates))
            run = candidates[index]
            try:
                # a run left out of its role's state (an interrupted run, a budget spent mid-test)
                # is put back first: no test may judge a run that is not what its role says
                ready = restore_run(restorer, run)
            except BaseException:
                lock.release()
                raise
            if not ready.used_up or len(candidates) == 1:
                break
            lock.release()  # a completable run a session completed: another of the role, if any
            del candidates[index]
        try:
            ready_or_raise(ready, f"it could not be put back to its role ({run.role}) before the test")
            yield run
        finally:
            try:
                restore_run(restorer, run)
            finally:
                lock.release()

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
