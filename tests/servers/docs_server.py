"""An independent test server for the fielding-run endpoints of the Cint Exchange Demand API.

Written from the public documentation only (/work/shared/api/fielding-runs.md), RFC 9110 and
W3C Trace Context, to check that a contract-testing harness raises no false alarms on a correct
server that its authors did not write. Documented facts are followed strictly; each open
question is a field of `Policy`, answered "the other way" (default) or "the likely way".

    python tests/servers/docs_server.py --port 0 --write-target FILE [--answers other|likely]
        [--latency-ms N] [--rate-limit-burst N --rate-limit-refill PER_SECOND] [--host 127.0.0.1]
        [--fault NAME[,NAME]]... [--race-window-ms N] [--stale-read-ms N]
    python tests/servers/docs_server.py --fault list

`--fault` turns on deliberate bugs (see FAULTS), for checking that a harness catches them; each
is wrong under every answer the docs allow. Without it the server is the correct one above.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import email.utils
import hashlib
import inspect
import json
import math
import os
import re
import secrets
import signal
import socket
import sys
import time
import uuid
from urllib.parse import unquote_to_bytes

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

API_VERSION = "2025-12-18"
KNOWN_VERSIONS = frozenset({"2025-05-27", "2025-12-18"})
ACCOUNT, OTHER_ACCOUNT = 101, 202
ACTIONS = ("pause", "resume", "complete")
# RFC 9110 section 9 plus PATCH (RFC 5789): methods this server "recognises".
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
INT32_MAX = 2**31 - 1

ULID_RE = re.compile(r"[0-9A-Z]{26}")  # the documented pattern, not stricter
DIGITS_RE = re.compile(r"[0-9]+")
VERSION_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BEARER_RE = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")  # RFC 6750 b64token
ENTITY_TAG_RE = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')  # RFC 9110 8.8.3
TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
TRACESTATE_MEMBER_RE = re.compile(
    r"([a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])"
)
TRACESTATE_KEY = "docsserver"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --- open questions ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Policy:
    """One answer per open question of the docs."""

    missing_if_match_status: int  # 428 (RFC 6585) or 400
    star_matches: bool  # does `If-Match: *` match an existing run?
    tag_lists: bool  # are lists of several tags accepted (any match) or refused with 400?
    weak_comparison: bool  # does "7" match W/"7"?
    opaque_etags: bool  # W/"<hash>" rather than W/"<version>"
    resume_live_noop: bool  # resume of a live run: 204 no-op, or 422
    pause_paused_noop: bool  # the mirror question for pause
    complete_from: frozenset  # statuses complete accepts
    foreign_status: int  # another account's run: 404 or 403
    state_before_tag: bool  # 422 before 412?
    version_before_auth: bool  # Cint-API-Version checked before Authorization?
    accept_unknown_versions: bool  # well-formed but unknown Cint-API-Version
    empty_version_is_missing: bool  # `Cint-API-Version:` with no value: 403 or 400
    title_case_status: bool  # "Paused" or "paused"
    strict_run_ids: bool  # fielding_run_id must be a ULID (else 400)
    null_invalid_params: bool  # invalid_params: null, or omitted, when there is nothing to name
    unknown_method_501: bool  # 501 for unrecognised methods (405 otherwise)
    account_id_as_int: bool  # GET body account_id: 101 or "101"


POLICIES = {
    "other": Policy(
        missing_if_match_status=428,
        star_matches=False,
        tag_lists=False,
        weak_comparison=False,
        opaque_etags=True,
        resume_live_noop=True,
        pause_paused_noop=True,
        complete_from=frozenset({"live", "scheduled"}),
        foreign_status=404,
        state_before_tag=True,
        version_before_auth=True,
        accept_unknown_versions=True,
        empty_version_is_missing=False,
        title_case_status=True,
        strict_run_ids=True,
        null_invalid_params=True,
        unknown_method_501=True,
        account_id_as_int=True,
    ),
    "likely": Policy(
        missing_if_match_status=400,
        star_matches=True,
        tag_lists=True,
        weak_comparison=True,
        opaque_etags=False,
        resume_live_noop=False,
        pause_paused_noop=False,
        complete_from=frozenset({"live", "scheduled", "paused"}),
        foreign_status=403,
        state_before_tag=False,
        version_before_auth=False,
        accept_unknown_versions=False,
        empty_version_is_missing=True,
        title_case_status=False,
        strict_run_ids=False,
        null_invalid_params=False,
        unknown_method_501=False,
        account_id_as_int=False,
    ),
}


# --- fault modes -------------------------------------------------------------------------------
# Bugs a server team could plausibly ship, each "almost right" and each wrong under every answer
# the docs leave open (never one of the Policy answers), except the one marked contested. Off
# unless named with --fault; grep a name to find its trigger. Name: (family, `--fault list` text).

FAULTS = {
    # locking: tags that look valid
    "if_match_higher_version_accepted": ("locking", 'If-Match is refused only when the number '
        'in a W/"N" (or "N") tag is LOWER than the run\'s version: a never-issued W/"8" on a run '
        'at version 7 passes.'),
    "if_match_unquoted_or_case": ("locking", "If-Match is compared after dropping quotes, the W/ "
        "prefix and letter case, so W/7, 7 or an upper-cased opaque tag passes."),
    "if_match_recent_tags": ("locking", "If-Match accepts any tag the run had in its last 3 "
        "versions, not only the current one."),
    "if_match_other_runs_tag": ("locking", "If-Match accepts the current tag of any run (other "
        "runs, other accounts), not only of the run being written."),
    # versions and tags over a run's life
    "version_wraps_at_8": ("versions", "The version counter is kept in 3 bits: the write after "
        "version 7 gives version 0 (and old tags become current again)."),
    "etag_second_resolution": ("versions", "The ETag is derived from last_changed_at cut to whole "
        "seconds, so two writes within one second leave the tag unchanged."),
    "etag_from_status": ("versions", "The ETag is derived from the status alone, so a pause/"
        "resume cycle re-issues the tag of two versions ago."),
    # reads after writes
    "stale_get_cache": ("reads", "GET serves a per-run cached body and ETag for --stale-read-ms "
        "(default 1000) after filling the cache, even when a write came in between."),
    "write_etag_pre_bump": ("reads", "A 204 carries the ETag computed before the change, not the "
        "new one the next GET shows."),
    # If-Match lists and spellings
    "if_match_list_first_only": ("if_match", "In an If-Match list only the first member is "
        "compared; a list with the current tag later on gets 412."),
    "if_match_optional": ("if_match", "A write without If-Match is done unconditionally (the "
        "older spec's optional If-Match kept for 2025-12-18)."),
    "if_match_star_forces": ("if_match", "If-Match: * is taken as 'force': it skips the tag check "
        "and the state rules, so a goal-reached run resumes."),
    # every write operation
    "pause_ignores_if_match": ("writes", "Pause checks that If-Match is present and well formed, "
        "never its value: a stale or made-up tag pauses the run."),
    "complete_no_version_bump": ("writes", "Complete sets the status but leaves version, "
        "last_changed_at, last_changed_by and the ETag as they were."),
    "pause_check_then_act": ("writes", "Pause checks tag and state, waits --race-window-ms without "
        "a lock, then applies: two concurrent pauses with one tag both get 204."),
    "refused_write_applied": ("writes", "A write with a stale If-Match is applied before its 412 "
        "is sent (the change sticks)."),
    # state checks at their boundaries
    "goal_refused_one_early": ("state", "Resume refuses a run one complete short of its goal "
        "(completes >= goal-1); the resumable runs are seeded at goal-1."),
    "goal_reached_resumable": ("state", "Resume allows a run whose completes equal its goal "
        "(<= instead of <)."),
    "end_date_calendar_day": ("state", "Resume compares end_fielding_at by UTC calendar day, so a "
        "run that ended earlier today resumes; the end-date run is seeded to end earlier today."),
    "end_date_local_clock": ("state", "Resume compares end_fielding_at with a UTC-05:00 wall clock "
        "read as UTC, so a run that ended under 5 h ago resumes; the end-date run ends <= 1 h ago."),
    # auth on reads as well as writes
    "get_foreign_token_served": ("auth", "GET serves a run to another account's token (writes "
        "are still refused)."),
    "get_without_token_served": ("auth", "GET without an Authorization header is served (writes "
        "still get 401)."),
    "missing_token_403": ("auth", "A request with no Authorization header gets 403 "
        "authorization_error instead of 401."),
    # headers on rare statuses
    "no_traceparent_on_429": ("headers", "429 answers carry no traceparent/tracestate."),
    "no_traceparent_on_refusals": ("headers", "412 and 422 answers to writes carry no "
        "traceparent/tracestate."),
    "no_traceparent_on_method_errors": ("headers", "405 and 501 answers carry no traceparent/"
        "tracestate (contested: the docs also say out-of-contract methods only fail by "
        "succeeding)."),
    "retry_after_http_date": ("headers", "429 gives Retry-After as an HTTP-date, not a count of "
        "seconds."),
    "etag_missing_after_write": ("headers", "GET 200 of a run that has been written since start-up "
        "has no ETag header."),
    "version_header_missing_400": ("headers", "A missing Cint-API-Version is answered 400 "
        "bad_request_error instead of 403 required_header_missing."),
    # concurrency
    "write_lost_update": ("concurrency", "Every write reads the run, waits --race-window-ms "
        "without a lock, then stores status and read-version+1: concurrent writes with one tag "
        "all get 204 and all but one are lost."),
    # --- added by an independent tester (issue 21); each text ends with the documented fact broken
    # caches, replicas, retry caches
    "get_etag_cached": ("caches", "GET builds its body fresh but takes the ETag from a per-run cache "
        "filled by the first GET and never invalidated by writes. Breaks: If-Match holds \"the ETag "
        "from the last GET or write\" and 412 only when it is not \"the current ETag\"."),
    "if_match_checked_on_replica": ("replicas", "Writes check If-Match and state against a read "
        "replica lagging --stale-read-ms behind, so a write sent with the ETag of the write just "
        "before gets 412 (and the older tag passes). Breaks: \"If-Match must hold the current ETag; "
        "otherwise 412\"."),
    "write_retry_replayed": ("retries", "A write repeated with the same path and If-Match within "
        "60 s gets the first 204 (and its ETag) replayed unchecked, even after the run changed. "
        "Breaks: \"no idempotency key\"; a stale If-Match gets \"412 ... and nothing changes\"."),
    # framework defaults
    "action_route_any_method": ("framework", "The pause/resume/complete routes are registered for "
        "any method, so GET (or PUT, DELETE, PATCH) FR/pause with a good If-Match pauses the run. "
        "Breaks: a method outside the contract may fail but never \"succeeds or changes state\"."),
    "content_length_on_204": ("framework", "Every 204 carries Content-Length: 0 (the framework "
        "sets it on all bodiless answers). Breaks RFC 9110 8.6: \"A server MUST NOT send a "
        "Content-Length header field in any response with a status code of ... 204\"."),
    "unmatched_route_framework_404": ("framework", "A path whose ids miss the route patterns "
        "(account not digits, project/target group/run not ULID) falls through to the framework's "
        "404 {\"detail\": \"Not Found\"}. Breaks: errors carry \"object and detail required\"."),
    # locks keyed too narrowly
    "lock_per_action": ("locks", "Writes hold a lock per (run, operation) across check, "
        "--race-window-ms and act: two pauses serialise, but a pause and a complete sent at once "
        "with one tag both get 204. Breaks: \"If-Match must hold the current ETag; otherwise 412\"."),
    # clocks
    "last_changed_at_frozen": ("clocks", "Writes bump version, status and last_changed_by but "
        "leave last_changed_at as it was. Breaks: \"Every successful change bumps version and "
        "last_changed_at\"."),
    "last_changed_at_naive": ("clocks", "A write stores a naive utcnow(), rendered without an "
        "offset: after a write last_changed_at reads like 2025-06-01T12:00:00.123 (no Z). Breaks: "
        "last_changed_at is \"RFC 3339 UTC\" (RFC 3339 5.6: time-offset is required)."),
    # scoping
    "run_lookup_ignores_parents": ("scoping", "Runs are looked up by account and fielding_run_id "
        "only: the run is served and written under any project/target group ULID. Breaks: \"the "
        "same fielding_run_id under another project or target group ... is refused ..., never "
        "served or written\"."),
    "account_from_token": ("scoping", "The account is taken from the token, not the path: a "
        "token's run is served and written under any account_id in the path. Breaks: \"The whole "
        "path names the run: a run belongs to one account\"."),
    # header handling
    "bearer_scheme_case_sensitive": ("headers", "The auth scheme must be spelled exactly "
        "'Bearer': 'bearer <valid token>' gets 401. Breaks: RFC 9110 11.1 (the scheme is "
        "case-insensitive) with RFC 6750 2.1; 401 is for \"no valid authorization\"."),
    "etag_header_duplicated": ("headers", "A 204 that changed the run carries two ETag fields: "
        "the tag of the run as loaded, then the new one. Breaks: \"204 carries the new ETag\" "
        "(ETag is a single entity-tag, RFC 9110 8.8.3 and 5.3)."),
    # state leaking across one keep-alive connection
    "auth_sticky_on_connection": ("connections", "After a request authenticates, later requests on "
        "the same connection without Authorization act as that token. Breaks: \"401: no valid "
        "authorization (missing or malformed token)\"; Authorization \"on every request\"."),
    "trace_id_sticky_on_connection": ("connections", "The trace-id of a connection's first request "
        "is reused on its later answers, ignoring their own valid traceparent. Breaks: \"When the "
        "request carried a valid traceparent, the response continues the same trace: same "
        "trace-id\"."),
    # rate limiting
    "retry_after_fractional": ("rate_limits", "429 gives Retry-After as fractional seconds "
        "(e.g. 1.998). Breaks: Retry-After is \"a count of seconds\" (RFC 9110 10.2.3: "
        "delay-seconds = 1*DIGIT)."),
    "rate_limit_generic_error_body": ("rate_limits", "429 answers go through the common error "
        "handler: {id, object: too_many_requests, detail}. Breaks: \"429 differs: {\"object\": "
        "\"too_many_requests_problem_details\", \"details\": text}\"."),
    # parsing shortcuts
    "account_id_python_int": ("parsing", "The path's account_id is parsed with Python int(), so "
        "'+101', '1_01' or ' 101' name account 101 and are served. Breaks: \"account_id: integer "
        "(sent as digits)\"; a malformed id is 400 or 404, never served."),
    "run_id_compared_truncated": ("parsing", "fielding_run_id is compared on its first 16 "
        "characters (a CHAR(16) key), so another ULID with that prefix names the run. Breaks: "
        "\"The whole path names the run\" (an unknown id is 404)."),
    # error bodies and trace context
    "errors_problem_json": ("errors", "Error answers are labelled Content-Type: "
        "application/problem+json. Breaks: \"Plain application/json (not problem+json)\"."),
    "invalid_params_as_map": ("errors", "invalid_params is an object {name: reason} instead of a "
        "list. Breaks: \"invalid_params\": [{\"name\", \"reason\"}] (OpenAPI: items require name "
        "and reason)."),
    "traceparent_invalid_continued": ("trace", "An incoming traceparent of the right shape is "
        "continued without W3C checks (all-zero ids, version ff, upper-case hex): its trace-id "
        "comes back as sent. Breaks: response traceparent is \"lower-case, ids not all zero\"."),
    "tracestate_copied_verbatim": ("trace", "With a valid traceparent, the incoming tracestate is "
        "appended to ours verbatim, even when it is not a list of key=value members. Breaks: "
        "\"tracestate is a list of key=value members\"."),
}
UNCONDITIONAL = object()  # read_if_match's answer to a missing If-Match under if_match_optional
WRAP_AT = 8  # version_wraps_at_8
RECENT_TAGS = 3  # if_match_recent_tags
LOCAL_CLOCK_OFFSET = dt.timedelta(hours=-5)  # end_date_local_clock
REPLAY_SECONDS = 60.0  # write_retry_replayed
RUN_ID_KEY_CHARS = 16  # run_id_compared_truncated
LOOSE_TRACEPARENT_RE = re.compile(  # traceparent_invalid_continued: the shape, nothing more
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.IGNORECASE)


def parse_faults(values: list[str]) -> list[str]:
    """Names from repeated and comma-separated --fault values, in order, without repeats."""
    names = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def fault_listing() -> str:
    width = max(map(len, FAULTS))
    return "\n".join(f"{name:<{width}}  {family:<12}  {text}"
                     for name, (family, text) in FAULTS.items())


# --- small helpers ----------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(t: dt.datetime) -> str:
    t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def new_ulid(at: dt.datetime | None = None) -> str:
    """26 characters of Crockford base32: 48 bits of milliseconds, 80 random bits."""
    ms = int((at or utcnow()).timestamp() * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | secrets.randbits(80)
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


class Refusal(Exception):
    """A request refused with an error response; raised from deep inside the gates."""

    def __init__(self, status: int, code: str, detail: str, params=None, headers=None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.params, self.headers = params or [], headers or {}


# --- state --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    role: str
    account_id: int
    project_id: str
    target_group_id: str
    id: str
    status: str
    version: int
    start_fielding_at: dt.datetime
    end_fielding_at: dt.datetime
    last_changed_at: dt.datetime
    last_changed_by: str
    completes_goal: int  # internal: belongs to the target group, never shown
    completes: int

    def key(self) -> tuple:
        return (self.account_id, self.project_id, self.target_group_id, self.id)


@dataclasses.dataclass
class Principal:
    account_id: int
    user_id: str  # what last_changed_by records


class Bucket:
    """Token bucket; take() returns 0 when allowed, else the whole seconds to wait (>= 1)."""

    def __init__(self, burst: int, refill: float):
        self.burst, self.refill = burst, refill
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.refill))


def seed_runs() -> list[Run]:
    now = utcnow()
    day = dt.timedelta(days=1)
    seeder = str(uuid.uuid4())

    def run(role, account, status, start, end, goal=500, completes=120, version=3):
        changed = now - dt.timedelta(hours=1)
        return Run(
            role=role, account_id=account, project_id=new_ulid(now - 20 * day),
            target_group_id=new_ulid(now - 19 * day), id=new_ulid(now - 18 * day),
            status=status, version=version, start_fielding_at=start, end_fielding_at=end,
            last_changed_at=changed.replace(microsecond=changed.microsecond // 1000 * 1000),
            last_changed_by=seeder, completes_goal=goal, completes=completes,
        )

    runs = [run("resumable", ACCOUNT, "paused", now - day, now + 30 * day) for _ in range(4)]
    runs += [
        run("live", ACCOUNT, "live", now - day, now + 30 * day, version=2),
        run("goal_reached", ACCOUNT, "paused", now - day, now + 30 * day, completes=500, version=5),
        run("end_date_passed", ACCOUNT, "paused", now - 10 * day, now - day, version=4),
        run("completed", ACCOUNT, "completed", now - 10 * day, now - 2 * day, version=6),
        run("completable", ACCOUNT, "live", now - day, now + 30 * day, version=2),  # a target file's opt-in to complete
        run("resumable", OTHER_ACCOUNT, "paused", now - day, now + 30 * day),
        run("live", OTHER_ACCOUNT, "live", now - day, now + 30 * day, version=2),
    ]
    return runs


# --- trace context ------------------------------------------------------------------------------


def parse_traceparent(values: list[str]) -> tuple[str, str] | None:
    """(trace-id, flags) of a valid W3C traceparent, else None (then a new trace starts)."""
    if len(values) != 1:  # several traceparent fields: invalid per W3C
        return None
    m = TRACEPARENT_RE.fullmatch(values[0].strip(" \t"))
    if not m:
        return None
    version, trace_id, parent_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, flags


def parse_tracestate(values: list[str]) -> list[str]:
    """The caller's members, or [] when the list is not valid (W3C: then do not propagate)."""
    members, keys = [], set()
    for part in ",".join(values).split(","):
        part = part.strip(" \t")
        if not part:
            continue
        m = TRACESTATE_MEMBER_RE.fullmatch(part)
        if not m or m.group(1) in keys:
            return []
        keys.add(m.group(1))
        if m.group(1) != TRACESTATE_KEY:
            members.append(part)
    return members if len(members) <= 32 else []


def trace_headers(request: Request, faults: frozenset = frozenset()) -> dict[str, str]:
    """Continue the caller's trace (same trace-id, our own parent-id) or start a new one."""
    parent_id = secrets.token_hex(8)
    values = request.headers.getlist("traceparent")
    incoming = parse_traceparent(values)
    if "traceparent_invalid_continued" in faults and len(values) == 1:
        loose = LOOSE_TRACEPARENT_RE.fullmatch(values[0].strip(" \t"))
        incoming = (loose.group(2), loose.group(4)) if loose else None
    state = []
    if incoming:
        trace_id, flags = incoming
        flags = f"{int(flags, 16) & 1:02x}"  # only the sampled flag is defined for version 00
        state = parse_tracestate(request.headers.getlist("tracestate"))
        if "tracestate_copied_verbatim" in faults:
            state = [v.strip(" \t") for v in request.headers.getlist("tracestate") if v.strip(" \t")]
    else:
        trace_id, flags = secrets.token_hex(16), "01"
    members = [f"{TRACESTATE_KEY}={parent_id}"] + state[:31]
    return {"traceparent": f"00-{trace_id}-{parent_id}-{flags}", "tracestate": ",".join(members)}


def connection(request: Request) -> tuple:
    """The client's address and port: one keep-alive connection (the connection-reuse faults)."""
    return tuple(request.scope.get("client") or ())


# --- If-Match -------------------------------------------------------------------------------------


def parse_if_match(values: list[str]) -> str | list[str] | None:
    """'*', a list of entity tags, or None when the field is not valid RFC 9110 syntax."""
    text = ",".join(values).strip(" \t")
    if text == "*":
        return "*"
    tags, pos, want_tag = [], 0, True
    while pos < len(text):
        ch = text[pos]
        if ch in " \t":
            pos += 1
        elif ch == ",":
            pos, want_tag = pos + 1, True
        elif want_tag:
            m = ENTITY_TAG_RE.match(text, pos)
            if not m:
                return None
            tags.append(m.group(0))
            pos, want_tag = m.end(), False
        else:  # two tags without a comma between them
            return None
    return tags or None


# --- the application ------------------------------------------------------------------------------


class App:
    def __init__(self, policy: Policy, latency_ms: int, burst: int, refill: float,
                 faults=(), race_window_ms: float = 2, stale_read_ms: float = 1000):
        self.policy = policy
        self.latency = latency_ms / 1000
        self.limit = (burst, refill) if burst > 0 and refill > 0 else None
        self.buckets: dict[str, Bucket] = {}
        self.etag_salt = secrets.token_hex(8)
        self.runs = {r.key(): r for r in seed_runs()}
        self.tokens = {
            secrets.token_urlsafe(32): Principal(ACCOUNT, str(uuid.uuid4())),
            secrets.token_urlsafe(32): Principal(OTHER_ACCOUNT, str(uuid.uuid4())),
        }
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault modes: {sorted(unknown)}")
        self.faults = frozenset(faults)
        self.race_window = race_window_ms / 1000
        self.stale_read = stale_read_ms / 1000
        self.get_cache: dict[tuple, tuple] = {}  # stale_get_cache: key -> (monotonic, body, headers)
        self.written: set[tuple] = set()  # keys of runs changed since start-up
        self.seed_for_faults()
        self.etag_cache: dict[tuple, str] = {}  # get_etag_cached: key -> the first GET's tag
        # if_match_checked_on_replica: key -> [(monotonic time applied, copy of the run)]
        self.replica_log = {key: [(-math.inf, dataclasses.replace(run))]
                            for key, run in self.runs.items()}
        self.replays: dict[tuple, tuple] = {}  # write_retry_replayed: request -> (monotonic, ETag)
        self.action_locks: dict[tuple, asyncio.Lock] = {}  # lock_per_action
        self.connection_auth: dict[tuple, tuple] = {}  # auth_sticky_on_connection
        self.connection_trace: dict[tuple, str] = {}  # trace_id_sticky_on_connection

    def seed_for_faults(self) -> None:
        """Put a seeded run at the boundary a state fault gets wrong (a no-op without those faults).

        The moved values are still on the documented side of the rule, so the run keeps its role:
        a correct server answers them exactly as it answers the usual seeds.
        """
        now = utcnow()
        for run in self.runs.values():
            if run.role == "resumable" and "goal_refused_one_early" in self.faults:
                run.completes = run.completes_goal - 1  # still short of the goal: resumable
            if run.role == "end_date_passed" and self.faults & {"end_date_calendar_day",
                                                                 "end_date_local_clock"}:
                midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
                end = max(midnight, now - dt.timedelta(hours=1))  # passed, earlier today (UTC)
                run.end_fielding_at = end.replace(microsecond=end.microsecond // 1000 * 1000)

    def token_of(self, account: int) -> str:
        return next(t for t, p in self.tokens.items() if p.account_id == account)

    # ASGI entry point: everything funnels through here so traceparent is on every answer.
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        trace = trace_headers(request, self.faults)
        if "trace_id_sticky_on_connection" in self.faults:  # a context kept per connection
            first = self.connection_trace.setdefault(connection(request), trace["traceparent"][3:35])
            trace["traceparent"] = trace["traceparent"][:3] + first + trace["traceparent"][35:]
        try:
            if scope["path"] == "/healthz":
                response = self.healthz(request)
            else:
                if self.latency:
                    await asyncio.sleep(self.latency)
                # No await from here on: the check-and-write of a request is atomic. Only the race
                # faults hand back an awaitable that sleeps between its check and its write.
                response = self.handle(request)
                if inspect.isawaitable(response):
                    response = await response
        except Refusal as refusal:
            response = self.error_response(refusal)
        except Exception as exc:  # never expected; answer in the documented shape anyway
            response = self.error_response(Refusal(500, "unexpected_internal_error", repr(exc)))
        if not self.drops_trace(response.status_code):
            response.headers.update(trace)
        if "content_length_on_204" in self.faults and response.status_code == 204:
            response.raw_headers.append((b"content-length", b"0"))
        await response(scope, receive, send)

    def drops_trace(self, status: int) -> bool:
        return (("no_traceparent_on_429" in self.faults and status == 429)
                or ("no_traceparent_on_refusals" in self.faults and status in (412, 422))
                or ("no_traceparent_on_method_errors" in self.faults and status in (405, 501)))

    def healthz(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise Refusal(405, "method_not_allowed_error", "healthz answers GET",
                          headers={"Allow": "GET, HEAD"})
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    def error_response(self, refusal: Refusal) -> Response:
        body: dict
        if refusal.status == 429 and "rate_limit_generic_error_body" not in self.faults:
            # documented: a different shape, `details` plural
            body = {"object": "too_many_requests_problem_details", "details": refusal.detail}
        else:
            body = {"id": str(uuid.uuid4()), "object": refusal.code, "detail": refusal.detail}
            if refusal.params and "invalid_params_as_map" in self.faults:
                body["invalid_params"] = dict(refusal.params)
            elif refusal.params:
                body["invalid_params"] = [{"name": n, "reason": r} for n, r in refusal.params]
            elif self.policy.null_invalid_params:
                body["invalid_params"] = None
        media_type = "application/json"
        if "errors_problem_json" in self.faults:
            media_type = "application/problem+json"
        return Response(json.dumps(body).encode(), refusal.status, headers=refusal.headers,
                        media_type=media_type)

    # --- gates, in order ---

    def handle(self, request: Request) -> Response:
        method = request.method
        if self.policy.unknown_method_501 and method not in STANDARD_METHODS:
            raise Refusal(501, "not_implemented_error", f"method {method!r} is not implemented")
        route = self.route(request)
        if "unmatched_route_framework_404" in self.faults and self.misses_patterns(route):
            return Response(b'{"detail":"Not Found"}', 404, media_type="application/json")
        allowed: tuple = ("GET", "HEAD") if route[-1] is None else ("POST",)
        if route[-1] is not None and "action_route_any_method" in self.faults:
            allowed = tuple(sorted(STANDARD_METHODS))
        if method not in allowed:
            raise Refusal(405, "method_not_allowed_error", f"{method} is not allowed here",
                          headers={"Allow": ", ".join(allowed)})
        if self.policy.version_before_auth:
            self.check_version(request)
        token, principal = self.authenticate(request, reading=route[-1] is None)
        self.rate_limit(token)
        if not self.policy.version_before_auth:
            self.check_version(request)
        run = self.find_run(route, principal)
        action = route[-1]
        if action is None:
            return self.get(run)
        return self.write(request, run, action, principal)

    def route(self, request: Request) -> tuple:
        """(account, project, group, run, action or None); an id is None if not UTF-8."""
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        parts = raw.split(b"/")
        literals = [b"", b"v1", b"demand", b"accounts", None, b"projects", None,
                    b"target-groups", None, b"fielding-runs", None]
        action = None
        if len(parts) == 12 and parts[11].decode("latin-1") in ACTIONS:
            action = parts[11].decode("latin-1")
            parts = parts[:11]
        if len(parts) != 11 or any(lit is not None and lit != p for lit, p in zip(literals, parts)):
            raise Refusal(404, "not_found_error", "no such resource")
        ids = []
        for i in (4, 6, 8, 10):  # percent-decode after splitting, so %2F stays inside an id
            try:
                ids.append(unquote_to_bytes(parts[i]).decode("utf-8"))
            except UnicodeDecodeError:
                ids.append(None)
        return (*ids, action)

    @staticmethod
    def misses_patterns(route: tuple) -> bool:
        """unmatched_route_framework_404: would a router with typed path parameters miss this?"""
        account, project, group, run_id, _ = route
        return (account is None or not DIGITS_RE.fullmatch(account)
                or any(v is None or not ULID_RE.fullmatch(v) for v in (project, group, run_id)))

    def check_version(self, request: Request) -> None:
        values = request.headers.getlist("cint-api-version")
        if not values and "version_header_missing_400" in self.faults:
            raise Refusal(400, "bad_request_error", "the request is not valid",
                          [("Cint-API-Version", "missing")])
        if not values or (self.policy.empty_version_is_missing and values == [""]):
            raise Refusal(403, "required_header_missing", "the Cint-API-Version header is required",
                          [("Cint-API-Version", "missing")])
        name = "Cint-API-Version"
        if len(values) > 1:
            raise Refusal(400, "bad_request_error", "one Cint-API-Version, please",
                          [(name, "sent more than once")])
        value = values[0]
        try:
            if not VERSION_RE.fullmatch(value):
                raise ValueError(value)
            dt.date.fromisoformat(value)
        except ValueError:
            raise Refusal(400, "bad_request_error", "Cint-API-Version must be YYYY-MM-DD",
                          [(name, "not a date in YYYY-MM-DD form")]) from None
        if not self.policy.accept_unknown_versions and value not in KNOWN_VERSIONS:
            raise Refusal(400, "bad_request_error", f"unsupported API version {value}",
                          [(name, "unknown version")])

    def authenticate(self, request: Request, reading: bool = False) -> tuple[str, Principal]:
        values = request.headers.getlist("authorization")
        sticky = "auth_sticky_on_connection" in self.faults
        if not values and sticky and connection(request) in self.connection_auth:
            return self.connection_auth[connection(request)]
        if not values and reading and "get_without_token_served" in self.faults:
            return "", Principal(None, "")  # "reads are public": no account, no user
        if not values and "missing_token_403" in self.faults:
            raise Refusal(403, "authorization_error", "no permission without a token")
        if len(values) != 1:
            raise Refusal(401, "authorization_error", "a Bearer token is required")
        m = BEARER_RE.fullmatch(values[0].strip(" \t"))
        if m and "bearer_scheme_case_sensitive" in self.faults and not m.group(0).startswith("Bearer"):
            m = None
        principal = self.tokens.get(m.group(1)) if m else None
        if principal is None:
            raise Refusal(401, "authorization_error", "the Bearer token is not valid")
        if sticky:
            self.connection_auth[connection(request)] = (m.group(1), principal)
        return m.group(1), principal

    def rate_limit(self, token: str) -> None:
        if self.limit is None:
            return
        bucket = self.buckets.setdefault(token, Bucket(*self.limit))
        wait = bucket.take()
        if wait:
            retry_after = str(wait)
            if "retry_after_fractional" in self.faults:  # the exact wait, not rounded up
                retry_after = f"{(1 - bucket.tokens) / bucket.refill:.3f}"
            if "retry_after_http_date" in self.faults:
                retry_after = email.utils.formatdate(time.time() + wait, usegmt=True)
            raise Refusal(429, "too_many_requests", "rate limit exceeded, retry later",
                          headers={"Retry-After": retry_after})

    def find_run(self, route: tuple, principal: Principal) -> Run:
        account, project, group, run_id, action = route
        bad = []
        number = self.account_number(account)
        if number is None:
            bad.append(("account_id", "must be an integer"))
        for name, value in (("project_id", project), ("target_group_id", group)):
            if value is None or not ULID_RE.fullmatch(value):
                bad.append((name, "must be a ULID"))
        if self.policy.strict_run_ids and (run_id is None or not ULID_RE.fullmatch(run_id)):
            bad.append(("fielding_run_id", "must be a ULID"))
        if bad:
            raise Refusal(400, "bad_request_error", "the request is not valid", bad)
        reads_anyone = action is None and (principal.account_id is None
                                           or "get_foreign_token_served" in self.faults)
        if "account_from_token" in self.faults and principal.account_id is not None:
            number = principal.account_id  # "the tenant is whoever the token says"
        if number != principal.account_id and not reads_anyone:
            if self.policy.foreign_status == 404:
                raise Refusal(404, "not_found_error", "fielding run not found")
            raise Refusal(403, "authorization_error", "no permission on this account")
        run = self.lookup(number, project, group, run_id)
        if run is None:
            raise Refusal(404, "not_found_error", "fielding run not found")
        return run

    def account_number(self, account: str | None) -> int | None:
        """The path's account_id as an int32, or None when it is not digits."""
        if account is None:
            return None
        if "account_id_python_int" in self.faults:
            try:
                number = int(account)  # also takes '+101', '1_01', ' 101 '
            except ValueError:
                return None
            return number if 0 <= number <= INT32_MAX else None
        if not DIGITS_RE.fullmatch(account) or int(account) > INT32_MAX:
            return None
        return int(account)

    def lookup(self, account: int, project: str, group: str, run_id: str | None) -> Run | None:
        if "run_lookup_ignores_parents" in self.faults:  # "run ids are unique anyway"
            return next((r for r in self.runs.values()
                         if r.account_id == account and r.id == run_id), None)
        if "run_id_compared_truncated" in self.faults and run_id is not None:
            n = RUN_ID_KEY_CHARS
            return next((r for r in self.runs.values()
                         if (r.account_id, r.project_id, r.target_group_id) == (account, project, group)
                         and r.id[:n] == run_id[:n]), None)
        return self.runs.get((account, project, group, run_id))

    # --- operations ---

    def etag(self, run: Run, version: int | None = None) -> str:
        """The tag of `run` (at `version`, for if_match_recent_tags; default its current one)."""
        version = run.version if version is None else version
        basis = version
        if "etag_from_status" in self.faults:
            basis = f"status:{run.status}"
        elif "etag_second_resolution" in self.faults:
            basis = f"changed:{int(run.last_changed_at.timestamp())}"
        if self.policy.opaque_etags or basis is not version:
            digest = hashlib.sha256(f"{self.etag_salt}:{run.id}:{basis}".encode()).hexdigest()
            return f'W/"{digest[:20]}"'
        return f'W/"{version}"'

    def get(self, run: Run) -> Response:
        if "stale_get_cache" in self.faults:
            hit = self.get_cache.get(run.key())
            if hit and time.monotonic() - hit[0] < self.stale_read:
                return Response(hit[1], 200, headers=dict(hit[2]), media_type="application/json")
        status = run.status.title() if self.policy.title_case_status else run.status
        body = {
            "id": run.id,
            "status": status,
            "version": run.version,
            "start_fielding_at": rfc3339(run.start_fielding_at),
            "end_fielding_at": rfc3339(run.end_fielding_at),
            "last_changed_at": self.changed_at_text(run),
            "last_changed_by": run.last_changed_by,
            "account_id": run.account_id if self.policy.account_id_as_int else str(run.account_id),
            "project_id": run.project_id,
            "target_group_id": run.target_group_id,
        }
        headers = {"ETag": self.etag(run)}
        if "get_etag_cached" in self.faults:
            headers["ETag"] = self.etag_cache.setdefault(run.key(), headers["ETag"])
        if "etag_missing_after_write" in self.faults and run.key() in self.written:
            headers = {}
        data = json.dumps(body).encode()
        if "stale_get_cache" in self.faults:
            self.get_cache[run.key()] = (time.monotonic(), data, headers)
        return Response(data, 200, headers=headers, media_type="application/json")

    def changed_at_text(self, run: Run) -> str:
        text = rfc3339(run.last_changed_at)
        if "last_changed_at_naive" in self.faults and run.key() in self.written:
            return text.removesuffix("Z")  # a naive datetime's isoformat(): no offset at all
        return text

    def write(self, request: Request, run: Run, action: str, principal: Principal,
              locked: bool = False):
        """The 204 Response, or (race faults only) an awaitable of it; refusals are raised."""
        if "lock_per_action" in self.faults and not locked:
            return self.write_locked_per_action(request, run, action, principal)
        replay = None
        if "write_retry_replayed" in self.faults:  # a home-made retry cache
            replay = (principal.user_id, action, run.key(), tuple(request.headers.getlist("if-match")))
            hit = self.replays.get(replay)
            if hit and time.monotonic() - hit[0] < REPLAY_SECONDS:
                return Response(status_code=204, headers={"ETag": hit[1]})
        response = self.write_checked(request, run, action, principal)
        if replay and isinstance(response, Response) and response.status_code == 204:
            self.replays[replay] = (time.monotonic(), response.headers["etag"])
        return response

    async def write_locked_per_action(self, request: Request, run: Run, action: str,
                                      principal: Principal) -> Response:
        """lock_per_action: the whole check-and-act under a lock keyed by run AND operation."""
        async with self.action_locks.setdefault((run.key(), action), asyncio.Lock()):
            response = self.write(request, run, action, principal, locked=True)
            if inspect.isawaitable(response):
                response = await response
            return response

    def replica_view(self, run: Run) -> Run:
        """if_match_checked_on_replica: the run as a replica --stale-read-ms behind sees it."""
        horizon = time.monotonic() - self.stale_read
        return next(copy for applied, copy in reversed(self.replica_log[run.key()])
                    if applied <= horizon)

    def write_checked(self, request: Request, run: Run, action: str, principal: Principal):
        tags = self.read_if_match(request)
        if tags == "*" and "if_match_star_forces" in self.faults:
            forced = {"resume": "live", "pause": "paused", "complete": "completed"}[action]
            if forced != run.status:
                self.commit(run, forced, principal, action)
            return Response(status_code=204, headers={"ETag": self.etag(run)})
        seen = run
        if "if_match_checked_on_replica" in self.faults:
            seen = self.replica_view(run)
        target = self.transition(seen, action)  # new status, run.status for a no-op, None if refused
        tag_ok = self.tag_matches(seen, tags)
        if action == "pause" and "pause_ignores_if_match" in self.faults:
            tag_ok = True
        if self.policy.state_before_tag and target is None:
            self.refuse_state(action)
        if not tag_ok:
            if "refused_write_applied" in self.faults and target not in (None, run.status):
                self.commit(run, target, principal, action)
            raise Refusal(412, "precondition_failed_error",
                          "If-Match does not hold the current ETag of the fielding run")
        if target is None:
            self.refuse_state(action)
        if target == run.status:
            return Response(status_code=204, headers={"ETag": self.etag(run)})
        if ("write_lost_update" in self.faults or "lock_per_action" in self.faults
                or (action == "pause" and "pause_check_then_act" in self.faults)):
            return self.write_later(run, target, principal, action)
        before = self.etag(run)
        self.commit(run, target, principal, action)
        return self.changed(run, before)

    def changed(self, run: Run, before: str) -> Response:
        """The 204 of a write that changed the run (`before`: its tag as loaded)."""
        tag = before if "write_etag_pre_bump" in self.faults else self.etag(run)
        response = Response(status_code=204, headers={"ETag": tag})
        if "etag_header_duplicated" in self.faults:  # the loaded run's tag, set by a middleware
            response.raw_headers.insert(0, (b"etag", before.encode("latin-1")))
        return response

    async def write_later(self, run: Run, target: str, principal: Principal, action: str):
        """The race faults: checked above, unlocked here, written after --race-window-ms."""
        read_version = run.version
        await asyncio.sleep(self.race_window)
        before = self.etag(run)
        lost = "write_lost_update" in self.faults
        self.commit(run, target, principal, action, read_version if lost else None)
        return self.changed(run, before)

    def read_if_match(self, request: Request) -> str | list[str]:
        values = request.headers.getlist("if-match")
        if not values and "if_match_optional" in self.faults:
            return UNCONDITIONAL
        if not values:
            status = self.policy.missing_if_match_status
            code = "precondition_required_error" if status == 428 else "bad_request_error"
            raise Refusal(status, code, "If-Match with the run's current ETag is required",
                          [("If-Match", "missing")])
        tags = parse_if_match(values)
        if tags is None and "if_match_unquoted_or_case" in self.faults:
            tags = [part.strip(" \t") for part in ",".join(values).split(",") if part.strip(" \t")]
        if tags is None:
            raise Refusal(400, "bad_request_error", "If-Match is not a valid entity-tag list",
                          [("If-Match", "malformed")])
        if (isinstance(tags, list) and len(tags) > 1 and not self.policy.tag_lists
                and "if_match_list_first_only" not in self.faults):
            raise Refusal(400, "bad_request_error", "only one entity tag is accepted",
                          [("If-Match", "several entity tags")])
        return tags

    def tag_matches(self, run: Run, tags: str | list[str]) -> bool:
        if tags is UNCONDITIONAL:
            return True
        if tags == "*":
            return self.policy.star_matches  # the run exists, we got this far
        current = self.etag(run)
        if not self.faults:
            if self.policy.weak_comparison:  # RFC 9110 8.8.3.2: ignore the W/ prefix
                return any(t.removeprefix("W/") == current.removeprefix("W/") for t in tags)
            return current in tags  # exact: the tag as issued, byte for byte
        return self.faulty_tag_matches(run, tags, current)

    def faulty_tag_matches(self, run: Run, tags: list[str], current: str) -> bool:
        """tag_matches with the locking faults; with none of them on, the same answer."""
        if "if_match_list_first_only" in self.faults:
            tags = tags[:1]
        accepted = {current}
        if "if_match_recent_tags" in self.faults:
            accepted |= {self.etag(run, v)
                         for v in range(max(0, run.version - RECENT_TAGS), run.version)}
        if "if_match_other_runs_tag" in self.faults:
            accepted |= {self.etag(other) for other in self.runs.values()}

        def spelled(tag: str) -> str:
            if "if_match_unquoted_or_case" in self.faults:
                tag = tag.strip(" \t")
                tag = tag[2:] if tag[:2] in ("W/", "w/") else tag
                return tag.strip('"').lower()
            return tag.removeprefix("W/") if self.policy.weak_comparison else tag

        wanted = {spelled(tag) for tag in accepted}
        for tag in tags:
            if spelled(tag) in wanted:
                return True
            m = re.fullmatch(r'(?:W/)?"([0-9]{1,18})"', tag)
            if m and "if_match_higher_version_accepted" in self.faults:
                if int(m.group(1)) >= run.version:  # "refuse older tags" instead of "match"
                    return True
        return False

    def transition(self, run: Run, action: str) -> str | None:
        now = utcnow()
        if action == "resume":
            if run.status == "paused":
                reachable = self.goal_open(run) and self.end_open(run, now)
                return "live" if reachable else None
            return run.status if run.status == "live" and self.policy.resume_live_noop else None
        if action == "pause":
            if run.status == "live":
                return "paused"
            return run.status if run.status == "paused" and self.policy.pause_paused_noop else None
        return "completed" if run.status in self.policy.complete_from else None

    def goal_open(self, run: Run) -> bool:
        if "goal_refused_one_early" in self.faults:
            return run.completes < run.completes_goal - 1
        if "goal_reached_resumable" in self.faults:
            return run.completes <= run.completes_goal
        return run.completes < run.completes_goal

    def end_open(self, run: Run, now: dt.datetime) -> bool:
        if "end_date_calendar_day" in self.faults:
            return now.date() <= run.end_fielding_at.date()
        if "end_date_local_clock" in self.faults:  # naive local wall clock taken for UTC
            return now + LOCAL_CLOCK_OFFSET < run.end_fielding_at
        return now < run.end_fielding_at

    def commit(self, run: Run, status: str, principal: Principal, action: str,
               read_version: int | None = None) -> None:
        """apply(), or its faulty variants; `read_version`: write_lost_update's stale read."""
        was = run.last_changed_at
        self.commit_version(run, status, principal, action, read_version)
        if "last_changed_at_frozen" in self.faults:  # an UPDATE that forgets the column
            run.last_changed_at = was
        if "if_match_checked_on_replica" in self.faults:
            self.replica_log[run.key()].append((time.monotonic(), dataclasses.replace(run)))

    def commit_version(self, run: Run, status: str, principal: Principal, action: str,
                       read_version: int | None) -> None:
        self.written.add(run.key())
        if action == "complete" and "complete_no_version_bump" in self.faults:
            run.status = status
            return
        if read_version is None and "version_wraps_at_8" not in self.faults:
            self.apply(run, status, principal)
            return
        base = run.version if read_version is None else read_version
        self.apply(run, status, principal)
        run.version = base + 1
        if "version_wraps_at_8" in self.faults:
            run.version %= WRAP_AT

    @staticmethod
    def refuse_state(action: str):
        raise Refusal(422, "invalid_state_error",
                      f"cannot {action} this fielding run in its current state")

    @staticmethod
    def apply(run: Run, status: str, principal: Principal) -> None:
        # last_changed_at moves forward on every change, even two within one millisecond.
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        run.last_changed_at = max(now, run.last_changed_at + dt.timedelta(milliseconds=1))
        run.status, run.version, run.last_changed_by = status, run.version + 1, principal.user_id


# --- start-up -------------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of plain ASCII is a valid TOML basic string


def write_target(app: App, path: str, base_url: str) -> None:
    lines = [
        f"base_url = {toml_string(base_url)}",
        f"api_version = {toml_string(API_VERSION)}",
        f"account_id = {toml_string(str(ACCOUNT))}",
        'token_env = "DOCS_SERVER_TOKEN"',
        'foreign_token_env = "DOCS_SERVER_OTHER_TOKEN"',
    ]
    for run in app.runs.values():
        if run.account_id == ACCOUNT:
            lines += ["", "[[runs]]", f"role = {toml_string(run.role)}",
                      f"project_id = {toml_string(run.project_id)}",
                      f"target_group_id = {toml_string(run.target_group_id)}",
                      f"fielding_run_id = {toml_string(run.id)}"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    env = (f"DOCS_SERVER_TOKEN={app.token_of(ACCOUNT)}\n"
           f"DOCS_SERVER_OTHER_TOKEN={app.token_of(OTHER_ACCOUNT)}\n")
    fd = os.open(path + ".env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file already existed with a wider mode
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(env)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--write-target", metavar="FILE", help="required unless --fault list")
    p.add_argument("--answers", choices=sorted(POLICIES), default="other")
    p.add_argument("--latency-ms", type=int, default=0, help="delay before every API answer")
    p.add_argument("--rate-limit-burst", type=int, default=0,
                   help="token bucket per bearer token; 0 (or no refill): no limit")
    p.add_argument("--rate-limit-refill", type=float, default=0.0, help="tokens per second")
    p.add_argument("--fault", action="append", default=[], metavar="NAME[,NAME]",
                   help="turn on a deliberate bug (repeatable, comma-separated; 'list' lists them)")
    p.add_argument("--race-window-ms", type=float, default=2.0,
                   help="race faults: unlocked sleep between a write's check and its act")
    p.add_argument("--stale-read-ms", type=float, default=1000.0,
                   help="stale_get_cache: how long a cached GET answer is served; "
                        "if_match_checked_on_replica: how far the replica lags")
    args = p.parse_args(argv)
    args.fault = parse_faults(args.fault)
    if "list" in args.fault:
        print(fault_listing())
        raise SystemExit(0)
    unknown = [name for name in args.fault if name not in FAULTS]
    if unknown:
        p.error(f"unknown --fault {', '.join(unknown)} (see --fault list)")
    if not args.write_target:
        p.error("the following arguments are required: --write-target")
    if args.race_window_ms < 0 or args.stale_read_ms < 0:
        p.error("--race-window-ms and --stale-read-ms must not be negative")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("this test server listens on loopback only")
    return args


def stop(signum, frame):
    raise SystemExit(0)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Until uvicorn takes over the signals (and after it re-raises them), stop with status 0.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    host = "127.0.0.1" if args.host == "localhost" else args.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, args.port))
    sock.listen(1024)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    base_url = f"http://{shown}:{port}/v1"

    app = App(POLICIES[args.answers], args.latency_ms,
              args.rate_limit_burst, args.rate_limit_refill,
              faults=args.fault, race_window_ms=args.race_window_ms,
              stale_read_ms=args.stale_read_ms)
    write_target(app, args.write_target, base_url)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", server_header=False,
        http="h11",  # h11 passes any method token through, so unknown methods reach us (501)
        h11_max_incomplete_event_size=1024 * 1024,  # big headers reach the app, not a bare 400
    )
    print(f"docs-server: {base_url}", flush=True)
    if args.fault:
        print(f"docs-server: FAULTS ON: {', '.join(args.fault)}", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
