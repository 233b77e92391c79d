"""One session per target at a time, and one writer per reports folder.

The target's lock is kept in the user's state folder ($XDG_STATE_HOME/fieldproof/locks, or
~/.local/state/fieldproof/locks; FIELDPROOF_STATE_DIR overrides it), keyed by the normalised
base URL and the account, so that two sessions on one target collide wherever their reports go.
The lock is an OS file lock (released when the holder dies); beside it, who holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from fieldproof.errors import LockHeld, UsageError
from fieldproof.files import write_file
from fieldproof.userdirs import fieldproof_folder


def state_dir() -> Path:
    """Where the target locks live: one folder for every session of this user on this machine
    (a session's own folder would not keep two sessions apart)."""
    if os.environ.get("FIELDPROOF_STATE_DIR"):
        return Path(os.environ["FIELDPROOF_STATE_DIR"])
    folder = fieldproof_folder("XDG_STATE_HOME", ".local/state")
    if folder is None:
        raise UsageError("there is no home directory to keep the target locks in; "
                         "set FIELDPROOF_STATE_DIR (or XDG_STATE_HOME) to a folder")  # fmt: skip
    return folder


def _holder(path: Path) -> str:
    try:
        who = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(who["since"]))
        return f"host {who['host']}, pid {who['pid']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a session that has not said who it is"


@contextmanager
def held(lock_path: Path, what: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the lock at `lock_path` (`what` names it in messages) for the body; LockHeld if
    another session holds it after `wait_s` seconds."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    info = lock_path.with_suffix(".holder.json")
    lock = FileLock(str(lock_path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if wait_s == 0:
                raise
            print(f"fieldproof: waiting up to {wait_s:g} s for {what}, held by {_holder(info)}", file=sys.stderr, flush=True)
            lock.acquire(timeout=wait_s)
    except Timeout:
        hint = "wait for it to end, or pass --wait-for-lock SECONDS" if wait_s == 0 else f"it was still held after {wait_s:g} s"
        raise LockHeld(f"another fieldproof session holds {what} ({_holder(info)}); {hint}") from None
    try:
        write_file(info, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}))
        yield
    finally:
        info.unlink(missing_ok=True)
        lock.release()


def target_lock(base_url: str, account_id: str, wait_s: float = 0.0) -> AbstractContextManager[None]:
    key = hashlib.sha256(f"{base_url}|{account_id}".encode()).hexdigest()[:24]
    return held(state_dir() / "locks" / f"{key}.lock", f"the target {base_url} (account {account_id})", wait_s)


def reports_lock(reports: Path, wait_s: float = 0.0) -> AbstractContextManager[None]:
    return held(reports / ".fieldproof.lock", f"the reports folder {reports}", wait_s)
