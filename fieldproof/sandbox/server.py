"""Starting the sandbox: database, seed, socket, target file, banner, then uvicorn.

The parent binds the socket itself, so the real port (also for `--port 0`) is known before
the target file and banner are written, and a busy port is one clear line, not a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from uvicorn.supervisors import Multiprocess

from fieldproof.contract import DEFAULT_API_VERSION, RUN_PATH
from fieldproof.errors import SandboxError
from fieldproof.sandbox.app import (
    API_PREFIX,
    SETTINGS_ENV,
    build_app,
    etag_for,
    policy_for,
)
from fieldproof.sandbox.auth import issue_token
from fieldproof.sandbox.resources import ResourceStore
from fieldproof.sandbox.seed import Seed, load_seed, write_target
from fieldproof.sandbox.settings import SandboxSettings
from fieldproof.sandbox.store import Store


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a JSON body waits ~40 ms for the client's delayed ACK on every keep-alive request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port (0 picks a free one)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _banner(settings: SandboxSettings, base_url: str, seed: Seed | None, temporary: bool, out: TextIO) -> None:
    where = "temporary, removed on exit" if temporary else "kept"
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    print(f"fieldproof sandbox: {base_url} ({workers}; db {settings.db}, {where})", file=out)
    if settings.control:
        print(f"control API: {base_url.removesuffix(API_PREFIX)}/_control (loopback only)", file=out)
    if seed is None:
        print("no seed loaded: create runs with --seed FILE or the control API (--control)", file=out)
        return
    token = issue_token(settings.jwt_secret, seed.main_account, settings.token_ttl_s)
    print(f"token for account {seed.main_account}, valid {settings.token_ttl_s} s:", file=out)
    print(f"  export FIELDPROOF_TOKEN={token}", file=out)
    for role, run in seed.runs:
        if role is not None:
            print(f"  {role:<16} {run.id}  status {run.status}, ETag {etag_for(run)}", file=out)
    example = next((run for role, run in seed.runs if role == "resumable"), None)
    if example is not None:
        url = base_url + RUN_PATH.format(
            account_id=example.account_id,
            project_id=example.project_id,
            target_group_id=example.target_group_id,
            fielding_run_id=example.id,
        )
        headers = f'-H "Authorization: Bearer $FIELDPROOF_TOKEN" -H "Cint-API-Version: {DEFAULT_API_VERSION}"'
        print("try:", file=out)
        print(f"  curl -i {headers} {url}", file=out)
        print(f"  curl -i -X POST {headers} -H 'If-Match: {etag_for(example)}' {url}/resume", file=out)
    print("Ctrl-C stops it.", file=out, flush=True)


def serve(
    settings: SandboxSettings,
    seed_file: str | None = None,
    no_seed: bool = False,
    target_file: str | None = None,
    out: TextIO = sys.stdout,
) -> None:
    temp_dir = None
    if settings.db is None:
        temp_dir = tempfile.mkdtemp(prefix="fieldproof-sandbox-")
        settings = dataclasses.replace(settings, db=str(Path(temp_dir) / "sandbox.db"))
    try:
        _serve(settings, seed_file, no_seed, target_file, temp_dir is not None, out)
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _serve(
    settings: SandboxSettings,
    seed_file: str | None,
    no_seed: bool,
    target_file: str | None,
    temporary: bool,
    out: TextIO,
) -> None:
    assert settings.db is not None
    Path(settings.db).parent.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db, policy_for(settings))
    resources = ResourceStore(settings.db, settings.faults)
    seed = None
    if seed_file is not None or not no_seed:
        seed = load_seed(seed_file)
        # a kept database keeps its state across restarts unless a seed is asked for by name
        if seed_file is not None or store.count() == 0:
            seed.apply(store, resources)
    sock = bind(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base_url = f"http://{host}:{settings.port}{API_PREFIX}"
    if target_file is not None:
        if seed is None:
            raise SandboxError("--write-target needs a seed; drop --no-seed or give --seed FILE")
        env_file = write_target(target_file, base_url, seed, settings.jwt_secret, settings.token_ttl_s)
        print(f"target file: {target_file} (tokens in {env_file})", file=out)
    _banner(settings, base_url, seed, temporary, out)
    def config(app: Any, **more: Any) -> uvicorn.Config:
        return uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2, **more)

    if settings.workers == 1:
        server = uvicorn.Server(config(build_app(settings, store, resources)))
        server.run(sockets=[sock])
        return
    store.close()
    resources.close()
    os.environ[SETTINGS_ENV] = settings.to_json()
    Multiprocess(config("fieldproof.sandbox.app:app_from_env", factory=True, workers=settings.workers), sockets=[sock]).run()
