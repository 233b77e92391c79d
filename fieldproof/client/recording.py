"""The harness's only way to the network: an httpx client that speaks the API's conventions.

It adds the token, `Cint-API-Version` and a fresh `traceparent`; keeps within the limits it
shares with the process's other clients (limits.py: the request budget, `max_rps`, the deadline);
waits out a 429 by its `Retry-After`; and records every exchange, redacted, with
the facts of what it really sent, for the rules to judge.
"""

from __future__ import annotations

import datetime
import functools
import http.cookiejar
import secrets
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from fieldproof import __version__, contract
from fieldproof.client.codings import CodingError, Decoder, accept_encoding
from fieldproof.client.limits import Budget, Liveness, Pacer, RestoringBudget
from fieldproof.client.wire import Wire
from fieldproof.errors import BrokenResponse, DeadlineReached, TargetUnreachable, UsageError
from fieldproof.exchange import Exchange, Framing, Snapshot, redact_headers
from fieldproof.facts import (
    Auth,
    IfMatch,
    RequestFacts,
    api_version_kind,
    if_match_kind,
    path_kinds,
)
from fieldproof.headers import rate_limit_state, retry_after_seconds
from fieldproof.target import RunRef, Target, is_loopback

MAX_ATTEMPTS = 10  # per request, 429s included: `Retry-After: 0` must not loop for ever
MALFORMED_TOKEN = "not-a-token"
_UNSET: Any = object()


@functools.lru_cache(maxsize=4)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA file, for every client (the concurrency suite opens a
    client per racer, and building a context is slow): the system's CAs, or the target file's
    `ca_file` (a staging gateway's own CA)."""
    return ssl.create_default_context(cafile=ca_file)


def _proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for the target (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, less
    NO_PROXY), or None. A loopback target is never proxied: no proxy reaches this machine's own
    loopback. A plain-http target is proxied only because it passed the target file's guard,
    which asks for `allow_insecure_http` before a token may travel unencrypted."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if is_loopback(host) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    proxy = proxy if "://" in proxy else "http://" + proxy  # "proxy:3128", as curl reads it
    scheme = urlsplit(proxy).scheme.lower()
    if scheme not in ("http", "https"):  # the URL is never shown: it may hold a user's password
        raise UsageError(f"the environment names a {scheme!r} proxy for {parts.scheme} targets ({parts.scheme.upper()}_PROXY or "
                         "ALL_PROXY); fieldproof reaches a target directly or through an http(s) proxy: give one, or add "
                         "the target's host to NO_PROXY")
    return proxy


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Nothing a target sets is kept, so nothing is replayed: every request carries only what its
    suite chose (a session cookie must not make a request without a token pass as authorised)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _http_client(target: Target, transport: httpx.BaseTransport | None) -> tuple[httpx.Client, Wire | None]:
    """An httpx client for the target, and the wire below it (None for a given transport, such
    as the kit's or a test's mock)."""
    wire = None
    if transport is None:
        wire = Wire()
        transport = httpx.HTTPTransport(verify=_ssl_context(target.ca_file), trust_env=False, proxy=_proxy_for(target.base_url),
                                        limits=httpx.Limits(max_keepalive_connections=4))
        # httpcore's pool takes a network backend; httpx's transport does not pass one through
        transport._pool._network_backend = wire
    client = httpx.Client(
        transport=transport,
        timeout=target.timeout_s,  # each phase; the wire bounds the whole request by the same
        # only the codings decoded here; an agent a gateway's log can tell apart
        headers={"Accept-Encoding": accept_encoding(), "User-Agent": f"fieldproof/{__version__}"},
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        trust_env=False,  # proxies as _proxy_for says, no .netrc (the TLS context is _ssl_context's)
        follow_redirects=False,
    )
    return client, wire


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


@dataclass
class Credentials:
    main: str = field(repr=False)
    foreign: str | None = field(default=None, repr=False)
    expired: str | None = field(default=None, repr=False)  # only the sandbox can mint one; no secret


class _TooSlow(Exception):
    """The answer did not arrive whole within timeout_s."""



@dataclass
class _Malformed(Exception):
    framing: Framing
    status: int  # 0: no status line could be read
    headers: dict[str, str]


@dataclass(frozen=True)
class _Shared:
    """What every client of one harness process shares: target, limits, recording."""

    target: Target
    budget: Budget | RestoringBudget
    on_exchange: Callable[[Exchange], object]  # what it returns is not used
    credentials: Credentials
    pacer: Pacer
    max_429_wait_s: float
    transport: httpx.BaseTransport | None
    documented: Mapping[str, frozenset[int]] | None  # per operation, from the contract document in use
    liveness: Liveness


class ApiClient:
    def __init__(
        self,
        target: Target,
        *,
        budget: Budget | RestoringBudget,
        on_exchange: Callable[[Exchange], object] = lambda exchange: None,
        credentials: Credentials | None = None,
        max_rps: float | None = None,
        max_429_wait_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        documented: Mapping[str, frozenset[int]] | None = None,
        liveness: Liveness | None = None,
        pacer: Pacer | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        self._shared = _shared or _Shared(
            target=target,
            budget=budget,
            on_exchange=on_exchange,
            credentials=credentials or Credentials(target.token, target.foreign_token),
            pacer=pacer or Pacer(max_rps if max_rps is not None else target.max_rps),
            max_429_wait_s=max_429_wait_s,
            transport=transport,
            documented=documented,
            liveness=liveness or Liveness(),
        )
        self.max_429_wait_s = self._shared.max_429_wait_s
        self._http, self._wire = _http_client(self.target, self._shared.transport)

    @property
    def target(self) -> Target:
        return self._shared.target

    @property
    def budget(self) -> Budget | RestoringBudget:
        return self._shared.budget

    @property
    def credentials(self) -> Credentials:
        return self._shared.credentials

    @property
    def liveness(self) -> Liveness:
        return self._shared.liveness

    @property
    def pacer(self) -> Pacer:
        return self._shared.pacer

    def fork(self) -> ApiClient:
        """A client with its own connection, sharing budget, pacing and recording."""
        return ApiClient(self.target, budget=self.budget, _shared=self._shared)

    def restoring(self) -> ApiClient:
        """A client allowed into the budget's reserve: for putting runs back."""
        return ApiClient(self.target, budget=self.budget, _shared=replace(self._shared, budget=self.budget.for_restoring()))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def secrets(self) -> dict[str, str]:
        """Each secret this client may send, with the env var it came from."""
        named = {self.credentials.main: self.target.token_env}
        if self.credentials.foreign:
            named[self.credentials.foreign] = self.target.foreign_token_env or "FIELDPROOF_FOREIGN_TOKEN"
        return named

    def url(self, run: RunRef, action: str | None = None, **path: str) -> str:
        ids = {**run.ids(), **path}
        return self.target.base_url + contract.run_path(**ids, action=action)

    def _auth_header(self, auth: Auth) -> str | None:
        token = {
            Auth.MAIN: self.credentials.main,
            Auth.FOREIGN: self.credentials.foreign,
            Auth.EXPIRED: self.credentials.expired,
            Auth.MALFORMED: MALFORMED_TOKEN,
            Auth.NONE: None,
        }[auth]
        if auth in (Auth.FOREIGN, Auth.EXPIRED) and token is None:
            raise ValueError(f"no {auth.value} token for this target")
        return f"Bearer {token}" if token is not None else None

    def _auth_sent(self, value: str | None) -> Auth:
        """Which credential an Authorization header really carried."""
        if value is None:
            return Auth.NONE
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110 §11.1)
            return Auth.MALFORMED
        known = {self.credentials.main: Auth.MAIN}
        if self.credentials.foreign:
            known[self.credentials.foreign] = Auth.FOREIGN
        if self.credentials.expired:
            known[self.credentials.expired] = Auth.EXPIRED
        return known.get(token, Auth.MALFORMED)

    def _headers(self, auth: Auth, extra: Mapping[str, str | None]) -> dict[str, str]:
        headers = {"Cint-API-Version": self.target.api_version, "traceparent": new_traceparent()}
        authorization = self._auth_header(auth)
        if authorization is not None:
            headers["Authorization"] = authorization
        for name, value in extra.items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            if value is not None:
                headers[name] = value
        return headers

    def _facts(self, operation: str, headers: Mapping[str, str], run: RunRef | None, ids: Mapping[str, str],
               provenance: IfMatch | None, current: str | None, conditional: bool = False, role: str | None = None) -> RequestFacts:
        lowered = {k.lower(): v for k, v in headers.items()}
        writes = operation in contract.WRITES or conditional  # one of the four, or a resource's conditional write
        return RequestFacts(
            auth=self._auth_sent(lowered.get("authorization")),
            api_version=api_version_kind(lowered.get("cint-api-version"), self.target.api_version),
            if_match=if_match_kind(lowered.get("if-match"), current, provenance) if writes else IfMatch.NOT_A_WRITE,
            path=path_kinds({**run.ids(), **ids}, run.ids()) if run is not None else frozenset(),
            role=run.role if run is not None else role,
        )

    def send(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        run: RunRef | None,
        ids: Mapping[str, str] | None = None,
        auth: Auth = Auth.MAIN,
        headers: Mapping[str, str | None] | None = None,
        provenance: IfMatch | None = None,
        current: str | None = None,
        record: bool = True,
        body: bytes | None = None,
        conditional: bool = False,
        role: str | None = None,
    ) -> Exchange:
        """Send one request; a 429 is recorded, waited out and sent again within the limits.

        `run` is the run the request is aimed at and `ids` the path ids that differ from its own
        (for the facts); `current` the tag the run held just before, when the caller looked.
        With record=False the final exchange is left to the caller to record (once it has
        attached what it observed around it). `body`: the request's body (its Content-Type is
        the caller's header to give). `conditional`: a resource's conditional write (its If-Match
        is a fact the rules judge, as the four writes'); `role`: the role of the fielding run it
        is aimed at, where it is one (`run` gives it otherwise).
        """
        request_headers = self._headers(auth, headers or {})
        facts = self._facts(operation, request_headers, run, ids or {}, provenance, current, conditional, role)
        waited = 0.0
        earlier: list[Exchange] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            exchange = self._send_once(operation, method, url, request_headers, facts, body)
            exchange.rate_limited = earlier
            delay = retry_after_seconds(exchange.header("retry-after"))
            delay = 1.0 if delay is None else delay  # a missing Retry-After is the rule's finding
            deadline = self._shared.liveness.deadline
            past_deadline = deadline is not None and time.time() + delay > deadline  # never waited past max_duration_s
            if exchange.status != 429 or waited + delay > self.max_429_wait_s or attempt == MAX_ATTEMPTS or past_deadline:
                exchange.gave_up_on_429 = exchange.status == 429
                if record:
                    self._shared.on_exchange(exchange)
                return exchange
            self._shared.on_exchange(exchange)
            earlier = [*earlier, exchange]
            liveness = self._shared.liveness
            liveness.waiting_until = time.time() + delay  # what a progress line shows
            try:
                time.sleep(delay)
            finally:
                liveness.waiting_until = None
                liveness.waited(delay)
            waited += delay
            request_headers = {**request_headers}
            if "traceparent" in request_headers:
                request_headers["traceparent"] = new_traceparent()
        raise AssertionError("unreachable: the last attempt returns")

    def _send_once(self, operation: str, method: str, url: str, headers: dict[str, str], facts: RequestFacts,
                   body: bytes | None = None) -> Exchange:
        liveness = self._shared.liveness
        liveness.raise_if_stopped()
        self.budget.spend()
        self._shared.pacer.wait(liveness.deadline)
        sent_at, started = time.time(), time.perf_counter()
        recorded, secret_env = redact_headers(headers, self.secrets)
        documented = self._shared.documented
        recorded_as = functools.partial(Exchange, operation=operation, method=method, request_headers=recorded, facts=facts,
                                     secret_env=secret_env, documented=documented.get(operation) if documented is not None else None,
                                     sent_at=sent_at, request_body=body)
        try:
            response, sent_headers, answered, cut = self._exchange_bytes(method, url, headers, body)
        except httpx.LocalProtocolError as exc:  # our request cannot be put on the wire: a harness bug
            raise ValueError(f"cannot send {method} {url}: {exc}") from None
        except _Malformed as malformed:  # an answer, but not one HTTP can read: a finding, not an outage
            liveness.answered(True)
            broken = recorded_as(url=url, status=malformed.status, response_headers=malformed.headers, body=b"",
                              elapsed_s=time.perf_counter() - started, framing=malformed.framing)
            self._shared.on_exchange(broken)
            raise BrokenResponse(f"{method} {url}: {malformed.framing.defect}") from None
        except (httpx.TransportError, _TooSlow) as exc:
            liveness.answered(False)
            raise TargetUnreachable(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        liveness.answered(True)
        self._shared.pacer.answered(response.status_code, rate_limit_state(response.headers))  # case-insensitive lookups
        stream = self._wire.current if self._wire is not None else None
        framing = stream.answered(response.status_code, method, operation) if stream is not None and not cut else None
        return recorded_as(
            url=str(response.request.url),
            status=response.status_code,
            response_headers={k.lower(): v for k, v in sent_headers.items()},
            body=answered,
            elapsed_s=time.perf_counter() - started,
            body_cut_at=self.target.max_body_bytes if cut else None,
            raw=response,
            framing=framing,
        )

    def _deadline(self) -> tuple[float, bool]:
        """When the request must be done by (time.monotonic()): timeout_s from now, or the
        session's deadline if that comes first (then True)."""
        session = self._shared.liveness.deadline
        if session is not None and session - time.time() < self.target.timeout_s:
            return time.monotonic() + max(0.0, session - time.time()), True
        return time.monotonic() + self.target.timeout_s, False

    def _exchange_bytes(self, method: str, url: str, headers: dict[str, str],
                        content: bytes | None = None) -> tuple[httpx.Response, httpx.Headers, bytes, bool]:
        """The response (its body decoded), its headers as sent, at most max_body_bytes of its
        body, and whether the body was cut there. The body is decoded (its content codings
        undone once, the decoded size bounded too: a bomb is cut, not inflated), all of it within
        the request's deadline: a target that drips its headers or its body is cut off, not
        waited for."""
        limit = self.target.max_body_bytes
        deadline, by_session = self._deadline()
        started = time.monotonic()
        if self._wire is not None:
            self._wire.begin(deadline)
        body, cut = bytearray(), False
        try:
            with self._http.stream(method, url, headers=headers, content=content) as streamed:
                try:
                    decoder = Decoder(streamed.headers.get("content-encoding"), limit)
                    raw = 0
                    for chunk in streamed.iter_raw():  # as the bytes arrive, so that the deadline is seen
                        raw += len(chunk)
                        body += decoder.feed(chunk)
                        if decoder.overflowed or raw > limit:  # never buffered whole: the rest is not read
                            cut = True
                            break
                        if time.monotonic() > deadline:  # a transport without the wire (a mock) is bounded here
                            raise httpx.ReadTimeout("the request's deadline passed")
                    if not cut:
                        decoder.finish()
                except (httpx.RemoteProtocolError, CodingError) as exc:
                    raise self._malformed(exc, streamed.status_code, streamed.headers) from None
        except httpx.RemoteProtocolError as exc:
            if self._wire is None or self._wire.current is None or not self._wire.current.received_count:
                raise  # nothing came back at all: no answer
            raise self._malformed(exc, 0, httpx.Headers()) from None
        except httpx.TimeoutException:
            if by_session:
                raise DeadlineReached("max_duration_s has passed; raise it in the target file or choose a smaller --profile") from None
            raise _TooSlow(f"no whole answer within timeout_s = {self.target.timeout_s:g} s") from None
        # a response as if read whole, of the decoded bytes kept (schemathesis validates it)
        decoded = httpx.Headers([(k, v) for k, v in streamed.headers.multi_items() if k.lower() != "content-encoding"])
        response = httpx.Response(streamed.status_code, headers=decoded, content=bytes(body),
                                  request=streamed.request, extensions=streamed.extensions)
        response.elapsed = datetime.timedelta(seconds=time.monotonic() - started)
        return response, streamed.headers, bytes(body), cut

    def _malformed(self, error: Exception, status: int, headers: httpx.Headers) -> _Malformed:
        """What broke, with the bytes as they arrived (a transport without the wire: none)."""
        stream = self._wire.current if self._wire is not None else None
        if stream is not None:
            framing = stream.malformed(error, status)
        elif isinstance(error, CodingError):
            framing = Framing(error.defect, error.detail, b"", False)
        else:
            framing = Framing("no HTTP/1.1 message", str(error), b"", False)
        return _Malformed(framing, status, {k.lower(): v for k, v in headers.items()})

    # the operations

    def get(self, run: RunRef, *, auth: Auth = Auth.MAIN, headers: Mapping[str, str | None] | None = None,
            **path: str) -> Exchange:
        return self.send("get", "GET", self.url(run, **path), run=run, ids=path, auth=auth, headers=headers)

    def snapshot(self, run: RunRef) -> Snapshot:
        return Snapshot.of(self.get(run))

    def write(
        self,
        action: str,
        run: RunRef,
        if_match: str | None = _UNSET,
        *,
        tag: IfMatch | None = None,
        auth: Auth = Auth.MAIN,
        headers: Mapping[str, str | None] | None = None,
        observe: bool = True,
        before: Snapshot | None = None,
        **path: str,
    ) -> Exchange:
        """POST pause/resume/complete; with observe, GETs before and after are attached.

        `if_match` left out sends the current ETag; None sends no If-Match at all. `tag` says
        where a tag that is not the current one came from (stale, another run's, …). `before`:
        a look at the run already taken (the last write's look after it) instead of a new GET,
        where nothing else writes to the run in between.
        """
        if before is None and (observe or if_match is _UNSET):
            before = self.snapshot(run)
        if if_match is _UNSET:
            assert before is not None
            if_match = before.etag
        sent = {**(headers or {})}
        if not any(name.lower() == "if-match" for name in sent):  # one the caller spelt itself stays as spelt
            sent["If-Match"] = if_match
        exchange = self.send(action, "POST", self.url(run, action, **path), run=run, ids=path, auth=auth,
                             headers=sent, provenance=tag,
                             current=before.etag if before is not None else None, record=False)
        exchange.before = before
        try:
            if observe:
                exchange.after = self.snapshot(run)
        finally:  # recorded whatever happens to the look after it: every answer counts
            self.record(exchange)
        return exchange

    def probe(self, method: str, run: RunRef, action: str | None = None) -> Exchange:
        """A method the contract does not declare on a run's path, with GETs before and after.
        On an action's path it carries the run's current tag, so that a server that takes any
        method there for the action would really act."""
        before = self.snapshot(run)
        headers = {"If-Match": before.etag} if action is not None and before.etag is not None else None
        exchange = self.send(contract.OTHER, method, self.url(run, action), run=run, headers=headers, record=False)
        exchange.before = before
        try:
            exchange.after = self.snapshot(run)
        finally:
            self.record(exchange)
        return exchange

    def record(self, exchange: Exchange) -> None:
        """Record an exchange sent with record=False, once what was seen around it is attached."""
        self._shared.on_exchange(exchange)
