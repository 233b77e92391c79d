"""The control API: seed runs in any state, read raw rows, reset, mint tokens, script answers.

Off unless the sandbox runs with `--control`, and answers loopback callers only: it exists so
that the harness and tests can arrange state, never as part of the documented API.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldproof.contract import RUN_PATH
from fieldproof.errors import SeedError
from fieldproof.sandbox.auth import issue_token
from fieldproof.sandbox.seed import run_from_spec
from fieldproof.sandbox.store import Run
from fieldproof.target import is_loopback

if TYPE_CHECKING:
    from fieldproof.sandbox.app import Sandbox

PREFIX = "/_control"
Handler = Callable[[Request], Awaitable[Response]]
ACCOUNTS = {"main": "101", "foreign": "202"}


def _is_loopback(request: Request) -> bool:
    return is_loopback(request.client.host if request.client else "")


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"object": "control_error", "detail": detail}, status_code=status)


def _run_or_404(run: Run | None) -> Response:
    return _refuse(404, "no such run") if run is None else JSONResponse(dataclasses.asdict(run))


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


_RUN = re.compile("^/v1" + re.sub(r"\\{[a-z_]+\\}", "[^/]*", re.escape(RUN_PATH)) + "(/[^/]*)?$")


def route_of(method: str, path: str) -> str:
    """`METHOD run`, `METHOD run/<action>` or `METHOD elsewhere`: what the sandbox was sent."""
    match = _RUN.match(path)
    if match is None:
        return f"{method} elsewhere"
    return f"{method} run" + (match.group(1) or "")


class RequestCounter:
    """Counts API requests (not control or health calls) in this worker process, in all and by
    method and route, so that tests can check from outside what a harness run really sent."""

    def __init__(self) -> None:
        self.count = 0
        self.by_route: Counter[str] = Counter()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and not scope["path"].startswith((PREFIX, "/healthz")):
                self.count += 1
                self.by_route[route_of(scope["method"], scope["path"])] += 1
            await app(scope, receive, send)

        return counted


def routes(sandbox: Sandbox, counter: RequestCounter | None = None) -> list[Route]:
    store, settings = sandbox.store, sandbox.settings

    def guarded(handler: Handler) -> Handler:  # one place for the loopback rule and bad-input answers
        async def endpoint(request: Request) -> Response:
            if not _is_loopback(request):
                return _refuse(403, "the control API answers loopback callers only")
            try:
                return await handler(request)
            except (ValueError, SeedError) as exc:
                return _refuse(400, str(exc))

        return endpoint

    async def create_run(request: Request) -> Response:
        run = run_from_spec(await _json_body(request), ACCOUNTS)
        store.put(run)
        return JSONResponse(dataclasses.asdict(run), status_code=201)

    async def list_runs(request: Request) -> Response:
        return JSONResponse([dataclasses.asdict(run) for run in store.all()])

    async def get_run(request: Request) -> Response:
        return _run_or_404(store.get(request.path_params["run_id"]))

    async def reset(request: Request) -> Response:
        store.delete_all()
        sandbox.resources.delete_all()
        return Response(status_code=204)

    async def token(request: Request) -> Response:
        body = await _json_body(request)
        account = str(body.get("account_id", ACCOUNTS["main"]))
        if not account.isdigit():
            raise ValueError("account_id must be digits")
        expired = bool(body.get("expired", False))
        return JSONResponse(
            {"token": issue_token(settings.jwt_secret, account, settings.token_ttl_s, expired)}
        )

    async def touch(request: Request) -> Response:
        return _run_or_404(store.touch(request.path_params["run_id"]))

    async def script(request: Request) -> Response:
        body = await _json_body(request)
        sandbox.faults.add_script(str(body.get("answer")), int(body.get("count", 1)), int(body.get("retry_after_s", 1)))
        return Response(status_code=204)

    async def stats(request: Request) -> Response:
        return JSONResponse({"api_requests": counter.count if counter else None,
                             "by_route": dict(counter.by_route) if counter else None, "pid": os.getpid()})

    return [
        Route(f"{PREFIX}/stats", guarded(stats), methods=["GET"]),
        Route(f"{PREFIX}/runs", guarded(create_run), methods=["POST"]),
        Route(f"{PREFIX}/runs", guarded(list_runs), methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run_id}}", guarded(get_run), methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run_id}}/touch", guarded(touch), methods=["POST"]),
        Route(f"{PREFIX}/script", guarded(script), methods=["POST"]),
        Route(f"{PREFIX}/reset", guarded(reset), methods=["POST"]),
        Route(f"{PREFIX}/tokens", guarded(token), methods=["POST"]),
    ]
