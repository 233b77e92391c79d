"""The registry of contract rules: what a rule is (`Rule`), what it finds (`Finding`, grouped by
its `Signature`, ranked by `Severity`), the decorators that register a rule, and the one place
an exchange rule's guards are applied before its body runs (`Guards`).

Every judgement is None (the rule does not apply), [] (it held) or findings (it did not). A
finding never stops the judging.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from fieldproof.contract import OTHER
from fieldproof.exchange import OPERATIONS, Exchange
from fieldproof.facts import IfMatch, RequestFacts


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
    defect: str

    @property
    def text(self) -> str:
        """As every report prints it and a baseline entry names it: `get 404: no traceparent header`."""
        return self.defect if self.operation is None else f"{self.operation} {self.status}: {self.defect}"


def signature_of(exchange: Exchange | None, defect: str) -> Signature:
    """The one place a signature is made."""
    if exchange is None:
        return Signature(None, None, defect)
    return Signature(exchange.operation, exchange.status, defect)


@dataclass(frozen=True)
class Finding:
    rule: str
    defect: str  # what was wrong, without the particulars of the request: how findings group
    message: str  # the whole story of this one
    exchange: Exchange | None = None
    severity: Severity = Severity.MAJOR

    @property
    def identity(self) -> Signature:
        return signature_of(self.exchange, self.defect)

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
    restated_by: tuple[tuple[str, str], ...] = ()  # (rule, how its finding's defect begins) that say the same


def rate_limited(exchange: Exchange) -> bool:
    """A 429 is never a failure by itself: expectation rules leave it to retry_after_on_429
    (the client waits it out and sends again; what the retry gets is judged on its own)."""
    return exchange.status == 429


def ours(exchange: Exchange) -> bool:
    """One of the contract's four operations (not a probe with an undeclared method)."""
    return exchange.operation in OPERATIONS


def declared(exchange: Exchange) -> bool:
    """An operation the contract document declares: one of the four, or a resource's read or
    conditional write (named by its operationId); not a probe with an undeclared method."""
    return exchange.operation != OTHER


def resource_write(exchange: Exchange) -> bool:
    """A conditional write of a resource besides the four operations (the generic locking
    oracles judge these; the four have their hand-written rules)."""
    return declared(exchange) and not ours(exchange) and exchange.facts.if_match is not IfMatch.NOT_A_WRITE


@dataclass(frozen=True)
class Guards:
    """What an exchange rule leaves alone, declared on `@exchange_rule` and applied before its
    body runs (the body keeps only its own logic). Each guard is a pure predicate that makes the
    rule not apply (None), so the order they are tried in cannot change a verdict."""

    only_ours: bool = False  # only the contract's four operations
    only_undeclared: bool = False  # only a probe with a method the contract does not declare
    skip_rate_limited: bool = False  # a 429 is retry_after_on_429's to judge
    ordinary_besides: str | None = None  # every request fact but this one is the plain case (RequestFacts.ordinary)
    only_declared: bool = False  # only operations the document declares: the four and the resources' (no probe)
    only_resource_writes: bool = False  # only a resource's conditional write (not the four: they have their own rules)

    def __post_init__(self) -> None:
        scopes = [self.only_ours, self.only_undeclared, self.only_declared, self.only_resource_writes]
        if sum(scopes) > 1:
            raise ValueError("a rule judges the contract's operations, undeclared ones, or both: not only each")
        if self.ordinary_besides is not None:
            RequestFacts().ordinary(besides=self.ordinary_besides)  # a fact's name misspelt fails at import, not mid-session

    def leave_alone(self, exchange: Exchange) -> bool:
        """Whether the rule does not apply to this exchange."""
        if (self.only_ours and not ours(exchange)) or (self.only_undeclared and declared(exchange)):
            return True
        if (self.only_declared and not declared(exchange)) or (self.only_resource_writes and not resource_write(exchange)):
            return True
        if self.skip_rate_limited and rate_limited(exchange):
            return True
        return self.ordinary_besides is not None and not exchange.facts.ordinary(besides=self.ordinary_besides)


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    unexercised: str  # why it may have judged nothing, and how to exercise it
    judge: Callable[..., Any]  # exchange rules: the guarded function; sequence rules: the SequenceJudge class
    expectation: bool = False
    severity: Severity = Severity.MAJOR
    # an expectation rule's finding when the target served or applied what it must refuse (a stale
    # tag won, another account's run was served): more severe than a refusal with the wrong status
    severity_if_served: Severity | None = None
    # also judges an answer that could not be read as HTTP (no other rule can: its status,
    # headers and body are not what the target meant)
    judges_unreadable: bool = False
    guards: Guards = Guards()  # exchange rules: what they leave alone before their body runs


EXCHANGE_RULES: dict[str, Rule] = {}
SEQUENCE_RULES: dict[str, Rule] = {}

ExchangeJudgement = Callable[[Exchange], Result]


def exchange_rule(summary: str, unexercised: str, expectation: bool = False, severity: Severity = Severity.MAJOR,
                  severity_if_served: Severity | None = None, judges_unreadable: bool = False, *,
                  only_ours: bool = False, only_undeclared: bool = False, skip_rate_limited: bool = False,
                  ordinary_besides: str | None = None, only_declared: bool = False,
                  only_resource_writes: bool = False) -> Callable[[ExchangeJudgement], ExchangeJudgement]:
    """Register a function judging one exchange under its own name; the keyword-only arguments
    are its guards (`Guards`). The name bound at module level is the guarded function, so a call
    of the rule from anywhere (the recorder, schemathesis, the manual, a test) judges the same."""
    guards = Guards(only_ours, only_undeclared, skip_rate_limited, ordinary_besides, only_declared, only_resource_writes)

    def decorator(body: ExchangeJudgement) -> ExchangeJudgement:
        @functools.wraps(body)
        def judged(exchange: Exchange) -> Result:
            return None if guards.leave_alone(exchange) else body(exchange)

        EXCHANGE_RULES[body.__name__] = Rule(body.__name__, summary, unexercised, judged, expectation, severity,
                                             severity_if_served, judges_unreadable, guards)
        return judged

    return decorator


class SequenceJudge:
    """A sequence rule's judge of one sequence (a concurrency round, a chain of writes, a
    history): fed each item with `observe`, it keeps its own bookkeeping, all of it declared as
    dataclass fields, and gives a verdict on the whole with `finish`. Each judgement it returns
    is one check of its rule."""

    rule: ClassVar[str]

    def observe(self, item: Any) -> Result:
        raise NotImplementedError

    def finish(self) -> Result:
        """The verdict on the whole sequence (None: nothing to judge as a whole)."""
        return None

    def evidence(self) -> dict[str, Any] | None:
        """What a finished judge can show of itself for the report's pictures (None: nothing)."""
        return None


JudgeClass = TypeVar("JudgeClass", bound=type[SequenceJudge])


def sequence_rule(summary: str, unexercised: str, severity: Severity = Severity.CRITICAL) -> Callable[[JudgeClass], JudgeClass]:
    """Register a judge class under its `rule` name."""

    def decorator(cls: JudgeClass) -> JudgeClass:
        SEQUENCE_RULES[cls.rule] = Rule(cls.rule, summary, unexercised, cls, severity=severity)
        return cls

    return decorator


def judge_exchange(exchange: Exchange) -> dict[str, Result]:
    """Every exchange rule's verdict on one exchange (on an answer that could not be read as
    HTTP, only the rules that judge such answers)."""
    return {name: rule.judge(exchange) if exchange.readable or rule.judges_unreadable else None
            for name, rule in EXCHANGE_RULES.items()}


def all_rules() -> dict[str, Rule]:
    return {**EXCHANGE_RULES, **SEQUENCE_RULES}


def severity_of(name: str) -> Severity:
    """A rule's severity; another checker's findings (schemathesis.*) are minor: what they check
    that no rule covers is the form of a body or how negative data is rejected."""
    rule = EXCHANGE_RULES.get(name) or SEQUENCE_RULES.get(name)
    return rule.severity if rule is not None else Severity.MINOR


def finding(rule: Callable[..., Any] | str, exchange: Exchange | None, defect: str, message: str | None = None,
            severity: Severity | None = None) -> list[Finding]:
    """`defect` is the finding's identity: fixed words, never a value the request or answer
    carried (those go in `message`). `severity`: the rule's own unless given."""
    name = rule if isinstance(rule, str) else rule.__name__
    if message is None:
        message = f"{what_happened(exchange)}: {defect}" if exchange is not None else defect
    return [Finding(name, defect, message, exchange, severity or severity_of(name))]


def statuses_text(allowed: Iterable[int]) -> str:
    return " or ".join(str(s) for s in sorted(set(allowed)))


def expect(rule: Callable[..., Any] | str, exchange: Exchange, allowed: Iterable[int], why: str, detail: str = "") -> list[Finding]:
    """A finding unless the status is one of `allowed`. `why` is part of the finding's identity
    (fixed words), `detail` only of its message; a success where a refusal was due is the rule's
    `severity_if_served`."""
    allowed = set(allowed)
    if exchange.status in allowed:
        return []
    defect = f"expected {statuses_text(allowed)}: {why}"
    registered = EXCHANGE_RULES[rule if isinstance(rule, str) else rule.__name__]
    served = 200 <= exchange.status < 300 and registered.severity_if_served is not None
    return finding(rule, exchange, defect, f"{what_happened(exchange)}; {defect}{detail}",
                   registered.severity_if_served if served else None)


def what_happened(exchange: Exchange) -> str:
    """`METHOD operation answered STATUS`, the opening of every finding's message."""
    return f"{exchange.method} {exchange.operation} answered {exchange.status}"
