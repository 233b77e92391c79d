"""The contract rules: one function per rule, each judging exchanges and returning findings.

A rule returns None when it does not apply to an exchange, and a (possibly empty) list of
findings when it does. Suites, schemathesis checks and reports all call these functions; no
rule is written anywhere else. Two kinds:

- exchange rules (registered in EXCHANGE_RULES) judge one exchange and run on every exchange
  the client records; those marked `expectation` check the status a fact of the request calls
  for (a stale tag, no token, …), using the facts the suite wrote into `exchange.context`;
- sequence rules (SEQUENCE_RULES) judge several exchanges together (concurrency, lifecycle).

Where the API docs leave a question open, a rule accepts every answer the question allows, and
still requires a documented status and an unchanged run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from fieldproof.contract import documented_statuses
from fieldproof.exchange import OPERATIONS, Exchange, Snapshot
from fieldproof.model import Observation, RunState, step
from fieldproof.headers import (
    HeaderSyntaxError,
    parse_etag,
    parse_traceparent,
    retry_after_seconds,
    tracestate_errors,
)


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    exchange: Exchange | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "message": self.message,
            "exchange": self.exchange.to_dict() if self.exchange else None,
        }


Result = list[Finding] | None


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    check: Callable[..., Result]
    expectation: bool = False


EXCHANGE_RULES: dict[str, Rule] = {}
SEQUENCE_RULES: dict[str, Rule] = {}


def _register(registry: dict[str, Rule], summary: str, expectation: bool = False):
    def decorator(check: Callable[..., Result]) -> Callable[..., Result]:
        registry[check.__name__] = Rule(check.__name__, summary, check, expectation)
        return check

    return decorator


def exchange_rule(summary: str, expectation: bool = False):
    return _register(EXCHANGE_RULES, summary, expectation)


def sequence_rule(summary: str):
    return _register(SEQUENCE_RULES, summary)


def _finding(rule: Callable[..., Result], exchange: Exchange | None, message: str) -> list[Finding]:
    return [Finding(rule.__name__, message, exchange)]


def what_happened(exchange: Exchange) -> str:
    """`METHOD operation answered STATUS`, the opening of every finding's message."""
    return f"{exchange.method} {exchange.operation} answered {exchange.status}"


# facts of a request, as suites record them in exchange.context
WRITE_RESULT = {"resume": "live", "pause": "paused", "complete": "completed"}
WRITE_SOURCES = {"resume": {"paused"}, "pause": {"live"}, "complete": {"live", "paused"}}
REFUSALS = {400, 401, 403, 404, 412, 422, 429}
STALE_KINDS = {"stale", "other_run", "never_issued"}


def _rate_limited(exchange: Exchange) -> bool:
    """A 429 is never a failure by itself: expectation rules leave it to retry_after_on_429
    (the client waits it out and sends again; what the retry gets is judged on its own)."""
    return exchange.status == 429


def _ordinary(exchange: Exchange, *, besides: str) -> bool:
    """The request varies only the fact `besides`: main token, valid path, current state."""
    facts = {"auth": "main", "path_kind": "valid", "if_match_kind": "current", "api_version": "sent"}
    return all(exchange.context.get(key, normal) == normal for key, normal in facts.items() if key != besides)


def _write_allowed(exchange: Exchange) -> bool | None:
    """Would the run's state allow this write? None when the harness cannot tell."""
    before = exchange.before
    role = exchange.context.get("role")
    if before is None or before.status is None or exchange.operation not in WRITE_SOURCES:
        return None
    if before.status not in WRITE_SOURCES[exchange.operation]:
        return False
    if exchange.operation == "resume":
        # the goal and end date are not fields of the run: only the role tells
        return True if role == "resumable" else (False if role in ("goal_reached", "end_date_passed") else None)
    return True


def _expect(rule: Callable[..., Result], exchange: Exchange, allowed: set[int], why: str) -> list[Finding]:
    if exchange.status in allowed:
        return []
    expected = " or ".join(str(s) for s in sorted(allowed))
    return _finding(rule, exchange, f"{what_happened(exchange)}; expected {expected}: {why}")


# rules every response must satisfy


@exchange_rule("every response has a status the contract documents for its operation; a 500 is always a finding")
def documented_status(exchange: Exchange) -> Result:
    if exchange.operation not in OPERATIONS:
        return None
    if exchange.status >= 500:
        return _finding(documented_status, exchange, f"{what_happened(exchange)}: a server error is never a pass")
    documented = documented_statuses(exchange.operation)
    if exchange.status not in documented:
        listed = ", ".join(str(s) for s in sorted(documented))
        return _finding(documented_status, exchange, f"{what_happened(exchange)}, which the contract does not document ({listed})")
    return []


@exchange_rule("every response carries a valid W3C traceparent")
def traceparent_on_every_response(exchange: Exchange) -> Result:
    value = exchange.header("traceparent")
    if value is None:
        return _finding(traceparent_on_every_response, exchange, f"{what_happened(exchange)} without a traceparent header")
    try:
        parse_traceparent(value)
    except HeaderSyntaxError as exc:
        return _finding(traceparent_on_every_response, exchange, f"{what_happened(exchange)} with an invalid traceparent: {exc}")
    return []


@exchange_rule("a response to a request with a valid traceparent continues its trace-id with a new parent-id")
def trace_continues_callers_trace(exchange: Exchange) -> Result:
    sent, got = exchange.request_header("traceparent"), exchange.header("traceparent")
    if sent is None or got is None:
        return None
    try:
        ours, theirs = parse_traceparent(sent), parse_traceparent(got)
    except HeaderSyntaxError:
        return None  # an invalid one sent is a probe; an invalid one received is the rule above
    if theirs.trace_id != ours.trace_id:
        return _finding(trace_continues_callers_trace, exchange,
                        f"{what_happened(exchange)} with trace-id {theirs.trace_id}, not the caller's {ours.trace_id}")  # fmt: skip
    if theirs.parent_id == ours.parent_id:
        return _finding(trace_continues_callers_trace, exchange,
                        f"{what_happened(exchange)} echoing the caller's parent-id instead of its own span")  # fmt: skip
    return []


@exchange_rule("a tracestate header, when present, is a well-formed W3C list")
def tracestate_well_formed(exchange: Exchange) -> Result:
    value = exchange.header("tracestate")
    if value is None:
        return None
    return [Finding("tracestate_well_formed", f"{what_happened(exchange)}: {problem}", exchange) for problem in tracestate_errors(value)]


@exchange_rule("200 and 204 carry an ETag that is a quoted entity tag")
def etag_on_success(exchange: Exchange) -> Result:
    if exchange.status not in (200, 204):
        return None
    value = exchange.header("etag")
    if value is None:
        return _finding(etag_on_success, exchange, f"{what_happened(exchange)} without an ETag")
    try:
        parse_etag(value)
    except HeaderSyntaxError:
        return _finding(etag_on_success, exchange, f"{what_happened(exchange)} with ETag {value!r}, not a quoted entity tag")
    return []


@exchange_rule("a 204 has no body")
def no_body_on_204(exchange: Exchange) -> Result:
    if exchange.status != 204:
        return None
    if exchange.body:
        return _finding(no_body_on_204, exchange, f"{what_happened(exchange)} with a {len(exchange.body)}-byte body")
    return []


@exchange_rule("a 429 carries Retry-After: whole seconds or an HTTP-date")
def retry_after_on_429(exchange: Exchange) -> Result:
    if exchange.status != 429:
        return None
    value = exchange.header("retry-after")
    if value is None:
        return _finding(retry_after_on_429, exchange, "429 without Retry-After: a client cannot know when to retry")
    if retry_after_seconds(value) is None:
        return _finding(retry_after_on_429, exchange, f"429 with Retry-After {value!r}: neither seconds nor an HTTP-date")
    return []


@exchange_rule("error bodies are the documented JSON objects (429: object + details)")
def error_body_documented(exchange: Exchange) -> Result:
    if exchange.status < 400 or exchange.operation not in OPERATIONS:
        return None
    content_type = exchange.header("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()  # media types ignore case
    body = exchange.json()
    if media_type != "application/json" or not isinstance(body, dict):
        return _finding(error_body_documented, exchange, f"{what_happened(exchange)} without a JSON object body ({content_type or 'no content-type'})")
    if exchange.status == 429:
        required = {"object": "too_many_requests_problem_details", "details": None}
    else:
        required = {"object": None, "detail": None}
    problems = []
    for key, value in required.items():
        if not isinstance(body.get(key), str) or (value is not None and body[key] != value):
            problems.append(f"{key!r} must be {'%r' % value if value else 'a string'}")
    if problems:
        return _finding(error_body_documented, exchange, f"{what_happened(exchange)} with an error body whose {'; '.join(problems)}")
    return []


@exchange_rule("a refused request (400, 401, 403, 404, 412, 422, 429) leaves the run as it was")
def refusal_changes_nothing(exchange: Exchange) -> Result:
    before, after = exchange.before, exchange.after
    if exchange.status not in REFUSALS or before is None or after is None:
        return None
    if before.state is None:
        return None
    if after.status_code == 404:
        return _finding(refusal_changes_nothing, exchange, f"{what_happened(exchange)} and afterwards the run is gone (GET answers 404)")
    if after.state is None:
        return None
    if before.state != after.state:
        return _finding(refusal_changes_nothing, exchange,
                        f"{what_happened(exchange)} but the run changed: {_diff(before, after)}")  # fmt: skip
    return []


@exchange_rule("a 204 write took effect: new status, higher version, and its ETag is the current one")
def success_changes_the_run(exchange: Exchange) -> Result:
    before, after = exchange.before, exchange.after
    if exchange.status != 204 or exchange.operation not in WRITE_RESULT or before is None or after is None:
        return None
    if before.status is None or after.status is None:
        return None
    if before.status == WRITE_RESULT[exchange.operation]:
        return None  # a no-op (resume of a live run): an open question, judged elsewhere
    problems = []
    if after.status != WRITE_RESULT[exchange.operation]:
        problems.append(f"status is {after.status}, not {WRITE_RESULT[exchange.operation]}")
    versions = (before.body or {}).get("version"), (after.body or {}).get("version")
    if not all(isinstance(v, int) for v in versions) or versions[1] <= versions[0]:
        problems.append(f"version went from {versions[0]} to {versions[1]}")
    etag = exchange.header("etag")
    if etag is not None and etag == exchange.request_header("if-match"):
        problems.append(f"the 204's ETag {etag} is the If-Match it was sent")
    if etag is not None and after.etag is not None and etag != after.etag:
        problems.append(f"the 204's ETag {etag} is not the run's current ETag {after.etag}")
    if problems:
        return _finding(success_changes_the_run, exchange, f"{what_happened(exchange)} but {'; '.join(problems)}")
    return []


def _diff(before: Snapshot, after: Snapshot) -> str:
    names = ("etag", "status", "version", "last_changed_at", "last_changed_by", "end_fielding_at")
    assert before.state is not None and after.state is not None
    return ", ".join(f"{n} {a!r} -> {b!r}" for n, a, b in zip(names, before.state, after.state) if a != b)


# expectation rules: the status a fact of the request calls for


@exchange_rule("the current ETag wins when the run's state allows the write", expectation=True)
def current_tag_wins(exchange: Exchange) -> Result:
    if exchange.context.get("if_match_kind") != "current" or not _ordinary(exchange, besides="if_match_kind"):
        return None
    if _write_allowed(exchange) is not True or _rate_limited(exchange):
        return None
    return _expect(current_tag_wins, exchange, {204}, "If-Match held the current ETag and the state allows it")


@exchange_rule("a stale or foreign ETag gets 412 and changes nothing", expectation=True)
def stale_tag_refused(exchange: Exchange) -> Result:
    if exchange.context.get("if_match_kind") not in STALE_KINDS or not _ordinary(exchange, besides="if_match_kind"):
        return None
    if _rate_limited(exchange):
        return None
    allowed = {412} if _write_allowed(exchange) is True else {412, 422}  # gate order is open
    return _expect(stale_tag_refused, exchange, allowed, f"If-Match held a {exchange.context['if_match_kind'].replace('_', ' ')} tag")


# If-Match spellings the docs do not settle: what each may be answered, never a wrong win
_IF_MATCH_VARIANTS = {
    "missing": ({400, 412}, "no If-Match (400 or 412 is an open question)"),
    "malformed": ({400, 412}, "a malformed If-Match"),
    "star": ({204, 400, 412}, "If-Match: * (open question)"),
    "list_with_current": ({204, 400, 412}, "an If-Match list holding the current tag"),
    "list_without_current": ({400, 412}, "an If-Match list of stale tags"),
    "strong_spelling_of_current": ({204, 412}, "the strong spelling of the current weak tag"),
}


@exchange_rule("an If-Match the docs leave open gets one of its possible answers, and a stale one never wins", expectation=True)
def if_match_variant_answered(exchange: Exchange) -> Result:
    kind = exchange.context.get("if_match_kind")
    if kind not in _IF_MATCH_VARIANTS or not _ordinary(exchange, besides="if_match_kind") or _rate_limited(exchange):
        return None
    allowed, why = _IF_MATCH_VARIANTS[kind]
    allowed = set(allowed)
    if _write_allowed(exchange) is not True:
        allowed = (allowed - {204}) | {422}
    return _expect(if_match_variant_answered, exchange, allowed, why)


@exchange_rule("resume of a run whose goal or end date is reached, or that is completed, gets 422", expectation=True)
def business_rules_refuse(exchange: Exchange) -> Result:
    role = exchange.context.get("role")
    if exchange.operation != "resume" or not _ordinary(exchange, besides="role") or _rate_limited(exchange):
        return None
    if exchange.context.get("if_match_kind", "current") != "current":
        return None
    if role in ("goal_reached", "end_date_passed", "completed"):
        return _expect(business_rules_refuse, exchange, {422}, f"the run's role is {role}")
    if role == "live":
        return _expect(business_rules_refuse, exchange, {204, 422}, "resume of a live run (422 or a 204 no-op is open)")
    return None


@exchange_rule("no token or a malformed one gets 401; an expired one 403; another account's 403 (or 404)", expectation=True)
def auth_refused(exchange: Exchange) -> Result:
    auth = exchange.context.get("auth", "main")
    if auth == "main" or _rate_limited(exchange):
        return None
    allowed, why = {
        "none": ({401}, "no token was sent"),
        "malformed": ({401}, "the token was malformed"),
        "expired": ({403}, "the token had expired (documented: 403, not 401)"),
        "foreign": ({403, 404}, "the token belongs to another account"),
    }[auth]
    return _expect(auth_refused, exchange, allowed, why)


@exchange_rule("an unknown run gets 404; malformed path ids 400 or 404; another account id 400, 403 or 404", expectation=True)
def unknown_path_refused(exchange: Exchange) -> Result:
    kind = exchange.context.get("path_kind", "valid")
    if kind == "valid" or exchange.context.get("auth", "main") != "main" or _rate_limited(exchange):
        return None
    if kind == "unknown_run":
        return _expect(unknown_path_refused, exchange, {404}, "no run has this id")
    if kind == "unknown_account_id":
        return _expect(unknown_path_refused, exchange, {400, 403, 404}, "the path names an account that is not the token's")
    return _expect(unknown_path_refused, exchange, {400, 404}, f"the path held {kind.replace('_', ' ')}")


@exchange_rule("a request without Cint-API-Version gets 403 required_header_missing", expectation=True)
def api_version_required(exchange: Exchange) -> Result:
    if exchange.context.get("api_version") != "missing" or exchange.context.get("auth", "main") != "main":
        return None
    if _rate_limited(exchange):
        return None
    findings = _expect(api_version_required, exchange, {403}, "documented: a missing Cint-API-Version is 403")
    body = exchange.json()
    if not findings and (not isinstance(body, dict) or body.get("object") != "required_header_missing"):
        findings = _finding(api_version_required, exchange, "403 for a missing Cint-API-Version, but its object is not 'required_header_missing'")
    return findings


# sequence rules


@sequence_rule("N concurrent writes with one ETag: exactly one 204, N-1 x 412, and one step of the run")
def one_winner_among_concurrent_writes(
    exchanges: Sequence[Exchange], before: Snapshot, after: Snapshot
) -> Result:
    settled = [e for e in exchanges if not _rate_limited(e)]
    if len(settled) < 2:
        return None
    statuses = sorted(e.status for e in settled)
    winners = [e for e in settled if e.status == 204]
    findings = []
    if len(winners) != 1 or statuses.count(412) != len(settled) - 1:
        findings += _finding(one_winner_among_concurrent_writes, winners[1] if len(winners) > 1 else settled[0],
                             f"{len(settled)} concurrent writes with If-Match {settled[0].request_header('if-match')} "
                             f"were answered {statuses}; expected one 204 and {len(settled) - 1} x 412")  # fmt: skip
    if len(winners) == 1 and before.body and after.body:
        versions = before.body.get("version"), after.body.get("version")
        winner_etag = winners[0].header("etag")
        if not (isinstance(versions[0], int) and isinstance(versions[1], int) and versions[1] > versions[0]):
            findings += _finding(one_winner_among_concurrent_writes, winners[0],
                                 f"after the race the version went from {versions[0]} to {versions[1]}")  # fmt: skip
        elif winner_etag is not None and winner_etag != after.etag:  # a missing one: etag_on_success
            findings += _finding(one_winner_among_concurrent_writes, winners[0],
                                 f"the winner's ETag {winner_etag} is not the current {after.etag}: another write took effect too")  # fmt: skip
    return findings


@sequence_rule("the ETag a 204 returns is accepted by the next write")
def new_etag_accepted_by_next_write(first: Exchange, second: Exchange) -> Result:
    if first.status != 204 or _rate_limited(second):
        return None
    if second.request_header("if-match") != first.header("etag"):
        return None
    if second.status in (400, 412):  # 400: the server cannot even parse the tag it issued
        return _finding(new_etag_accepted_by_next_write, second,
                        f"the ETag {first.header('etag')} returned by {first.operation} was refused with {second.status} by the next {second.operation}")  # fmt: skip
    return []


def observation_of(exchange: Exchange) -> Observation:
    """An exchange as the run's model sees it (a 429 the client gave up on changed nothing)."""
    body = exchange.json() if exchange.status == 200 else None
    status = body.get("status") if isinstance(body, dict) else None
    return Observation(
        operation=exchange.operation,
        if_match=exchange.request_header("if-match"),
        status=exchange.status,
        etag=exchange.header("etag"),
        run_status=status.lower() if isinstance(status, str) else None,
    )


@sequence_rule("in any sequence of requests, every answer is one the contract's model of a run allows")
def lifecycle_model_allows(states: Sequence[RunState], exchange: Exchange, script: Sequence[str] = ()) -> Result:
    if exchange.operation not in OPERATIONS or not states:
        return None
    observed = observation_of(exchange)
    if any(step(state, observed) for state in states):
        return []
    held = " or ".join(sorted({f"{s.status} with ETag {s.etag}" for s in states}))
    steps = "".join(f"\n    {line}" for line in script)
    return _finding(lifecycle_model_allows, exchange,
                    f"{what_happened(exchange)} (ETag {observed.etag}), which no correct server answers to "
                    f"If-Match {observed.if_match} when the run is {held}; the requests so far:{steps}")  # fmt: skip


@sequence_rule("a history of concurrent requests is linearizable against the run's model")
def history_linearizable(verdict: Any, example: Exchange | None = None) -> Result:
    """Judge a verdict of fieldproof.linearizability.check (None when it was inconclusive)."""
    if verdict.ok is None:
        return None
    if verdict.ok:
        return []
    return _finding(history_linearizable, example,
                    f"{verdict.history_size} concurrent requests have no order the run's model accepts. "
                    f"{verdict.explain()}\n{verdict.timeline()}")  # fmt: skip


def judge_exchange(exchange: Exchange) -> dict[str, Result]:
    """Every exchange rule's verdict on one exchange."""
    return {name: rule.check(exchange) for name, rule in EXCHANGE_RULES.items()}
