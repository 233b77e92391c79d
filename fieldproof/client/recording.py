"""The harness's only way to the network: an httpx client that speaks the API's conventions.

It adds the token, `Cint-API-Version` and a fresh `traceparent`; keeps within the request budget
and `max_rps`; waits out a 429 by its `Retry-After`; and records every exchange, redacted, for
the rules to judge.
"""

from __future__ import annotations

import functools
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import httpx

from fieldproof.exchange import Exchange, Snapshot, redact_headers
from fieldproof.headers import retry_after_seconds
from fieldproof.target import RunRef, Target

AUTH_KINDS = ("main", "foreign", "none", "malformed", "expired")
MAX_ATTEMPTS = 10  # per request, 429s included: `Retry-After: 0` must not loop for ever
_UNSET: Any = object()


class BudgetExhausted(RuntimeError):
    """The target's max_requests is spent; no further request is sent."""


class TargetUnreachable(RuntimeError):
    """The target did not answer (connection refused, DNS, timeout)."""


class Budget:
    """A thread-safe request count that refuses to go past its limit.

    The last `reserve` requests are kept for putting runs back (`for_restoring()`), so that a
    run whose budget ran out mid-test still leaves its runs as it found them.
    """

    def __init__(self, limit: int, reserve: int = 0) -> None:
        self.limit = limit
        self.reserve = min(reserve, limit)
        self.spent = 0
        self._lock = threading.Lock()

    def spend(self, restoring: bool = False) -> None:
        with self._lock:
            if self.spent >= self.limit - (0 if restoring else self.reserve):
                raise BudgetExhausted(
                    f"the request budget of {self.limit} is spent; raise max_requests in the target "
                    "file or choose a smaller --profile"
                )
            self.spent += 1

    def for_restoring(self) -> _RestoringBudget:
        return _RestoringBudget(self)


class _RestoringBudget:
    """The same budget, allowed into its reserve."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def spend(self) -> None:
        self.budget.spend(restoring=True)


class Pacer:
    """Keeps request starts at least 1/max_rps apart (per client process)."""

    def __init__(self, max_rps: float | None) -> None:
        self.interval = 1.0 / max_rps if max_rps else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one costs ~17 ms, and the
    concurrency suite opens a client per racer."""
    return ssl.create_default_context()


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


@dataclass
class Credentials:
    main: str = field(repr=False)
    foreign: str | None = field(default=None, repr=False)
    expired: str | None = field(default=None, repr=False)  # only the sandbox can mint one


class ApiClient:
    def __init__(
        self,
        target: Target,
        *,
        budget: Budget | _RestoringBudget,
        on_exchange: Callable[[Exchange], None] = lambda exchange: None,
        credentials: Credentials | None = None,
        max_rps: float | None = None,
        max_429_wait_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.target = target
        self.budget = budget
        self.on_exchange = on_exchange
        self.credentials = credentials or Credentials(target.token, target.foreign_token)
        self.pacer = Pacer(max_rps if max_rps is not None else target.max_rps)
        self.max_429_wait_s = max_429_wait_s
        self._transport = transport
        self._http = self._new_http()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.target.timeout_s,
            transport=self._transport,
            limits=httpx.Limits(max_keepalive_connections=4),
            verify=_ssl_context(),
        )

    def fork(self) -> ApiClient:
        """A client with its own connection, sharing budget, pacing and recording."""
        twin = ApiClient.__new__(ApiClient)
        twin.__dict__.update(self.__dict__)
        twin._http = self._new_http()
        return twin

    def restoring(self) -> ApiClient:
        """This client (same connection), allowed into the budget's reserve: for putting runs back."""
        twin = ApiClient.__new__(ApiClient)
        twin.__dict__.update(self.__dict__)
        twin.budget = self.budget.for_restoring() if isinstance(self.budget, Budget) else self.budget
        return twin

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.credentials.main, self.credentials.foreign, self.credentials.expired) if t)

    def url(self, run: RunRef, action: str | None = None, **path: str) -> str:
        ids = {
            "account_id": run.account_id,
            "project_id": run.project_id,
            "target_group_id": run.target_group_id,
            "fielding_run_id": run.fielding_run_id,
            **path,
        }
        url = (
            f"{self.target.base_url}/demand/accounts/{ids['account_id']}/projects/{ids['project_id']}"
            f"/target-groups/{ids['target_group_id']}/fielding-runs/{ids['fielding_run_id']}"
        )
        return f"{url}/{action}" if action else url

    def _headers(self, auth: str, extra: Mapping[str, str | None]) -> tuple[dict[str, str], str | None]:
        tokens = {
            "main": (self.credentials.main, self.target.token_env),
            "foreign": (self.credentials.foreign, "FIELDPROOF_FOREIGN_TOKEN"),
            "expired": (self.credentials.expired, "FIELDPROOF_EXPIRED_TOKEN"),
            "malformed": ("not-a-token", None),
            "none": (None, None),
        }
        token, token_env = tokens[auth]
        if auth in ("foreign", "expired") and token is None:
            raise ValueError(f"no {auth} token for this target")
        headers = {"Cint-API-Version": self.target.api_version, "traceparent": new_traceparent()}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        for name, value in extra.items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            if value is not None:
                headers[name] = value
        return headers, token_env

    def send(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        auth: str = "main",
        headers: Mapping[str, str | None] | None = None,
        context: Mapping[str, Any] | None = None,
        record: bool = True,
    ) -> Exchange:
        """Send one request; a 429 is recorded, waited out and sent again within the limits.

        With record=False the final exchange is left to the caller to record (once it has
        attached what it observed around it).
        """
        request_headers, token_env = self._headers(auth, headers or {})
        waited = 0.0
        earlier: list[Exchange] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            exchange = self._send_once(operation, method, url, request_headers, token_env, context)
            exchange.rate_limited = earlier
            delay = retry_after_seconds(exchange.header("retry-after"))
            delay = 1.0 if delay is None else delay  # a missing Retry-After is the rule's finding
            if exchange.status != 429 or waited + delay > self.max_429_wait_s or attempt == MAX_ATTEMPTS:
                if exchange.status == 429:
                    exchange.context["gave_up_on_429"] = True
                if record:
                    self.on_exchange(exchange)
                return exchange
            self.on_exchange(exchange)
            earlier = [*earlier, exchange]
            time.sleep(delay)
            waited += delay
            request_headers = {**request_headers}
            if "traceparent" in request_headers:
                request_headers["traceparent"] = new_traceparent()
        raise AssertionError("unreachable: the last attempt returns")

    def _send_once(
        self,
        operation: str,
        method: str,
        url: str,
        headers: dict[str, str],
        token_env: str | None,
        context: Mapping[str, Any] | None,
    ) -> Exchange:
        self.budget.spend()
        self.pacer.wait()
        started = time.perf_counter()
        try:
            response = self._http.request(method, url, headers=headers)
        except httpx.LocalProtocolError as exc:  # our request cannot be put on the wire: a harness bug
            raise ValueError(f"cannot send {method} {url}: {exc}") from None
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        exchange = Exchange(
            operation=operation,
            method=method,
            url=url,
            request_headers=redact_headers(headers, self.secrets),
            status=response.status_code,
            response_headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
            elapsed_s=time.perf_counter() - started,
            context={**(context or {}), **({"token_env": token_env} if token_env else {})},
            raw=response,
        )
        return exchange

    # the operations

    def get(self, run: RunRef, *, auth: str = "main", headers: Mapping[str, str | None] | None = None,
            context: Mapping[str, Any] | None = None, **path: str) -> Exchange:  # fmt: skip
        return self.send("get", "GET", self.url(run, **path), auth=auth, headers=headers, context=context)

    def snapshot(self, run: RunRef) -> Snapshot:
        exchange = self.get(run, context={"purpose": "snapshot"})
        return Snapshot(exchange.status, exchange.header("etag"), exchange.json() if exchange.status == 200 else None)

    def write(
        self,
        action: str,
        run: RunRef,
        if_match: str | None = _UNSET,
        *,
        auth: str = "main",
        headers: Mapping[str, str | None] | None = None,
        context: Mapping[str, Any] | None = None,
        observe: bool = True,
        **path: str,
    ) -> Exchange:
        """POST pause/resume/complete; with observe, GETs before and after are attached.

        `if_match` left out sends the current ETag; None sends no If-Match at all.
        """
        before = self.snapshot(run) if observe or if_match is _UNSET else None
        if if_match is _UNSET:
            assert before is not None
            if_match = before.etag
        all_headers = {**(headers or {}), "If-Match": if_match}
        exchange = self.send(action, "POST", self.url(run, action, **path), auth=auth, headers=all_headers,
                             context={"role": run.role, **(context or {})}, record=False)  # fmt: skip
        if observe:
            exchange.before = before
            exchange.after = self.snapshot(run)
        self.on_exchange(exchange)
        return exchange


class SandboxControl:
    """The built-in sandbox's control API: fresh runs and extra tokens (sandbox targets only)."""

    def __init__(self, root_url: str, timeout_s: float = 10.0) -> None:
        self.root_url = root_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.root_url}/_control/{path}", json=body)
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"sandbox control API at {self.root_url}: {exc}") from None
        if response.status_code >= 300:
            raise RuntimeError(f"sandbox control API refused {path}: {response.status_code} {response.text}")
        return response.json()

    def new_run(self, role: str, account_id: str) -> RunRef:
        run = self._post("runs", {"role": role, "account_id": account_id})
        return RunRef(role, run["account_id"], run["project_id"], run["target_group_id"], run["id"])

    def token(self, account_id: str, expired: bool = False) -> str:
        return self._post("tokens", {"account_id": account_id, "expired": expired})["token"]
