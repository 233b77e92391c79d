"""Running a sandbox from code: as a child process (as users run it) or in a thread (fast).

Both are context managers that yield once the sandbox answers, and stop it on exit, also when
the body raises. Waits are bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from fieldproof.errors import SandboxError
from fieldproof.sandbox.app import API_PREFIX, build_app, policy_for
from fieldproof.sandbox.server import bind
from fieldproof.sandbox.settings import SandboxSettings
from fieldproof.sandbox.store import Store

# the banner's first line: "fieldproof sandbox: http://127.0.0.1:PORT/v1 (…)"; group 1 is the root
_BANNER_ROOT = re.compile(r"^fieldproof sandbox: (http://\S+?)" + re.escape(API_PREFIX) + r"\s")


@dataclass
class RunningSandbox:
    base_url: str  # with the /v1 prefix
    output: list[str]
    process: subprocess.Popen[str] | None = None

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix(API_PREFIX)


def wait_answering(url: str, deadline: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `url` until it answers 200; SandboxError when the deadline passes first."""
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline and alive():
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise SandboxError(f"{url} did not answer in time")


@contextmanager
def announced_child(
    command: Sequence[str], announcement: re.Pattern[str], health_path: str, timeout_s: float = 20.0
) -> Iterator[tuple[str, subprocess.Popen[str], list[str]]]:
    """A child server that prints its URL (the first group of `announcement`) once it listens;
    yields (url, process, output so far) once `url + health_path` answers, stops it on exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    try:
        url = None
        while url is None and time.monotonic() < deadline and process.poll() is None:
            url = next((m.group(1) for m in map(announcement.match, list(output)) if m), None)
            time.sleep(0.01)
        if url is None:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
            reader.join(1)
            raise SandboxError(
                f"`{' '.join(command)}` exited {process.returncode}: {''.join(output).strip()}"
            )
        wait_answering(url + health_path, deadline, lambda: process.poll() is None)
        yield url, process, output
    finally:
        stop_process(process)
        reader.join(2)


@contextmanager
def sandbox_process(args: Sequence[str] = (), timeout_s: float = 20.0) -> Iterator[RunningSandbox]:
    """`fieldproof sandbox --port 0 ARGS…` as a child process; yields once it is healthy."""
    command = [sys.executable, "-m", "fieldproof", "sandbox", "--port", "0", *args]
    with announced_child(command, _BANNER_ROOT, "/healthz", timeout_s) as (root, process, output):
        yield RunningSandbox(root + API_PREFIX, output, process)


def stop_process(process: subprocess.Popen[str], grace_s: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace_s)


@contextmanager
def sandbox_thread(settings: SandboxSettings, store: Store | None = None) -> Iterator[RunningSandbox]:
    """The sandbox app on uvicorn in a thread of this process, on a free loopback port."""
    if store is None:
        if settings.db is None:
            raise ValueError("sandbox_thread needs settings.db or a store")
        store = Store(settings.db, policy_for(settings))
    sock = bind(settings.host, 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(settings, store), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    running = RunningSandbox(f"http://{settings.host}:{port}{API_PREFIX}", [])
    try:
        wait_answering(running.root_url + "/healthz", time.monotonic() + 10, thread.is_alive)
        yield running
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
