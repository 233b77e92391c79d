"""The generic locking oracles: rules on any conditional write the contract document declares
(an `If-Match` parameter), beside the four fielding-run operations, which keep their own
hand-written rules (rules/exchange.py, rules/sequence.py).

The exchange rules judge one write with the reads before and after it attached
(`exchange.before`, `exchange.after`: what the resource's read showed), dispatching on the kind
of tag it carried (`exchange.facts.if_match`). The sequence rules judge writes raced with one
tag (`OneWinnerOfConditionalWrites`) and a concurrent history against a versioned register
(`ResourceHistory`). What the document does not settle (a missing If-Match, `*`, lists) is
judged by the answers `contract.OPEN_QUESTIONS` allows.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import fieldproof.rules.sequence  # noqa: F401  (the fielding-run rules are registered, and so listed, before these)
from fieldproof.contract import OPEN_QUESTIONS
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import STALE_KINDS, IfMatch
from fieldproof.linearizability.register import REGISTER, RegisterEntry, Version, check_register, instant
from fieldproof.rules.registry import (
    Finding,
    Result,
    SequenceJudge,
    Severity,
    exchange_rule,
    expect,
    finding,
    rate_limited,
    sequence_rule,
    statuses_text,
    what_happened,
)

# A fielding run's action is allowed only in some states: the role a run is listed under says
# whether this one's allows it. Sent to a run of another role, a stale tag may meet the state's
# refusal first (422): the gate order is an open question.
ENABLING_ROLES = {"launch-now": "launchable", "relaunch": "relaunchable"}


def _successes(exchange: Exchange) -> frozenset[int]:
    """The 2xx the document lists for the write (any 2xx where it lists none)."""
    documented = frozenset(s for s in exchange.documented_statuses if 200 <= s < 300)
    return documented or frozenset(range(200, 300))


def state_may_forbid(exchange: Exchange) -> bool:
    """Whether the state of the fielding run written may refuse the write whatever its tag: an
    action sent to a run whose role does not enable it."""
    role = exchange.facts.role
    action = urllib.parse.urlsplit(exchange.url).path.rstrip("/").rsplit("/", 1)[-1]
    enabling = ENABLING_ROLES.get(action)
    return role is not None and enabling is not None and role != enabling


def _shown(body: Mapping[str, Any] | None) -> str:
    return json.dumps(body, sort_keys=True)[:300] if body is not None else "no body"


def same(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same value: RFC 3339 timestamps as instants (a server may
    write back `…22.442Z` for the `…22.442000Z` it was sent), objects and arrays member by member."""
    if isinstance(a, str) and isinstance(b, str) and a != b:
        moments = instant(a), instant(b)
        return moments[0] is not None and moments[0] == moments[1]
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _changes(before: Snapshot, after: Snapshot, fields: Iterable[str] | None = None) -> list[str]:
    """What differs between two reads of the resource: its ETag and its body's fields (those
    named, else all)."""
    changed = [f"ETag {before.etag} -> {after.etag}"] if before.etag != after.etag else []
    was, now = dict(before.body or {}), dict(after.body or {})
    names = sorted(set(fields) if fields is not None else set(was) | set(now))
    changed += [f"{name} {was.get(name)!r} -> {now.get(name)!r}" for name in names if not same(was.get(name), now.get(name))]
    return changed


def _unchanged(rule: str, exchange: Exchange, what: str) -> Result:
    """The resource read the same after the request as before it (None: not looked at)."""
    before, after = exchange.before, exchange.after
    if before is None or after is None or before.status_code != 200:
        return None
    if after.status_code == 404:
        return finding(rule, exchange, f"{what}, and afterwards the resource is gone (its read answers 404)")
    if after.status_code != 200:
        return None
    changed = _changes(before, after)
    if changed:
        return finding(rule, exchange, f"{what}, but the resource changed",
                       f"{what_happened(exchange)} but the resource changed: {'; '.join(changed)}", Severity.CRITICAL)
    return []


def _refused_and_unchanged(rule: str, exchange: Exchange, allowed: Iterable[int], why: str) -> Result:
    """The status is one of `allowed`; a refusal (any status but a 2xx) left the resource as it was."""
    findings = expect(rule, exchange, allowed, why)
    if not 200 <= exchange.status < 300:
        findings += _unchanged(rule, exchange, f"a refusal ({why})") or []
    return findings


def _sent_fields(exchange: Exchange) -> list[str] | None:
    """The fields the write's body set (None: it sent no JSON object: the whole body counts)."""
    try:
        sent = json.loads(exchange.request_body) if exchange.request_body else None
    except (ValueError, UnicodeDecodeError):
        return None
    return sorted(sent) if isinstance(sent, dict) else None


@exchange_rule("a conditional write with the current ETag gets a documented 2xx; a documented refusal other than 412 "
               "(a body or a state the server refuses) only if it changed nothing",
               "no resource write was sent with the current tag (fieldproof run --resources KIND, or list [[resources]])",
               expectation=True, only_resource_writes=True, skip_rate_limited=True, ordinary_besides="if_match")
def conditional_write_current_tag_succeeds(exchange: Exchange) -> Result:
    if exchange.facts.if_match is not IfMatch.CURRENT or exchange.status >= 500:
        return None  # a server error is documented_status's finding
    if 200 <= exchange.status < 300:  # an undocumented success is documented_status's finding
        after = exchange.after
        if exchange.method == "DELETE" and after is not None and after.status_code == 200:
            return finding(conditional_write_current_tag_succeeds.__name__, exchange, "the resource still reads after its DELETE",
                           f"{what_happened(exchange)} but the read afterwards still answers 200", Severity.CRITICAL)
        return []
    if exchange.status == 412:
        return finding(conditional_write_current_tag_succeeds.__name__, exchange, "the current ETag refused with 412")
    refusals = frozenset(s for s in exchange.documented_statuses if 400 <= s < 500 and s not in (412, 429))
    if exchange.status not in refusals:
        return expect(conditional_write_current_tag_succeeds.__name__, exchange, _successes(exchange) | refusals,
                       "If-Match held the current ETag")
    return _unchanged(conditional_write_current_tag_succeeds.__name__, exchange, "a refusal of the current ETag") or []


@exchange_rule("a conditional write that changed the resource gives it a new ETag, and the write's own ETag (where it "
               "sends one) is the one the read afterwards shows",
               "no resource write succeeded and changed the resource while the harness looked",
               severity=Severity.CRITICAL, only_resource_writes=True)
def conditional_write_issues_new_etag(exchange: Exchange) -> Result:
    before, after = exchange.before, exchange.after
    if not 200 <= exchange.status < 300 or before is None or after is None:
        return None
    if before.status_code != 200 or after.status_code != 200:
        return None
    fields = _sent_fields(exchange)
    if not [change for change in _changes(before, after, fields) if not change.startswith("ETag ")]:
        return None  # the representation did not change: a server may keep its ETag
    rule = conditional_write_issues_new_etag.__name__
    findings: list[Finding] = []
    if after.etag == before.etag:
        findings += finding(rule, exchange, "the resource changed but its ETag did not",
                            f"{what_happened(exchange)} and the resource changed ({'; '.join(_changes(before, after, fields))}) "
                            f"but its ETag stayed {before.etag}: a writer holding the old tag would still win")
    own = exchange.header("etag")
    if own is not None and after.etag is not None and own != after.etag:
        findings += finding(rule, exchange, "the write's ETag is not the one the read afterwards shows",
                            f"{what_happened(exchange)} with ETag {own}, but the read afterwards shows ETag {after.etag}",
                            Severity.MAJOR)
    return findings


@exchange_rule("a conditional write with a stale ETag, another resource's or one never issued gets 412 and changes nothing",
               "no resource write was sent with a stale, foreign or never-issued tag", expectation=True,
               severity_if_served=Severity.CRITICAL, only_resource_writes=True, skip_rate_limited=True,
               ordinary_besides="if_match")
def conditional_write_stale_tag_refused(exchange: Exchange) -> Result:
    kind = exchange.facts.if_match
    if kind not in STALE_KINDS:
        return None
    allowed = {412} | ({422} if state_may_forbid(exchange) else set())  # the gate order is open
    return _refused_and_unchanged(conditional_write_stale_tag_refused.__name__, exchange, allowed,
                                  f"If-Match held {_TAG_WORDS[kind]}")


_TAG_WORDS = {IfMatch.STALE: "a stale tag", IfMatch.OTHER_RUN: "another resource's tag", IfMatch.NEVER_ISSUED: "a tag never issued"}


@exchange_rule("a conditional write without If-Match, where the document requires one, is refused (a documented 4xx, "
               "or 400, 412 or 428: an open question) and changes nothing",
               "no resource write was sent without If-Match", expectation=True, severity_if_served=Severity.CRITICAL,
               only_resource_writes=True, skip_rate_limited=True, ordinary_besides="if_match")
def conditional_write_missing_if_match_refused(exchange: Exchange) -> Result:
    if exchange.facts.if_match is not IfMatch.MISSING:
        return None
    refusals = {s for s in exchange.documented_statuses if 400 <= s < 500 and s != 429}
    return _refused_and_unchanged(conditional_write_missing_if_match_refused.__name__, exchange,
                                  refusals | OPEN_QUESTIONS["missing_if_match"].refusals, "no If-Match (open question)")


_STAR_AND_LISTS = {
    IfMatch.STAR: ("if_match_star", "If-Match: * (open question)"),
    IfMatch.LIST_WITH_CURRENT: ("if_match_list", "an If-Match list holding the current tag (open question)"),
    IfMatch.LIST_WITHOUT_CURRENT: ("if_match_list", "an If-Match list of tags that are not current"),
}


@exchange_rule("If-Match: * and a list holding the current ETag are served (RFC 9110 §13.1.1) or refused as the open "
               "questions allow, a refusal changing nothing; a list of tags none current gets 412 (or 400) and changes nothing",
               "no resource write was sent with If-Match * or a list of tags", expectation=True,
               severity_if_served=Severity.CRITICAL, only_resource_writes=True, skip_rate_limited=True,
               ordinary_besides="if_match")
def conditional_write_if_match_star_and_lists(exchange: Exchange) -> Result:
    kind = exchange.facts.if_match
    if kind not in _STAR_AND_LISTS or exchange.status >= 500:
        return None  # a server error is documented_status's finding
    question, why = _STAR_AND_LISTS[kind]
    allowed = set(OPEN_QUESTIONS[question].refusals)
    if kind is not IfMatch.LIST_WITHOUT_CURRENT:
        allowed |= _successes(exchange)
        allowed |= {s for s in exchange.documented_statuses if 400 <= s < 500 and s != 429}  # the state may refuse it
    elif state_may_forbid(exchange):
        allowed.add(422)
    return _refused_and_unchanged(conditional_write_if_match_star_and_lists.__name__, exchange, allowed, why)


# --- sequences ---


def projected(body: Mapping[str, Any] | None, fields: Iterable[str]) -> dict[str, Any] | None:
    """The body's values of the named fields (None for one it lacks); None without a body."""
    return None if body is None else {name: body.get(name) for name in fields}


@sequence_rule("N conditional writes with one ETag released together: at most one success, the others 412, and the resource "
               "one version on (a new ETag, the winner's; PUT bodies differ, so the read shows the winner's body)",
               "no resource write was raced (fieldproof run --resources KIND, or list [[resources]])")
@dataclass
class OneWinnerOfConditionalWrites(SequenceJudge):
    """One round: the resource before, the racers' writes (each exchange), then a read after them."""

    before: Snapshot
    rule: ClassVar[str] = "conditional_writes_one_winner"
    writes: list[Exchange] = field(default_factory=list)
    after: Snapshot | None = None
    violated: bool = field(default=False, init=False)

    def observe(self, item: Exchange) -> Result:
        if item.method == "GET":
            self.after = Snapshot.of(item)
        else:
            self.writes.append(item)
        return None

    def finish(self) -> Result:
        settled = [e for e in self.writes if not rate_limited(e) and e.status < 500]
        if len(settled) < 2:
            return None
        winners = sorted((e for e in settled if 200 <= e.status < 300), key=lambda e: e.status)
        # a fielding run's loser may meet the state the winner left first (the gate order is open)
        may_lose = {412} | ({422} if settled[0].facts.role is not None else set())
        losers = sorted((e for e in settled if not 200 <= e.status < 300), key=lambda e: e.status)
        statuses = sorted(e.status for e in settled)
        told = f"{len(settled)} concurrent writes with If-Match {settled[0].request_header('if-match')} were answered {statuses}"
        findings: list[Finding] = []
        if len(winners) > 1:
            findings += finding(self.rule, winners[1], "more than one winner",
                                f"{told}: {len(winners)} succeeded, where a correct server lets one tag win once")
        odd = [e for e in losers if e.status not in may_lose]
        if winners and odd:
            findings += finding(self.rule, odd[0], f"a loser not refused with {statuses_text(may_lose)}",
                                f"{told}: after one won, the others' tag was no longer current", Severity.MAJOR)
        if not winners and losers and all(e.status == 412 for e in losers) and self._unchanged():
            findings += finding(self.rule, losers[0], "every write refused with 412 though none won",
                                f"{told}, and the resource is as it was: its tag was current for the first of them",
                                Severity.MAJOR)
        if len(winners) == 1:
            findings += self._one_step(winners[0], told)
        self.violated = bool(findings)
        return findings

    def _unchanged(self) -> bool:
        after = self.after
        return after is not None and after.status_code == 200 and not _changes(self.before, after)

    def _one_step(self, winner: Exchange, told: str) -> list[Finding]:
        """The resource after a round one write won: a new ETag (the winner's, where it sent one),
        and the winner's body (where it sent one)."""
        after = self.after
        if after is None or after.status_code != 200 or self.before.status_code != 200:
            return []
        if after.etag == self.before.etag:
            return finding(self.rule, winner, "the ETag did not step", f"{told}; the read after shows the ETag it had before, "
                           f"{after.etag}")
        own = winner.header("etag")
        if own is not None and own != after.etag:
            return finding(self.rule, winner, "another write took effect too",
                           f"{told}; the winner's ETag {own} is not the current {after.etag}: another write took effect too")
        fields = _sent_fields(winner)
        if fields is not None and winner.request_body:
            sent = json.loads(winner.request_body)
            shown = projected(after.body, fields)
            if not same(shown, sent):
                return finding(self.rule, winner, "the resource shows another writer's body",
                               f"{told}; the winner sent {_shown(sent)} but the read after shows {_shown(shown)}: "
                               "a write that was refused, or lost, took effect")
        return []

    def evidence(self) -> dict[str, Any] | None:
        if not self.writes:
            return None
        return {"if_match": self.writes[0].request_header("if-match"), "run_status": None, "violated": self.violated,
                "requests": [[w.sent_at, w.sent_at + w.elapsed_s, w.status, w.sender or f"racer {n}"]
                             for n, w in enumerate(self.writes)]}


@sequence_rule("a concurrent history of reads and conditional writes of one resource is linearizable against a versioned "
               "register (a write with the current ETag sets the body and a new ETag; a 412 only for a tag not current)",
               "no concurrent history of a resource was checked (fieldproof run --resources KIND, or list [[resources]])")
@dataclass
class ResourceHistory(SequenceJudge):
    """The requests of several clients on one resource (`RegisterEntry`), checked at the end."""

    initial: Version
    rule: ClassVar[str] = "resource_history_linearizable"
    entries: list[RegisterEntry] = field(default_factory=list)
    example: Exchange | None = None  # the exchange a finding is shown on (a write of the history)
    max_states: int = 200_000

    def observe(self, item: RegisterEntry) -> Result:
        self.entries.append(item)
        return None

    def finish(self) -> Result:
        verdict = check_register(self.entries, self.initial, self.max_states)
        if verdict.ok is None:
            return None
        if verdict.ok:
            return []
        shown = sorted(self.entries, key=lambda e: e.call)
        start = min((e.call for e in shown), default=0.0)
        lines = "".join(f"\n    {e.client} [{e.call - start:.3f}, {'-' if e.ret is None else f'{e.ret - start:.3f}'}] "
                        f"{REGISTER.describe_op(e.op)}" for e in shown[:40])
        more = f"\n    ... and {len(shown) - 40} more" if len(shown) > 40 else ""
        return finding(self.rule, self.example, "no order of the history is one a versioned register accepts",
                       f"{len(shown)} concurrent requests on one resource have no order that respects real time and that a "
                       f"versioned register accepts from {REGISTER.describe_state(self.initial)}; the history (seconds from "
                       f"the first call):{lines}{more}")


# The locking oracles, which judge only the conditional writes a session opts into (--resources,
# a target file's [[resources]]): a default session leaves every one of them not exercised.
LOCKING_RULES = ("conditional_write_current_tag_succeeds", "conditional_write_issues_new_etag",
                 "conditional_write_stale_tag_refused", "conditional_write_missing_if_match_refused",
                 "conditional_write_if_match_star_and_lists", "conditional_writes_one_winner",
                 "resource_history_linearizable")
