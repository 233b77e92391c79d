"""Merging the workers' JSON lines into one summary: per rule (violated, held, not exercised),
every finding group with its count, the coverage matrix, per documented fact of the ledger
(violated, accepted, verified, not exercised), the baseline and the verdict.

The rows are dataclasses that every reader shares: the renderers, the selfcheck and the
benchmarks (`load_summary` reads a summary.json back into them)."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fieldproof import contract, ledger, rules
from fieldproof.baseline import Acceptance, Baseline
from fieldproof.errors import ExitCode
from fieldproof.recorder import EXAMPLES_KEPT
from fieldproof.records import (
    EvidenceRecord,
    FindingsRecord,
    FirstPassRecord,
    NoteRecord,
    ProblemKind,
    ProblemRecord,
    TestRecord,
    TotalsRecord,
    read_records,
)
from fieldproof.reproduce import RACE_SCRIPT, Reproduction, Where, group_id, replayable, reproduction, text_of
from fieldproof.rules import Severity

# summary.json's "verdict" (and the GitHub Action's output of that name)
PASS, VIOLATION, INCONCLUSIVE, INTERRUPTED = "pass", "violation", "inconclusive", "interrupted"
USAGE, UNREACHABLE = "usage", "unreachable"
VIOLATED, ACCEPTED, HELD, NOT_EXERCISED = "violated", "accepted", "held", "not exercised"
VERIFIED = "verified"  # a documented fact whose rules held where it applies
FACT_STATES = (VIOLATED, ACCEPTED, NOT_EXERCISED, VERIFIED)  # the order the reports list facts in


@dataclass(frozen=True)
class Verdict:
    """What a session's exit code says, in the words every output uses: the console's last
    line, summary.json/md, report.html, junit.xml and the SARIF file all read it from here."""

    word: str  # PASS, FAIL, USAGE, UNREACHABLE, INCONCLUSIVE, INTERRUPTED
    key: str  # summary.json's "verdict"
    says: str

    @property
    def line(self) -> str:
        return f"{self.word}: {self.says}"

    @property
    def completed(self) -> bool:
        """Did the session judge what it set out to (a pass or a finding), or did it end early?"""
        return self.key in (PASS, VIOLATION)


def _stopped_by(signal_name: str) -> Verdict:
    return Verdict("INTERRUPTED", INTERRUPTED, f"the session was stopped by {signal_name} before it could reach a verdict")


VERDICTS: dict[ExitCode, Verdict] = {
    ExitCode.OK: Verdict("PASS", PASS, "the contract holds"),
    ExitCode.FINDING: Verdict("FAIL", VIOLATION, "the target violates the contract"),
    ExitCode.USAGE: Verdict("USAGE", USAGE, "the request budget (max_requests) or max_duration_s ran out before a verdict"),
    ExitCode.UNREACHABLE: Verdict("UNREACHABLE", UNREACHABLE, "the target stopped answering before a verdict"),
    ExitCode.INCONCLUSIVE: Verdict("INCONCLUSIVE", INCONCLUSIVE, "the session could not reach a verdict"),
    ExitCode.INTERRUPTED: _stopped_by("SIGINT"),
    ExitCode.TERMINATED: _stopped_by("SIGTERM"),
    ExitCode.HANGUP: _stopped_by("SIGHUP"),
}
# A summary whose exit code was never decided (built by hand, or read from an older file): by its key
_BY_KEY = {verdict.key: verdict for verdict in VERDICTS.values() if verdict.key != INTERRUPTED}
_BY_KEY[INTERRUPTED] = Verdict("INTERRUPTED", INTERRUPTED, "the session was stopped before it could reach a verdict")


@dataclass
class SuiteTest:
    """One suite test as pytest reported it (for the JUnit report)."""

    __test__ = False  # not a test class, whatever its name says to pytest

    classname: str  # fieldproof.suites.<module>
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float = 0.0
    message: str = ""
    nodeid: str = ""  # pytest's id of the test: the finding groups name the tests they were found in
    accepted: str = ""  # a test that failed only on findings the baseline accepts passes: their reasons


@dataclass
class Skip:
    test: str
    reason: str


@dataclass
class Problem:
    """What kept a session from a verdict (records.ProblemKind says which kinds there are)."""

    kind: ProblemKind
    message: str = ""
    test: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(ProblemKind(data["kind"]), data.get("message", ""), data.get("test", ""))


@dataclass
class TestOutcomes:
    __test__ = False

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    skips: list[Skip] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)  # suites that could not be collected
    failures: list[str] = field(default_factory=list)  # the failed tests' ids
    cases: list[SuiteTest] = field(default_factory=list)

    @classmethod
    def of(cls, records: Iterable[TestRecord]) -> TestOutcomes:
        """The outcomes the controlling process recorded, test by test, in the order they ended."""
        tests = cls()
        for record in records:
            if record.outcome == "uncollected":  # a suite that cannot even be collected is no pass
                tests.failed += 1
                tests.errors.append(Problem(ProblemKind.COLLECTION, record.message, record.nodeid))
                continue
            if record.outcome == "passed":
                tests.passed += 1
            elif record.outcome == "skipped":
                tests.skipped += 1
                tests.skips.append(Skip(record.nodeid, record.message))
            else:
                tests.failed += 1
                tests.failures.append(record.nodeid)
            module, _, name = record.nodeid.partition("::")
            tests.cases.append(SuiteTest("fieldproof.suites." + Path(module).stem, name + (" (teardown)" if record.teardown else ""),
                                         record.outcome, record.seconds, record.message, record.nodeid))
        return tests

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestOutcomes:
        return cls(data["passed"], data["failed"], data["skipped"], [Skip(**s) for s in data["skips"]],
                   [Problem.from_dict(e) for e in data["errors"]], list(data["failures"]),
                   [SuiteTest(**c) for c in data.get("cases", [])])


@dataclass
class FindingGroup:
    """Every finding of one rule with one signature, merged over tests and workers: one defect."""

    rule: str
    signature: str  # rules.Signature.text: "<operation> <status>: <defect>", or the defect alone
    count: int
    first_at: float
    examples: list[dict[str, Any]]  # Finding.to_dict(), a few distinct ones
    tests: list[str]
    accepted: str | None = None  # the baseline's reason, when accepted
    expired: str | None = None  # the baseline entry that covered it, now expired
    severity: str = Severity.MAJOR.value
    operation: str | None = None  # of the exchange it was found on (None: a sequence's finding without one)
    status: int | None = None
    defect: str = ""
    reproduction: Reproduction | None = None  # how to see it again: a curl line or a short script

    @property
    def id(self) -> str:
        """A short name for the group, the same in every output and session (`fieldproof replay` takes it)."""
        return group_id(self.rule, self.signature)

    @property
    def rank(self) -> tuple[bool, int, int]:
        """How the reports order groups: failing before accepted, most severe first, then most found."""
        return (self.accepted is not None, Severity(self.severity).rank, -self.count)

    @property
    def more(self) -> int:
        """How many findings of this group the examples do not show."""
        return self.count - len(self.examples)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reproduction": self.reproduction.to_dict() if self.reproduction else None,
                "id": self.id, "more": self.more}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FindingGroup:
        return cls(data["rule"], data["signature"], data["count"], data["first_at"], data["examples"], data["tests"],
                   data.get("accepted"), data.get("expired"), data.get("severity", Severity.MAJOR.value),
                   data.get("operation"), data.get("status"), data.get("defect", data.get("problem", "")),
                   Reproduction.from_dict(data["reproduction"]) if data.get("reproduction") else None)


@dataclass
class RuleRow:
    name: str
    kind: str  # exchange | sequence | external
    summary: str
    checks: int
    groups: list[FindingGroup]
    unexercised: str  # why it judged nothing, and how to exercise it

    @property
    def severity(self) -> str:
        """The worst of its failing groups' (a refusal rule's finding is critical when the target
        served what it must refuse), else the rule's own."""
        failing = [Severity(g.severity) for g in self.groups if g.accepted is None]
        return min(failing, key=lambda s: s.rank).value if failing else rules.severity_of(self.name).value

    @property
    def failing(self) -> int:
        """Findings that fail the session (not accepted by the baseline); summary.json's "violations"."""
        return sum(g.count for g in self.groups if g.accepted is None)

    @property
    def accepted(self) -> int:
        return sum(g.count for g in self.groups if g.accepted is not None)

    @property
    def state(self) -> str:
        if self.failing:
            return VIOLATED
        if self.accepted:
            return ACCEPTED
        return HELD if self.checks else NOT_EXERCISED

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "summary": self.summary, "state": self.state,
                "checks": self.checks, "violations": self.failing, "accepted": self.accepted,
                "unexercised": self.unexercised if self.state == NOT_EXERCISED else None,
                "groups": [g.to_dict() for g in self.groups]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleRow:
        return cls(data["name"], data["kind"], data["summary"], data["checks"],
                   [FindingGroup.from_dict(g) for g in data["groups"]], data.get("unexercised") or "")


@dataclass
class CoverageCell:
    operation: str
    status: int
    documented: bool
    observed: int
    asserted: int


@dataclass
class FactFinding:
    """A finding group that breaks a documented fact (by its rule and signature)."""

    rule: str
    signature: str
    count: int
    accepted: str | None = None  # the baseline's reason, when accepted


@dataclass
class FactRow:
    """A documented fact of the ledger (fieldproof.ledger) as this session left it."""

    name: str
    says: str
    source: str
    state: str  # one of FACT_STATES
    checks: dict[str, int]  # each rule that asserts it: how many times it judged
    scope: str  # the answers it is about ("get answered 200"), "" when it is about every answer
    seen: int  # answers of its scope observed (every answer of the four operations when it has none)
    findings: list[FactFinding]  # the groups that break it, failing ones first
    reason: str  # why it was not exercised ("" unless it was not)
    probes: list[str]
    questions: list[str]  # the open questions that qualify it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FactRow:
        return cls(data["name"], data["says"], data["source"], data["state"], dict(data["checks"]), data["scope"],
                   data["seen"], [FactFinding(**f) for f in data["findings"]], data["reason"], list(data["probes"]),
                   list(data["questions"]))


def _statuses_text(statuses: frozenset[int]) -> str:
    classes = [f"{hundred // 100}xx" for hundred in (400, 500) if set(range(hundred, hundred + 100)) <= statuses]
    rest = sorted(s for s in statuses if not any(c[0] == str(s // 100) for c in classes))
    return _either(classes + [str(s) for s in rest])


def _either(words: Sequence[str]) -> str:
    return f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else "".join(words)


def _scope(fact: ledger.Fact) -> tuple[str, str]:
    """The answers a fact is about, and how the reports say none was seen ("" and "": every answer)."""
    operations = [op for op in contract.OPERATIONS if op in fact.operations]
    who = _either(operations)
    statuses = _statuses_text(fact.statuses)
    if operations and fact.statuses:
        return f"{who} answered {statuses}", f"no {who} answered {statuses} was seen"
    if operations:
        return f"{who} answered", f"no {who} was answered"
    if fact.statuses:
        return f"any operation answered {statuses}", f"no {statuses} was answered"
    return "", ""


def probes_that_ran(cases: Sequence[SuiteTest]) -> set[str]:
    """The ledger's names of the suite tests (and first-pass steps) that ran, passed or failed."""
    ran = set()
    for case in cases:
        if case.outcome == "skipped" or not case.classname.startswith("fieldproof.suites.test_"):
            continue
        suite, test = case.classname.removeprefix("fieldproof.suites.test_"), case.name.removesuffix(" (teardown)")
        if suite == "first_pass" and test.startswith("test_every_rule_once["):
            ran.add(f"first_pass[{test.partition('[')[2].rstrip(']')}]")
        else:
            ran.add(f"{suite}::{test.partition('[')[0]}")
    return ran


def fact_rows(rule_rows: Sequence[RuleRow], coverage: Sequence[CoverageCell],
              facts: Sequence[ledger.Fact] = ledger.FACTS, ran: set[str] | None = None) -> list[FactRow]:
    """Each documented fact's state, from the rules' checks and finding groups and the coverage:

    - violated: a finding group of one of its rules, not accepted by the baseline, concerns it
      (the operation and status its signature starts with are ones the fact is about; a group
      whose signature names none, or one no fact of its rule is about, concerns every fact of
      its rule, so that no finding is lost from the ledger);
    - accepted: only groups the baseline accepted concern it;
    - verified: every rule of it judged something, one of its own probes ran where its rules
      also judge other facts' requests (`ran`: the probes that did; None: not known, as in a
      swarm), and an answer of its scope was observed (unless its scope is what it forbids);
    - not exercised: else, with the reason (the rules that judged nothing, the probes that did
      not run, or the answers never seen).
    """
    by_name = {row.name: row for row in rule_rows}

    def about(fact: ledger.Fact, group: FindingGroup) -> bool:
        if group.operation is None or group.status is None:
            return True
        operation, status = group.operation, group.status
        if fact.concerns(operation, status):
            return True
        return not any(other.concerns(operation, status) for other in facts if group.rule in other.rules)

    rows = []
    for fact in facts:
        asserting = [by_name[rule] for rule in fact.rules if rule in by_name]
        found = [FactFinding(g.rule, g.signature, g.count, g.accepted) for row in asserting for g in row.groups if about(fact, g)]
        found.sort(key=lambda f: (f.accepted is not None, -f.count))
        checks = {rule: by_name[rule].checks if rule in by_name else 0 for rule in fact.rules}
        scope, unseen = _scope(fact)
        seen = sum(cell.observed for cell in coverage if (not fact.operations or cell.operation in fact.operations)
                   and (not fact.statuses or cell.status in fact.statuses))
        idle = [f"{rule}: {by_name[rule].unexercised if rule in by_name else 'not in this session'}"
                for rule, count in checks.items() if not count]
        reason = ""
        if any(f.accepted is None for f in found):
            state = VIOLATED
        elif found:
            state = ACCEPTED
        elif idle:
            state, reason = NOT_EXERCISED, "; ".join(idle)
        elif fact.own_probe and ran is not None and not ran & set(fact.probes):
            state, reason = NOT_EXERCISED, f"none of its probes ran ({', '.join(fact.probes)})"
        elif scope and not seen and not fact.forbids:
            state, reason = NOT_EXERCISED, unseen
        else:
            state = VERIFIED
        rows.append(FactRow(fact.name, fact.says, fact.source, state, checks, scope, seen, found, reason,
                            list(fact.probes), list(fact.questions)))
    return rows


def fact_counts(rows: Sequence[FactRow]) -> dict[str, int]:
    """How many facts are in each state, and how many are documented."""
    return {**{state: sum(row.state == state for row in rows) for state in FACT_STATES}, "documented": len(rows)}


QUANTILES = (5, 25, 50, 75, 95, 99)  # the percentiles of answer time a latency row keeps


@dataclass
class LatencyRow:
    """Answer times of one operation x status: how many, and percentiles of uniform samples."""

    operation: str
    status: int
    count: int
    ms: dict[int, float]  # percentile -> milliseconds

    @classmethod
    def of(cls, operation: str, status: int, samples: list[tuple[int, list[float]]]) -> LatencyRow:
        """From uniform samples of answer times in seconds, each with the count it was drawn
        from (one per recorder: an xdist worker, a pytest session): each answer in a sample
        stands for count / len(sample) answers, so that a sample drawn from few answers does
        not weigh as much as one drawn from many."""
        weighted = sorted((seconds, count / len(sample)) for count, sample in samples if sample for seconds in sample)
        whole = sum(weight for _, weight in weighted)

        def at(p: int) -> float:
            reached = 0.0
            for seconds, weight in weighted:
                reached += weight
                if reached > whole * p / 100:
                    return round(seconds * 1000, 2)
            return round(weighted[-1][0] * 1000, 2) if weighted else 0.0

        return cls(operation, status, sum(count for count, _ in samples), {p: at(p) for p in QUANTILES})

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "status": self.status, "count": self.count,
                **{f"p{p}_ms": ms for p, ms in self.ms.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyRow:
        return cls(data["operation"], data["status"], data["count"], {p: data[f"p{p}_ms"] for p in QUANTILES})


@dataclass
class BaselineReport:
    source: str
    not_seen: list[Acceptance]  # entries no finding matched: prune them
    expired: list[Acceptance]  # entries past their date that matched findings again


@dataclass
class Summary:
    verdict: str
    target: dict[str, Any]
    profile: str
    duration_s: float
    requests: int
    rules: list[RuleRow]
    coverage: list[CoverageCell]
    tests: TestOutcomes
    problems: list[Problem]  # what kept the session from a verdict
    notes: list[str] = field(default_factory=list)
    suites_s: float = 0.0  # the part of duration_s spent inside pytest
    started_at: float = 0.0  # epoch seconds; finding groups carry their own `first_at`
    baseline: BaselineReport | None = None
    swarm: dict[str, Any] | None = None  # `fieldproof swarm`: workers, load, latency, races, histories
    evidence: list[dict[str, Any]] = field(default_factory=list)  # pictures' data: rounds, counterexamples
    latency: list[LatencyRow] = field(default_factory=list)
    contract: dict[str, Any] | None = None  # the document judged by: its file and each operation's line
    waited_429_s: float = 0.0  # seconds spent waiting out 429s (Retry-After), over every process
    paced_rps: float | None = None  # the request rate learned from the target's 429s (all processes)
    exit_code: int | None = None  # set by `decide`: the session's exit code, which the verdict says
    facts: list[FactRow] = field(default_factory=list)  # the ledger's facts, as the session left them

    def decide(self, code: ExitCode) -> None:
        """The session's exit code is decided (fieldproof.session.exit_code): the verdict is the
        one that code stands for, in every report."""
        self.exit_code = int(code)
        self.verdict = VERDICTS[code].key

    @property
    def outcome(self) -> Verdict:
        """The verdict, in the words every output uses."""
        if self.exit_code is not None:
            return VERDICTS[ExitCode(self.exit_code)]
        return _BY_KEY[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "target": self.target,
            "profile": self.profile,
            "duration_s": round(self.duration_s, 2),
            "suites_s": round(self.suites_s, 2),
            "started_at": self.started_at,
            "requests": self.requests,
            "rules": [rule.to_dict() for rule in self.rules],
            "coverage": [asdict(cell) for cell in self.coverage],
            "fact_counts": fact_counts(self.facts),
            "facts": [asdict(row) for row in self.facts],
            "tests": asdict(self.tests),
            "problems": [asdict(p) for p in self.problems],
            "notes": self.notes,
            "baseline": None if self.baseline is None else {
                "source": self.baseline.source,
                "not_seen": [e.to_dict() for e in self.baseline.not_seen],
                "expired": [e.to_dict() for e in self.baseline.expired],
            },
            "swarm": self.swarm,
            "evidence": self.evidence,
            "latency": [row.to_dict() for row in self.latency],
            "contract": self.contract,
            "waited_429_s": round(self.waited_429_s, 2),
            "paced_rps": self.paced_rps,
        }

    @property
    def groups(self) -> list[FindingGroup]:
        """Every finding group, in the order every output lists them (FindingGroup.rank)."""
        return sorted((group for rule in self.rules for group in rule.groups), key=lambda g: g.rank)

    def most_serious(self, count: int = 3) -> list[FindingGroup]:
        """The failing groups every output opens with."""
        return [group for group in self.groups if group.accepted is None][:count]

    def rule_counts(self) -> dict[str, int]:
        """How many rules are in each state, as the rule table shows them."""
        return {state: sum(rule.state == state for rule in self.rules) for state in (VIOLATED, ACCEPTED, HELD, NOT_EXERCISED)}

    def severity_counts(self) -> dict[str, int]:
        """Failing finding groups per severity."""
        failing = [group for group in self.groups if group.accepted is None]
        return {severity.value: sum(group.severity == severity.value for group in failing) for severity in Severity}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        """A summary.json read back (the baseline's entries as written, not re-parsed)."""
        baseline = data.get("baseline")
        return cls(
            verdict=data["verdict"], target=data["target"], profile=data["profile"], duration_s=data["duration_s"],
            requests=data["requests"], rules=[RuleRow.from_dict(r) for r in data["rules"]],
            coverage=[CoverageCell(**c) for c in data["coverage"]], tests=TestOutcomes.from_dict(data["tests"]),
            problems=[Problem.from_dict(p) for p in data["problems"]], notes=list(data["notes"]),
            suites_s=data.get("suites_s", 0.0), started_at=data.get("started_at", 0.0),
            baseline=None if baseline is None else BaselineReport(baseline["source"], [], []),
            swarm=data.get("swarm"), evidence=data.get("evidence", []),
            latency=[LatencyRow.from_dict(row) for row in data.get("latency", [])], contract=data.get("contract"),
            waited_429_s=data.get("waited_429_s", 0.0), paced_rps=data.get("paced_rps"), exit_code=data.get("exit_code"),
            facts=[FactRow.from_dict(row) for row in data.get("facts", [])],
        )


def load_summary(path: Path) -> Summary:
    """A summary.json as written by `fieldproof run` (OSError or ValueError if it cannot be read)."""
    try:
        return Summary.from_dict(json.loads(path.read_text()))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a fieldproof summary: {exc!r}") from None


def _kind(example: dict[str, Any]) -> tuple[Any, ...]:
    """As recorder._kind, on a finding's JSON: its story and the facts of what was sent."""
    exchange = example.get("exchange") or {}
    return example["message"], exchange.get("method"), repr(exchange.get("facts"))


def _merge(found: list[FindingsRecord]) -> list[FindingGroup]:
    """One row per (rule, signature): counts summed, a few distinct examples kept."""
    merged: dict[tuple[str, str], FindingGroup] = {}
    for record in found:
        key = (record.rule, record.signature)
        row = merged.get(key)
        if row is None:
            row = merged[key] = FindingGroup(record.rule, record.signature, 0, record.at or 0.0, [], [],
                                         severity=record.severity, operation=record.operation, status=record.status,
                                         defect=record.defect)
        row.count += record.count
        row.first_at = min(row.first_at, record.at or row.first_at) or row.first_at
        if record.test not in row.tests:
            row.tests.append(record.test)
        for example in record.examples:
            if len(row.examples) < EXAMPLES_KEPT and all(_kind(e) != _kind(example) for e in row.examples):
                row.examples.append(example)
    return sorted(merged.values(), key=lambda g: g.rank)


def _settle_tests(tests: TestOutcomes, groups: Sequence[FindingGroup], problems: Sequence[Problem], spent: set[str]) -> None:
    """A suite test that failed on findings only, every one of them accepted by the baseline,
    passes (as its rules do in the rule table); one the request budget stopped after the first
    pass had exercised every rule (`spent`) is skipped, as the note says. A failed test's message
    is its finding groups' text and what stopped it, never the harness's own traceback."""
    for case in tests.cases:
        if case.outcome != "failed" or not case.nodeid:
            continue
        own = sorted((group for group in groups if case.nodeid in group.tests), key=lambda g: g.rank)
        stopped = [f"{p.kind}: {p.message}" for p in problems if p.test == case.nodeid]
        if own or stopped:
            case.message = "\n".join([*map(group_text, own), *stopped])
        if stopped or any(group.accepted is None for group in own):
            continue  # it failed: a finding, or what stopped it
        if case.nodeid in spent:
            case.outcome, case.message = "skipped", "the request budget ended it after the first pass had exercised every rule"
            tests.skipped += 1
            tests.skips.append(Skip(case.nodeid, case.message))
        elif own:
            case.outcome, case.accepted = "passed", "; ".join(dict.fromkeys(str(group.accepted) for group in own))
            tests.passed += 1
        else:
            continue
        tests.failed -= 1
        if case.nodeid in tests.failures:
            tests.failures.remove(case.nodeid)


def group_head(group: FindingGroup) -> str:
    """A group's one line, as every output heads it."""
    head = f"[{group.severity}] {group.rule}: {group.signature} ({group.count} finding{'s' if group.count != 1 else ''}, id {group.id})"
    if group.accepted is not None:
        head += f" (accepted: {group.accepted})"
    elif group.expired is not None:
        head += f" (the baseline's acceptance has expired: {group.expired})"
    return head


def group_text(group: FindingGroup, examples: int = 1, scripts: bool = True) -> str:
    """A group as plain text: its head, its first examples' stories and how to reproduce it
    (`scripts` False: a race's script is named, not shown, as on the console)."""
    lines = [group_head(group)]
    for example in group.examples[:examples]:
        lines += [f"    {line}" for line in str(example["message"]).splitlines()]
    again = group.reproduction
    if again is not None:
        lines.append("    reproduce:")
        if again.kind == RACE_SCRIPT and not scripts:
            lines += [f"      # needs: {need}" for need in again.needs]
            lines.append(f"      or run the race's stand-alone Python script ({len(again.text.splitlines())} lines), "
                         "in summary.md and report.html")
        else:
            lines += [f"      {line}" for line in text_of(again).splitlines()]
    if group.count > 1:
        lines.append(f"    ... and {group.count - 1} more like this")
    return "\n".join(lines)


def _budget_verdict(problems: list[Problem], first_pass: list[FirstPassRecord], checks: Mapping[str, int],
                    max_requests: int | None) -> tuple[list[Problem], list[str], set[str]]:
    """When the request budget ended the session after a first pass: no problem if every rule of
    the steps that ran was exercised (a note says so), else one that names the rules left and the
    budget that would cover them. (problems, notes, the tests the budget stopped)"""
    spent = [p for p in problems if p.kind is ProblemKind.BUDGET_EXHAUSTED]
    if not spent or not first_pass:
        return problems, [], set()
    kept = [p for p in problems if p.kind is not ProblemKind.BUDGET_EXHAUSTED]
    required = {rule for step in first_pass if step.outcome != "skipped" for rule in step.rules}
    never = sorted(rule for rule in required if not checks.get(rule))
    stopped = {p.test for p in spent}
    if not never:
        counts = ", ".join(f"{rule} {checks[rule]}" for rule in sorted(required))
        budget = f"max_requests = {max_requests}" if max_requests else "the request budget"
        return kept, [f"{budget} ended the exploration after the first pass had exercised every rule "
                      f"(checks per rule: {counts})"], stopped
    missing = sum(step.cost for step in first_pass if step.outcome == "stopped")
    enough = f"; allow at least max_requests = {max_requests + missing}" if max_requests else ""
    more = f" (the first pass over every rule needs about {missing} more requests{enough})" if missing else ""
    message = (f"{', '.join(never)} {'was' if len(never) == 1 else 'were'} never exercised{more}: {spent[0].message}")
    return [*kept, Problem(ProblemKind.BUDGET_EXHAUSTED, message, spent[0].test)], [], stopped


def build_summary(
    work_dir: Path,
    *,
    target: dict[str, Any],
    profile: str,
    duration_s: float,
    tests: TestOutcomes | None = None,  # None: as the records say (a swarm, run without pytest, says its own)
    notes: list[str] | None = None,
    suites_s: float = 0.0,
    started_at: float = 0.0,
    documented: Mapping[str, frozenset[int]] | None = None,
    baseline: Baseline | None = None,
    today: datetime.date | None = None,
    interrupted: bool = False,
    requests_outside: int = 0,
    contract_location: dict[str, Any] | None = None,
    reports: str | None = None,
) -> Summary:
    """`interrupted`: a signal stopped the session (never a pass); `requests_outside`: requests
    sent outside the suites (checking the target, putting runs back), counted too; `reports`: the
    folder the reports go to (a reproduction names it for `fieldproof replay`)."""
    records = read_records(work_dir)
    if tests is None:
        tests = TestOutcomes.of(record for record in records if isinstance(record, TestRecord))
    checks: Counter[str] = Counter()
    per_rule: Counter[str] = Counter()  # findings per rule, as the processes counted them
    observed: Counter[tuple[str, int]] = Counter()
    asserted: Counter[tuple[str, int]] = Counter()
    found: list[FindingsRecord] = []
    evidence: list[dict[str, Any]] = []
    first_pass: list[FirstPassRecord] = []
    samples: dict[tuple[str, int], list[tuple[int, list[float]]]] = {}  # (count, its sample) per recorder
    problems: list[Problem] = []
    requests = requests_outside
    waited_429_s = 0.0
    paced: dict[object, tuple[float, float]] = {}  # per process: (when, the rate it learned), its latest
    for record in records:
        if isinstance(record, TotalsRecord):
            requests += record.requests + record.unanswered  # every request sent counts
            waited_429_s += record.waited_429_s
            if record.paced_rps:
                paced[record.process] = max(paced.get(record.process, (0.0, 0.0)), (record.at, record.paced_rps))
            checks.update(record.checks)
            per_rule.update(record.found)
            observed.update({(op, status): n for op, status, n in record.observed})
            asserted.update({(op, status): n for op, status, n in record.asserted})
            for op, status, count, sample in record.latencies:
                samples.setdefault((op, status), []).append((count, sample))
        elif isinstance(record, EvidenceRecord):
            evidence.append({"test": record.test, "rule": record.rule, **record.data})
        elif isinstance(record, FirstPassRecord):
            first_pass.append(record)
        elif isinstance(record, FindingsRecord):
            found.append(record)
        elif isinstance(record, NoteRecord):
            notes = [*(notes or []), record.message]
        elif isinstance(record, ProblemRecord):
            problems.append(Problem(record.kind, record.message, record.test))
    groups = _merge(found)
    where = Where.from_summary(target)
    for group in groups:
        shown = [e for e in evidence if e.get("rule") == group.rule and e.get("test") in group.tests]
        replay = f"fieldproof replay {reports} {group.id}" if reports and replayable(group.rule) else None
        group.reproduction = reproduction(group.rule, group.examples, where, evidence=shown, replay=replay)
    today = today or datetime.date.today()
    matched: set[Acceptance] = set()
    expired: list[Acceptance] = []
    for group in groups:
        entry = baseline.match(group.rule, group.signature) if baseline is not None else None
        if entry is None:
            continue
        matched.add(entry)
        if entry.expired(today):
            group.expired = entry.describe()
            if entry not in expired:
                expired.append(entry)
        else:
            group.accepted = entry.reason
    rule_rows = []
    for registry, rule_kind in ((rules.EXCHANGE_RULES, "exchange"), (rules.SEQUENCE_RULES, "sequence")):
        for name, rule in registry.items():
            rule_rows.append(RuleRow(name, rule_kind, rule.summary, checks[name], [g for g in groups if g.rule == name], rule.unexercised))
    known = set(rules.all_rules())
    for source in sorted(name for name in checks if name not in known):
        # another checker's verdicts (schemathesis): one row, its findings named source.Kind
        rule_rows.append(RuleRow(source, "external", f"{source}'s own checks on the responses it validated", checks[source],
                                 [g for g in groups if g.rule.startswith(source + ".")], f"the {source} suite did not run"))
    listed = {g.rule for row in rule_rows for g in row.groups}
    for group in groups:  # a group of no known rule is still reported, never dropped
        if group.rule not in listed:
            rule_rows.append(RuleRow(group.rule, "external", group.rule, checks[group.rule], [group], ""))
            listed.add(group.rule)
    for row in rule_rows:  # counts lost with a test's lines still show
        lost = per_rule[row.name] - sum(g.count for g in row.groups)
        if row.kind != "external" and lost > 0:
            row.groups.append(FindingGroup(row.name, "(findings whose details were lost)", lost, 0.0, [], []))
    statuses = documented or {name: op.statuses for name, op in contract.OPERATIONS.items()}
    coverage = []
    for operation in contract.OPERATIONS:
        documented_here = statuses[operation]
        for status in sorted(documented_here | {s for (op, s) in observed if op == operation}):
            coverage.append(CoverageCell(operation, status, status in documented_here, observed[(operation, status)],
                                         asserted[(operation, status)]))
    problems, budget_note, budget_tests = _budget_verdict(problems, first_pass, checks, target.get("max_requests"))
    notes = [*(notes or []), *budget_note]
    _settle_tests(tests, groups, problems, budget_tests if budget_note else set())
    problems += tests.errors
    explained = {test for g in groups for test in g.tests} | {p.test for p in problems} | budget_tests
    problems += [Problem(ProblemKind.INCONCLUSIVE, "the test failed without a finding", test)
                 for test in tests.failures if test not in explained]
    failing = any(row.failing for row in rule_rows)
    ran = tests.passed + tests.failed
    verdict = VIOLATION if failing else (INTERRUPTED if interrupted else INCONCLUSIVE if problems or not ran else PASS)
    report = None
    if baseline is not None:
        report = BaselineReport(baseline.source, [e for e in baseline.entries if e not in matched], expired)
    swarm_file = work_dir / "swarm.json"  # written by a swarm's master
    swarm = json.loads(swarm_file.read_text()) if swarm_file.exists() else None
    latency = [LatencyRow.of(op, status, drawn) for (op, status), drawn in sorted(samples.items())]
    return Summary(verdict, target, profile, duration_s, requests, rule_rows, coverage, tests, problems, notes or [],
                   suites_s, started_at, report, swarm, evidence, latency, contract_location,
                   waited_429_s=waited_429_s, paced_rps=round(sum(rps for _, rps in paced.values()), 2) if paced else None,
                   facts=fact_rows(rule_rows, coverage, ran=probes_that_ran(tests.cases) if tests.cases else None))
