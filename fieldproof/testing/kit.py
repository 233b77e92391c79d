"""The offline kit: the sandbox's own app, served to a client's httpx calls in this process.

No server and no socket: each request goes to the sandbox's ASGI app here, so the kit and the
sandbox share every line of behaviour (gates, state machine, errors, trace context) and answer
any request sequence identically. Two ways in:

- `api.transport` (or `api.async_transport`): an httpx transport a team passes to its own
  client, `httpx.Client(transport=api.transport)`; nothing else in the process is touched;
- `mock_api()`: respx intercepts httpx calls to the kit's base URL; `pass_through=[hosts]`
  lets calls to those hosts through (an OAuth server, a local server); any other host is
  refused, so that a test never reaches the network by accident. Only what would go to the
  network is intercepted: a transport a client was given (`transport=`, `mounts=`) stays its
  own, so a MockTransport, an ASGI app or a Starlette TestClient answers as before, and a
  team's retry or auth transport runs its own code around the kit's answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import deque
from collections.abc import Coroutine, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import respx
from respx.mocks import HTTPCoreMocker, HTTPXMocker
from respx.transports import TryTransport

from fieldproof.contract import RUN_PATH
from fieldproof.sandbox.app import API_PREFIX, build, etag_for, policy_for
from fieldproof.sandbox.auth import issue_token
from fieldproof.sandbox.control import ACCOUNTS
from fieldproof.sandbox.seed import run_from_spec
from fieldproof.sandbox.settings import SandboxSettings, load_settings
from fieldproof.sandbox.store import Run, Store

DEFAULT_BASE_URL = "https://api.cint.com/v1"
CALLS_KEPT = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class KitRun:
    """A run in the kit, with what a client needs to address it (as it was when added: its
    state now is `api.run(run)`)."""

    id: str
    account_id: str
    project_id: str
    target_group_id: str
    url: str  # under the kit's base_url
    etag: str  # its ETag when it was added
    version: int
    status: str

    @classmethod
    def of(cls, run: Run, base_url: str) -> KitRun:
        path = RUN_PATH.format(account_id=run.account_id, project_id=run.project_id,
                               target_group_id=run.target_group_id, fielding_run_id=run.id)
        return cls(run.id, run.account_id, run.project_id, run.target_group_id, base_url + path, etag_for(run),
                   run.version, run.status)


class KitTransport(httpx.BaseTransport):
    """An httpx transport answered by the kit: `httpx.Client(transport=api.transport)`."""

    def __init__(self, api: MockApi) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.api.handle(request)


class AsyncKitTransport(httpx.AsyncBaseTransport):
    """The same for `httpx.AsyncClient(transport=api.async_transport)`."""

    def __init__(self, api: MockApi) -> None:
        self.api = api

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.api.ahandle(request)


class _Loops:
    """Where a sync client's call runs the (async) app: an event loop per calling thread, kept
    for reuse (~6 µs a call), or, when that thread already runs a loop, a private loop thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[asyncio.AbstractEventLoop] = []
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = getattr(self._local, "loop", None)
            if loop is None:
                loop = self._local.loop = asyncio.new_event_loop()
                with self._lock:
                    self._all.append(loop)
            return loop.run_until_complete(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, self._background()).result(timeout=60)

    def _background(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._thread_loop is None:
                self._thread_loop = asyncio.new_event_loop()
                threading.Thread(target=self._thread_loop.run_forever, name="fieldproof-kit", daemon=True).start()
            return self._thread_loop

    def close(self) -> None:
        if self._thread_loop is not None:
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        for loop in self._all:
            if not loop.is_running():
                loop.close()


class MockApi:
    """The documented API, simulated. Build it with `mock_api()` or the `fieldproof_api` fixture."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, **settings: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path
        self.store = Store(":memory:")
        self._settings = load_settings(env={}, overrides={"db": ":memory:", "control": False, **settings})
        self._build()
        self.token = self.mint_token()
        # the most recent calls (bounded: a long session must not slow down collecting them)
        self.calls: deque[tuple[httpx.Request, httpx.Response]] = deque(maxlen=CALLS_KEPT)
        self._pending_writers: dict[str, int] = {}
        self._loops = _Loops()

    def _build(self) -> None:
        self.store.policy = policy_for(self._settings)
        self.sandbox, self._app = build(self._settings, self.store)
        # without latency or the race fault's thread, the app never waits on anything: its
        # coroutine can be driven to the end here, without an event loop (~15 µs a call less)
        settings = self._settings
        self._never_suspends = not (settings.latency_ms or settings.jitter_ms or self.store.policy.race_window_s)

    # arranging state

    def add_run(self, role: str | None = None, *, account: str = "main", **spec: Any) -> KitRun:
        """A run in any state: `add_run(status="paused")`, `add_run("goal_reached")`,
        `add_run(status="live", version=4)`; any key of the sandbox's seed files works."""
        run = run_from_spec({**({"role": role} if role else {}), "account": account, **spec}, ACCOUNTS)
        self.store.put(run)
        return KitRun.of(run, self.base_url)

    def run(self, run: KitRun | str) -> Run:
        """The run's state now, as the store holds it (including completes and its goal)."""
        found = self.store.get(run if isinstance(run, str) else run.id)
        if found is None:
            raise KeyError(f"no run {run}")
        return found

    def mint_token(self, account: str = "main", expired: bool = False) -> str:
        return issue_token(self._settings.jwt_secret, ACCOUNTS.get(account, account), self._settings.token_ttl_s, expired)

    # scenario switches

    def rate_limit_next(self, count: int = 1, retry_after_s: int = 1) -> None:
        """The next `count` calls answer 429 with `Retry-After: retry_after_s`."""
        self.sandbox.faults.add_script("429", count, retry_after_s)

    def fail_next(self, count: int = 1) -> None:
        """The next `count` calls answer 500."""
        self.sandbox.faults.add_script("500", count)

    def expire_token_next(self, count: int = 1) -> None:
        """The next `count` calls answer 403, as for an expired token."""
        self.sandbox.faults.add_script("expired", count)

    def concurrent_write_before_next_write(self, run: KitRun | str, count: int = 1) -> None:
        """Another client writes to the run just before the client's next write(s): the tag the
        client holds goes stale, so its write gets 412."""
        run_id = run if isinstance(run, str) else run.id
        self._pending_writers[run_id] = self._pending_writers.get(run_id, 0) + count

    def configure(self, **settings: Any) -> None:
        """Change settings (open questions, latency_ms, jitter_ms, error_rate, rate limits,
        fault) from here on; the runs stay as they are."""
        self._settings = load_settings(env={}, overrides={**dataclasses.asdict(self._settings), **settings})
        self._build()

    @property
    def settings(self) -> SandboxSettings:
        return self._settings

    @property
    def transport(self) -> httpx.BaseTransport:
        """For a team's own client, with no global patching: `httpx.Client(transport=api.transport)`."""
        return KitTransport(self)

    @property
    def async_transport(self) -> httpx.AsyncBaseTransport:
        return AsyncKitTransport(self)

    def close(self) -> None:
        self._loops.close()
        self.store.close()

    def __enter__(self) -> MockApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # serving requests

    def _app_path(self, request: httpx.Request) -> tuple[str, bytes]:
        """The sandbox's path (/v1/…) for a request under the kit's base URL, decoded and raw."""
        path, raw = request.url.path, request.url.raw_path.split(b"?", 1)[0]
        base = self._base_path
        if base and path.startswith(base):
            path, raw = path[len(base):], raw[len(base.encode()):]
        return API_PREFIX + path, API_PREFIX.encode() + raw

    def _another_writer(self, method: str, path: str) -> None:
        parts = path.rstrip("/").split("/")
        if method == "POST" and len(parts) >= 3 and self._pending_writers.get(parts[-2]):
            self._pending_writers[parts[-2]] -= 1
            self.store.touch(parts[-2])

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the sandbox's ASGI app, as a server would, without a socket."""
        path, raw_path = self._app_path(request)
        self._another_writer(request.method, path)
        body = request.read()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": "http", "path": path, "raw_path": raw_path, "root_path": "",
            "query_string": request.url.query, "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000), "server": ("fieldproof-kit", 80),
        }
        sent: dict[str, Any] = {"body": []}
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["headers"] = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                sent["body"].append(message.get("body", b""))

        await self._app(scope, receive, send)
        status: int = sent["status"]
        answer = httpx.Response(status, headers=sent["headers"], content=b"".join(sent["body"]), request=request)
        self.calls.append((request, answer))
        return answer

    def handle(self, request: httpx.Request) -> httpx.Response:
        """respx side effect for sync clients."""
        if self._never_suspends:
            return _drive(self._serve(request))
        return self._loops.run(self._serve(request))

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        """respx side effect for async clients."""
        return await self._serve(request)


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        value: T = done.value
        return value
    coroutine.close()
    raise RuntimeError("the sandbox app waited on something; the kit drives it without a loop only when it never does")


class _NetworkMocker(HTTPCoreMocker):
    """Where `mock_api` answers: in place of the network, never in place of a client's transport.

    respx's own choices are one or the other: its httpcore mocker replaces only the connection
    pool (a sent request goes through every transport a client was given, which is right, but
    converting each request and response between httpcore and httpx costs a quarter of a kit
    call); its httpx mocker replaces whatever transport a client picks for a URL, the client's
    own included. This one does both, each where it is right: a client on httpx's own network
    transport (what `httpx.Client()` makes; it has no code of its own to keep) is answered
    before it, as the httpx mocker does; any other transport is left as it is, and what it
    sends to the network meets the kit at the connection pool, as with the httpcore mocker."""

    name = "fieldproof_kit"
    targets = [*HTTPCoreMocker.targets, *HTTPXMocker.targets]
    target_methods = [*HTTPCoreMocker.target_methods, *HTTPXMocker.target_methods]

    @classmethod
    def mock(cls, spec: Any) -> Any:
        if spec.__name__ != "_transport_for_url":
            return super().mock(spec)  # type: ignore[no-untyped-call]  # respx leaves it untyped

        def _transport_for_url(client: httpx.Client | httpx.AsyncClient, url: httpx.URL) -> Any:
            transport = spec(client, url)
            if type(transport) is httpx.HTTPTransport:
                return TryTransport([httpx.MockTransport(cls.handler), transport])
            if type(transport) is httpx.AsyncHTTPTransport:
                return TryTransport([httpx.MockTransport(cls.async_handler), transport])
            return transport

        return _transport_for_url


@contextmanager
def mock_api(base_url: str = DEFAULT_BASE_URL, *, asynchronous: bool = False, pass_through: Sequence[str] = (),
             **settings: Any) -> Iterator[MockApi]:
    """Intercept httpx calls to `base_url` and answer them as the documented API would.

    `with mock_api(base_url="https://api.cint.com/v1") as api: run = api.add_run(status="paused")`.
    Settings are the sandbox's (`missing_if_match="412"`, `latency_ms=50`, …). With
    `asynchronous=True` it serves `httpx.AsyncClient` calls instead of `httpx.Client` ones.
    Calls to the hosts in `pass_through` go where they were sent (e.g. "localhost", an OAuth
    server); a call to any other host is refused. A client's own transport is never replaced
    (a Starlette TestClient needs no pass-through).
    """
    api = MockApi(base_url, **settings)
    try:
        with respx.mock(assert_all_called=False, assert_all_mocked=True, using=_NetworkMocker.name) as router:
            for host in pass_through:
                router.route(host=host).pass_through()
            route = router.route(url__startswith=api.base_url)

            def side_effect(request: httpx.Request) -> Any:
                route.calls.clear()  # respx would keep every call; api.calls keeps the recent ones
                return (api.ahandle if asynchronous else api.handle)(request)

            route.mock(side_effect=side_effect)
            yield api
    finally:
        api.close()
