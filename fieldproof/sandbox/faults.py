"""Injected trouble: resilience faults (latency, 500s) and fault modes.

A fault mode is one realistic bug a server team could ship, selected with `--fault NAME`. The
harness must catch every one of them (the self-check proves it). Each acts in one layer:
`store` modes are Policy.fault in store.py (the state machine and how a precondition is held),
`app` modes in app.py (its gates, how it reads If-Match, what its routes answer), `http` modes
in the `FaultyResponses` wrapper below (headers, statuses, bodies on the wire).

The modes after `error_body_without_detail` were invented independently of the suites, from
the API doc alone (tests/servers/docs_server.py has them too, as its author wrote them).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class FaultMode:
    name: str
    layer: str  # store | app | http
    family: str
    description: str


FAULT_MODES: dict[str, FaultMode] = {
    mode.name: mode
    for mode in [
        FaultMode("ignore_if_match", "store", "locking", "writes succeed whatever If-Match says"),
        FaultMode("accept_stale_tags", "store", "locking", "the previous version's tag still matches"),
        FaultMode("version_not_bumped", "store", "locking", "a write keeps the version (and ETag)"),
        FaultMode("recurring_tags", "store", "locking", "versions cycle 1-2-3, so old tags come back"),
        FaultMode("check_then_act_race", "store", "locking", "decide, wait --race-window-ms, write unconditionally"),
        FaultMode("lock_per_operation", "store", "locking",
                  "the write lock is keyed by (run, operation), not by run: decide, wait --race-window-ms, write "
                  "unconditionally; writes of one kind queue, a pause and a complete with one tag both win"),
        FaultMode("skip_business_rules", "store", "state", "resume ignores the completes goal and end date"),
        FaultMode("no_change_on_success", "store", "state", "204 without the change being written"),
        FaultMode("refusal_changes_run", "store", "state", "a refused write still touches last_changed_at"),
        FaultMode("missing_token_served", "app", "auth", "a request without a token is served as the account"),
        FaultMode("foreign_account_served", "app", "auth", "another account's token is served"),
        FaultMode("expired_token_served", "app", "auth", "an expired token is accepted"),
        FaultMode("no_etag_on_204", "http", "headers", "204 without ETag"),
        FaultMode("no_etag_on_200", "http", "headers", "GET 200 without ETag"),
        FaultMode("unquoted_etag", "http", "headers", "ETag sent as W/1, not a quoted tag"),
        FaultMode("no_retry_after_on_429", "http", "headers", "429 without Retry-After"),
        FaultMode("no_traceparent_on_errors", "http", "headers", "4xx/5xx without traceparent"),
        FaultMode("no_traceparent_on_404", "http", "headers", "404 without traceparent"),
        FaultMode("no_traceparent_anywhere", "http", "headers", "no response carries traceparent (a gateway strips it)"),
        FaultMode("malformed_traceparent", "http", "headers", "traceparent in upper-case hex"),
        FaultMode("trace_not_continued", "http", "headers", "every response starts a new trace"),
        FaultMode("status_200_instead_of_204", "http", "status", "writes answer 200 with a body"),
        FaultMode("undocumented_409_on_stale", "http", "status", "a stale tag gets 409, not 412"),
        FaultMode("server_error_on_odd_input", "http", "status", "a malformed request gets 500, not 400"),
        # for the generic locking oracles (issue 24): the Demand API's other resources only, never a fielding run's
        # pause, resume or complete
        FaultMode("resource_ignores_if_match", "store", "resources", "writes of allocation-templates succeed whatever the tag"),
        FaultMode("resource_lost_update", "store", "resources",
                  "a resource's PUT checks the version, then writes without the condition after waiting until every PUT of "
                  "the resource that came meanwhile has checked too (--race-window-ms at least): writers with one tag all win"),
        FaultMode("delete_ignores_tag", "store", "resources", "DELETE of a resource deletes it whatever the tag"),
        FaultMode("resource_etag_unchanged", "store", "resources",
                  "a write of a resource changes its representation but keeps its version and ETag"),
        FaultMode("error_body_without_detail", "http", "status", "error bodies lack 'detail'"),
        # invented from the API doc alone, by someone who had not read the suites
        FaultMode("if_match_higher_version_accepted", "store", "locking",
                  "If-Match is refused only when its version is lower than the run's: a never-issued W/\"8\" on a run at version 7 wins"),
        FaultMode("if_match_other_runs_tag", "store", "locking",
                  "If-Match accepts the current tag of any run, not only of the run written (tags are versions here: "
                  "an old tag of this run that another run holds now wins too)"),
        FaultMode("if_match_unquoted_or_case", "app", "locking",
                  "If-Match is compared after dropping quotes, the W/ prefix and letter case: W/7 or 7 wins"),
        FaultMode("if_match_star_forces", "app", "locking", "If-Match: * forces the write past the tag and the state rules"),
        FaultMode("version_wraps_at_8", "store", "versions", "the version is kept in 3 bits: after 7 comes 0, and old tags come back"),
        FaultMode("stale_get_cache", "app", "reads", "GET serves a run cached for a second, even after a write"),
        FaultMode("write_etag_pre_bump", "app", "reads", "a 204 carries the ETag from before the write, not the new one"),
        FaultMode("etag_missing_after_write", "app", "reads", "GET of a run written since start-up has no ETag"),
        FaultMode("pause_ignores_if_match", "store", "writes", "pause checks that If-Match is there, never its value"),
        FaultMode("pause_check_then_act", "store", "writes",
                  "pause decides, waits --race-window-ms, writes unconditionally (resume is locked)"),
        FaultMode("refused_write_applied", "store", "writes", "a write with a stale tag is applied, then answered 412"),
        FaultMode("complete_no_version_bump", "store", "writes", "complete sets the status, but not the version, time or author"),
        FaultMode("goal_reached_resumable", "store", "state", "resume allows a run whose completes equal its goal (<= for <)"),
        FaultMode("end_date_calendar_day", "store", "state",
                  "resume compares the end date by UTC day: a run that ended earlier today resumes"),
        FaultMode("get_foreign_token_served", "app", "auth", "GET serves another account's token (writes are refused)"),
        FaultMode("get_without_token_served", "app", "auth", "GET without a token is served (writes get 401)"),
        FaultMode("missing_token_403", "app", "auth", "no Authorization header gets 403, not 401"),
        FaultMode("version_header_missing_400", "app", "headers", "a missing Cint-API-Version gets 400, not 403 required_header_missing"),
        FaultMode("no_traceparent_on_429", "http", "headers", "429 without traceparent or tracestate"),
        FaultMode("no_traceparent_on_refusals", "http", "headers", "412 and 422 without traceparent or tracestate"),
        FaultMode("retry_after_http_date", "http", "headers", "429's Retry-After is an HTTP-date, not seconds"),
    ]
}


@dataclass
class Scripted:
    """The next `count` API requests get this answer instead of their own (scenario switches)."""

    answer: str  # "429" | "500" | "expired"
    count: int
    retry_after_s: int = 1


SCRIPTED_ANSWERS = ("429", "500", "expired")


class Faults:
    """Latency with jitter, a fraction of 500s, and scripted answers for the next requests."""

    def __init__(self, latency_ms: float, jitter_ms: float, error_rate: float, rng: random.Random | None = None) -> None:
        self.latency_s = latency_ms / 1000
        self.jitter_s = jitter_ms / 1000
        self.error_rate = error_rate
        self._rng = rng or random.Random()
        self.script: list[Scripted] = []

    def add_script(self, answer: str, count: int = 1, retry_after_s: int = 1) -> None:
        if answer not in SCRIPTED_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(SCRIPTED_ANSWERS)}, got {answer!r}")
        if count < 1 or retry_after_s < 0:
            raise ValueError("count must be at least 1 and retry_after_s at least 0")
        self.script.append(Scripted(answer, count, retry_after_s))

    def next_scripted(self) -> Scripted | None:
        """Take one request's worth of the script, if any is left."""
        if not self.script:
            return None
        head = self.script[0]
        head.count -= 1
        if head.count == 0:
            self.script.pop(0)
        return head

    async def delay(self) -> None:
        seconds = self.latency_s + (self._rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def server_error(self) -> bool:
        return self.error_rate > 0 and self._rng.random() < self.error_rate


def _without(headers: list[tuple[bytes, bytes]], name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() != name]


class FaultyResponses:
    """Outermost ASGI wrapper that distorts responses the way the `http` fault modes say (one
    or several: each distortion is applied in turn)."""

    def __init__(self, app: ASGIApp, modes: tuple[str, ...]) -> None:
        self.app = app
        self.modes = modes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, object] = {}

        async def distort(message: Message) -> None:
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
                for mode in self.modes:
                    status, headers = _distort_start(mode, status, headers, state)
                message = {**message, "status": status, "headers": headers}
            elif message["type"] == "http.response.body":
                if "body" in state:
                    message = {**message, "body": state.pop("body")}
                elif state.get("strip_detail") and message.get("body"):
                    body = json.loads(message["body"])
                    body.pop("detail", None)
                    message = {**message, "body": json.dumps(body).encode()}
            await send(message)

        await self.app(scope, receive, distort)


def _distort_start(mode: str, status: int, headers: list[tuple[bytes, bytes]], state: dict[str, object]
                   ) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One mode's distortion of a response's status and headers (`state` carries a body change)."""
    if mode == "no_etag_on_204" and status == 204 or mode == "no_etag_on_200" and status == 200:
        headers = _without(headers, b"etag")
    elif mode == "unquoted_etag":
        headers = [(k, v.replace(b'"', b"") if k.lower() == b"etag" else v) for k, v in headers]
    elif mode == "no_retry_after_on_429" and status == 429:
        headers = _without(headers, b"retry-after")
    elif mode == "no_traceparent_on_429" and status == 429 or mode == "no_traceparent_on_refusals" and status in (412, 422):
        headers = _without(_without(headers, b"traceparent"), b"tracestate")
    elif mode == "retry_after_http_date" and status == 429:
        seconds = next((int(v) for k, v in headers if k.lower() == b"retry-after" and v.isdigit()), 1)
        headers = _without(headers, b"retry-after") + [(b"retry-after", formatdate(time.time() + seconds, usegmt=True).encode())]
    elif (mode == "no_traceparent_on_errors" and status >= 400 or mode == "no_traceparent_on_404" and status == 404
          or mode == "no_traceparent_anywhere"):
        headers = _without(headers, b"traceparent")
    elif mode == "malformed_traceparent":
        headers = [(k, v.upper() if k.lower() == b"traceparent" else v) for k, v in headers]
    elif mode == "trace_not_continued":
        headers = [(k, b"00-" + b"%032x" % random.getrandbits(128) + v[35:] if k.lower() == b"traceparent" else v)
                   for k, v in headers]
    elif mode == "status_200_instead_of_204" and status == 204:
        status = 200
        body = b'{"status":"ok"}'
        headers = _without(headers, b"content-length") + [
            (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
        ]
        state["body"] = body
    elif mode == "undocumented_409_on_stale" and status == 412:
        status = 409
    elif mode == "server_error_on_odd_input" and status == 400:
        status = 500
    elif mode == "error_body_without_detail" and status >= 400 and status != 429:
        state["strip_detail"] = True
        headers = _without(headers, b"content-length")
    return status, headers
