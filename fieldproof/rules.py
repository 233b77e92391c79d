"""The contract rules: each one function (or check object), named after the rule, returning
what it found. Suites, schemathesis checks, the CLI and reports call these; no rule is written
anywhere else. Two kinds:

- exchange rules (EXCHANGE_RULES) judge one exchange; the recorder runs every one of them on
  every exchange the client records. Those marked `expectation` check the status a fact of the
  request calls for (a stale tag, no token, …), read from `exchange.facts`.
- sequence checks (SEQUENCE_RULES) judge several exchanges together and own their bookkeeping:
  `observe(item)` as the suite feeds them, `finish()` at the end (concurrency rounds, the
  lifecycle model, a concurrent history).

Every judgement is None (the rule does not apply), [] (it held) or findings (it did not). A
finding never stops the judging. Where the docs leave a question open, a rule accepts every
answer `contract.OPEN_QUESTIONS` allows, and still requires a documented status and an
unchanged run.
"""

from __future__ import annotations

import datetime
import email.utils
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fieldproof import contract
from fieldproof.contract import OPEN_QUESTIONS, Effect
from fieldproof.exchange import OPERATIONS, Exchange, Snapshot
from fieldproof.facts import STALE_KINDS, ApiVersion, Auth, IfMatch, PathKind
from fieldproof.headers import (
    HeaderSyntaxError,
    parse_etag,
    parse_incoming_traceparent,
    parse_traceparent,
    tracestate_errors,
)
from fieldproof.model import Observation, RunState, step

if TYPE_CHECKING:
    from fieldproof.linearizability import Analysis


class Severity(StrEnum):
    """How serious a rule's finding is; every output lists findings most severe first."""

    CRITICAL = "critical"  # a write applied that must not be, a lost update, two winners, a state rule or auth broken
    MAJOR = "major"  # a wrong status or body, a refusal that changed something, a broken message
    MINOR = "minor"  # the form of a header (trace context, Retry-After), a harness limit

    @property
    def rank(self) -> int:
        """0 for the most severe: sort by it."""
        return list(Severity).index(self)

    @property
    def level(self) -> str:
        """SARIF's level and a CI annotation's kind: critical and major are errors."""
        return "warning" if self is Severity.MINOR else "error"


@dataclass(frozen=True)
class Signature:
    """A finding group's identity beside its rule: the operation and status of the exchange it
    was found on and what was wrong, all facts of the defect, never generated values (ids, tags,
    header values, bodies), so that the same defect found with another seed is the same group."""

    operation: str | None
    status: int | None
    problem: str

    @property
    def text(self) -> str:
        """As every report prints it and a baseline entry names it: `get 404: no traceparent header`."""
        return self.problem if self.operation is None else f"{self.operation} {self.status}: {self.problem}"


def signature_of(exchange: Exchange | None, problem: str) -> Signature:
    """The one place a signature is made."""
    if exchange is None:
        return Signature(None, None, problem)
    return Signature(exchange.operation, exchange.status, problem)


@dataclass(frozen=True)
class Finding:
    rule: str
    problem: str  # what was wrong, without the particulars of the request: how findings group
    message: str  # the whole story of this one
    exchange: Exchange | None = None
    severity: Severity = Severity.MAJOR

    @property
    def identity(self) -> Signature:
        return signature_of(self.exchange, self.problem)

    @property
    def signature(self) -> str:
        """The group this finding belongs to: operation, status and what was wrong."""
        return self.identity.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "signature": self.signature,
            "message": self.message,
            "exchange": self.exchange.to_dict() if self.exchange else None,
        }


Result = list[Finding] | None


@dataclass(frozen=True)
class ExternalFailure:
    """Another checker's (schemathesis') failure on an exchange: the check that raised it, what
    it says, and the rules that judge the same fact (it is their finding when they found it too)."""

    check: str  # a name that says what it checks: response_schema_conformance
    title: str
    detail: str
    restated_by: tuple[tuple[str, str], ...] = ()  # (rule, how its finding's problem begins) that say the same


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    unexercised: str  # why it may have judged nothing, and how to exercise it
    check: Callable[..., Any]  # exchange rules: the function; sequence rules: the check class
    expectation: bool = False
    severity: Severity = Severity.MAJOR
    # an expectation rule's finding when the target served or applied what it must refuse (a stale
    # tag won, another account's run was served): more severe than a refusal with the wrong status
    severity_if_served: Severity | None = None
    # also judges an answer that could not be read as HTTP (no other rule can: its status,
    # headers and body are not what the target meant)
    judges_unreadable: bool = False


EXCHANGE_RULES: dict[str, Rule] = {}
SEQUENCE_RULES: dict[str, Rule] = {}


def exchange_rule(summary: str, unexercised: str, expectation: bool = False, severity: Severity = Severity.MAJOR,
                  severity_if_served: Severity | None = None,
                  judges_unreadable: bool = False) -> Callable[[Callable[[Exchange], Result]], Callable[[Exchange], Result]]:  # fmt: skip
    def decorator(check: Callable[[Exchange], Result]) -> Callable[[Exchange], Result]:
        EXCHANGE_RULES[check.__name__] = Rule(check.__name__, summary, unexercised, check, expectation, severity,
                                              severity_if_served, judges_unreadable)  # fmt: skip
        return check

    return decorator


def sequence_rule(summary: str, unexercised: str, severity: Severity = Severity.CRITICAL) -> Callable[[type[Any]], type[Any]]:
    """Register a check class under its `rule` name."""

    def decorator(cls: type[Any]) -> type[Any]:
        SEQUENCE_RULES[cls.rule] = Rule(cls.rule, summary, unexercised, cls, severity=severity)
        return cls

    return decorator


def _finding(rule: Callable[..., Any] | str, exchange: Exchange | None, problem: str, message: str | None = None,
             severity: Severity | None = None) -> list[Finding]:  # fmt: skip
    """`problem` is the finding's identity: fixed words, never a value the request or answer
    carried (those go in `message`). `severity`: the rule's own unless given."""
    name = rule if isinstance(rule, str) else rule.__name__
    if message is None:
        message = f"{what_happened(exchange)}: {problem}" if exchange is not None else problem
    return [Finding(name, problem, message, exchange, severity or severity_of(name))]


def what_happened(exchange: Exchange) -> str:
    """`METHOD operation answered STATUS`, the opening of every finding's message."""
    return f"{exchange.method} {exchange.operation} answered {exchange.status}"


def _statuses(allowed: Iterable[int]) -> str:
    return " or ".join(str(s) for s in sorted(set(allowed)))


def _expect(rule: Callable[..., Any], exchange: Exchange, allowed: Iterable[int], why: str, detail: str = "") -> list[Finding]:
    """`why` is part of the finding's identity (fixed words); `detail` only of its message."""
    allowed = set(allowed)
    if exchange.status in allowed:
        return []
    problem = f"expected {_statuses(allowed)}: {why}"
    registered = EXCHANGE_RULES[rule.__name__]
    served = 200 <= exchange.status < 300 and registered.severity_if_served is not None
    return _finding(rule, exchange, problem, f"{what_happened(exchange)}; {problem}{detail}",
                    registered.severity_if_served if served else None)  # fmt: skip


def _rate_limited(exchange: Exchange) -> bool:
    """A 429 is never a failure by itself: expectation rules leave it to retry_after_on_429
    (the client waits it out and sends again; what the retry gets is judged on its own)."""
    return exchange.status == 429


def _ours(exchange: Exchange) -> bool:
    """One of the contract's four operations (not a probe with an undeclared method)."""
    return exchange.operation in OPERATIONS


REFUSALS = frozenset({400, 401, 403, 404, 412, 422, 428, 429})


def state_answers(exchange: Exchange) -> frozenset[int] | None:
    """What a write with the current tag may get from the run's state before it: 204 where
    it may change (or be a no-op), 422 where it may be refused; None when the harness cannot
    tell (no look at the run, or a role the target file does not say)."""
    before = exchange.before
    if exchange.operation not in contract.WRITES or before is None or before.status is None:
        return None
    effects = contract.write_effects(exchange.operation, before.status)
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


@exchange_rule("every response has a status the contract documents for its operation; a 500 is always a finding",
               "no request reached one of the four operations")  # fmt: skip
def documented_status(exchange: Exchange) -> Result:
    if not _ours(exchange):
        return None
    if exchange.status >= 500:
        return _finding(documented_status, exchange, "a server error is never a pass")
    documented = exchange.documented_statuses
    if exchange.facts.if_match is IfMatch.MISSING:  # an open question may answer beyond the list
        documented = documented | OPEN_QUESTIONS["missing_if_match"].refusals
    if exchange.status not in documented:
        return _finding(documented_status, exchange, f"a status the contract does not document ({_statuses(documented)})")
    return []


@exchange_rule("every response carries a valid W3C traceparent (the users' contract, beyond the vendor's)",
               "no request reached one of the four operations", severity=Severity.MINOR)  # fmt: skip
def traceparent_on_every_response(exchange: Exchange) -> Result:
    if not _ours(exchange):
        return None
    value = exchange.header("traceparent")
    if value is None:
        return _finding(traceparent_on_every_response, exchange, "no traceparent header")
    try:
        parse_traceparent(value)
    except HeaderSyntaxError as exc:
        return _finding(traceparent_on_every_response, exchange, "an invalid traceparent",
                        f"{what_happened(exchange)} with an invalid traceparent: {exc}")
    return []


@exchange_rule("a response to a request with a valid traceparent continues its trace-id with a new parent-id; "
               "one with an invalid traceparent starts a new trace", "no response carried a traceparent to compare",
               severity=Severity.MINOR)  # fmt: skip
def trace_continues_callers_trace(exchange: Exchange) -> Result:
    sent, got = exchange.request_header("traceparent"), exchange.header("traceparent")
    if not _ours(exchange) or sent is None or got is None:
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
            return _finding(trace_continues_callers_trace, exchange, "an invalid traceparent's trace continued",
                            f"{what_happened(exchange)} continuing the trace-id of the invalid traceparent {sent!r} "
                            "(W3C: an invalid traceparent is ignored and a new trace started)")  # fmt: skip
        return []
    if theirs.trace_id != ours.trace_id:
        return _finding(trace_continues_callers_trace, exchange, "a new trace-id, not the caller's",
                        f"{what_happened(exchange)} with trace-id {theirs.trace_id}, not the caller's {ours.trace_id}")  # fmt: skip
    if theirs.parent_id == ours.parent_id:
        return _finding(trace_continues_callers_trace, exchange, "the caller's parent-id echoed instead of its own span")
    return []


_TRACE_ID_FIELD = re.compile(r"^\s*[0-9a-fA-F]{2}-([0-9a-fA-F]{32})-")  # where an invalid traceparent holds a trace-id


@exchange_rule("a tracestate header, when present, is a well-formed W3C list",
               "no response carried a tracestate header (it is optional)", severity=Severity.MINOR)  # fmt: skip
def tracestate_well_formed(exchange: Exchange) -> Result:
    value = exchange.header("tracestate")
    if not _ours(exchange) or value is None:
        return None
    return [Finding("tracestate_well_formed", "a malformed tracestate", f"{what_happened(exchange)}: {problem}", exchange)
            for problem in tracestate_errors(value)]  # fmt: skip


@exchange_rule("200 and 204 carry an ETag that is a quoted entity tag", "no request succeeded")
def etag_on_success(exchange: Exchange) -> Result:
    if not _ours(exchange) or exchange.status not in (200, 204):
        return None
    value = exchange.header("etag")
    if value is None:
        return _finding(etag_on_success, exchange, "no ETag")
    try:
        parse_etag(value)
    except HeaderSyntaxError:
        return _finding(etag_on_success, exchange, "an ETag that is not a quoted entity tag",
                        f"{what_happened(exchange)} with ETag {value!r}, not a quoted entity tag")  # fmt: skip
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
               "no GET was answered 200")  # fmt: skip
def run_body_documented(exchange: Exchange) -> Result:
    if exchange.operation != "get" or exchange.status != 200 or exchange.body_cut_at is not None:
        return None  # a body cut off at max_body_bytes is not whole: response_body_bounded says so
    media_type = (exchange.header("content-type") or "").split(";", 1)[0].strip().lower()
    body = exchange.json()
    if media_type != "application/json" or not isinstance(body, dict):
        shown = f"{len(exchange.body)}-byte body, {media_type or 'no content-type'}" if exchange.body else "an empty body"
        return _finding(run_body_documented, exchange, "no run in the body: not a JSON object",
                        f"{what_happened(exchange)} without the run as a JSON object ({shown})")  # fmt: skip
    missing = [name for name in contract.RUN_BODY if name not in body]
    wrong = [name for name, kind in contract.RUN_BODY.items() if name in body and _kind_errors(body[name], kind)]
    findings: list[Finding] = []
    if missing:
        findings += _finding(run_body_documented, exchange, f"the run lacks {', '.join(missing)}")
    if wrong:  # grouped by the fields, not by their values
        shown = "; ".join(f"{name} {body[name]!r} is no {contract.RUN_BODY[name]}" for name in wrong)
        findings += _finding(run_body_documented, exchange, f"the run's {', '.join(wrong)} not of the documented kind",
                             f"{what_happened(exchange)} with {shown}")  # fmt: skip
    # a path that is not the run's own (unknown, malformed, another scope) served at all is
    # unknown_path_refused's finding: judged here is what a run's own path shows
    named = (contract.path_ids(urllib.parse.urlsplit(exchange.url).path) or {}) if not exchange.facts.path else {}
    asked = {"id" if name == "fielding_run_id" else name: urllib.parse.unquote(value) for name, value in named.items()}
    other = [name for name, value in asked.items() if name in body and not _same_id(str(body[name]), value)]
    if other:  # the whole path names the run: another run's, or the same under another scope, is not it
        shown = "; ".join(f"{name} {body[name]!r}, the path's {asked[name]!r}" for name in other)
        findings += _finding(run_body_documented, exchange, f"the run shown is not the one the path names ({', '.join(other)})",
                             f"{what_happened(exchange)} with {shown}")  # fmt: skip
    return findings


@exchange_rule("a 204 has no body", "no write succeeded")
def no_body_on_204(exchange: Exchange) -> Result:
    if not _ours(exchange) or exchange.status != 204:
        return None
    if exchange.body:
        return _finding(no_body_on_204, exchange, "a body on a 204", f"{what_happened(exchange)} with a {len(exchange.body)}-byte body")
    return []


@exchange_rule("a 429 carries Retry-After in whole seconds (documented; the users' contract requires it)",
               "no 429 was met; set rate_limit_probe = true in the target file "
               "(on the sandbox: FIELDPROOF_SANDBOX_RATE_LIMIT_BURST)", severity=Severity.MINOR)  # fmt: skip
def retry_after_on_429(exchange: Exchange) -> Result:
    if not _ours(exchange) or exchange.status != 429:
        return None
    value = exchange.header("retry-after")
    if value is None:
        return _finding(retry_after_on_429, exchange, "no Retry-After: a client cannot know when to retry")
    if not value.strip(" \t").isdigit() or not value.strip(" \t").isascii():
        return _finding(retry_after_on_429, exchange, "a Retry-After that is not a count of seconds",
                        f"429 with Retry-After {value!r}: the docs say a count of seconds")  # fmt: skip
    return []


@exchange_rule("error bodies are the documented JSON objects (429: object + details)", "no request was refused")
def error_body_documented(exchange: Exchange) -> Result:
    if exchange.status < 400 or not _ours(exchange):
        return None
    content_type = exchange.header("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()  # media types ignore case
    body = exchange.json()
    if media_type != "application/json" or not isinstance(body, dict):
        return _finding(error_body_documented, exchange, "no JSON object body",
                        f"{what_happened(exchange)} without a JSON object body ({content_type or 'no content-type'})")  # fmt: skip
    if exchange.status == 429:
        required = {"object": "too_many_requests_problem_details", "details": None}
    else:
        required = {"object": None, "detail": None}
    problems = [f"{key!r} must be {repr(value) if value else 'a string'}"
                for key, value in required.items()
                if not isinstance(body.get(key), str) or (value is not None and body[key] != value)]  # fmt: skip
    problems += _error_object_problems(exchange, body.get("object"))
    if exchange.status != 429 and "id" in body and _kind_errors(body["id"], "uuid"):
        problems.append("'id' must be a UUID")
    params = body.get("invalid_params")  # optional, and nullable in the vendor's spec
    if exchange.status != 429 and params is not None and not (
        isinstance(params, list)
        and all(isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("reason"), str) for p in params)
    ):
        problems.append("'invalid_params' must be null or a list of {name, reason}")
    if problems:
        problem = "an error body whose " + "; ".join(problems)
        return _finding(error_body_documented, exchange, problem, f"{what_happened(exchange)} with {problem}")
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
        return _finding(rule, exchange, f"{what}, and afterwards the run is gone (GET answers 404)")
    if after.state is None:
        return None
    if before.state != after.state:
        return _finding(rule, exchange, f"{what}, but the run changed",
                        f"{what_happened(exchange)} but the run changed: {_diff(before, after)}")
    return []


@exchange_rule("a refused request (400, 401, 403, 404, 412, 422, 428, 429) leaves the run as it was",
               "no refused request was looked at before and after")  # fmt: skip
def refusal_changes_nothing(exchange: Exchange) -> Result:
    if exchange.status not in REFUSALS or not _ours(exchange):
        return None
    return _unchanged(refusal_changes_nothing, exchange, "a refusal")


@exchange_rule("a 204 write took effect: new status, higher version, a later last_changed_at, and its ETag is the current one",
               "no write succeeded while the harness looked at the run", severity=Severity.CRITICAL)  # fmt: skip
def success_changes_the_run(exchange: Exchange) -> Result:
    before, after = exchange.before, exchange.after
    if exchange.status != 204 or exchange.operation not in contract.WRITES or before is None or after is None:
        return None
    if before.status is None or after.status is None:
        return None
    if Effect.CHANGE not in contract.write_effects(exchange.operation, before.status):
        return None  # a no-op (resume of a live run): an open question, judged by the model
    target = contract.TRANSITIONS[exchange.operation].target
    problems = []
    if after.status != target:
        problems.append(f"status is {after.status}, not {target}")
    versions = before.version, after.version
    if not all(isinstance(v, int) for v in versions) or versions[1] <= versions[0]:
        problems.append(f"version went from {versions[0]} to {versions[1]}")
    moved = _last_change_problem(exchange, before, after)
    if moved is not None:
        problems.append(moved)
    etag = exchange.header("etag")
    if etag is not None and etag == exchange.request_header("if-match"):
        problems.append(f"the 204's ETag {etag} is the If-Match it was sent")
    if etag is not None and after.etag is not None and etag != after.etag:
        problems.append(f"the 204's ETag {etag} is not the run's current ETag {after.etag}")
    if problems:
        return _finding(success_changes_the_run, exchange, "the write did not take effect as answered",
                        f"{what_happened(exchange)} but {'; '.join(problems)}")  # fmt: skip
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
               "(404, 405 or 501: an open question)", "no undeclared method was probed")  # fmt: skip
def undeclared_method_refused(exchange: Exchange) -> Result:
    if _ours(exchange):
        return None
    if 200 <= exchange.status < 300:
        return _finding(undeclared_method_refused, exchange, "an undeclared method succeeded", severity=Severity.CRITICAL)
    if exchange.status >= 500 and exchange.status != 501:
        return _finding(undeclared_method_refused, exchange, "a server error (501 is the answer for an unknown method)")
    return _unchanged(undeclared_method_refused, exchange, "an undeclared method") or []


@exchange_rule("every response is a well-formed HTTP/1.1 message: a valid status line, one Content-Length (none on a 204), a "
               "body as long as it says and none on 204, 304 or HEAD, in a content coding the client asked for (RFC 9112, "
               "RFC 9110 §8.4, §8.6)",
               "no response was received", judges_unreadable=True)  # fmt: skip
def http_message_well_formed(exchange: Exchange) -> Result:
    framing = exchange.framing
    if framing is None:
        if exchange.status == 204 and exchange.header("content-length") is not None:  # RFC 9110 §8.6: MUST NOT
            return _finding(http_message_well_formed, exchange, "a Content-Length on a 204",
                            f"{what_happened(exchange)} with Content-Length: {exchange.header('content-length')}; RFC 9110 "
                            "§8.6: a server must not send one on a 204", Severity.MINOR)  # header form: clients ignore it  # fmt: skip
        return []
    what = f"{exchange.method} {exchange.operation}" + (f" answered {exchange.status}" if exchange.status else "")
    return _finding(http_message_well_formed, exchange, framing.problem,
                    f"{what}: {framing.problem} ({framing.detail}); the bytes as they arrived: {_shown(framing.received)}")  # fmt: skip


def _shown(data: bytes, limit: int = 300) -> str:
    """Bytes as a reader can see them: printable ASCII as it is, the rest escaped."""
    text = repr(data[:limit])[2:-1]
    return text + (f"... ({len(data)} bytes kept)" if len(data) > limit else "")


@exchange_rule("a response body fits in max_body_bytes (the harness never buffers more)",
               "no response was received", severity=Severity.MINOR)  # fmt: skip
def response_body_bounded(exchange: Exchange) -> Result:
    if exchange.body_cut_at is None:
        return []
    return _finding(response_body_bounded, exchange, "a body longer than max_body_bytes",
                    f"{what_happened(exchange)} with a body longer than {exchange.body_cut_at} bytes (max_body_bytes): "
                    "cut off there and not read further")  # fmt: skip


# expectation rules: the status a fact of the request calls for


@exchange_rule("the current ETag wins when the run's state allows the write",
               "no write with the current tag on a run whose state allows it", expectation=True)  # fmt: skip
def current_tag_wins(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.if_match is not IfMatch.CURRENT or not facts.ordinary(besides="if_match") or _rate_limited(exchange):
        return None
    if state_answers(exchange) != frozenset({204}):
        return None
    return _expect(current_tag_wins, exchange, {204}, "If-Match held the current ETag and the state allows the write")


@exchange_rule("a stale or foreign ETag gets 412 and changes nothing",
               "no write with a stale, foreign or never-issued tag", expectation=True,
               severity_if_served=Severity.CRITICAL)  # fmt: skip
def stale_tag_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.if_match not in STALE_KINDS or not facts.ordinary(besides="if_match") or _rate_limited(exchange):
        return None
    allowed = {412} if state_answers(exchange) == frozenset({204}) else OPEN_QUESTIONS["gate_order"].refusals
    return _expect(stale_tag_refused, exchange, allowed, f"If-Match held a {facts.if_match.value.replace('_', ' ')} tag")


def _variant_answers(exchange: Exchange) -> tuple[set[int], str] | None:
    """What an If-Match the docs do not settle may get, and why (None: not such a variant)."""
    kind = exchange.facts.if_match
    served = state_answers(exchange)
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
               severity_if_served=Severity.CRITICAL)  # fmt: skip
def if_match_variant_answered(exchange: Exchange) -> Result:
    if not exchange.facts.ordinary(besides="if_match") or _rate_limited(exchange):
        return None
    answers = _variant_answers(exchange)
    if answers is None:
        return None
    return _expect(if_match_variant_answered, exchange, *answers)


@exchange_rule("resume of a run whose goal or end date is reached, or that is completed, gets 422",
               "no resume of a goal_reached, end_date_passed, completed or live run "
               "(list such runs in the target file)", expectation=True, severity_if_served=Severity.CRITICAL)  # fmt: skip
def business_rules_refuse(exchange: Exchange) -> Result:
    facts = exchange.facts
    if exchange.operation != "resume" or facts.if_match is not IfMatch.CURRENT:
        return None
    if not facts.ordinary(besides="if_match") or _rate_limited(exchange):
        return None
    answers = state_answers(exchange)
    if answers is None or 422 not in answers:
        return None
    before = exchange.before
    assert before is not None
    role = contract.ROLES.get(facts.role or "")
    why = (role.blocked_by if before.status == "paused" and role and role.blocked_by
           else f"the run is {before.status}")  # fmt: skip
    if answers == {204, 422}:
        why += " (422 or a 204 no-op is an open question)"
    return _expect(business_rules_refuse, exchange, answers, why)


@exchange_rule("a GET of a run, with the account's token, on the run's own path, is answered 200",
               "no plain GET of a run was sent", expectation=True)  # fmt: skip
def get_serves_the_run(exchange: Exchange) -> Result:
    facts = exchange.facts
    if exchange.operation != "get" or facts.role is None or not facts.ordinary(besides="if_match") or _rate_limited(exchange):
        return None
    if any(name.lower() not in _PLAIN_HEADERS for name in exchange.request_headers):
        return None  # a generated header (schemathesis') may rightly be refused: not a plain GET
    if exchange.status >= 500 or exchange.status not in exchange.documented_statuses:
        return None  # documented_status's finding: judged here is a documented refusal of a plain GET
    return _expect(get_serves_the_run, exchange, {200}, "the run exists and the token's account owns it")


_PLAIN_HEADERS = frozenset({"authorization", "cint-api-version", "traceparent", "tracestate"})


_AUTH_ANSWERS = {
    Auth.NONE: ({401}, "no token was sent"),
    Auth.MALFORMED: ({401}, "the token was malformed"),
    Auth.EXPIRED: ({403}, "the token had expired (documented: 403, not 401)"),
    Auth.FOREIGN: (set(OPEN_QUESTIONS["foreign_account"].refusals), "the token belongs to another account"),
}


@exchange_rule("no token or a malformed one gets 401; an expired one 403; another account's 403 (or 404)",
               "no request without the main token (another account's needs foreign_token_env)", expectation=True,
               severity_if_served=Severity.CRITICAL)  # fmt: skip
def auth_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.auth is Auth.MAIN or not facts.ordinary(besides="auth") or _rate_limited(exchange) or not _ours(exchange):
        return None
    allowed, why = _AUTH_ANSWERS[facts.auth]
    return _expect(auth_refused, exchange, allowed, why)


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
               "no request to an unknown or malformed path", expectation=True, severity_if_served=Severity.CRITICAL)  # fmt: skip
def unknown_path_refused(exchange: Exchange) -> Result:
    facts = exchange.facts
    if not facts.path or not facts.ordinary(besides="path") or _rate_limited(exchange) or not _ours(exchange):
        return None
    allowed = set().union(*(_PATH_ANSWERS[kind] for kind in facts.path))
    what = " and ".join(sorted(kind.value.replace("_", " ") for kind in facts.path))
    return _expect(unknown_path_refused, exchange, allowed, f"the path held {what}")


@exchange_rule("a request without Cint-API-Version gets 403 required_header_missing",
               "no request without Cint-API-Version", expectation=True)  # fmt: skip
def api_version_required(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.api_version is not ApiVersion.MISSING or not facts.ordinary(besides="api_version"):
        return None
    if _rate_limited(exchange) or not _ours(exchange):
        return None
    findings = _expect(api_version_required, exchange, {403}, "documented: a missing Cint-API-Version is 403")
    body = exchange.json()
    if not findings and (not isinstance(body, dict) or body.get("object") != "required_header_missing"):
        findings = _finding(api_version_required, exchange, "its object is not 'required_header_missing'")
    return findings


@exchange_rule("a Cint-API-Version that is no known version gets 400 or 403, or is served as the current one",
               "no request with an unknown Cint-API-Version", expectation=True)  # fmt: skip
def unknown_api_version_answered(exchange: Exchange) -> Result:
    facts = exchange.facts
    if facts.api_version not in (ApiVersion.UNKNOWN, ApiVersion.MALFORMED) or not facts.ordinary(besides="api_version"):
        return None
    if _rate_limited(exchange) or not _ours(exchange):
        return None
    served = _served_answers(exchange) if facts.if_match in (IfMatch.CURRENT, IfMatch.NOT_A_WRITE) else None
    if served is None:
        return None
    question = OPEN_QUESTIONS["unknown_api_version"]
    return _expect(unknown_api_version_answered, exchange, question.refusals | served,
                   "a Cint-API-Version that is no known version (open question)",
                   f" (it was {exchange.request_header('cint-api-version')!r})")  # fmt: skip


def judge_exchange(exchange: Exchange) -> dict[str, Result]:
    """Every exchange rule's verdict on one exchange (on an answer that could not be read as
    HTTP, only the rules that judge such answers)."""
    return {name: rule.check(exchange) if exchange.readable or rule.judges_unreadable else None
            for name, rule in EXCHANGE_RULES.items()}  # fmt: skip


# sequence checks: each owns its bookkeeping; suites only feed it


class SequenceCheck(Protocol):
    rule: ClassVar[str]

    def observe(self, item: Any) -> Result: ...

    def finish(self) -> Result: ...


def evidence_of(check: Any) -> dict[str, Any] | None:
    """What a finished check can show of itself for the report's pictures (None: nothing)."""
    show = getattr(check, "evidence", None)
    return show() if callable(show) else None


RACE_ANSWERS = frozenset({204}) | OPEN_QUESTIONS["gate_order"].refusals  # what a raced write may be answered


@sequence_rule("N concurrent writes with one ETag: exactly one 204, the others 412 (422 once the winner "
               "changed the state: the gate order is open), and one step of the run; writes of different "
               "kinds: some order of them, then the GET after them, is one the run's model allows",
               "the concurrency suite did not run")  # fmt: skip
@dataclass
class OneWinner:
    """One round: the run before, the racers' writes, then a GET of the run after them.

    A round of one kind (N resumes) started where that write changes the run: one 204, the
    others refused. A round of several kinds (a pause beside a resume, a complete beside a
    pause) may also hold 204 no-ops and 422s by the open questions, so it is judged by the
    run's model instead: the writes are concurrent, so any order of them will do, followed by
    the GET; at most one of them changes the run, whichever racer came first.
    """

    before: Snapshot
    rule: ClassVar[str] = "one_winner_among_concurrent_writes"
    writes: list[Exchange] = field(default_factory=list)
    after: Snapshot | None = None
    resumable: bool = True  # the run's completes goal and end date allow a resume

    def observe(self, item: Exchange) -> Result:
        if item.operation == "get":
            self.after = Snapshot(item.status, item.header("etag"), item.json() if item.status == 200 else None)
        else:
            self.writes.append(item)
        return None

    @property
    def mixed(self) -> bool:
        """Writes of more than one kind were raced."""
        return len({w.operation for w in self.writes}) > 1

    def finish(self) -> Result:
        settled = [e for e in self.writes if not _rate_limited(e)]
        if len(settled) < 2:
            return None
        findings = self._judge_by_the_model(settled) if self.mixed else self._judge_one_kind(settled)
        if findings is None:
            return None
        self._found = bool(findings)
        return findings

    def _judge_one_kind(self, settled: list[Exchange]) -> list[Finding]:
        statuses = sorted(e.status for e in settled)
        winners = [e for e in settled if e.status == 204]
        losers_may = OPEN_QUESTIONS["gate_order"].refusals
        findings: list[Finding] = []
        if len(winners) != 1 or any(e.status not in losers_may for e in settled if e.status != 204):
            problem = "more than one winner" if len(winners) > 1 else ("no winner" if not winners else "a loser not refused with 412")
            by = [w.sender for w in winners if w.sender]
            won_by = f"; the 204s went to {', '.join(by)}" if len(by) > 1 else ""
            # the write blamed (and so the group) must not depend on which racer answered first
            odd = sorted((e for e in settled if e.status != 204 and e.status not in losers_may), key=lambda e: e.status)
            blamed = winners[1] if len(winners) > 1 else (odd or sorted(settled, key=lambda e: e.status))[0]
            findings += _finding(self.rule, blamed, problem,
                                 f"{len(settled)} concurrent writes with If-Match {settled[0].request_header('if-match')} "
                                 f"were answered {statuses}; expected one 204 and {len(settled) - 1} x 412 (or 422)"
                                 f"{won_by}")  # fmt: skip
        if len(winners) == 1:
            findings += self._stepped(winners[0], winners[0].header("etag"))
        return findings

    def _stepped(self, winner: Exchange, winner_etag: str | None) -> list[Finding]:
        """The run after a round one write won: one version on, at the winner's ETag."""
        after = self.after
        if not self.before.body or after is None or not after.body:
            return []
        versions = self.before.version, after.version
        if not (isinstance(versions[0], int) and isinstance(versions[1], int) and versions[1] > versions[0]):
            return _finding(self.rule, winner, "the version did not step",
                            f"after the race the version went from {versions[0]} to {versions[1]}")  # fmt: skip
        if winner_etag is not None and winner_etag != after.etag:  # a missing one: etag_on_success
            return _finding(self.rule, winner, "another write took effect too",
                            f"the winner's ETag {winner_etag} is not the current {after.etag}: another write took effect too")  # fmt: skip
        return []

    def _judge_by_the_model(self, settled: list[Exchange]) -> list[Finding] | None:
        """Some order of the writes, then the GET after them, in which every answer is one the
        run's model allows (None: the run before is not known, nothing to judge from)."""
        from fieldproof import linearizability
        from fieldproof.linearizability import Entry

        before, after = self.before, self.after
        if before.status is None:
            return None
        initial = RunState(before.status, before.etag, self.resumable)
        seen = [(e, Observation(e.operation, e.request_header("if-match"), e.status, e.header("etag"))) for e in settled]
        # all called together, all answered before the GET was sent: no order among them is known
        writes = [Entry(f"racer {n}", 0.0, 1.0, observation) for n, (_, observation) in enumerate(seen)]
        look = None
        if after is not None and after.status_code == 200:
            look = Entry("get", 2.0, 3.0, Observation("get", None, 200, after.etag, after.status))
        verdict = linearizability.analyse([*writes, *([look] if look else [])], initial)
        # the write blamed (and so the finding's group) must not depend on which racer came first
        ranked = sorted(seen, key=lambda pair: (pair[0].operation, pair[0].status))
        changes = [e for e, o in ranked if o.status == 204 and o.etag is not None and o.etag != o.if_match]
        if verdict.ok is None:
            return None
        if verdict.ok:
            # the model allows at most one change from one tag: the run moved on only if one won
            moved = after is not None and (after.status, after.etag) != (before.status, before.etag)
            return self._stepped(changes[0], changes[0].header("etag")) if moved and changes else []
        alone = linearizability.analyse(writes, initial) if look else verdict  # the answers, without the GET's
        culprit, problem, reason = self._why_no_order(ranked, initial, changes, alone)
        tag = settled[0].request_header("if-match")
        kinds = ", ".join(e.operation for e in settled)
        answered = ", ".join(str(e.status) for e in settled)
        return _finding(self.rule, culprit, problem,
                        f"{len(settled)} concurrent writes ({kinds}) with If-Match {tag} on a {before.status} run were "
                        f"answered [{answered}]; no order of them is one a correct server gives: {reason}")  # fmt: skip

    def _why_no_order(self, seen: list[tuple[Exchange, Observation]], initial: RunState, changes: list[Exchange],
                      alone: Analysis) -> tuple[Exchange, str, str]:  # fmt: skip
        """(the write to blame, the problem, the reason in words) for a round no order explains;
        `alone`: the verdict on the writes without the GET after them."""
        odd = [e for e, _ in seen if e.status not in RACE_ANSWERS]
        if odd:
            return (odd[0], "a raced write answered neither 204, 412 nor 422",
                    f"{odd[0].operation} was answered {odd[0].status}, and a raced write is answered 204, 412 or 422")
        if len(changes) > 1:
            count = {2: "two", 3: "three"}.get(len(changes), str(len(changes)))
            by = ", ".join(f"{e.operation} -> {e.header('etag')}" for e in changes)
            return changes[1], "more than one write changed the run", f"{count} changes from one tag ({by})"
        after = self.after
        if alone.ok is not False and after is not None:  # the writes fit an order: the GET after them does not
            blamed = changes[0] if changes else seen[0][0]
            return (blamed, "the run after the race is not where the answers leave it",
                    f"the GET after them shows the run {after.status} with ETag {after.etag}, where no order of the answers "
                    "leaves it")
        # each answer alone: possible on the run before, or after the one write that may have changed it?
        movers = [(e, moved) for e, o in seen for moved in step(initial, o) if moved != initial]
        for exchange, observation in seen:
            if not any(step(state, observation) for state in [initial, *(moved for _, moved in movers)]):
                answer = f"204 (ETag {observation.etag})" if observation.status == 204 else str(observation.status)
                won = f", nor after the {movers[0][0].operation} that won" if movers else ", and no write changed it"
                return (exchange, "an answer no order of the race allows",
                        f"no correct server answers {exchange.operation} with {answer} to that tag on a {initial.status} run{won}")
        return seen[0][0], "no order of the race is possible", alone.explain()

    def evidence(self) -> dict[str, Any] | None:
        """The round as a timeline: each write from its sending to its answer (and, in a round of
        several kinds, which kind it was)."""
        if not self.writes:
            return None
        mixed = self.mixed
        return {"if_match": self.writes[0].request_header("if-match"), "run_status": self.before.status,
                "violated": getattr(self, "_found", False),
                "requests": [[w.sent_at, w.sent_at + w.elapsed_s, w.status,
                              f"{w.sender or f'racer {n}'}{f' {w.operation}' if mixed else ''}"]
                             for n, w in enumerate(self.writes)]}  # fmt: skip


@sequence_rule("the ETag a 204 returns is accepted by the next write",
               "no write followed a 204 with its ETag", severity=Severity.MAJOR)  # fmt: skip
@dataclass
class NewTagAccepted:
    """Writes in order: each one sent with the tag the last 204 answered is judged."""

    rule: ClassVar[str] = "new_etag_accepted_by_next_write"
    last_success: Exchange | None = None

    def observe(self, item: Exchange) -> Result:
        first, self.last_success = self.last_success, (item if item.status == 204 else self.last_success)
        if first is None or item.operation not in contract.WRITES or _rate_limited(item):
            return None
        if item.request_header("if-match") != first.header("etag"):
            return None
        if item.status in (400, 412):  # 400: the server cannot even parse the tag it issued
            return _finding(self.rule, item, "the tag a 204 returned was refused by the next write",
                            f"the ETag {first.header('etag')} returned by {first.operation} was refused "
                            f"with {item.status} by the next {item.operation}")  # fmt: skip
        return []

    def finish(self) -> Result:
        return None


def observation_of(exchange: Exchange) -> Observation:
    """An exchange as the run's model sees it (a 5xx is no answer: it may or may not have acted)."""
    body = exchange.json() if exchange.status == 200 else None
    status = body.get("status") if isinstance(body, dict) else None
    return Observation(
        operation=exchange.operation,
        if_match=exchange.request_header("if-match"),
        status=None if exchange.status >= 500 else exchange.status,
        etag=exchange.header("etag"),
        run_status=status.lower() if isinstance(status, str) else None,
    )


@sequence_rule("in any sequence of requests, every answer is one the contract's model of a run allows",
               "the lifecycle model suite did not run")  # fmt: skip
@dataclass
class LifecycleModel:
    """Judges each answer of a sequence against the states the model allows so far.

    After a violation the model no longer knows the run: it judges nothing until a GET's 200
    shows the run again (the suite sends one), and then goes on from there.
    """

    first: RunState
    rule: ClassVar[str] = "lifecycle_model_allows"
    states: list[RunState] = field(default_factory=list)
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = [self.first]

    def observe(self, item: Exchange) -> Result:
        self.script.append(f"{item.method} {item.operation}"
                           f"{' If-Match ' + str(item.request_header('if-match')) if item.method == 'POST' else ''}"
                           f" -> {item.status} {item.header('etag') or ''}".rstrip())  # fmt: skip
        observed = observation_of(item)
        if item.operation not in OPERATIONS:
            return None
        if not self.states:  # lost after a violation: a GET shows the run again
            if item.operation == "get" and item.status == 200 and observed.run_status:
                self.states = [RunState(observed.run_status, observed.etag, self.first.resumable)]
                self.script = self.script[-1:]
            return None
        after = [state for before in self.states for state in step(before, observed)]
        if after:
            self.states = after
            return []
        held = " or ".join(sorted({f"{s.status} with ETag {s.etag}" for s in self.states}))
        steps = "".join(f"\n    {line}" for line in self.script)
        self.states = []
        return _finding(self.rule, item, "an answer no correct server gives in the run's state",
                        f"{what_happened(item)} (ETag {observed.etag}), which no correct server answers to "
                        f"If-Match {observed.if_match} when the run is {held}; the requests so far:{steps}")  # fmt: skip

    @property
    def lost(self) -> bool:
        """The model lost track after a violation and needs a GET."""
        return not self.states

    def finish(self) -> Result:
        return None


@sequence_rule("a history of concurrent requests is linearizable against the run's model",
               "no concurrent history was checked; on a target file pass --history-size N")  # fmt: skip
@dataclass
class LinearizableHistory:
    """The operations of several clients on one run (linearizability.Entry), checked at the end."""

    initial: RunState
    rule: ClassVar[str] = "history_linearizable"
    operations: list[Any] = field(default_factory=list)
    example: Exchange | None = None
    max_states: int | None = None  # the checker's bound before it gives up (None: its default)

    def observe(self, item: Any) -> Result:
        self.operations.append(item)
        return None

    def evidence(self) -> dict[str, Any] | None:
        """A non-linearizable history's smallest counterexample, as a timeline."""
        from fieldproof import linearizability

        verdict = getattr(self, "_verdict", None)
        if verdict is None or verdict.ok is not False or not verdict.counterexample:
            return None
        return {"operations": [[op.client, op.call, op.ret, linearizability.describe(op)] for op in verdict.counterexample]}

    def finish(self) -> Result:
        from fieldproof import linearizability

        bound = {} if self.max_states is None else {"max_states": self.max_states}
        verdict = linearizability.analyse(self.operations, self.initial, **bound)
        self._verdict = verdict
        if verdict.ok is None:
            return None
        if verdict.ok:
            return []
        return _finding(self.rule, self.example, "no order of the history is one the run's model accepts",
                        f"{verdict.history_size} concurrent requests have no order the run's model accepts. "
                        f"{verdict.explain()}\n{verdict.timeline()}")  # fmt: skip


def all_rules() -> dict[str, Rule]:
    return {**EXCHANGE_RULES, **SEQUENCE_RULES}


def severity_of(name: str) -> Severity:
    """A rule's severity; another checker's findings (schemathesis.*) are minor: what they check
    that no rule covers is the form of a body or how negative data is rejected."""
    rule = EXCHANGE_RULES.get(name) or SEQUENCE_RULES.get(name)
    return rule.severity if rule is not None else Severity.MINOR

