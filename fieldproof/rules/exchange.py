"""The rules on single exchanges: each one function, named after the rule, judging one
exchange as the recorder records it. Those marked `expectation` judge the status a fact of the
request calls for (a stale tag, no token, …), read from `exchange.facts`. What a rule leaves
alone (another operation, a 429, a request with another unusual fact) is declared on its
`@exchange_rule` and applied by the registry before the body runs.

Where the docs leave a question open, a rule accepts every answer `contract.OPEN_QUESTIONS`
allows, and still requires a documented status and an unchanged run.
"""

from __future__ import annotations

import datetime
import email.utils
import re
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from fieldproof import contract
from fieldproof.contract import OPEN_QUESTIONS, Effect
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import STALE_KINDS, ApiVersion, Auth, IfMatch, PathKind
from fieldproof.headers import (
    HeaderSyntaxError,
    parse_etag,
    parse_incoming_traceparent,
    parse_traceparent,
    tracestate_errors,
)
from fieldproof.rules.registry import (
    Finding,
    Result,
    Severity,
    exchange_rule,
    expect,
    finding,
    statuses_text,
    what_happened,
)

REFUSALS = frozenset({400, 401, 403, 404, 412, 422, 428, 429})


def state_answers(exchange: Exchange) -> frozenset[int] | None:
    """What a write with the current tag may get from the run's state before it: 204 where
    it may change (or be a no-op), 422 where it may be refused; None when the harness cannot
    tell (no look at the run, or a role the target file does not say)."""
    before = exchange.before
    if exchange.operation not in contract.WRITES or before is None or before.run_status is None:
        return None
    effects = contract.write_effects(exchange.operation, before.run_status)
    if exchange.operation == "resume" and Effect.CHANGE in effects:
        role = contract.ROLES.get(exchange.facts.role or "")
        if role is None:
            return None
        if not role.resumable:  # the goal is not a field of the run: the role tells
            effects = frozenset({Effect.REFUSE})
        else:  # the end date is: a run listed as resumable may have reached it since
            passed = end_date_passed(exchange)
            if passed is not False:
                effects = frozenset({Effect.REFUSE}) if passed else effects | {Effect.REFUSE}
    return frozenset(422 if effect is Effect.REFUSE else 204 for effect in effects)


END_DATE_MARGIN = datetime.timedelta(seconds=60)  # closer than this to the end date, the clocks cannot tell


def end_date_passed(exchange: Exchange) -> bool | None:
    """Whether the run's end_fielding_at (as the look before showed it) had passed when the
    request was answered, by the answer's Date (else this machine's clock); None: too close to
    tell, or not known."""
    end = _timestamp(((exchange.before.body if exchange.before else None) or {}).get("end_fielding_at"))
    if end is None:
        return False
    try:
        now = email.utils.parsedate_to_datetime(exchange.header("date") or "")
    except (TypeError, ValueError):
        now = datetime.datetime.now(datetime.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.UTC)
    if abs(now - end) < END_DATE_MARGIN:
        return None
    return now > end


def _served_answers(exchange: Exchange) -> frozenset[int] | None:
    """What the request would get if the server took it as an ordinary one."""
    if exchange.operation == "get":
        return frozenset({200})
    return state_answers(exchange)


# rules every response must satisfy


@exchange_rule("every response has a status the contract documents for its operation (412 on any conditional write, "
               "RFC 9110's answer to a failed If-Match); a 500 is always a finding",
               "no request reached an operation of the contract document", only_declared=True)
def documented_status(exchange: Exchange) -> Result:
    if exchange.status >= 500:
        return finding(documented_status, exchange, "a server error is never a pass")
    documented = exchange.documented_statuses
    if exchange.facts.if_match is not IfMatch.NOT_A_WRITE:  # a document that omits it is the lint's finding
        documented = documented | {412}
    if exchange.facts.if_match is IfMatch.MISSING:  # an open question may answer beyond the list
        documented = documented | OPEN_QUESTIONS["missing_if_match"].refusals
    if exchange.status not in documented:
        return finding(documented_status, exchange, f"a status the contract does not document ({statuses_text(documented)})")
    return []


@exchange_rule("every response carries a valid W3C traceparent (the users' contract, beyond the vendor's)",
               "no request reached an operation of the contract document", severity=Severity.MINOR, only_declared=True)
def traceparent_on_every_response(exchange: Exchange) -> Result:
    value = exchange.header("traceparent")
    if value is None:
        return finding(traceparent_on_every_response, exchange, "no traceparent header")
    try:
        parse_traceparent(value)
    except HeaderSyntaxError as exc:
        return finding(traceparent_on_every_response, exchange, "an invalid traceparent",
                        f"{what_happened(exchange)} with an invalid traceparent: {exc}")
    return []


@exchange_rule("a response to a request with a valid traceparent continues its trace-id with a new parent-id; "
               "one with an invalid traceparent starts a new trace", "no response carried a traceparent to compare",
               severity=Severity.MINOR, only_declared=True)
def trace_continues_callers_trace(exchange: Exchange) -> Result:
    sent, got = exchange.request_header("traceparent"), exchange.header("traceparent")
    if sent is None or got is None:
        return None  # none sent: any trace (traceparent_on_every_response judges its form)
    try:
        theirs = parse_traceparent(got)
    except HeaderSyntaxError:
        return None  # an invalid one received: traceparent_on_every_response
    ours = parse_incoming_traceparent(sent)  # as W3C has a receiver read it: a later version too
    if ours is not None and not sent.strip(" \t").startswith("00-"):
        return []  # a later version: W3C has a receiver try to continue it (SHOULD), or it may start anew
    if ours is None:  # invalid: W3C has the receiver ignore it and start a new trace
        claimed = _TRACE_ID_FIELD.search(sent)
        if claimed is not None and theirs.trace_id == claimed.group(1).lower():
            return finding(trace_continues_callers_trace, exchange, "an invalid traceparent's trace continued",
                            f"{what_happened(exchange)} continuing the trace-id of the invalid traceparent {sent!r} "
                            "(W3C: an invalid traceparent is ignored and a new trace started)")
        return []
    if theirs.trace_id != ours.trace_id:
        return finding(trace_continues_callers_trace, exchange, "a new trace-id, not the caller's",
                        f"{what_happened(exchange)} with trace-id {theirs.trace_id}, not the caller's {ours.trace_id}")
    if theirs.parent_id == ours.parent_id:
        return finding(trace_continues_callers_trace, exchange, "the caller's parent-id echoed instead of its own span")
    return []


_TRACE_ID_FIELD = re.compile(r"^\s*[0-9a-fA-F]{2}-([0-9a-fA-F]{32})-")  # where an invalid traceparent holds a trace-id


@exchange_rule("a tracestate header, when present, is a well-formed W3C list",
               "no response carried a tracestate header (it is optional)", severity=Severity.MINOR,
               only_declared=True)
def tracestate_well_formed(exchange: Exchange) -> Result:
    value = exchange.header("tracestate")
    if value is None:
        return None
    return [Finding("tracestate_well_formed", "a malformed tracestate", f"{what_happened(exchange)}: {defect}", exchange)
            for defect in tracestate_errors(value)]


@exchange_rule("200 and 204 carry an ETag that is a quoted entity tag", "no request succeeded", only_ours=True)
def etag_on_success(exchange: Exchange) -> Result:
    if exchange.status not in (200, 204):
        return None
    value = exchange.header("etag")
    if value is None:
        return finding(etag_on_success, exchange, "no ETag")
    try:
        parse_etag(value)
    except HeaderSyntaxError:
        return finding(etag_on_success, exchange, "an ETag that is not a quoted entity tag",
                        f"{what_happened(exchange)} with ETag {value!r}, not a quoted entity tag")
    return []


def _same_id(shown: str, asked: str) -> bool:
    """Whether a body's id is the path's: ULIDs are Crockford base32, in which letter case does
    not count (a server may show the canonical upper case of an id asked in lower case)."""
    if _ANY_CASE_ULID.fullmatch(shown) and _ANY_CASE_ULID.fullmatch(asked):
        return shown.upper() == asked.upper()
    return shown == asked


_ANY_CASE_ULID = re.compile(r"[0-9A-Za-z]{26}")


def _kind_errors(value: Any, kind: str) -> bool:
    """Whether a run field's value is not of its documented kind (contract.RUN_BODY)."""
    if kind == "integer":
        return not isinstance(value, int) or isinstance(value, bool)
    if not isinstance(value, str) or not value:
        return True
    if kind == "status":  # casing differs between API versions
        return value.lower() not in contract.STATUSES
    try:
        if kind == "date-time":  # RFC 3339 (its "T" and "Z" in either case), in UTC
            moment = datetime.datetime.fromisoformat(value.upper())
            return moment.utcoffset() != datetime.timedelta(0) or "T" not in value.upper()
        if kind == "uuid":
            uuid.UUID(value)
    except ValueError:
        return True
    return False


@exchange_rule("a GET's 200 carries the run: a JSON object with every documented field of its documented kind "
               "(id, status, version, start_fielding_at, end_fielding_at, last_changed_at, last_changed_by)",
               "no GET was answered 200")
def run_body_documented(exchange: Exchange) -> Result:
    if exchange.operation != "get" or exchange.status != 200 or exchange.body_cut_at is not None:
        return None  # a body cut off at max_body_bytes is not whole: response_body_bounded says so
    media_type = (exchange.header("content-type") or "").split(";", 1)[0].strip().lower()
    body = exchange.json()
    if media_type != "application/json" or not isinstance(body, dict):
        shown = f"{len(exchange.body)}-byte body, {media_type or 'no content-type'}" if exchange.body else "an empty body"
        return finding(run_body_documented, exchange, "no run in the body: not a JSON object",
                        f"{what_happened(exchange)} without the run as a JSON object ({shown})")
    missing = [name for name in contract.RUN_BODY if name not in body]
    wrong = [name for name, kind in contract.RUN_BODY.items() if name in body and _kind_errors(body[name], kind)]
    findings: list[Finding] = []
    if missing:
        findings += finding(run_body_documented, exchange, f"the run lacks {', '.join(missing)}")
    if wrong:  # grouped by the fields, not by their values
        shown = "; ".join(f"{name} {body[name]!r} is no {contract.RUN_BODY[name]}" for name in wrong)
        findings += finding(run_body_documented, exchange, f"the run's {', '.join(wrong)} not of the documented kind",
                             f"{what_happened(exchange)} with {shown}")
    # a path that is not the run's own (unknown, malformed, another scope) served at all is
    # unknown_path_refused's finding: judged here is what a run's own path shows
    named = (contract.path_ids(urllib.parse.urlsplit(exchange.url).path) or {}) if not exchange.facts.path else {}
    asked = {"id" if name == "fielding_run_id" else name: urllib.parse.unquote(value) for name, value in named.items()}
    other = [name for name, value in asked.items() if name in body and not _same_id(str(body[name]), value)]
    if other:  # the whole path names the run: another run's, or the same under another scope, is not it
        shown = "; ".join(f"{name} {body[name]!r}, the path's {asked[name]!r}" for name in other)
        findings += finding(run_body_documented, exchange, f"the run shown is not the one the path names ({', '.join(other)})",
                             f"{what_happened(exchange)} with {shown}")
    return findings


@exchange_rule("a 204 has no body", "no write succeeded", only_declared=True)
def no_body_on_204(exchange: Exchange) -> Result:
    if exchange.status != 204:
        return None
    if exchange.body:
        return finding(no_body_on_204, exchange, "a body on a 204", f"{what_happened(exchange)} with a {len(exchange.body)}-byte body")
    return []


@exchange_rule("a 429 carries Retry-After in whole seconds (documented; the users' contract requires it)",
               "no 429 was met; set rate_limit_probe = true in the target file "
               "(on the sandbox: FIELDPROOF_SANDBOX_RATE_LIMIT_BURST)", severity=Severity.MINOR, only_declared=True)
def retry_after_on_429(exchange: Exchange) -> Result:
    if exchange.status != 429:
        return None
    value = exchange.header("retry-after")
    if value is None:
        return finding(retry_after_on_429, exchange, "no Retry-After: a client cannot know when to retry")
    if not value.strip(" \t").isdigit() or not value.strip(" \t").isascii():
        return finding(retry_after_on_429, exchange, "a Retry-After that is not a count of seconds",
                        f"429 with Retry-After {value!r}: the docs say a count of seconds")
    return []


@exchange_rule("error bodies are the documented JSON objects (429: object + details)", "no request was refused", only_ours=True)
def error_body_documented(exchange: Exchange) -> Result:
    if exchange.status < 400:
        return None
    content_type = exchange.header("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()  # media types ignore case
    body = exchange.json()
    if media_type != "application/json" or not isinstance(body, dict):
        return finding(error_body_documented, exchange, "no JSON object body",
                        f"{what_happened(exchange)} without a JSON object body ({content_type or 'no content-type'})")
    if exchange.status == 429:
        required = {"object": "too_many_requests_problem_details", "details": None}
    else:
        required = {"object": None, "detail": None}
    defects = [f"{key!r} must be {repr(value) if value else 'a string'}"
                for key, value in required.items()
                if not isinstance(body.get(key), str) or (value is not None and body[key] != value)]
    defects += _error_object_problems(exchange, body.get("object"))
    if exchange.status != 429 and "id" in body and _kind_errors(body["id"], "uuid"):
        defects.append("'id' must be a UUID")
    params = body.get("invalid_params")  # optional, and nullable in the vendor's spec
    if exchange.status != 429 and params is not None and not (
        isinstance(params, list)
        and all(isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("reason"), str) for p in params)
    ):
        defects.append("'invalid_params' must be null or a list of {name, reason}")
    if defects:
        defect = "an error body whose " + "; ".join(defects)
        return finding(error_body_documented, exchange, defect, f"{what_happened(exchange)} with {defect}")
    return []


def _error_object_problems(exchange: Exchange, code: Any) -> list[str]:
    """What is wrong with an error's `object`: its form (snake_case), and its code where the docs
    give the status one. A refusal an open question allows of a request the docs do not settle
    (an unknown Cint-API-Version, a missing or malformed If-Match) may word its code freely."""
    if exchange.status == 429 or not isinstance(code, str):
        return []
    if not contract.ERROR_OBJECT_FORMAT.fullmatch(code):
        return ["'object' must be a snake_case code"]
    expected = contract.ERROR_OBJECTS.get(exchange.status)
    facts = exchange.facts  # a refusal an open question allows may word its code either way
    open_ended = facts.api_version in (ApiVersion.UNKNOWN, ApiVersion.MALFORMED) or facts.if_match in (IfMatch.MISSING, IfMatch.MALFORMED)
    if expected is None or open_ended or code in expected:
        return []
    return [f"'object' of a {exchange.status} must be {' or '.join(repr(c) for c in sorted(expected))}"]


def _diff(before: Snapshot, after: Snapshot) -> str:
    names = ("etag", *contract.UNCHANGED_FIELDS)
    assert before.state is not None and after.state is not None
    return ", ".join(f"{n} {a!r} -> {b!r}" for n, a, b in zip(names, before.state, after.state, strict=True) if a != b)


def _unchanged(rule: Callable[..., Any], exchange: Exchange, what: str) -> Result:
    """The run looked the same after the request as before it (None: not looked at)."""
    before, after = exchange.before, exchange.after
    if before is None or after is None or before.state is None:
        return None
    if after.status_code == 404:
        return finding(rule, exchange, f"{what}, and afterwards the run is gone (GET answers 404)")
    if after.state is None:
        return None
    if before.state != after.state:
        return finding(rule, exchange, f"{what}, but the run changed",
                        f"{what_happened(exchange)} but the run changed: {_diff(before, after)}")
    return []


@exchange_rule("a refused request (400, 401, 403, 404, 412, 422, 428, 429) leaves the run as it was",
               "no refused request was looked at before and after", only_ours=True)
def refusal_changes_nothing(exchange: Exchange) -> Result:
    if exchange.status not in REFUSALS:
        return None
    return _unchanged(refusal_changes_nothing, exchange, "a refusal")


@exchange_rule("a 204 write took effect: new status, higher version, a later last_changed_at, and its ETag is the current one",
               "no write succeeded while the harness looked at the run", severity=Severity.CRITICAL)
def success_changes_the_run(exchange: Exchange) -> Result:
    before, after = exchange.before, exchange.after
    if exchange.status != 204 or exchange.operation not in contract.WRITES or before is None or after is None:
        return None
    if before.run_status is None or after.run_status is None:
        return None
    if Effect.CHANGE not in contract.write_effects(exchange.operation, before.run_status):
        return None  # a no-op (resume of a live run): an open question, judged by the model
    to = contract.TRANSITIONS[exchange.operation].to
    defects = []
    if after.run_status != to:
        defects.append(f"status is {after.run_status}, not {to}")
    versions = before.version, after.version
    if not all(isinstance(v, int) for v in versions) or versions[1] <= versions[0]:
        defects.append(f"version went from {versions[0]} to {versions[1]}")
    moved = _last_change_problem(exchange, before, after)
    if moved is not None:
        defects.append(moved)
    etag = exchange.header("etag")
    if etag is not None and etag == exchange.request_header("if-match"):
        defects.append(f"the 204's ETag {etag} is the If-Match it was sent")
    if etag is not None and after.etag is not None and etag != after.etag:
        defects.append(f"the 204's ETag {etag} is not the run's current ETag {after.etag}")
    if defects:
        return finding(success_changes_the_run, exchange, "the write did not take effect as answered",
                        f"{what_happened(exchange)} but {'; '.join(defects)}")
    return []


def _timestamp(value: Any) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(value.upper()) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _last_change_problem(exchange: Exchange, before: Snapshot, after: Snapshot) -> str | None:
    """Whether last_changed_at failed to move with a change: it went back, or it stayed though
    the server's own clock (the 204's Date, which RFC 9110 has an origin server send) was
    seconds past it. Equal times closer than that may be one clock tick: not judged."""
    was, now = (_timestamp((look.body or {}).get("last_changed_at")) for look in (before, after))
    if was is None or now is None:
        return None  # not a date-time: run_body_documented's finding
    if now < was:
        return f"last_changed_at went back from {was.isoformat()} to {now.isoformat()}"
    try:
        date = email.utils.parsedate_to_datetime(exchange.header("date") or "")
    except (TypeError, ValueError):
        return None
    if now == was and date.tzinfo is not None and date - was >= datetime.timedelta(seconds=2):
        return f"last_changed_at stayed {was.isoformat()} though the server's Date was {exchange.header('date')}"
    return None


@exchange_rule("a method the contract does not declare is not a success and changes nothing "
               "(404, 405 or 501: an open question)", "no undeclared method was probed", only_undeclared=True)
def undeclared_method_refused(exchange: Exchange) -> Result:
    if 200 <= exchange.status < 300:
        return finding(undeclared_method_refused, exchange, "an undeclared method succeeded", severity=Severity.CRITICAL)
    if exchange.status >= 500 and exchange.status != 501:
        return finding(undeclared_method_refused, exchange, "a server error (501 is the answer for an unknown method)")
    return _unchanged(undeclared_method_refused, exchange, "an undeclared method") or []


@exchange_rule("every response is a well-formed HTTP/1.1 message: a valid status line, one Content-Length (none on a 204), a "
               "body as long as it says and none on 204, 304 or HEAD, in a content coding the client asked for (RFC 9112, "
               "RFC 9110 §8.4, §8.6)",
               "no response was received", judges_unreadable=True)
def http_message_well_formed(exchange: Exchange) -> Result:
    framing = exchange.framing
    if framing is None:
        if exchange.status == 204 and exchange.header("content-length") is not None:  # RFC 9110 §8.6: MUST NOT
            return finding(http_message_well_formed, exchange, "a Content-Length on a 204",
                            f"{what_happened(exchange)} with Content-Length: {exchange.header('content-length')}; RFC 9110 "
                            "§8.6: a server must not send one on a 204", Severity.MINOR)  # header form: clients ignore it
        return []
    what = f"{exchange.method} {exchange.operation}" + (f" answered {exchange.status}" if exchange.status else "")
    return finding(http_message_well_formed, exchange, framing.defect,
                    f"{what}: {framing.defect} ({framing.detail}); the bytes as they arrived: {_shown(framing.received)}")


def _shown(data: bytes, limit: int = 300) -> str:
    """Bytes as a reader can see them: printable ASCII as it is, the rest escaped."""
    text = repr(data[:limit])[2:-1]
    return text + (f"... ({len(data)} bytes kept)" if len(data) > limit else "")


@exchange_rule("a response body fits in max_body_bytes (the harness never buffers more)",
               "no response was received", severity=Severity.MINOR)
def response_body_bounded(exchange: Exchange) -> Result:
    if exchange.body_cut_at is None:
        return []
    return finding(response_body_bounded, exchange, "a body longer than max_body_bytes",
                    f"{what_happened(exchange)} with a body longer than {exchange.body_cut_at} bytes (max_body_bytes): "
                    "cut off there and not read further")


# expectation rules: the status a fact of the request calls for


@exchange_rule("the current ETag wins when the run's state allows the write",
               "no write with the current tag on a run whose state allows it", expectation=True,
               skip_rate_limited=True, ordinary_besides="if_match")
def current_tag_wins(exchange: Exchange) -> Result:
    if exchange.facts.if_match is not IfMatch.CURRENT:
        return None
    if state_answers(exchange) != frozenset({204}):
        return None
    return expect(current_tag_wins, exchange, {204}, "If-Match held the current ETag and the state allows the write")


@exchange_rule("a stale or foreign ETag gets 412 and changes nothing",
               "no write with a stale, foreign or never-issued tag", expectation=True,
               severity_if_served=Severity.CRITICAL, only_ours=True, skip_rate_limited=True, ordinary_besides="if_match")
def stale_tag_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.if_match not in STALE_KINDS:
        return None
    allowed = {412} if state_answers(exchange) == frozenset({204}) else OPEN_QUESTIONS["gate_order"].refusals
    return expect(stale_tag_refused, exchange, allowed, f"If-Match held a {facts.if_match.value.replace('_', ' ')} tag")


def _variant_answers(exchange: Exchange) -> tuple[set[int], str] | None:
    """What an If-Match the docs do not settle may get, and why (None: not such a variant)."""
    kind = exchange.facts.if_match
    questions = {
        IfMatch.MISSING: ("missing_if_match", "no If-Match (open question)"),
        IfMatch.MALFORMED: ("malformed_if_match", "a malformed If-Match"),
        IfMatch.STAR: ("if_match_star", "If-Match: * (open question)"),
        IfMatch.LIST_WITH_CURRENT: ("if_match_list", "an If-Match list holding the current tag (open question)"),
        IfMatch.LIST_WITHOUT_CURRENT: ("if_match_list", "an If-Match list of tags that are not current"),
        IfMatch.STRONG_SPELLING_OF_CURRENT: ("if_match_comparison", "the strong spelling of the current weak tag (open question)"),
    }
    if kind not in questions:
        return None
    name, why = questions[kind]
    served = state_answers(exchange)
    question = OPEN_QUESTIONS[name]
    allowed = set(question.refusals)
    if question.may_serve and kind is not IfMatch.LIST_WITHOUT_CURRENT:
        if served is None:
            return None  # the harness cannot tell what serving it would mean
        allowed |= served
    if served != frozenset({204}):  # the state forbids (or may forbid) the write: 422, whichever gate is first
        allowed.add(422)
    return allowed, why


@exchange_rule("an If-Match the docs leave open gets one of its possible answers, and a stale one never wins",
               "no write with a missing, malformed, *, list or strong-spelled If-Match", expectation=True,
               severity_if_served=Severity.CRITICAL, only_ours=True, skip_rate_limited=True, ordinary_besides="if_match")
def if_match_variant_answered(exchange: Exchange) -> Result:
    answers = _variant_answers(exchange)
    if answers is None:
        return None
    return expect(if_match_variant_answered, exchange, *answers)


@exchange_rule("resume of a run whose goal or end date is reached, or that is completed, gets 422",
               "no resume of a goal_reached, end_date_passed, completed or live run "
               "(list such runs in the target file)", expectation=True, severity_if_served=Severity.CRITICAL,
               skip_rate_limited=True, ordinary_besides="if_match")
def business_rules_refuse(exchange: Exchange) -> Result:
    facts = exchange.facts
    if exchange.operation != "resume" or facts.if_match is not IfMatch.CURRENT:
        return None
    answers = state_answers(exchange)
    if answers is None or 422 not in answers:
        return None
    before = exchange.before
    assert before is not None
    role = contract.ROLES.get(facts.role or "")
    why = (role.blocked_by if before.run_status == "paused" and role and role.blocked_by
           else f"the run is {before.run_status}")
    if answers == {204, 422}:
        why += " (422 or a 204 no-op is an open question)"
    return expect(business_rules_refuse, exchange, answers, why)


@exchange_rule("a GET of a run, with the account's token, on the run's own path, is answered 200",
               "no plain GET of a run was sent", expectation=True, skip_rate_limited=True, ordinary_besides="if_match")
def get_serves_the_run(exchange: Exchange) -> Result:
    if exchange.operation != "get" or exchange.facts.role is None:
        return None
    if any(name.lower() not in _PLAIN_HEADERS for name in exchange.request_headers):
        return None  # a generated header (schemathesis') may rightly be refused: not a plain GET
    if exchange.status >= 500 or exchange.status not in exchange.documented_statuses:
        return None  # documented_status's finding: judged here is a documented refusal of a plain GET
    return expect(get_serves_the_run, exchange, {200}, "the run exists and the token's account owns it")


_PLAIN_HEADERS = frozenset({"authorization", "cint-api-version", "traceparent", "tracestate"})


_AUTH_ANSWERS = {
    Auth.NONE: ({401}, "no token was sent"),
    Auth.MALFORMED: ({401}, "the token was malformed"),
    Auth.EXPIRED: ({403}, "the token had expired (documented: 403, not 401)"),
    Auth.FOREIGN: (set(OPEN_QUESTIONS["foreign_account"].refusals), "the token belongs to another account"),
}


@exchange_rule("no token or a malformed one gets 401; an expired one 403; another account's 403 (or 404)",
               "no request without the main token (another account's needs foreign_token_env)", expectation=True,
               severity_if_served=Severity.CRITICAL, only_ours=True, skip_rate_limited=True, ordinary_besides="auth")
def auth_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.auth is Auth.MAIN:
        return None
    allowed, why = _AUTH_ANSWERS[facts.auth]
    return expect(auth_refused, exchange, allowed, why)


_PATH_ANSWERS = {
    PathKind.UNKNOWN_RUN: {contract.UNKNOWN_RUN_STATUS},
    PathKind.ODD_RUN_ID: set(OPEN_QUESTIONS["malformed_id"].refusals),
    PathKind.MALFORMED_ACCOUNT_ID: set(OPEN_QUESTIONS["malformed_id"].refusals),
    PathKind.MALFORMED_PROJECT_ID: set(OPEN_QUESTIONS["malformed_id"].refusals),
    PathKind.MALFORMED_TARGET_GROUP_ID: set(OPEN_QUESTIONS["malformed_id"].refusals),
    PathKind.UNKNOWN_ACCOUNT_ID: set(contract.UNKNOWN_ACCOUNT_REFUSALS),
    PathKind.OTHER_SCOPE: set(OPEN_QUESTIONS["other_scope"].refusals),  # never served, never written
}


@exchange_rule("an unknown run gets 404; malformed or odd path ids 400 or 404; another account id 400, 403 or 404; the run's "
               "own id under another project or target group is refused (400, 403 or 404), never served",
               "no request to an unknown or malformed path", expectation=True, severity_if_served=Severity.CRITICAL,
               only_ours=True, skip_rate_limited=True, ordinary_besides="path")
def unknown_path_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if not facts.path:
        return None
    allowed = set().union(*(_PATH_ANSWERS[kind] for kind in facts.path))
    what = " and ".join(sorted(kind.value.replace("_", " ") for kind in facts.path))
    return expect(unknown_path_refused, exchange, allowed, f"the path held {what}")


@exchange_rule("a request without Cint-API-Version gets 403 required_header_missing",
               "no request without Cint-API-Version", expectation=True, only_ours=True, skip_rate_limited=True,
               ordinary_besides="api_version")
def api_version_required(exchange: Exchange) -> Result:
    if exchange.facts.api_version is not ApiVersion.MISSING:
        return None
    findings = expect(api_version_required, exchange, {403}, "documented: a missing Cint-API-Version is 403")
    body = exchange.json()
    if not findings and (not isinstance(body, dict) or body.get("object") != "required_header_missing"):
        findings = finding(api_version_required, exchange, "its object is not 'required_header_missing'")
    return findings


@exchange_rule("a Cint-API-Version that is no known version gets 400 or 403, or is served as the current one",
               "no request with an unknown Cint-API-Version", expectation=True, only_ours=True, skip_rate_limited=True,
               ordinary_besides="api_version")
def unknown_api_version_answered(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.api_version not in (ApiVersion.UNKNOWN, ApiVersion.MALFORMED):
        return None
    served = _served_answers(exchange) if facts.if_match in (IfMatch.CURRENT, IfMatch.NOT_A_WRITE) else None
    if served is None:
        return None
    question = OPEN_QUESTIONS["unknown_api_version"]
    return expect(unknown_api_version_answered, exchange, question.refusals | served,
                   "a Cint-API-Version that is no known version (open question)",
                   f" (it was {exchange.request_header('cint-api-version')!r})")
