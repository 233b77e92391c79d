"""Where exchanges go: judged by every exchange rule as they are recorded, counted for the
coverage matrix and the per-rule totals, and every finding kept, grouped by rule and signature
(each group with its count and a few distinct examples) until the current test takes them.

Nothing is raised here: a finding never stops a test. The plugin fails a test at its end when
its groups are not empty, so one pervasive defect still leaves a full report on everything else.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fieldproof import rules
from fieldproof.exchange import Exchange
from fieldproof.records import EvidenceRecord, FindingsRecord, TotalsRecord
from fieldproof.rules import ExternalFailure, Finding, Result, SequenceJudge, Severity, Signature, what_happened

EXAMPLES_KEPT = 3  # distinct examples per group; the count says how many more there were
EVIDENCE_KEPT = 30  # pictures' data per rule and process (concurrency rounds, counterexamples)
LATENCIES_KEPT = 300  # answer times kept per operation x status and process (a uniform sample)


@dataclass
class _Tally:
    """The findings of one rule with one signature the current test has made so far: how many,
    and a few distinct ones. Taken at the test's end as its FindingsRecord; the summary merges
    those into finding groups."""

    rule: str
    identity: Signature
    severity: Severity
    count: int = 0
    first_at: float = 0.0  # epoch seconds of the first one
    examples: list[Finding] = field(default_factory=list)

    def record(self, test: str) -> FindingsRecord:
        return FindingsRecord(test, self.rule, self.identity.text, self.identity.operation, self.identity.status,
                              self.identity.defect, self.severity.value, self.count, self.first_at,
                              tuple(f.to_dict() for f in self.examples))

    def add(self, finding: Finding, at: float) -> None:
        self.count += 1
        self.first_at = self.first_at or at
        if len(self.examples) < EXAMPLES_KEPT and all(_kind(e) != _kind(finding) for e in self.examples):
            self.examples.append(finding)


def _kind(finding: Finding) -> tuple[object, ...]:
    """What makes two findings of a group different examples: their story and what was sent."""
    exchange = finding.exchange
    return (finding.message,) if exchange is None else (finding.message, exchange.method, exchange.facts)


def format_findings(findings: Iterable[FindingsRecord]) -> str:
    """A test's findings as its failure shows them: the most severe first, one example each
    with its curl line, and how many more like it."""
    lines = []
    for found in sorted(findings, key=lambda f: (Severity(f.severity).rank, -f.count)):
        for example in found.examples[:1]:
            lines.append(f"[{found.severity}] [{found.rule}] {example['message']}")
            if example.get("exchange"):
                lines.append(f"    reproduce: {example['exchange']['curl']}")
        if found.count > 1:
            lines.append(f"    ... {found.count - 1} more like this ({found.signature})")
    return "\n".join(lines)


class Judged:
    """A sequence judge whose findings the recorder counts and keeps."""

    def __init__(self, recorder: Recorder, judge: SequenceJudge) -> None:
        self.recorder = recorder
        self.judge = judge

    def observe(self, item: Any) -> Result:
        return self.recorder.count_sequence(self.judge.rule, self.judge.observe(item))

    def finish(self) -> Result:
        result = self.recorder.count_sequence(self.judge.rule, self.judge.finish())
        self.recorder.keep_evidence(self.judge.rule, self.judge.evidence())
        return result


class Recorder:
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self.secrets = secrets
        self.checks: Counter[str] = Counter()
        self.found: Counter[str] = Counter()  # findings per rule
        self.severities: Counter[str] = Counter()  # findings per severity (each finding's own: served refusals are critical)
        self.observed: Counter[tuple[str, int]] = Counter()
        self.asserted: Counter[tuple[str, int]] = Counter()
        self.requests = 0
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._evidence: list[tuple[str, dict[str, Any]]] = []
        self._evidence_kept: Counter[str] = Counter()
        self.latencies: dict[tuple[str, int], list[float]] = {}  # seconds, a uniform sample per cell
        self._rng = random.Random(0)
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> list[Finding]:
        """Judge an exchange by every exchange rule and keep what they found (returned too)."""
        verdicts = rules.judge_exchange(exchange)
        found: list[Finding] = []
        with self._lock:
            self.requests += 1
            cell = (exchange.operation, exchange.status)
            self.observed[cell] += 1
            self._sample(cell, exchange.elapsed_s)
            for name, result in verdicts.items():
                if result is None:
                    continue
                self.checks[name] += 1
                if rules.EXCHANGE_RULES[name].expectation:
                    self.asserted[cell] += 1
                self._keep(result)
                found += result
        return found

    def judge(self, judge: SequenceJudge) -> Judged:
        """A sequence judge to feed; its verdicts are counted and its findings kept."""
        return Judged(self, judge)

    def count_sequence(self, name: str, result: Result) -> Result:
        with self._lock:
            if result is not None:
                self.checks[name] += 1
                self._keep(result)
        return result

    def record_failures(self, source: str, exchange: Exchange, failures: Iterable[ExternalFailure]) -> None:
        """Findings of another checker (schemathesis) about an exchange. One that a rule which
        judges the same fact also found on this exchange is that rule's finding, already kept:
        a defect is counted once. The others are kept under `source.check` names."""
        failures = list(failures)
        # judged again, as when it was recorded (rules are pure), only when a failure may restate a rule:
        # most answers schemathesis validates pass, and judging each twice would be wasted
        verdicts = rules.judge_exchange(exchange) if any(failure.restated_by for failure in failures) else {}
        with self._lock:
            self.checks[source] += 1
            for failure in failures:
                if any(found.defect.startswith(begins) for rule, begins in failure.restated_by
                       for found in verdicts.get(rule) or []):
                    continue
                name = f"{source}.{failure.check}"
                message = f"{what_happened(exchange)}: {failure.title}: {failure.detail}"[:2000]
                self._keep([Finding(name, failure.title, message, exchange, rules.severity_of(name))])

    def _keep(self, findings: list[Finding]) -> None:
        now = time.time()
        for finding in findings:
            self.found[finding.rule] += 1
            self.severities[finding.severity.value] += 1
            key = (finding.rule, finding.signature)
            group = self._tallies.get(key)
            if group is None:
                group = self._tallies[key] = _Tally(finding.rule, finding.identity, finding.severity)
            group.add(finding, now)

    def _sample(self, cell: tuple[str, int], seconds: float) -> None:
        """Reservoir sampling: every answer time equally likely to be kept, in bounded memory."""
        kept = self.latencies.setdefault(cell, [])
        if len(kept) < LATENCIES_KEPT:
            kept.append(seconds)
        else:
            slot = self._rng.randrange(self.observed[cell])
            if slot < LATENCIES_KEPT:
                kept[slot] = seconds

    def keep_evidence(self, rule: str, data: dict[str, Any] | None) -> None:
        with self._lock:
            if data is not None and self._evidence_kept[rule] < EVIDENCE_KEPT:
                self._evidence_kept[rule] += 1
                self._evidence.append((rule, data))

    def take_evidence(self, test: str) -> list[EvidenceRecord]:
        with self._lock:
            taken, self._evidence = self._evidence, []
        return [EvidenceRecord(test, rule, data) for rule, data in taken]

    def take_findings(self, test: str) -> list[FindingsRecord]:
        """What was found since the last take (the current test's), a record per rule and signature."""
        with self._lock:
            tallies, self._tallies = list(self._tallies.values()), {}
        return [tally.record(test) for tally in tallies]

    def totals(self, unanswered: int = 0, waited_429_s: float = 0.0, paced_rps: float | None = None) -> TotalsRecord:
        """This process's counts; `unanswered`: requests sent that got no answer (not recorded);
        `waited_429_s`: seconds spent waiting out 429s; `paced_rps`: the rate learned from them
        (a process's pacer serves all its pytest sessions: its latest record says what it knows)."""
        with self._lock:
            return TotalsRecord(
                process=os.getpid(),
                at=time.time(),
                requests=self.requests,
                unanswered=unanswered,
                waited_429_s=round(waited_429_s, 3),
                paced_rps=None if paced_rps is None else round(paced_rps, 2),
                checks=dict(self.checks),
                found=dict(self.found),
                observed=[(op, status, n) for (op, status), n in self.observed.items()],
                asserted=[(op, status, n) for (op, status), n in self.asserted.items()],
                latencies=[(op, status, self.observed[(op, status)], [round(s, 5) for s in kept])
                           for (op, status), kept in self.latencies.items()],
                severities=dict(self.severities),
            )
