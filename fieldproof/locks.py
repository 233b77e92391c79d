"""One session per target at a time, and one writer per reports folder.

The target's locks are kept in the user's state folder ($XDG_STATE_HOME/fieldproof/locks, or
~/.local/state/fieldproof/locks; FIELDPROOF_STATE_DIR overrides it), so that two sessions on
one target collide wherever their reports go. A target is what the client will reach, however
its URL is spelt: one lock per (scheme, address, port, path prefix, account), for every address
its host resolves to, so that `localhost` (127.0.0.1 and ::1) and `127.0.0.1` collide. The locks
are taken in one order, so two sessions each holding some of them cannot wait for each other.
Each lock is an OS file lock (released when the holder dies); beside it, who holds it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from fieldproof.errors import LockHeld, UsageError
from fieldproof.files import write_file
from fieldproof.userdirs import fieldproof_folder

if TYPE_CHECKING:
    from fieldproof.target import Target

RESOLVE_TIMEOUT_S = 5.0  # a resolver that hangs costs a session this, then the host name serves as the key
MAX_WAIT_S = 86_400  # --wait-for-lock: a day; longer is a slip of the keyboard

Resolver = Callable[[str, int], Sequence[str]]


def state_dir() -> Path:
    """Where the target locks live: one folder for every session of this user on this machine
    (a session's own folder would not keep two sessions apart)."""
    if os.environ.get("FIELDPROOF_STATE_DIR"):
        return Path(os.environ["FIELDPROOF_STATE_DIR"])
    folder = fieldproof_folder("XDG_STATE_HOME", ".local/state")
    if folder is None:
        raise UsageError("there is no home directory to keep the target locks in; "
                         "set FIELDPROOF_STATE_DIR (or XDG_STATE_HOME) to a folder")
    return folder


def _holder(path: Path) -> str:
    try:
        who = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(who["since"]))
        return f"host {who['host']}, pid {who['pid']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a session that has not said who it is"


def validate_wait(wait_s: float) -> float:
    """`wait_s` if it is a wait --wait-for-lock may ask for, else the one line that says why not."""
    if not (math.isfinite(wait_s) and 0 <= wait_s <= MAX_WAIT_S):
        raise UsageError(f"--wait-for-lock must be a number of seconds from 0 to {MAX_WAIT_S}, got {wait_s:g}")
    return wait_s


@contextmanager
def held(lock_path: Path, what: str, wait_s: float = 0.0, deadline: float | None = None) -> Iterator[None]:
    """Hold the lock at `lock_path` (`what` names it in messages) for the body; LockHeld if
    another session holds it after `wait_s` seconds (or at `deadline`, a time.monotonic(), when
    several locks share one wait)."""
    validate_wait(wait_s)
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
            lock.acquire(timeout=wait_s if deadline is None else max(0.0, deadline - time.monotonic()))
    except Timeout:
        hint = "wait for it to end, or pass --wait-for-lock SECONDS" if wait_s == 0 else f"it was still held after {wait_s:g} s"
        raise LockHeld(f"another fieldproof session holds {what} ({_holder(info)}); {hint}") from None
    try:
        write_file(info, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}))
        yield
    finally:
        info.unlink(missing_ok=True)
        lock.release()


def target_lock(target: Target, wait_s: float = 0.0) -> AbstractContextManager[None]:
    """Hold every lock of what `target` reaches (target_keys) for the body; LockHeld naming the
    holder if another session holds any of them after `wait_s` seconds."""
    folder = state_dir() / "locks"
    paths = sorted(folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock" for key in target_keys(target))
    return _all_held(paths, f"the target {target.base_url} (account {target.account_id})", wait_s)


@contextmanager
def _all_held(paths: Sequence[Path], what: str, wait_s: float) -> Iterator[None]:
    deadline = time.monotonic() + validate_wait(wait_s)
    with ExitStack() as stack:
        for path in paths:  # always in one order: no two sessions can each hold what the other waits for
            stack.enter_context(held(path, what, wait_s, deadline))
        yield


def target_keys(target: Target, resolve: Resolver | None = None, timeout_s: float = RESOLVE_TIMEOUT_S) -> tuple[str, ...]:
    """What the client will reach, one key per address, and one for the host name itself:
    "scheme|address|port|path|account".

    The port is the effective one (80 or 443 when the URL names none), the path the base URL's
    without a trailing slash. The addresses are those the host resolves to (`resolve`; default
    getaddrinfo), within `timeout_s`: two spellings of one host share them. The host name's key
    keeps two sessions on one base URL apart even where its name resolves to other addresses
    each time (DNS round robin, a CDN), or not at all.
    """
    parts = urlsplit(target.base_url)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = {host, *_resolved(host, port, resolve or _getaddrinfo, timeout_s)}
    path = parts.path.rstrip("/")
    return tuple(sorted({f"{scheme}|{address}|{port}|{path}|{target.account_id}" for address in addresses}))


def _getaddrinfo(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _resolved(host: str, port: int, resolve: Resolver, timeout_s: float) -> tuple[str, ...]:
    """The addresses `resolve` gives, normalised (an IPv4-mapped IPv6 address as its IPv4 one);
    none if it fails or takes longer than `timeout_s` (its thread is left to end on its own:
    a daemon, which never keeps the process alive)."""
    found: list[str] = []

    def lookup() -> None:
        try:
            found.extend(resolve(host, port))
        except (OSError, UnicodeError, ValueError):
            pass

    thread = threading.Thread(target=lookup, name="fieldproof-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return ()
    addresses = set()
    for text in found:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        mapped = getattr(address, "ipv4_mapped", None)
        addresses.add((mapped or address).compressed)
    return tuple(sorted(addresses))


def reports_lock(reports: Path, wait_s: float = 0.0) -> AbstractContextManager[None]:
    return held(reports / ".fieldproof.lock", f"the reports folder {reports}", wait_s)
