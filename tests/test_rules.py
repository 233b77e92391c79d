"""Every contract rule, judged on respx-simulated responses sent through the real ApiClient.

`FakeApi` answers like the documented API (fielding-runs.md): traceparent continuing the
caller's trace, tracestate, weak ETags `W/"<version>"`, JSON error bodies, 429 with
Retry-After, and a run whose state moves only on a 204. Each test breaks exactly one thing
(a forced status, a header, a body, a run that changes when it must not) and checks that the
rule passes the correct answer and names itself for the broken one, and that no other rule
speaks up unless the break really concerns it too (`also`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import itertools
import json
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from fieldproof import contract, rules
from fieldproof.client import ApiClient, Budget, Credentials
from fieldproof.errors import BrokenResponse
from fieldproof.exchange import REDACTED, Exchange, Snapshot
from fieldproof.facts import PROVENANCES, Auth, IfMatch, RequestFacts
from fieldproof.headers import HeaderSyntaxError, parse_etag, parse_if_match
from fieldproof.model import RunState
from fieldproof.recorder import Recorder
from fieldproof.rules import EXCHANGE_RULES, SEQUENCE_RULES, Severity
from fieldproof.target import RunRef, Target

BASE_URL = "https://staging.example.test/v1"
API_VERSION = "2025-12-18"
MAIN, FOREIGN, EXPIRED = "tok-main", "tok-foreign", "tok-expired"
ACCOUNT = "101"
PROJECT = "01JD2Z6Q8W3N5P7R9T1V3X5Z7B"
TARGET_GROUP = "01JD2Z6Q8W3N5P7R9T1V3X5Z7C"
RUN_ID = "01JD2Z6Q8W3N5P7R9T1V3X5Z7D"
UNKNOWN_RUN = "01JD2Z6Q8W3N5P7R9T1V3X5Z7E"
STALE = 'W/"3"'  # a tag the run had before (its version is 7)
ULID = re.compile(r"[0-9A-Z]{26}")
PATH = re.compile(
    r"/v1/demand/accounts/([^/]+)/projects/([^/]+)/target-groups/([^/]+)/fielding-runs/([^/]+)"
    r"(?:/(pause|resume|complete))?"
)
ERROR_OBJECTS = {
    400: "bad_request_error", 401: "authorization_error", 403: "authorization_error",
    404: "not_found_error", 409: "conflict_error", 412: "precondition_failed_error",
    422: "invalid_state_error", 500: "unexpected_internal_error",
}
REFUSALS = {400, 401, 403, 404, 412, 422, 429}
# the generic locking oracles judge the resources' writes, not the four operations this file's
# simulated run serves: tests/test_locking_rules.py tests them, and checks that it covers them all
LOCKING_RULES = {name for name, rule in rules.all_rules().items() if rule.judge.__module__ == "fieldproof.rules.locking"}
EXPECTATION_RULES = sorted(name for name, rule in EXCHANGE_RULES.items() if rule.expectation and name not in LOCKING_RULES)

# the rules this file tests; the meta-test below fails when a rule is added without a test here
COVERED = [
    "documented_status",
    "traceparent_on_every_response",
    "trace_continues_callers_trace",
    "tracestate_well_formed",
    "etag_on_success",
    "no_body_on_204",
    "retry_after_on_429",
    "error_body_documented",
    "refusal_changes_nothing",
    "success_changes_the_run",
    "current_tag_wins",
    "stale_tag_refused",
    "if_match_variant_answered",
    "business_rules_refuse",
    "auth_refused",
    "unknown_path_refused",
    "api_version_required",
    "unknown_api_version_answered",
    "undeclared_method_refused",
    "response_body_bounded",
    "http_message_well_formed",
    "run_body_documented",
    "get_serves_the_run",
    "one_winner_among_concurrent_writes",
    "new_etag_accepted_by_next_write",
    "lifecycle_model_allows",
    "history_linearizable",
]


# --- the simulated API ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    content: bytes = b""

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, content=self.content)


def continued_traceparent(request: httpx.Request) -> str:
    """The caller's trace-id and flags with a new parent-id; a new trace if the caller sent none."""
    sent = request.headers.get("traceparent", "")
    match = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", sent)
    trace_id, flags = (match.group(1), match.group(3)) if match else (secrets.token_hex(16), "00")
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def correct_reply(
    request: httpx.Request,
    status: int,
    *,
    etag: str | None = None,
    run: dict[str, Any] | None = None,
    error_object: str | None = None,
) -> Reply:
    """A response as the docs describe it for `status`."""
    headers = {"traceparent": continued_traceparent(request), "tracestate": "cint=sim01,congo=t61rcWkgMzE"}
    if status == 204:
        return Reply(status, {**headers, "etag": etag or 'W/"1"'})
    if status < 300:
        return Reply(status, {**headers, "etag": etag or 'W/"1"', "content-type": "application/json"},
                     json.dumps(run or {}).encode())
    if status == 429:
        body = {"object": "too_many_requests_problem_details", "details": "Too many requests; retry later."}
        headers["retry-after"] = "5"
    else:
        body = {"id": str(uuid.uuid4()), "object": error_object or ERROR_OBJECTS.get(status, "error"),
                "detail": f"simulated {status}"}
    return Reply(status, {**headers, "content-type": "application/json"}, json.dumps(body).encode())


Tweak = Callable[[Reply, httpx.Request], None]


class FakeApi:
    """One fielding run behind a respx route, answered correctly unless a test says otherwise."""

    def __init__(self) -> None:
        self.role = "resumable"
        self.status = "paused"
        self.version = 7
        self.changed_by = "6f1c2a9e-3b7d-4c55-9a0e-2d8b7f4e1a10"
        self.title_case = False  # older API versions spell statuses "Paused", "Live"
        self.etag_of: Callable[[FakeApi], str] = lambda fake: f'W/"{fake.version}"'  # ETags are opaque
        self.foreign = 403  # the open question: 403 or 404 for another account's run
        self.script: dict[str, list[int | None]] = {}  # op -> statuses to force, one per request (None: correct)
        self.tweaks: dict[str, Tweak] = {}  # op -> a break applied to every reply of that op
        self.on_success: Callable[[str], None] | None = None  # replaces the state change of a 204
        self.on_refusal: Callable[[], None] | None = None  # runs after a refused write: a run that changes anyway

    @property
    def run(self) -> RunRef:
        return RunRef(self.role, ACCOUNT, PROJECT, TARGET_GROUP, RUN_ID)

    @property
    def etag(self) -> str:
        return self.etag_of(self)

    def body(self) -> dict[str, Any]:
        return {
            "id": RUN_ID, "account_id": ACCOUNT, "project_id": PROJECT, "target_group_id": TARGET_GROUP,
            "status": self.status.title() if self.title_case else self.status, "version": self.version,
            "start_fielding_at": "2025-06-01T08:00:00.000Z", "end_fielding_at": "2099-06-01T08:00:00.000Z",
            "last_changed_at": f"2025-06-02T08:00:{self.version:02d}.000Z", "last_changed_by": self.changed_by,
            "extra_field": "tolerated",
        }

    def allows(self, op: str) -> bool:
        if op == "resume":
            return self.status == "paused" and self.role not in ("goal_reached", "end_date_passed")
        return self.status in {"pause": ("live",), "complete": ("live", "scheduled", "paused")}[op]

    def apply(self, op: str) -> None:
        self.status = {"resume": "live", "pause": "paused", "complete": "completed"}[op]
        self.version += 1

    def correct(self, request: httpx.Request, op: str, ids: tuple[str, ...]) -> tuple[int, str | None]:
        account, project, target_group, run_id = ids
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in (MAIN, FOREIGN, EXPIRED):  # schemes ignore case (RFC 9110 §11.1)
            return 401, None
        auth = f"Bearer {token}"
        if auth == f"Bearer {EXPIRED}":
            return 403, None
        if "cint-api-version" not in request.headers:
            return 403, "required_header_missing"
        if not account.isdigit() or not ULID.fullmatch(project) or not ULID.fullmatch(target_group):
            return 400, None
        if auth == f"Bearer {FOREIGN}":
            return self.foreign, None
        if (account, project, target_group, run_id) != (ACCOUNT, PROJECT, TARGET_GROUP, RUN_ID):
            return 404, None
        if op == "get":
            return 200, None
        if_match = request.headers.get("if-match")
        if if_match is None:
            return 400, None
        try:
            parsed = parse_if_match(if_match)
        except HeaderSyntaxError:
            return 400, None
        current = parse_etag(self.etag).opaque  # weak comparison, as the API does
        if not parsed.any and all(tag.opaque != current for tag in parsed.tags):
            return 412, None
        return (204, None) if self.allows(op) else (422, None)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        match = PATH.fullmatch(request.url.path)
        if match is None:
            return correct_reply(request, 404).response()
        op = match.group(5) or "get"
        if request.method != ("GET" if op == "get" else "POST"):
            op = "other"  # a method the contract does not declare here: 405, as Starlette would
        status, error_object = (405, "bad_request_error") if op == "other" else self.correct(request, op, match.groups()[:4])
        forced = self.script.get(op, []).pop(0) if self.script.get(op) else None
        if forced is not None:
            status, error_object = forced, None
        if op not in ("get", "other") and status == 204:
            (self.on_success or self.apply)(op)
        reply = correct_reply(request, status, etag=self.etag, run=self.body(), error_object=error_object)
        if op != "get" and (status in REFUSALS or op == "other") and self.on_refusal:
            self.on_refusal()
        if op in self.tweaks:
            self.tweaks[op](reply, request)
        return reply.response()


class Sim:
    """The real ApiClient against a FakeApi; every exchange is recorded and judged."""

    def __init__(self, fake: FakeApi) -> None:
        self.fake = fake
        self.recorded: list[Exchange] = []
        self.recorder = Recorder(secrets=(MAIN, FOREIGN, EXPIRED))
        target = Target(base_url=BASE_URL, api_version=API_VERSION, account_id=ACCOUNT, token=MAIN,
                        foreign_token=FOREIGN, runs=(fake.run,))
        self.client = ApiClient(target, budget=Budget(100), on_exchange=self._record,
                                credentials=Credentials(MAIN, FOREIGN, EXPIRED), max_429_wait_s=0.5)

    def _record(self, exchange: Exchange) -> None:
        self.recorded.append(exchange)
        self.recorder.record(exchange)

    def get(self, **kwargs: Any) -> Exchange:
        return self.client.get(self.fake.run, **kwargs)

    def write(self, action: str = "resume", *args: Any, **kwargs: Any) -> Exchange:
        return self.client.write(action, self.fake.run, *args, **kwargs)

    def flagged(self) -> set[str]:
        """The rules that found something in any exchange recorded so far."""
        return {group.rule for group in self.recorder.take_findings("t")}


@pytest.fixture
def sim() -> Iterator[Sim]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        fake = FakeApi()
        mock.route(name="api").mock(side_effect=fake)
        simulation = Sim(fake)
        yield simulation
        simulation.client.close()


# --- set-ups: each breaks one thing, or puts the run in a state ------------------------------


Setup = Callable[[FakeApi], None]


def setup(*steps: Setup) -> Setup:
    def apply(fake: FakeApi) -> None:
        for step in steps:
            step(fake)

    return apply


def state(role: str = "resumable", status: str = "paused") -> Setup:
    def apply(fake: FakeApi) -> None:
        fake.role, fake.status = role, status

    return apply


def force(op: str, *statuses: int | None) -> Setup:
    def apply(fake: FakeApi) -> None:
        fake.script[op] = list(statuses)

    return apply


def tweak(op: str, change: Tweak) -> Setup:
    def apply(fake: FakeApi) -> None:
        fake.tweaks[op] = change

    return apply


def header(op: str, name: str, value: str | None | Callable[[Reply, httpx.Request], str]) -> Setup:
    """Replace (or with None drop) one response header of `op`."""

    def change(reply: Reply, request: httpx.Request) -> None:
        new = value(reply, request) if callable(value) else value
        if new is None:
            reply.headers.pop(name, None)
        else:
            reply.headers[name] = new

    return tweak(op, change)


def body(op: str, content: bytes, content_type: str = "application/json") -> Setup:
    def change(reply: Reply, request: httpx.Request) -> None:
        reply.content = content
        reply.headers["content-type"] = content_type

    return tweak(op, change)


def error_json(op: str, **fields: Any) -> Setup:
    """Replace the JSON error body of `op` by exactly these fields."""
    return body(op, json.dumps(fields).encode())


def refusal_changes(change: Callable[[FakeApi], None]) -> Setup:
    def apply(fake: FakeApi) -> None:
        fake.on_refusal = lambda: change(fake)

    return apply


def encoded(op: str, coding: str, corrupt: bool = False, cut: bool = False) -> Setup:
    """`op`'s body in a content coding, as a gateway compresses it (or a corrupt one, or one
    whose stream is cut short)."""

    def change(reply: Reply, request: httpx.Request) -> None:
        packer = zlib.compressobj(wbits=zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)
        packed = packer.compress(reply.content) + packer.flush()
        reply.content = packed[: len(packed) // 2] + (b"\x00garbage" if corrupt else b"") if corrupt or cut else packed
        reply.headers["content-encoding"] = coding

    return tweak(op, change)


def changed_at_after(value: str) -> Setup:
    """GETs show last_changed_at as `value` once the run has changed (an earlier time)."""

    def change(reply: Reply, request: httpx.Request) -> None:
        data = json.loads(reply.content)
        if data["version"] > 7:
            reply.content = json.dumps({**data, "last_changed_at": value}).encode()

    return tweak("get", change)


def success_does(change: Callable[[FakeApi, str], None]) -> Setup:
    def apply(fake: FakeApi) -> None:
        fake.on_success = lambda op: change(fake, op)

    return apply


def sent_trace_id(request: httpx.Request) -> str:
    return request.headers["traceparent"].split("-")[1]


def bump(fake: FakeApi) -> None:
    fake.version += 1


def flip_status(fake: FakeApi) -> None:
    fake.status = "live" if fake.status == "paused" else "paused"


def only_status(fake: FakeApi, op: str) -> None:
    fake.status = {"resume": "live", "pause": "paused", "complete": "completed"}[op]


def only_version(fake: FakeApi, op: str) -> None:
    fake.version += 1


def no_op(fake: FakeApi, op: str) -> None:
    pass


# --- the cases ------------------------------------------------------------------------------


Send = Callable[[Sim], Exchange]


@dataclass(frozen=True)
class Case:
    rule: str
    id: str
    send: Send
    setup: Setup = setup()
    also: frozenset[str] = frozenset()  # other rules the break rightly concerns

    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}-{self.id}")


def GET(**kwargs: Any) -> Send:
    return lambda sim: sim.get(**kwargs)


def WRITE(action: str = "resume", *args: Any, **kwargs: Any) -> Send:
    return lambda sim: sim.write(action, *args, **kwargs)


def expect(if_match_kind: str, if_match: Any = ..., action: str = "resume") -> Send:
    """A write whose If-Match is of `if_match_kind` (... = the current tag): the client records
    the kind from what it sends; where the tag came from (stale, …) the suite says."""
    args = () if if_match is ... else (if_match,)
    kind = IfMatch(if_match_kind)
    return WRITE(action, *args, tag=kind if kind in PROVENANCES else None)


def authed(auth: str, op: str = "get") -> Send:
    if op == "get":
        return GET(auth=Auth(auth))
    return WRITE(op, auth=Auth(auth))


def path(kind: str, op: str = "get", **ids: str) -> Send:
    """A request to other path ids (`kind` names what they are, for the reader: the client
    records how they differ from the run's)."""
    if op == "get":
        return GET(**ids)
    return WRITE(op, **ids)


def no_version(op: str = "get", version: str | None = None) -> Send:
    if op == "get":
        return GET(headers={"Cint-API-Version": version})
    return WRITE(op, headers={"Cint-API-Version": version})


def BROKEN(send: Send) -> Send:
    """A request whose answer cannot be read as HTTP: the client records it, then stops the
    test (BrokenResponse); the recorded exchange is what the rules judged."""

    def call(sim: Sim) -> Exchange:
        with pytest.raises(BrokenResponse):
            send(sim)
        return sim.recorded[-1]

    return call


def PROBE(method: str, action: str | None = None) -> Send:
    """A method the contract does not declare on the run's path (or an action's)."""
    return lambda sim: sim.client.probe(method, sim.fake.run, action)


def ff(reply: Reply, request: httpx.Request) -> str:
    return f"ff-{sent_trace_id(request)}-00f067aa0ba902b7-01"


LIVE = state("live", "live")
UNKNOWN_VERSION = "1999-01-01"  # well-formed, no version of the API
GOAL = state("goal_reached", "paused")
HTTP_DATE = email.utils.formatdate(time.time() + 3600, usegmt=True)
A_500 = frozenset({"documented_status"})  # a 500 is a finding of its own as well
CURRENT = frozenset({"current_tag_wins"})  # a write with the current tag on a run that allows it: 204

OTHER_PROJECT = "01JD2Z6Q8W3N5P7R9T1V3X5Z7F"  # a well-formed project id that is not the run's
UPPER_TRACE = "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"  # uppercase hex: invalid (W3C)
FUTURE_TRACE = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later"  # a later version: read as 00


def changed_at(value: str) -> Setup:
    """Every GET shows last_changed_at as `value`, however the run changes."""
    return tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "last_changed_at": value}).encode()))


def run_field(name: str, value: Any) -> Setup:
    """Every GET shows the run's field `name` as `value`."""
    return tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), name: value}).encode()))


def error_object(op: str, code: str) -> Setup:
    """`op`'s error bodies carry `code` as their object."""
    return tweak(op, lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "object": code}).encode()))


def continues_invalid(reply: Reply, request: httpx.Request) -> None:
    """A response that takes the caller's trace-id even from an invalid traceparent."""
    reply.headers["traceparent"] = f"00-{request.headers['traceparent'].split('-')[1].lower()}-{secrets.token_hex(8)}-01"


PASSES = [
    # rules every response must satisfy
    Case("documented_status", "get-200", GET()),
    Case("documented_status", "resume-204", WRITE()),
    Case("documented_status", "resume-412", WRITE("resume", STALE)),
    Case("documented_status", "get-404", GET(fielding_run_id=UNKNOWN_RUN)),
    Case("documented_status", "get-429", GET(), force("get", 429)),
    # 428 is in no list, but a missing If-Match may get it (an open question)
    Case("documented_status", "resume-428-missing-if-match", WRITE("resume", None), force("resume", 428)),
    Case("traceparent_on_every_response", "get-200", GET()),
    Case("traceparent_on_every_response", "resume-204", WRITE()),
    Case("traceparent_on_every_response", "get-401", GET(auth=Auth.NONE)),
    Case("traceparent_on_every_response", "resume-422", WRITE(), LIVE),
    Case("trace_continues_callers_trace", "get-200", GET()),
    Case("trace_continues_callers_trace", "resume-412", WRITE("resume", STALE)),
    Case("trace_continues_callers_trace", "get-404", GET(fielding_run_id=UNKNOWN_RUN)),
    Case("tracestate_well_formed", "get-200", GET()),
    Case("tracestate_well_formed", "multi-tenant-and-empty-members", GET(),
         header("get", "tracestate", "fw529a3039@dt=FHJ3bmc, ,congo=t61rcWkgMzE")),
    Case("tracestate_well_formed", "resume-204", WRITE()),
    Case("etag_on_success", "get-200", GET()),
    Case("etag_on_success", "resume-204", WRITE()),
    Case("etag_on_success", "strong-tag", GET(), header("get", "etag", '"a1b2c3"')),
    Case("no_body_on_204", "resume-204", WRITE()),
    Case("no_body_on_204", "pause-204", WRITE("pause"), LIVE),
    Case("retry_after_on_429", "seconds", GET(), force("get", 429)),
    Case("error_body_documented", "resume-412", WRITE("resume", STALE)),
    Case("error_body_documented", "get-401", GET(auth=Auth.NONE)),
    Case("error_body_documented", "get-429", GET(), force("get", 429)),
    Case("error_body_documented", "charset", WRITE("resume", STALE),
         header("resume", "content-type", "application/json; charset=utf-8")),
    # media types are case-insensitive (RFC 9110 8.3.1): "Application/JSON" is JSON
    Case("error_body_documented", "media-type-case", WRITE("resume", STALE),
         header("resume", "content-type", "Application/JSON")),
    Case("error_body_documented", "invalid-params-null", WRITE("resume", "1"),
         error_json("resume", id=str(uuid.uuid4()), object="bad_request_error", detail="bad If-Match", invalid_params=None)),
    Case("error_body_documented", "invalid-params", WRITE("resume", "1"),
         error_json("resume", id=str(uuid.uuid4()), object="bad_request_error", detail="bad If-Match",
                    invalid_params=[{"name": "If-Match", "reason": "not an entity tag"}])),
    Case("refusal_changes_nothing", "412", WRITE("resume", STALE)),
    Case("refusal_changes_nothing", "422", WRITE(), GOAL),
    Case("refusal_changes_nothing", "401", WRITE(auth=Auth.NONE)),
    Case("refusal_changes_nothing", "429", WRITE(), force("resume", 429)),
    Case("success_changes_the_run", "resume", WRITE()),
    Case("success_changes_the_run", "pause", WRITE("pause"), LIVE),
    Case("success_changes_the_run", "complete", WRITE("complete")),
    Case("success_changes_the_run", "title-case-status", WRITE(), lambda fake: setattr(fake, "title_case", True)),
    # expectation rules
    Case("current_tag_wins", "resume-resumable", expect("current")),
    Case("current_tag_wins", "pause-live", expect("current", action="pause"), LIVE),
    Case("current_tag_wins", "complete-live", expect("current", action="complete"), LIVE),
    Case("stale_tag_refused", "stale", expect("stale", STALE)),
    Case("stale_tag_refused", "other-run", expect("other_run", 'W/"41"')),
    Case("stale_tag_refused", "never-issued", expect("never_issued", '"zz"')),
    Case("stale_tag_refused", "goal-reached-412", expect("stale", STALE), GOAL),
    Case("stale_tag_refused", "goal-reached-422", expect("stale", STALE), setup(GOAL, force("resume", 422))),
    Case("stale_tag_refused", "live-422", expect("stale", STALE), setup(LIVE, force("resume", 422))),
    Case("business_rules_refuse", "goal-reached", expect("current"), GOAL),
    Case("business_rules_refuse", "end-date-passed", expect("current"), state("end_date_passed", "paused")),
    Case("business_rules_refuse", "completed", expect("current"), state("completed", "completed")),
    Case("business_rules_refuse", "live-422", expect("current"), LIVE),
    Case("business_rules_refuse", "live-204-no-op", expect("current"),
         setup(LIVE, force("resume", 204), success_does(no_op))),
    *(Case("auth_refused", f"{auth}-{op}", authed(auth, op)) for auth in ("none", "malformed", "expired", "foreign")
      for op in ("get", "resume")),
    Case("auth_refused", "foreign-404", authed("foreign"), lambda fake: setattr(fake, "foreign", 404)),
    Case("auth_refused", "foreign-404-resume", authed("foreign", "resume"), lambda fake: setattr(fake, "foreign", 404)),
    Case("unknown_path_refused", "unknown-run-get", path("unknown_run", fielding_run_id=UNKNOWN_RUN)),
    Case("unknown_path_refused", "unknown-run-resume", path("unknown_run", "resume", fielding_run_id=UNKNOWN_RUN)),
    Case("unknown_path_refused", "malformed-project-400", path("malformed_project_id", project_id="not-a-ulid")),
    Case("unknown_path_refused", "malformed-target-group-404", path("malformed_target_group_id", "resume",
         target_group_id="01jd"), force("resume", 404)),
    Case("unknown_path_refused", "malformed-account-400", path("malformed_account_id", account_id="-1")),
    Case("unknown_path_refused", "odd-run-id-404", path("odd_run_id", fielding_run_id="X" * 300)),
    Case("unknown_path_refused", "odd-run-id-400", path("odd_run_id", "resume", fielding_run_id="x" * 300),
         force("resume", 400)),  # a run id that is no ULID may be called malformed
    Case("unknown_path_refused", "another-account-403", path("unknown_account_id", account_id="202"), force("get", 403)),
    Case("api_version_required", "get", no_version()),
    Case("api_version_required", "resume", no_version("resume")),
    Case("unknown_api_version_answered", "get-served", no_version("get", UNKNOWN_VERSION)),
    Case("unknown_api_version_answered", "resume-served", no_version("resume", UNKNOWN_VERSION)),
    Case("unknown_api_version_answered", "get-400", no_version("get", UNKNOWN_VERSION), force("get", 400)),
    Case("unknown_api_version_answered", "resume-403", no_version("resume", UNKNOWN_VERSION), force("resume", 403)),
    Case("unknown_api_version_answered", "malformed-400", no_version("get", "yesterday"), force("get", 400)),
    Case("response_body_bounded", "get-200", GET()),
    Case("http_message_well_formed", "get-200", GET()),
    Case("run_body_documented", "get-200", GET()),
    Case("get_serves_the_run", "get-200", GET()),
    Case("get_serves_the_run", "lower-case-scheme", GET(headers={"Authorization": f"bearer {MAIN}"})),
    Case("run_body_documented", "title-case-status", GET(), lambda fake: setattr(fake, "title_case", True)),
    Case("run_body_documented", "json-with-charset", GET(), header("get", "content-type", "application/json; charset=utf-8")),
    Case("run_body_documented", "utc-as-offset", GET(), run_field("last_changed_at", "2025-06-02T08:00:07.000+00:00")),
    Case("run_body_documented", "account-id-as-int", GET(), run_field("account_id", int(ACCOUNT))),
    Case("error_body_documented", "400-required-header-missing", expect("missing", None),
         error_object("resume", "required_header_missing")),
    Case("error_body_documented", "unknown-version-any-code", no_version("get", "1999-01-01"), force("get", 403)),
    Case("success_changes_the_run", "same-time-same-second", WRITE(), setup(
        changed_at("2025-06-02T08:00:07.000Z"), header("resume", "date", "Mon, 02 Jun 2025 08:00:08 GMT"))),
    Case("trace_continues_callers_trace", "invalid-caller-new-trace", GET(headers={"traceparent": UPPER_TRACE})),
    Case("trace_continues_callers_trace", "later-version-not-continued", GET(headers={"traceparent": FUTURE_TRACE}),
         header("get", "traceparent", lambda reply, request: f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")),
    Case("run_body_documented", "lower-case-t-and-z", GET(), run_field("last_changed_at", "2025-06-02t08:00:07.000z")),
    Case("run_body_documented", "id-in-other-case", GET(), run_field("id", RUN_ID.lower())),
    Case("error_body_documented", "412-for-a-missing-if-match-any-code", expect("missing", None), setup(
        force("resume", 412), error_object("resume", "required_header_missing"))),
    Case("business_rules_refuse", "resumable-run-past-its-end-date-422", expect("current"), setup(
        run_field("end_fielding_at", "2025-06-02T08:00:00.000Z"), force("resume", 422))),
    Case("trace_continues_callers_trace", "later-version-continued", GET(headers={"traceparent": FUTURE_TRACE}),
         header("get", "traceparent", lambda reply, request: f"00-{FUTURE_TRACE.split('-')[1]}-{secrets.token_hex(8)}-01")),
    Case("unknown_path_refused", "other-project-404", path("other_scope", project_id=OTHER_PROJECT)),
    Case("unknown_path_refused", "other-project-403", path("other_scope", project_id=OTHER_PROJECT), force("get", 403)),
    Case("http_message_well_formed", "get-200-gzip", GET(), encoded("get", "gzip")),
    Case("http_message_well_formed", "get-200-deflate", GET(), encoded("get", "deflate")),
    Case("http_message_well_formed", "resume-412-gzip", expect("stale", STALE), encoded("resume", "gzip")),
    Case("response_body_bounded", "a-1-mib-body", GET(), tweak("get", lambda reply, request: setattr(
        reply, "content", reply.content[:-1] + b', "pad": "' + b"x" * (1024 * 1024 - len(reply.content) - 11) + b'"}'))),
    Case("undeclared_method_refused", "query-405", PROBE("QUERY")),
    Case("undeclared_method_refused", "get-on-resume-405", PROBE("GET", "resume")),
    Case("undeclared_method_refused", "query-501", PROBE("QUERY"), force("other", 501)),
    Case("undeclared_method_refused", "query-404", PROBE("QUERY", "pause"), force("other", 404)),
]

# If-Match spellings the docs leave open: (kind, value, role/state, forced status or None, passes?)
VARIANTS = [
    ("missing", None, None, None, True),  # 400
    ("missing", None, None, 412, True),
    ("missing", None, None, 428, True),  # RFC 6585 Precondition Required
    ("missing", "", None, 428, True),  # an empty field: a server may take it as absent
    ("missing", None, None, 204, False),
    ("missing", None, None, 422, False),  # the state allows the write: 422 is no answer to a missing tag
    ("missing", None, GOAL, 422, True),
    ("malformed", "7", None, None, True),
    ("malformed", 'W/"7', None, 412, True),
    ("malformed", "7", None, 204, False),
    ("star", "*", None, None, True),  # 204
    ("star", "*", None, 412, True),
    ("star", "*", None, 400, True),
    ("star", "*", None, 422, False),
    ("star", "*", GOAL, None, True),  # 422
    ("star", "*", GOAL, 204, False),  # a run whose goal is reached never wins
    ("list_with_current", 'W/"3", W/"7"', None, None, True),
    ("list_with_current", 'W/"3", W/"7"', None, 400, True),
    ("list_with_current", 'W/"3", W/"7"', None, 422, False),
    ("list_without_current", 'W/"3", W/"4"', None, None, True),  # 412
    ("list_without_current", 'W/"3", W/"4"', None, 400, True),
    ("list_without_current", 'W/"3", W/"4"', None, 204, False),  # a stale-only list never wins
    ("list_without_current", 'W/"3", W/"4"', GOAL, 204, False),
    ("list_without_current", 'W/"3", W/"4"', GOAL, 422, True),
    ("strong_spelling_of_current", '"7"', None, None, True),  # 204 (weak comparison)
    ("strong_spelling_of_current", '"7"', None, 412, True),  # exact comparison
    ("strong_spelling_of_current", '"7"', None, 400, False),  # it is a well-formed tag
]


def variant_case(kind: str, value: str | None, where: Setup | None, forced: int | None) -> Case:
    steps = [step for step in (where, force("resume", forced) if forced else None) if step]
    label = f"{kind}-{'goal-reached-' if where else ''}{forced or 'correct'}"
    return Case("if_match_variant_answered", label, expect(kind, value), setup(*steps))


PASSES += [variant_case(k, v, w, f) for k, v, w, f, ok in VARIANTS if ok]

BREAKS = [
    Case("documented_status", "get-500", GET(), force("get", 500)),
    Case("documented_status", "resume-500", WRITE(), force("resume", 500), also=CURRENT),
    Case("documented_status", "resume-409", WRITE(), force("resume", 409), also=CURRENT),
    Case("documented_status", "resume-201", WRITE(), force("resume", 201), also=CURRENT),
    Case("documented_status", "resume-200", WRITE(), force("resume", 200), also=CURRENT),
    Case("documented_status", "get-204", GET(), force("get", 204)),
    Case("documented_status", "get-412", GET(), force("get", 412)),
    Case("documented_status", "resume-428", WRITE(), force("resume", 428), also=CURRENT),
    Case("traceparent_on_every_response", "missing", GET(), header("get", "traceparent", None)),
    Case("traceparent_on_every_response", "missing-on-404", GET(fielding_run_id=UNKNOWN_RUN),
         header("get", "traceparent", None)),
    Case("traceparent_on_every_response", "missing-on-204", WRITE(), header("resume", "traceparent", None)),
    Case("traceparent_on_every_response", "upper-case-hex", GET(),
         header("get", "traceparent", lambda r, q: f"00-{sent_trace_id(q).upper()}-00F067AA0BA902B7-01")),
    Case("traceparent_on_every_response", "all-zero-trace-id", GET(),
         header("get", "traceparent", f"00-{'0' * 32}-00f067aa0ba902b7-01")),
    Case("traceparent_on_every_response", "all-zero-parent-id", GET(),
         header("get", "traceparent", lambda r, q: f"00-{sent_trace_id(q)}-{'0' * 16}-01")),
    Case("traceparent_on_every_response", "version-ff", GET(), header("get", "traceparent", ff)),
    Case("traceparent_on_every_response", "short-trace-id", GET(),
         header("get", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01")),
    Case("traceparent_on_every_response", "not-a-traceparent", GET(), header("get", "traceparent", "abc")),
    Case("trace_continues_callers_trace", "new-trace-id", GET(),
         header("get", "traceparent", lambda r, q: f"00-{secrets.token_hex(16)}-00f067aa0ba902b7-01")),
    Case("trace_continues_callers_trace", "new-trace-id-on-412", WRITE("resume", STALE),
         header("resume", "traceparent", lambda r, q: f"00-{secrets.token_hex(16)}-00f067aa0ba902b7-01")),
    Case("trace_continues_callers_trace", "parent-id-echoed", GET(),
         header("get", "traceparent", lambda r, q: q.headers["traceparent"])),
    Case("tracestate_well_formed", "not-key-value", GET(), header("get", "tracestate", "not a list")),
    Case("tracestate_well_formed", "duplicate-key", GET(), header("get", "tracestate", "congo=a,rojo=b,congo=c")),
    Case("tracestate_well_formed", "upper-case-key", GET(), header("get", "tracestate", "Congo=t61rcWkgMzE")),
    Case("tracestate_well_formed", "33-members", GET(),
         header("get", "tracestate", ",".join(f"k{i}=v" for i in range(33)))),
    Case("tracestate_well_formed", "malformed-on-429", GET(),
         setup(force("get", 429), header("get", "tracestate", "congo=="))),
    Case("etag_on_success", "missing-on-200", GET(), header("get", "etag", None)),
    Case("etag_on_success", "missing-on-204", WRITE(), header("resume", "etag", None)),
    Case("etag_on_success", "unquoted-on-200", GET(), header("get", "etag", "7")),
    Case("etag_on_success", "lower-case-w-on-200", GET(), header("get", "etag", 'w/"7"')),
    Case("etag_on_success", "unquoted-on-204", WRITE(), header("resume", "etag", "8"),
         also=frozenset({"success_changes_the_run"})),  # "8" is not the run's current W/"8" either
    # a simulated 204 with a body says its length too: that is a Content-Length on a 204 as well
    Case("no_body_on_204", "json-body", WRITE(), body("resume", b'{"status": "live"}'), also=frozenset({"http_message_well_formed"})),
    Case("no_body_on_204", "one-byte", WRITE("pause"), setup(LIVE, body("pause", b" ", "text/plain")), also=frozenset({"http_message_well_formed"})),
    Case("retry_after_on_429", "missing", GET(), setup(force("get", 429), header("get", "retry-after", None))),
    Case("retry_after_on_429", "soon", GET(), setup(force("get", 429), header("get", "retry-after", "soon"))),
    # the docs say a count of seconds: an HTTP-date is RFC 9110's, not this API's
    Case("retry_after_on_429", "http-date", GET(), setup(force("get", 429), header("get", "retry-after", HTTP_DATE))),
    Case("retry_after_on_429", "fraction", GET(), setup(force("get", 429), header("get", "retry-after", "1.5"))),
    Case("retry_after_on_429", "negative", WRITE(), setup(force("resume", 429), header("resume", "retry-after", "-1"))),
    Case("error_body_documented", "not-json", WRITE("resume", STALE),
         body("resume", b"Precondition Failed", "text/plain")),
    Case("error_body_documented", "json-type-html-body", GET(auth=Auth.NONE), body("get", b"<h1>401</h1>")),
    Case("error_body_documented", "json-array", WRITE("resume", STALE), body("resume", b"[]")),
    Case("error_body_documented", "no-content-type", WRITE("resume", STALE),
         tweak("resume", lambda r, q: r.headers.pop("content-type"))),
    Case("error_body_documented", "problem-json", WRITE("resume", STALE),
         header("resume", "content-type", "application/problem+json")),
    Case("error_body_documented", "missing-detail", WRITE("resume", STALE),
         error_json("resume", id=str(uuid.uuid4()), object="precondition_failed_error")),
    Case("error_body_documented", "missing-object", GET(fielding_run_id=UNKNOWN_RUN),
         error_json("get", id=str(uuid.uuid4()), detail="no such run")),
    Case("error_body_documented", "detail-not-text", GET(fielding_run_id=UNKNOWN_RUN),
         error_json("get", id=str(uuid.uuid4()), object="not_found_error", detail=404)),
    Case("error_body_documented", "429-detail-not-details", GET(),
         setup(force("get", 429), error_json("get", object="too_many_requests_problem_details", detail="slow down"))),
    Case("error_body_documented", "invalid-params-no-reason", WRITE("resume", "1"),
         error_json("resume", id=str(uuid.uuid4()), object="bad_request_error", detail="bad", invalid_params=[{"name": "x"}])),
    Case("error_body_documented", "429-other-object", GET(),
         setup(force("get", 429), error_json("get", object="too_many_requests_error", details="slow down"))),
    Case("error_body_documented", "500-text", GET(), setup(force("get", 500), body("get", b"oops", "text/html")),
         also=A_500),
    Case("refusal_changes_nothing", "412-bumps-version", WRITE("resume", STALE), refusal_changes(bump)),
    Case("refusal_changes_nothing", "422-changes-status", WRITE(), setup(GOAL, refusal_changes(flip_status))),
    Case("refusal_changes_nothing", "401-changes-last-changed-by", WRITE(auth=Auth.NONE),
         refusal_changes(lambda fake: setattr(fake, "changed_by", str(uuid.uuid4())))),
    Case("refusal_changes_nothing", "400-bumps-version", WRITE("resume", None), refusal_changes(bump)),
    Case("refusal_changes_nothing", "429-bumps-version", WRITE(), setup(force("resume", 429), refusal_changes(bump))),
    Case("success_changes_the_run", "still-paused", WRITE(), success_does(only_version)),
    Case("success_changes_the_run", "same-version", WRITE(), success_does(only_status)),
    Case("success_changes_the_run", "nothing-changed", WRITE("pause"), setup(LIVE, success_does(no_op))),
    Case("success_changes_the_run", "etag-is-the-if-match", WRITE(),
         header("resume", "etag", lambda r, q: q.headers["if-match"])),
    Case("success_changes_the_run", "etag-never-changes", WRITE(),
         lambda fake: setattr(fake, "etag_of", lambda f: 'W/"7"')),  # version moves, the tag does not
    Case("success_changes_the_run", "version-stays-tag-moves", WRITE(),
         setup(success_does(only_status), lambda fake: setattr(fake, "etag_of", lambda f: f'W/"{f.status}"'))),
    Case("success_changes_the_run", "etag-not-the-gets", WRITE(), header("resume", "etag", 'W/"99"')),
    Case("success_changes_the_run", "complete-not-completed", WRITE("complete"), success_does(only_version)),
    Case("current_tag_wins", "412", expect("current"), force("resume", 412)),
    Case("current_tag_wins", "422", expect("current"), force("resume", 422)),
    Case("current_tag_wins", "400", expect("current"), force("resume", 400)),
    Case("current_tag_wins", "pause-412", expect("current", action="pause"), setup(LIVE, force("pause", 412))),
    Case("current_tag_wins", "complete-422", expect("current", action="complete"), setup(LIVE, force("complete", 422))),
    Case("stale_tag_refused", "204", expect("stale", STALE), force("resume", 204)),
    Case("stale_tag_refused", "422-on-resumable", expect("stale", STALE), force("resume", 422)),
    Case("stale_tag_refused", "400", expect("stale", STALE), force("resume", 400)),
    Case("stale_tag_refused", "other-run-204", expect("other_run", 'W/"41"'), force("resume", 204)),
    Case("stale_tag_refused", "never-issued-204", expect("never_issued", '"zz"'), force("resume", 204)),
    Case("stale_tag_refused", "goal-reached-204", expect("stale", STALE), setup(GOAL, force("resume", 204))),
    Case("business_rules_refuse", "goal-reached-204", expect("current"), setup(GOAL, force("resume", 204))),
    Case("business_rules_refuse", "goal-reached-412", expect("current"), setup(GOAL, force("resume", 412))),
    Case("business_rules_refuse", "end-date-passed-204", expect("current"),
         setup(state("end_date_passed", "paused"), force("resume", 204))),
    Case("business_rules_refuse", "completed-204", expect("current"),
         setup(state("completed", "completed"), force("resume", 204))),
    Case("business_rules_refuse", "live-400", expect("current"), setup(LIVE, force("resume", 400))),
    Case("business_rules_refuse", "live-412", expect("current"), setup(LIVE, force("resume", 412))),
    Case("auth_refused", "none-403", authed("none"), force("get", 403)),
    Case("auth_refused", "none-200", authed("none"), force("get", 200)),
    Case("auth_refused", "malformed-200", authed("malformed"), force("get", 200)),
    Case("auth_refused", "malformed-403-resume", authed("malformed", "resume"), force("resume", 403)),
    Case("auth_refused", "expired-401", authed("expired"), force("get", 401)),
    Case("auth_refused", "expired-200", authed("expired"), force("get", 200)),
    Case("auth_refused", "foreign-200", authed("foreign"), force("get", 200)),
    Case("auth_refused", "foreign-401", authed("foreign"), force("get", 401)),
    Case("auth_refused", "foreign-204-resume", authed("foreign", "resume"), force("resume", 204)),
    Case("unknown_path_refused", "unknown-run-400", path("unknown_run", fielding_run_id=UNKNOWN_RUN), force("get", 400)),
    Case("unknown_path_refused", "unknown-run-200", path("unknown_run", fielding_run_id=UNKNOWN_RUN), force("get", 200)),
    Case("unknown_path_refused", "unknown-run-412", path("unknown_run", "resume", fielding_run_id=UNKNOWN_RUN),
         force("resume", 412)),
    Case("unknown_path_refused", "malformed-200", path("malformed_project_id", project_id="not-a-ulid"),
         force("get", 200)),
    Case("unknown_path_refused", "malformed-403", path("malformed_account_id", "resume", account_id="abc"),
         force("resume", 403)),
    Case("unknown_path_refused", "malformed-500", path("malformed_target_group_id", target_group_id="x"),
         force("get", 500), also=A_500),
    Case("unknown_path_refused", "odd-run-id-200", path("odd_run_id", fielding_run_id="x" * 300), force("get", 200)),
    Case("unknown_path_refused", "odd-run-id-412", path("odd_run_id", "resume", fielding_run_id="x" * 300),
         force("resume", 412)),
    Case("api_version_required", "wrong-object", no_version(), force("get", 403)),
    Case("api_version_required", "no-json-body", no_version("resume"),
         body("resume", b"Forbidden", "text/plain"), also=frozenset({"error_body_documented"})),
    Case("api_version_required", "400", no_version(), force("get", 400)),
    Case("api_version_required", "200", no_version(), force("get", 200)),
    Case("api_version_required", "204", no_version("resume"), force("resume", 204)),
    Case("unknown_api_version_answered", "get-404", no_version("get", UNKNOWN_VERSION), force("get", 404)),
    Case("unknown_api_version_answered", "resume-412", no_version("resume", UNKNOWN_VERSION), force("resume", 412)),
    Case("unknown_api_version_answered", "get-500", no_version("get", UNKNOWN_VERSION), force("get", 500), also=A_500),
    Case("response_body_bounded", "2-mib-body", GET(), body("get", b"{}" + b" " * (2 * 1024 * 1024))),
    Case("run_body_documented", "empty-200", GET(), body("get", b"")),
    Case("get_serves_the_run", "get-404", GET(), force("get", 404)),
    Case("get_serves_the_run", "get-401", GET(), force("get", 401)),
    Case("run_body_documented", "local-time", GET(), run_field("last_changed_at", "2025-06-02T10:00:07.000+02:00")),
    Case("run_body_documented", "another-runs-id", GET(), run_field("id", UNKNOWN_RUN)),
    Case("run_body_documented", "another-project", GET(), run_field("project_id", OTHER_PROJECT)),
    Case("error_body_documented", "412-wrong-object", expect("stale", STALE), error_object("resume", "bad_request_error")),
    Case("error_body_documented", "camel-case-object", GET(fielding_run_id=UNKNOWN_RUN), error_object("get", "notFound")),
    Case("error_body_documented", "id-no-uuid", GET(fielding_run_id=UNKNOWN_RUN), tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "id": 42}).encode()))),
    Case("success_changes_the_run", "time-went-back", WRITE(), changed_at_after("2025-06-02T07:00:00.000Z")),
    Case("success_changes_the_run", "time-stayed", WRITE(), setup(
        changed_at("2025-06-02T08:00:07.000Z"), header("resume", "date", "Mon, 02 Jun 2025 09:00:00 GMT"))),
    Case("trace_continues_callers_trace", "invalid-caller-continued", GET(headers={"traceparent": UPPER_TRACE}),
         tweak("get", continues_invalid)),
    Case("unknown_path_refused", "other-project-200", path("other_scope", project_id=OTHER_PROJECT), force("get", 200)),
    Case("unknown_path_refused", "other-project-resume-204", path("other_scope", "resume", project_id=OTHER_PROJECT),
         force("resume", 204)),
    Case("run_body_documented", "html-200", GET(), body("get", b"<html>ok</html>", "text/html")),
    Case("run_body_documented", "json-array", GET(), body("get", b"[]")),
    Case("run_body_documented", "no-version", GET(), tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({k: v for k, v in json.loads(reply.content).items() if k != "version"}).encode()))),
    Case("run_body_documented", "version-as-string", GET(), tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "version": "7"}).encode()))),
    Case("run_body_documented", "unknown-status", GET(), tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "status": "running"}).encode()))),
    Case("run_body_documented", "naive-timestamp", GET(), tweak("get", lambda reply, request: setattr(
        reply, "content", json.dumps({**json.loads(reply.content), "last_changed_at": "2025-06-02T08:00:00"}).encode()))),
    Case("http_message_well_formed", "corrupt-gzip-200", BROKEN(GET()), encoded("get", "gzip", corrupt=True)),
    Case("http_message_well_formed", "gzip-cut-short-412", BROKEN(WRITE("resume", STALE)), encoded("resume", "gzip", cut=True)),
    Case("http_message_well_formed", "unasked-coding", BROKEN(GET()), header("get", "content-encoding", "compress")),
    Case("undeclared_method_refused", "query-200", PROBE("QUERY"), force("other", 200)),
    Case("undeclared_method_refused", "get-on-resume-204", PROBE("GET", "resume"), force("other", 204)),
    Case("undeclared_method_refused", "query-500", PROBE("QUERY"), force("other", 500)),
    Case("undeclared_method_refused", "query-changes-the-run", PROBE("QUERY"), refusal_changes(bump)),
]
BREAKS += [variant_case(k, v, w, f) for k, v, w, f, ok in VARIANTS if not ok]


def run_case(sim: Sim, case: Case) -> Exchange:
    case.setup(sim.fake)
    exchange = case.send(sim)
    assert exchange is sim.recorded[-1], "the exchange a call returns is the last one recorded"
    return exchange


@pytest.mark.parametrize("case", [c.param() for c in PASSES])
def test_rule_passes_a_correct_response(sim: Sim, case: Case) -> None:
    exchange = run_case(sim, case)
    result = EXCHANGE_RULES[case.rule].judge(exchange)
    assert result is not None, f"{case.rule} did not apply to {exchange.method} {exchange.url} -> {exchange.status}"
    assert result == []
    assert sim.flagged() == set(), "a correct API must pass every rule on every exchange"


@pytest.mark.parametrize("case", [c.param() for c in BREAKS])
def test_rule_fails_a_broken_response(sim: Sim, case: Case) -> None:
    exchange = run_case(sim, case)
    result = EXCHANGE_RULES[case.rule].judge(exchange)
    assert result, f"{case.rule} passed {exchange.method} {exchange.operation} -> {exchange.status}"
    assert {finding.rule for finding in result} == {case.rule}
    assert all(finding.exchange is exchange and finding.message for finding in result)
    assert sim.flagged() == {case.rule} | case.also, "one break, one rule (besides those it rightly concerns)"


def test_fake_api_answers_the_documented_statuses(sim: Sim) -> None:
    """The simulation itself: the correct answers the cases above rely on."""
    assert sim.get().status == 200
    assert sim.write("resume", STALE).status == 412
    assert sim.write("resume", None).status == 400
    assert sim.write("resume", "7").status == 400
    assert sim.write("resume").status == 204
    assert sim.write("resume").status == 422  # live now
    assert sim.get(auth=Auth.EXPIRED).status == 403
    assert sim.get(headers={"Cint-API-Version": None}).json()["object"] == "required_header_missing"
    assert sim.flagged() == set()


# --- the expectation rules and 429 ------------------------------------------------------------


# for each expectation rule, a request it applies to, answered correctly
APPLICABLE = {
    "current_tag_wins": (expect("current"), setup()),
    "stale_tag_refused": (expect("stale", STALE), setup()),
    "if_match_variant_answered": (expect("star", "*"), setup()),
    "business_rules_refuse": (expect("current"), GOAL),
    "get_serves_the_run": (GET(), setup()),
    "auth_refused": (authed("none"), setup()),
    "unknown_path_refused": (path("unknown_run", fielding_run_id=UNKNOWN_RUN), setup()),
    "api_version_required": (no_version("resume"), setup()),
    "unknown_api_version_answered": (no_version("resume", UNKNOWN_VERSION), setup()),
}


def op_under_test(rule: str) -> str:
    return "get" if rule in ("auth_refused", "unknown_path_refused", "get_serves_the_run") else "resume"


@pytest.mark.parametrize("rule", EXPECTATION_RULES)
def test_expectation_rules_skip_a_429_the_client_gave_up_on(sim: Sim, rule: str) -> None:
    send, where = APPLICABLE[rule]
    where(sim.fake)
    force(op_under_test(rule), 429)(sim.fake)  # Retry-After: 5 exceeds max_429_wait_s = 0.5
    exchange = send(sim)
    assert exchange.status == 429 and exchange.gave_up_on_429 is True
    assert EXCHANGE_RULES[rule].judge(exchange) is None
    assert [e.status for e in sim.recorded].count(429) == 1
    assert sim.flagged() == set()


@pytest.mark.parametrize("rule", EXPECTATION_RULES)
def test_expectation_rules_apply_to_their_requests(sim: Sim, rule: str) -> None:
    """The set-ups APPLICABLE uses really reach each rule (so the 429 tests are not vacuous)."""
    send, where = APPLICABLE[rule]
    where(sim.fake)
    assert EXCHANGE_RULES[rule].judge(send(sim)) == []


@pytest.mark.parametrize("rule", EXPECTATION_RULES)
def test_a_429_the_client_waited_out_is_no_finding(sim: Sim, rule: str) -> None:
    """The client records a 429 it then waits out and retries; the retried request is answered
    correctly, so nothing may be found: the rate limit is not the request's fact."""
    send, where = APPLICABLE[rule]
    where(sim.fake)
    op = op_under_test(rule)
    force(op, 429, None)(sim.fake)
    header(op, "retry-after", lambda r, q: "0" if r.status == 429 else None)(sim.fake)
    exchange = send(sim)
    assert exchange.status != 429
    waited = [e for e in sim.recorded if e.status == 429]
    assert len(waited) == 1 and not waited[0].gave_up_on_429
    found = [f"[{f.rule}] {f.message}" for result in rules.judge_exchange(waited[0]).values() for f in result or []]
    assert found == [], "a 429 that was waited out and retried was judged a violation"
    assert sim.recorder.observed[(waited[0].operation, 429)] == 1 and sim.flagged() == set()


def test_a_429_is_waited_out_per_retry_after_and_the_retry_is_final(sim: Sim, monkeypatch) -> None:
    slept: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    force("resume", 429, None)(sim.fake)
    header("resume", "retry-after", lambda r, q: "0" if r.status == 429 else None)(sim.fake)
    exchange = sim.write("resume")
    assert slept == [0.0]
    posts = [e for e in sim.recorded if e.method == "POST"]
    assert [e.status for e in posts] == [429, 204]
    assert exchange is posts[-1] is sim.recorded[-1] and exchange.status == 204
    assert not posts[0].gave_up_on_429
    assert posts[0].request_header("traceparent") != exchange.request_header("traceparent")
    assert posts[0].request_header("if-match") == exchange.request_header("if-match") == 'W/"7"'
    # both were recorded and judged: the 429 by the 429 rules, the retry by the write rules
    assert sim.recorder.requests == len(sim.recorded) == 4  # GET, 429, GET, 204
    assert sim.recorder.observed[("resume", 429)] == 1 and sim.recorder.observed[("resume", 204)] == 1
    assert sim.recorder.checks["retry_after_on_429"] == 1
    assert rules.retry_after_on_429(posts[0]) == [] and rules.error_body_documented(posts[0]) == []
    assert rules.current_tag_wins(exchange) == [] and rules.success_changes_the_run(exchange) == []
    assert sim.recorder.checks["current_tag_wins"] == 1
    assert sim.flagged() == set()


def test_the_client_sleeps_as_long_as_retry_after_says(sim: Sim, monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)  # recorded, not slept
    sim.client.max_429_wait_s = 10
    force("get", 429, 429, None)(sim.fake)
    header("get", "retry-after", lambda r, q: "3" if r.status == 429 else None)(sim.fake)
    exchange = sim.get()
    assert slept == [3.0, 3.0]
    assert exchange.status == 200 and [e.status for e in sim.recorded] == [429, 429, 200]
    # a third 429 would make the wait 9 s, still within 10; a fourth would not
    force("get", 429, 429, 429, 429)(sim.fake)
    gave_up = sim.get()
    assert slept == [3.0, 3.0, 3.0, 3.0, 3.0] and gave_up.gave_up_on_429 is True
    assert sim.flagged() == set()


def test_a_429_beyond_max_wait_is_given_up_and_not_slept(sim: Sim, monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    force("resume", 429)(sim.fake)  # Retry-After: 5 > max_429_wait_s = 0.5
    exchange = sim.write("resume", STALE, tag=IfMatch.STALE)
    assert slept == []
    assert exchange.status == 429 and exchange.gave_up_on_429 is True
    assert [e.status for e in sim.recorded if e.method == "POST"] == [429]
    assert all(EXCHANGE_RULES[name].judge(exchange) is None for name in EXPECTATION_RULES)
    assert rules.retry_after_on_429(exchange) == [] and rules.refusal_changes_nothing(exchange) == []
    assert sim.flagged() == set()


# --- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("auth, token, env", [("main", MAIN, "FIELDPROOF_TOKEN"),
                                              ("foreign", FOREIGN, "FIELDPROOF_FOREIGN_TOKEN")])
def test_tokens_never_leave_redacted(sim: Sim, auth: str, token: str, env: str) -> None:
    exchange = sim.write("resume", auth=Auth(auth))
    assert exchange.request_header("authorization") == f"Bearer {REDACTED}"
    curl = exchange.curl()
    assert token not in curl and f"${{{env}}}" in curl
    assert "tok-main" not in json.dumps([e.to_dict() for e in sim.recorded])
    assert "tok-foreign" not in json.dumps([e.to_dict() for e in sim.recorded])
    main_curl = sim.recorded[0].curl()  # the snapshot, sent with the main token
    assert MAIN not in main_curl and "${FIELDPROOF_TOKEN}" in main_curl


@pytest.mark.parametrize("auth, sent", [("malformed", "Bearer not-a-token"), ("expired", f"Bearer {EXPIRED}")])
def test_a_token_that_is_no_secret_is_reproduced_as_sent(sim: Sim, auth: str, sent: str) -> None:
    """A malformed token, or an expired one the sandbox minted, opens nothing: a curl line
    must send it literally, or it would reproduce another request (with the real token)."""
    exchange = sim.write("resume", auth=Auth(auth))
    assert exchange.request_header("authorization") == sent
    assert f"-H 'Authorization: {sent}'" in exchange.curl() and "$FIELDPROOF" not in exchange.curl()


def test_the_target_files_own_env_var_names_are_in_the_curl_line(sim: Sim) -> None:
    target = Target(base_url=BASE_URL, api_version=API_VERSION, account_id=ACCOUNT, token=MAIN, foreign_token=FOREIGN,
                    token_env="STAGING_TOKEN", foreign_token_env="STAGING_OTHER", runs=(sim.fake.run,))
    client = ApiClient(target, budget=Budget(10), credentials=Credentials(MAIN, FOREIGN))
    assert "${STAGING_TOKEN}" in client.get(sim.fake.run).curl()
    assert "${STAGING_OTHER}" in client.get(sim.fake.run, auth=Auth.FOREIGN).curl()
    # as schemathesis' cases are sent: their own Authorization header, the token named all the same
    as_case = client.send("get", "GET", client.url(sim.fake.run), run=sim.fake.run, auth=Auth.NONE,
                          headers={"Authorization": f"Bearer {MAIN}"})
    assert "${STAGING_TOKEN}" in as_case.curl() and MAIN not in as_case.curl() and as_case.facts.auth is Auth.MAIN
    client.close()


# --- sequence rules --------------------------------------------------------------------------


def race(sim: Sim, racers: int = 3) -> tuple[list[Exchange], Snapshot, Exchange]:
    """N writes with one ETag (sent one after another: the fake decides who won)."""
    before = sim.client.snapshot(sim.fake.run)
    results = [sim.write("resume", before.etag, tag=IfMatch.RACE, observe=False) for _ in range(racers)]
    return results, before, sim.get()


def judge_race(results: list[Exchange], before: Snapshot, after: Exchange) -> rules.Result:
    judge = rules.OneWinner(before)
    for exchange in [*results, after]:
        assert judge.observe(exchange) is None  # a round is judged at its end
    return judge.finish()


RACE_PASSES = {
    "one-204-two-412": setup(),
    "two-racers": setup(),
    "a-429-given-up-is-left-out": force("resume", None, 429, None),
    # after the winner the run is live: a loser refused by the state is right (the gate order is open)
    "a-422-among-losers": force("resume", None, 422, None),
}
RACE_BREAKS = {
    "two-204": force("resume", None, 204, None),
    "three-204": force("resume", None, 204, 204),
    "a-200-among-losers": force("resume", None, 200, None),
    "a-400-among-losers": force("resume", None, 400, None),
    "no-winner": force("resume", 412, 412, 412),
    "no-winner-all-422": force("resume", 422, 422, 422),
    "version-not-increased": setup(success_does(only_status), force("resume", None, 412, 412)),
    "winners-etag-not-current": refusal_changes(bump),  # a loser's write took effect too
}


@pytest.mark.parametrize("name", RACE_PASSES)
def test_one_winner_passes_a_correct_race(sim: Sim, name: str) -> None:
    RACE_PASSES[name](sim.fake)
    results, before, after = race(sim, 2 if name == "two-racers" else 3)
    assert judge_race(results, before, after) == []
    assert sim.flagged() == set()


@pytest.mark.parametrize("name", RACE_BREAKS)
def test_one_winner_fails_a_broken_race(sim: Sim, name: str) -> None:
    RACE_BREAKS[name](sim.fake)
    results, before, after = race(sim)
    found = judge_race(results, before, after)
    assert found and {f.rule for f in found} == {"one_winner_among_concurrent_writes"}
    assert all(f.exchange in results for f in found)


def test_one_winner_needs_two_settled_writes(sim: Sim) -> None:
    force("resume", None, 429)(sim.fake)
    results, before, after = race(sim, 2)
    assert judge_race(results, before, after) is None


def test_a_round_of_one_kind_keeps_its_judgement_and_its_words(sim: Sim) -> None:
    force("resume", None, 204, None)(sim.fake)
    results, before, after = race(sim)
    (finding,) = judge_race(results, before, after)
    assert finding.defect == "more than one winner" and finding.exchange is results[1]
    assert finding.message == ('3 concurrent writes with If-Match W/"7" were answered [204, 204, 412]; '
                               "expected one 204 and 2 x 412 (or 422)")


# rounds of several kinds (hand-built: a pause and a resume, a complete beside them), judged by
# the run's model; the run before is W/"3" at version 3, each write sent with that tag

TAG = 'W/"3"'
Raced = tuple[str, int, str | None]  # (operation, status, the ETag answered)


def _raced(operation: str, status: int, etag: str | None = None) -> Exchange:
    headers = {"etag": etag} if etag else {}
    return Exchange(operation, "POST", f"https://x.test/v1/r/{operation}", {"If-Match": TAG}, status, headers, b"", 0.01)


def _look(status: str, etag: str, version: int) -> Exchange:
    body = json.dumps({"status": status, "version": version}).encode()
    return Exchange("get", "GET", "https://x.test/v1/r", {}, 200, {"etag": etag, "content-type": "application/json"}, body, 0.01)


def judge_mixed(start: str, writes: list[Raced], after: tuple[str, str, int] | None) -> rules.Result:
    judge = rules.OneWinner(Snapshot(200, TAG, {"status": start, "version": 3}))
    for operation, status, etag in writes:
        assert judge.observe(_raced(operation, status, etag)) is None
    if after is not None:
        judge.observe(_look(*after))
    return judge.finish()


NEW = 'W/"4"'
# name: (the run's status before, the writes and their answers, the GET after: status, ETag, version)
MIXED_PASSES: dict[str, tuple[str, list[Raced], tuple[str, str, int]]] = {
    "live-pause-wins-resume-refused": ("live", [("pause", 204, NEW), ("resume", 422, None), ("pause", 412, None),
                                                ("resume", 422, None)], ("paused", NEW, 4)),
    # resume_live = 204: a no-op beside the pause that won (it came first: the tag was still current)
    "live-resume-no-op-beside-the-pause": ("live", [("pause", 204, NEW), ("resume", 204, TAG), ("pause", 412, None),
                                                    ("resume", 412, None)], ("paused", NEW, 4)),
    # gate_order = 422-first: a stale pause on the paused run is refused by its state first; a stale
    # resume, which the state allows, only by its tag
    "live-422-first": ("live", [("pause", 204, NEW), ("pause", 422, None), ("resume", 412, None)], ("paused", NEW, 4)),
    "paused-resume-wins-pause-refused": ("paused", [("pause", 422, None), ("resume", 204, NEW), ("pause", 412, None)],
                                         ("live", NEW, 4)),
    # pause_paused = 204: the mirror question
    "paused-pause-no-op-beside-the-resume": ("paused", [("pause", 204, TAG), ("resume", 204, NEW)], ("live", NEW, 4)),
    "live-complete-wins": ("live", [("pause", 412, None), ("resume", 422, None), ("complete", 204, NEW),
                                    ("pause", 422, None)], ("completed", NEW, 4)),
    "live-pause-wins-complete-refused": ("live", [("complete", 422, None), ("pause", 204, NEW)], ("paused", NEW, 4)),
    # complete_paused = 204 and 422
    "paused-complete-wins": ("paused", [("resume", 412, None), ("complete", 204, NEW), ("pause", 422, None)],
                             ("completed", NEW, 4)),
    "paused-complete-refused": ("paused", [("complete", 422, None), ("resume", 204, NEW), ("pause", 412, None)],
                                ("live", NEW, 4)),
    "a-429-is-left-out": ("live", [("pause", 204, NEW), ("resume", 429, None), ("resume", 422, None)], ("paused", NEW, 4)),
}
# name: (the same, and the problem the finding names)
MIXED_BREAKS: dict[str, tuple[str, list[Raced], tuple[str, str, int], str]] = {
    # the lock_per_operation answer: both decided on W/"3", both wrote
    "live-pause-and-complete-both-change": ("live", [("pause", 204, NEW), ("complete", 204, NEW), ("resume", 422, None)],
                                            ("completed", NEW, 4), "more than one write changed the run"),
    "paused-resume-and-complete-both-change": ("paused", [("resume", 204, NEW), ("complete", 204, 'W/"5"')],
                                               ("completed", 'W/"5"', 5), "more than one write changed the run"),
    "live-no-write-won-yet-a-412": ("live", [("pause", 412, None), ("resume", 422, None)], ("live", TAG, 3),
                                    "an answer no order of the race allows"),
    "live-pause-refused-by-the-state": ("live", [("pause", 422, None), ("resume", 422, None)], ("live", TAG, 3),
                                        "an answer no order of the race allows"),
    "live-pause-answered-as-a-no-op": ("live", [("pause", 204, TAG), ("resume", 422, None)], ("live", TAG, 3),
                                       "an answer no order of the race allows"),
    "live-resume-changes-a-live-run": ("live", [("resume", 204, NEW), ("pause", 412, None)], ("live", NEW, 4),
                                       "an answer no order of the race allows"),
    "the-winner-lost": ("live", [("pause", 204, NEW), ("resume", 422, None)], ("live", TAG, 3),
                        "the run after the race is not where the answers leave it"),
    "a-500": ("live", [("pause", 204, NEW), ("resume", 500, None)], ("paused", NEW, 4),
              "a raced write answered neither 204, 412 nor 422"),
    "the-version-did-not-step": ("live", [("pause", 204, NEW), ("resume", 422, None)], ("paused", NEW, 3),
                                 "the version did not step"),
}


@pytest.mark.parametrize("name", MIXED_PASSES)
def test_a_round_of_several_kinds_passes_every_answer_a_correct_server_may_give(name: str) -> None:
    start, writes, after = MIXED_PASSES[name]
    for order in itertools.permutations(writes):  # whichever racer was first
        assert judge_mixed(start, list(order), after) == [], order


@pytest.mark.parametrize("name", MIXED_BREAKS)
def test_a_round_of_several_kinds_no_order_explains_is_a_finding(name: str) -> None:
    start, writes, after, problem = MIXED_BREAKS[name]
    signatures = set()
    for order in itertools.permutations(writes):
        found = judge_mixed(start, list(order), after)
        assert found and {(f.rule, f.defect) for f in found} == {("one_winner_among_concurrent_writes", problem)}, order
        signatures |= {f.signature for f in found}
    assert len(signatures) == 1  # one group, whichever racer came first


def test_a_mixed_finding_says_what_was_sent_and_answered() -> None:
    writes: list[Raced] = [("pause", 204, NEW), ("resume", 204, 'W/"5"'), ("pause", 412, None), ("resume", 412, None)]
    (finding,) = judge_mixed("live", writes, ("live", 'W/"5"', 5)) or []
    assert finding.message == (
        '4 concurrent writes (pause, resume, pause, resume) with If-Match W/"3" on a live run were answered '
        '[204, 204, 412, 412]; no order of them is one a correct server gives: two changes from one tag '
        '(pause -> W/"4", resume -> W/"5")'
    )
    assert finding.exchange is not None and finding.exchange.operation == "resume"  # the second change
    (finding,) = judge_mixed("live", [("pause", 412, None), ("resume", 422, None)], ("live", TAG, 3)) or []
    assert finding.message.endswith("no correct server answers pause with 412 to that tag on a live run, and no write changed it")
    (finding,) = judge_mixed("live", [("pause", 204, NEW), ("resume", 422, None)], ("live", TAG, 3)) or []
    assert finding.message.endswith(f"the GET after them shows the run live with ETag {TAG}, where no order of the answers leaves it")


def test_a_mixed_round_is_judged_without_the_look_after_it_and_not_from_an_unknown_run() -> None:
    assert judge_mixed("live", [("pause", 204, NEW), ("resume", 422, None)], None) == []
    found = judge_mixed("live", [("pause", 204, NEW), ("complete", 204, NEW)], None)
    assert found and found[0].defect == "more than one write changed the run"
    unknown = rules.OneWinner(Snapshot(500, None, None))
    for operation, status, etag in [("pause", 204, NEW), ("complete", 204, NEW)]:
        unknown.observe(_raced(operation, status, etag))
    assert unknown.finish() is None


def test_a_mixed_rounds_timeline_names_each_kind() -> None:
    judge = rules.OneWinner(Snapshot(200, TAG, {"status": "live", "version": 3}))
    for operation, status, etag in [("pause", 204, NEW), ("complete", 204, NEW)]:
        judge.observe(_raced(operation, status, etag))
    judge.observe(_look("completed", NEW, 4))
    assert judge.finish()
    evidence = judge.evidence()
    assert evidence is not None and evidence["violated"] is True and evidence["if_match"] == TAG
    assert [(status, label) for _, _, status, label in evidence["requests"]] == [(204, "racer 0 pause"), (204, "racer 1 complete")]


def lifecycle(sim: Sim, second: str = "pause", if_match: Any = ...) -> tuple[Exchange, Exchange]:
    first = sim.write("resume")
    tag = first.header("etag") if if_match is ... else if_match
    return first, sim.write(second, tag)


def chain(*exchanges: Exchange) -> rules.Result:
    """What new_etag_accepted_by_next_write says of the last exchange, after the others."""
    judge = rules.NewTagAccepted()
    for exchange in exchanges[:-1]:
        judge.observe(exchange)
    return judge.observe(exchanges[-1])


LIFECYCLE_PASSES = {"resume-then-pause": ("pause", setup()), "resume-then-complete": ("complete", setup())}
LIFECYCLE_BREAKS = {
    "pause-412": ("pause", force("pause", 412)),
    "complete-412": ("complete", force("complete", 412)),
}


@pytest.mark.parametrize("name", LIFECYCLE_PASSES)
def test_new_etag_accepted_passes_a_correct_next_write(sim: Sim, name: str) -> None:
    second_op, where = LIFECYCLE_PASSES[name]
    where(sim.fake)
    first, second = lifecycle(sim, second_op)
    assert first.status == 204 and second.request_header("if-match") == first.header("etag") == 'W/"8"'
    assert chain(first, second) == []
    judged = sim.recorder.judge(rules.NewTagAccepted())
    judged.observe(first)
    assert judged.observe(second) == []
    assert sim.recorder.checks["new_etag_accepted_by_next_write"] == 1
    assert sim.flagged() == set()


@pytest.mark.parametrize("name", LIFECYCLE_BREAKS)
def test_new_etag_accepted_fails_a_refused_tag(sim: Sim, name: str) -> None:
    second_op, where = LIFECYCLE_BREAKS[name]
    where(sim.fake)
    first, second = lifecycle(sim, second_op)
    found = chain(first, second)
    assert found and {f.rule for f in found} == {"new_etag_accepted_by_next_write"}
    assert found[0].exchange is second
    assert sim.flagged() == {"current_tag_wins"}  # the exchange rule sees the same 412
    judged = sim.recorder.judge(rules.NewTagAccepted())
    judged.observe(first)
    assert [f.message for f in judged.observe(second) or []] == [f.message for f in found]
    assert sim.recorder.found["new_etag_accepted_by_next_write"] == 1


def test_new_etag_accepted_does_not_apply_elsewhere(sim: Sim) -> None:
    stale = sim.write("resume", STALE)  # the first write did not win
    after_stale = sim.write("pause", STALE)
    assert chain(stale, after_stale) is None
    first, second = lifecycle(sim, "pause", 'W/"3"')  # the next write did not send the new tag
    assert first.status == 204 and chain(first, second) is None
    force("pause", 429)(sim.fake)  # the next write gave up on a 429
    sim.fake.status, sim.fake.version = "paused", 7
    first, second = lifecycle(sim, "pause")
    assert second.gave_up_on_429 and chain(first, second) is None


# --- coverage --------------------------------------------------------------------------------


def test_every_rule_is_covered() -> None:
    assert set(COVERED) == (set(EXCHANGE_RULES) | set(SEQUENCE_RULES)) - LOCKING_RULES
    assert len(COVERED) == len(set(COVERED))
    passing, breaking = {c.rule for c in PASSES}, {c.rule for c in BREAKS}
    for name in set(EXCHANGE_RULES) - LOCKING_RULES:
        assert name in passing, f"{name} has no test with a correct response"
        assert name in breaking, f"{name} has no test with a broken response"
    assert set(APPLICABLE) == set(EXPECTATION_RULES)
    assert RACE_PASSES and RACE_BREAKS and LIFECYCLE_PASSES and LIFECYCLE_BREAKS


# added with the fixes for what the rule tests found


def _exchange(status: int, operation: str = "resume", **kwargs: Any) -> Exchange:
    return Exchange(operation, "POST", "https://x.test/v1/r/resume", kwargs.pop("request_headers", {}), status,
                    kwargs.pop("response_headers", {}), kwargs.pop("body", b""), 0.0, **kwargs)


def test_new_etag_refused_as_malformed_by_the_next_write_is_a_finding() -> None:
    first = _exchange(204, response_headers={"etag": 'W/"2"'})
    second = _exchange(400, operation="pause", request_headers={"If-Match": 'W/"2"'})
    (finding,) = chain(first, second)
    assert finding.rule == "new_etag_accepted_by_next_write" and "400" in finding.message


def test_a_refused_write_after_which_the_run_is_gone_is_a_finding() -> None:
    before = Snapshot(200, 'W/"1"', {"status": "paused", "version": 1})
    exchange = _exchange(412, before=before, after=Snapshot(404, None, None))
    (finding,) = rules.refusal_changes_nothing(exchange)
    assert "gone" in finding.message


def test_retry_after_zero_is_retried_a_bounded_number_of_times() -> None:
    from fieldproof.client.recording import MAX_ATTEMPTS

    target = Target(base_url="https://bounded.example.test/v1", api_version="2025-12-18", account_id="101",
                    token="tok-main", runs=(RunRef("resumable", "101", "0" * 26, "1" * 26, "R1"),))
    recorded: list[Exchange] = []
    with respx.mock(base_url=target.base_url, assert_all_called=False) as mock:
        route = mock.route().mock(return_value=httpx.Response(429, headers={"Retry-After": "0"}))
        client = ApiClient(target, budget=Budget(1000), on_exchange=recorded.append, max_429_wait_s=0)
        exchange = client.get(target.runs[0])
    assert route.call_count == MAX_ATTEMPTS and len(recorded) == MAX_ATTEMPTS
    assert exchange.status == 429 and exchange.gave_up_on_429 is True


# lifecycle_model_allows: the run's sequential model (fieldproof/model.py) judging one answer


def _model_exchange(operation: str, status: int, if_match: str | None = None, etag: str | None = None,
                    run_status: str | None = None) -> Exchange:
    body = json.dumps({"status": run_status, "version": 1}).encode() if run_status else b""
    headers = {"content-type": "application/json"} if run_status else {}
    if etag:
        headers["etag"] = etag
    method = "GET" if operation == "get" else "POST"
    return Exchange(operation, method, "https://x.test/v1/r", {"If-Match": if_match} if if_match else {}, status,
                    headers, body, 0.0)


PAUSED = RunState("paused", 'W/"1"')
LIVE = RunState("live", 'W/"2"')


def model(states: list[RunState], exchange: Exchange) -> rules.Result:
    return rules.LifecycleModel(states[0]).observe(exchange)


@pytest.mark.parametrize(
    "states, exchange",
    [
        ([PAUSED], _model_exchange("resume", 204, 'W/"1"', 'W/"2"')),
        ([PAUSED], _model_exchange("resume", 412, 'W/"0"')),
        ([PAUSED], _model_exchange("get", 200, etag='W/"1"', run_status="paused")),
        ([LIVE], _model_exchange("resume", 422, 'W/"2"')),  # resume of a live run: 422 ...
        ([LIVE], _model_exchange("resume", 204, 'W/"2"', 'W/"2"')),  # ... or a 204 no-op (open)
        ([LIVE], _model_exchange("resume", 412, 'W/"1"')),
        ([LIVE], _model_exchange("pause", 429)),
        ([RunState("paused", 'W/"1"', resumable=False)], _model_exchange("resume", 422, 'W/"1"')),
        ([PAUSED], _model_exchange("complete", 422, 'W/"1"')),  # complete of a paused run: 422 ...
        ([PAUSED], _model_exchange("complete", 204, 'W/"1"', 'W/"2"')),  # ... or completed (open)
        ([PAUSED], _model_exchange("pause", 422, 'W/"1"')),  # pause of a paused run: 422 ...
        ([PAUSED], _model_exchange("pause", 204, 'W/"1"', 'W/"1"')),  # ... or a 204 no-op (open)
    ],
    ids=["current-wins", "stale-412", "get", "live-422", "live-noop", "live-stale", "429", "goal-reached",
         "complete-paused-422", "complete-paused-204", "pause-paused-422", "pause-paused-noop"],
)
def test_the_model_allows_what_a_correct_server_answers(states, exchange) -> None:
    assert model(states, exchange) == []


@pytest.mark.parametrize(
    "states, exchange, says",
    [
        ([PAUSED], _model_exchange("resume", 204, 'W/"0"', 'W/"2"'), "If-Match W/\"0\""),
        ([PAUSED], _model_exchange("resume", 412, 'W/"1"'), "412"),
        ([LIVE], _model_exchange("get", 200, etag='W/"1"', run_status="live"), "ETag W/\"1\""),
        ([LIVE], _model_exchange("get", 200, etag='W/"2"', run_status="paused"), "200"),
        ([PAUSED], _model_exchange("resume", 204, 'W/"1"', 'W/"1"'), "204"),
        ([RunState("paused", 'W/"1"', resumable=False)], _model_exchange("resume", 204, 'W/"1"', 'W/"2"'), "204"),
        ([LIVE], _model_exchange("complete", 422, 'W/"2"'), "422"),  # completing a live run is documented
        ([RunState("scheduled", 'W/"1"')], _model_exchange("complete", 422, 'W/"1"'), "422"),  # ... a scheduled one too
    ],
    ids=["stale-wins", "current-refused", "stale-read", "wrong-status", "tag-not-new", "goal-ignored",
         "complete-live-refused", "complete-scheduled-refused"],
)
def test_the_model_refuses_what_no_correct_server_answers(states, exchange, says: str) -> None:
    judge = rules.LifecycleModel(states[0])
    judge.observe(_model_exchange("get", 200, etag=states[0].etag, run_status=states[0].run_status))
    (finding,) = judge.observe(exchange)
    assert finding.rule == "lifecycle_model_allows" and says in finding.message
    assert "GET get -> 200" in finding.message  # the script of requests so far
    assert judge.lost  # it knows no state now ...
    assert judge.observe(_model_exchange("resume", 204, 'W/"5"', 'W/"6"')) is None  # ... so it judges nothing ...
    assert judge.observe(_model_exchange("get", 200, etag='W/"9"', run_status="live")) is None
    assert judge.observe(_model_exchange("pause", 204, 'W/"9"', 'W/"10"')) == []  # ... until a GET shows the run


def test_the_model_rule_does_not_apply_to_other_requests() -> None:
    assert model([PAUSED], _model_exchange("other", 405)) is None


# history_linearizable: the linearizability checker over a recorded history


def _history(*answers: tuple[str, float, float, str, int, str | None]):
    from fieldproof.linearizability import Entry
    from fieldproof.model import Observation

    return [Entry(client, call, ret, Observation(op, 'W/"1"', status, etag)) for client, call, ret, op, status, etag in answers]


def linearizable(history: list[Any], max_states: int | None = None) -> rules.Result:
    judge = rules.LinearizableHistory(PAUSED, max_states=max_states)
    for operation in history:
        assert judge.observe(operation) is None
    return judge.finish()


def test_a_linearizable_history_passes() -> None:
    history = _history(("a", 0.0, 1.0, "resume", 204, 'W/"2"'), ("b", 0.5, 1.5, "resume", 412, None))
    assert linearizable(history) == []


def test_two_winners_with_one_tag_is_a_finding_with_a_timeline() -> None:
    history = _history(("a", 0.0, 1.0, "resume", 204, 'W/"2"'), ("b", 0.5, 1.5, "resume", 204, 'W/"3"'))
    (finding,) = linearizable(history)
    assert finding.rule == "history_linearizable" and "no order" in finding.message
    assert "a " in finding.message and "b " in finding.message  # the lanes of the timeline


def test_an_inconclusive_check_is_no_verdict() -> None:
    """A checker that gave up says nothing either way: no finding, and no check counted."""
    history = _history(*[(f"c{n}", 0.0, 1.0, "resume", None, None) for n in range(6)],
                       ("a", 0.0, 1.0, "resume", 204, 'W/"2"'), ("b", 0.5, 1.5, "resume", 204, 'W/"3"'))
    assert linearizable(history, max_states=1) is None


def test_a_sequence_judge_keeps_all_its_state_in_its_declared_fields() -> None:
    """Fed, finished and asked for its picture, no judge holds anything its dataclass does not
    declare (what a report reads of it is typed, never looked up by name)."""
    fed: dict[str, tuple[rules.SequenceJudge, list[Any]]] = {
        "one_winner_among_concurrent_writes": (rules.OneWinner(Snapshot(200, TAG, {"status": "live", "version": 3})),
                                               [_raced("pause", 204, NEW), _raced("complete", 204, NEW), _look("completed", NEW, 4)]),
        "new_etag_accepted_by_next_write": (rules.NewTagAccepted(),
                                            [_model_exchange("resume", 204, 'W/"1"', 'W/"2"'), _model_exchange("pause", 412, 'W/"2"')]),
        "lifecycle_model_allows": (rules.LifecycleModel(PAUSED), [_model_exchange("resume", 412, 'W/"1"')]),
        "history_linearizable": (rules.LinearizableHistory(PAUSED),
                                 _history(("a", 0.0, 1.0, "resume", 204, 'W/"2"'), ("b", 0.5, 1.5, "resume", 204, 'W/"3"'))),
    }
    assert set(fed) == set(SEQUENCE_RULES) - LOCKING_RULES  # the locking judges: tests/test_locking_rules.py
    for name, (judge, items) in fed.items():
        assert type(judge) is SEQUENCE_RULES[name].judge and isinstance(judge, rules.SequenceJudge)
        found = [f for item in items for f in judge.observe(item) or []] + (judge.finish() or [])
        assert found, f"{name}: the sequence breaks its rule"
        judge.evidence()
        assert set(vars(judge)) <= {f.name for f in dataclasses.fields(judge)}, name


def test_max_rps_spaces_request_starts() -> None:
    target = Target(base_url="https://paced.example.test/v1", api_version="2025-12-18", account_id="101",
                    token="tok-main", runs=(RunRef("resumable", "101", "0" * 26, "1" * 26, "R1"),), max_rps=20)
    starts: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        starts.append(time.monotonic())
        return httpx.Response(200, headers={"etag": 'W/"1"'}, json={})

    with respx.mock(base_url=target.base_url, assert_all_called=False) as mock:
        mock.route().mock(side_effect=answer)
        client = ApiClient(target, budget=Budget(100))
        for _ in range(6):
            client.get(target.runs[0])
    # 20 requests a second at most: the pacer releases them 50 ms apart. Measured where they
    # arrive, a single gap can shrink by the previous request's own delay, so judge the span.
    assert starts[-1] - starts[0] >= (len(starts) - 1) * 0.05 * 0.9


# the recorder: every finding kept, grouped by signature, never raised


def test_findings_are_grouped_by_signature_counted_and_never_raised(sim: Sim) -> None:
    header("get", "traceparent", None)(sim.fake)
    header("resume", "traceparent", None)(sim.fake)
    for _ in range(6):
        sim.get()  # nothing is raised: the caller goes on after a finding
    sim.get(auth=Auth.NONE)
    sim.write("resume", STALE, tag=IfMatch.STALE)
    groups = {(g.rule, g.signature): g for g in sim.recorder.take_findings("t")}
    get_200 = groups[("traceparent_on_every_response", "get 200: no traceparent header")]
    assert get_200.count == 8 and len(get_200.examples) == 1  # 6 GETs + the write's 2 snapshots, one kind
    assert groups[("traceparent_on_every_response", "get 401: no traceparent header")].count == 1
    assert groups[("traceparent_on_every_response", "resume 412: no traceparent header")].count == 1
    assert sim.recorder.found["traceparent_on_every_response"] == 10
    assert sim.recorder.take_findings("t") == []  # taken once, by the test they belong to


def test_a_group_keeps_a_few_distinct_examples() -> None:
    from fieldproof.recorder import EXAMPLES_KEPT, Recorder

    recorder = Recorder()
    for n in range(10):
        exchange = _exchange(500, request_headers={"If-Match": f'W/"{n}"'})
        exchange.facts = dataclasses.replace(exchange.facts, role=f"role{n % 5}")  # five kinds of request
        recorder.record(exchange)
    (group,) = [g for g in recorder.take_findings("t") if g.rule == "documented_status"]
    assert group.count == 10 and len(group.examples) == EXAMPLES_KEPT
    assert len({e["exchange"]["facts"]["role"] for e in group.examples}) == EXAMPLES_KEPT


def test_a_resume_of_a_resumable_run_whose_end_date_passed_must_not_win() -> None:
    """The end date is a field of the run: once it has passed (by the answer's Date), a resume is
    refused however the target file lists the run; near it, the clocks cannot tell."""
    before = Snapshot(200, 'W/"1"', {"status": "paused", "end_fielding_at": "2025-06-02T08:00:00.000Z"})
    resume = _exchange(204, before=before, facts=RequestFacts(if_match=IfMatch.CURRENT, role="resumable"))
    resume.response_headers["date"] = "Mon, 02 Jun 2025 09:00:00 GMT"
    assert rules.state_answers(resume) == frozenset({422})
    resume.response_headers["date"] = "Mon, 02 Jun 2025 08:00:30 GMT"
    assert rules.state_answers(resume) == frozenset({204, 422})
    resume.response_headers["date"] = "Mon, 02 Jun 2025 07:00:00 GMT"
    assert rules.state_answers(resume) == frozenset({204})


# --- one defect, one identity: a finding's signature never carries a generated value ----------


def _signatures_of(case: Case) -> set[tuple[str, str]]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        fake = FakeApi()
        mock.route(name="api").mock(side_effect=fake)
        simulation = Sim(fake)
        try:
            exchange = run_case(simulation, case)
            return {(f.rule, f.signature) for f in EXCHANGE_RULES[case.rule].judge(exchange) or []}
        finally:
            simulation.client.close()


@pytest.mark.parametrize("case", [c.param() for c in BREAKS])
def test_a_defect_found_twice_has_one_signature(case: Case) -> None:
    """Sent twice, with fresh trace ids, tokens' uuids and bodies' ids each time: one group."""
    first, second = _signatures_of(case), _signatures_of(case)
    assert first and first == second


def test_an_unknown_api_version_is_one_defect_whatever_its_spelling() -> None:
    spellings = ["1999-01-01", "2001-12-31", "abc", "v2"]
    signatures = set().union(*(_signatures_of(Case("unknown_api_version_answered", f"get-400-{v}", no_version("get", v),
                                                   force("get", 422))) for v in spellings))
    assert len(signatures) == 1, signatures
    (rule, signature), = signatures
    assert not any(v in signature for v in spellings)


def test_a_finding_served_where_it_must_be_refused_is_critical(sim: Sim) -> None:
    stale = run_case(sim, Case("stale_tag_refused", "x", expect("stale", STALE), force("resume", 204)))
    (served,) = EXCHANGE_RULES["stale_tag_refused"].judge(stale) or []
    assert served.severity is Severity.CRITICAL
    refused = run_case(sim, Case("stale_tag_refused", "y", expect("stale", STALE), force("resume", 409)))
    (wrong_status,) = EXCHANGE_RULES["stale_tag_refused"].judge(refused) or []
    assert wrong_status.severity is Severity.MAJOR


# --- another checker's failures: the rule's finding when the rule found the same fact ----------


class _HeaderSchemaFailure(AssertionError):
    """As schemathesis' response_headers_conformance raises it for a header's value."""

    title = "Response header does not conform to the schema"
    message = "'abc' does not match '^[0-9a-f]{2}-…'"


JsonSchemaError = type("JsonSchemaError", (_HeaderSchemaFailure,), {})  # schemathesis' class name is what is read
MissingHeaders = type("MissingHeaders", (AssertionError,), {"title": "Missing required headers", "message": "traceparent"})


def _external(failure: BaseException, exchange: Exchange) -> set[str]:
    from fieldproof import fuzz
    from fieldproof.recorder import Recorder

    recorder = Recorder()
    recorder.record(exchange)
    recorder.record_failures("schemathesis", exchange, fuzz.external_failures(failure))
    return {group.rule for group in recorder.take_findings("t")}


RUN_PATH_IDS = {"account_id": "101", "project_id": "01JD000000000000000000P101", "target_group_id": "01JD000000000000000000T101"}


def _get_200(shown_id: str = "01JD0000000000000000000R01", **headers: str) -> Exchange:
    """A GET of run R01 answered 200 with a documented run (the one `shown_id` names)."""
    run = {"id": shown_id, "status": "paused", "version": 1, "start_fielding_at": "2026-01-01T00:00:00Z",
           "end_fielding_at": "2027-01-01T00:00:00Z", "last_changed_at": "2026-01-02T00:00:00Z",
           "last_changed_by": str(uuid.uuid4())}
    url = "https://x.test/v1" + contract.run_path(**RUN_PATH_IDS, fielding_run_id="01JD0000000000000000000R01")
    return Exchange("get", "GET", url, {}, 200, {"etag": 'W/"1"', "content-type": "application/json", **headers},
                    json.dumps(run).encode(), 0.0)


def test_a_header_value_schemathesis_finds_wrong_is_the_header_rules_finding_counted_once() -> None:
    found = _external(JsonSchemaError(), _get_200(traceparent="abc"))
    assert "traceparent_on_every_response" in found and not {r for r in found if r.startswith("schemathesis")}


def test_a_missing_header_is_folded_only_into_that_headers_rule() -> None:
    missing = MissingHeaders()
    missing.missing_headers = ["traceparent"]  # type: ignore[attr-defined]
    found = _external(missing, _get_200())
    assert "traceparent_on_every_response" in found and not {r for r in found if r.startswith("schemathesis")}
    missing.missing_headers = ["x-other"]  # type: ignore[attr-defined]  # a header no rule requires: kept
    assert "schemathesis.response_headers_conformance" in _external(missing, _get_200())


def test_a_failure_is_not_folded_into_a_rules_finding_about_another_fact() -> None:
    body_schema = type("JsonSchemaError", (AssertionError,), {"title": "Response violates schema", "message": "x"})()
    # run_body_documented finds that the run shown is not the one the path names; schemathesis finds
    # the body against the document's schema broken: two facts, two findings
    found = _external(body_schema, _get_200(shown_id="01JD0000000000000000000R02"))
    assert "run_body_documented" in found and "schemathesis.response_schema_conformance" in found
    # and where the rule found the body's form wrong, schemathesis' copy is the rule's finding
    assert "schemathesis.response_schema_conformance" not in _external(body_schema, _exchange(200, operation="get"))
