"""Where exchanges go: judged by every exchange rule as they are recorded, counted for the
coverage matrix and the per-rule totals, and their findings kept for the current test."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from fieldproof import rules
from fieldproof.exchange import Exchange, redact_text
from fieldproof.rules import Finding, what_happened


class ContractViolation(AssertionError):
    """Raised by a suite when the rules found something; carries the findings."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__(format_findings(findings))


def format_findings(findings: Iterable[Finding]) -> str:
    lines = []
    for finding in findings:
        lines.append(f"[{finding.rule}] {finding.message}")
        if finding.exchange is not None:
            lines.append(f"    reproduce: {finding.exchange.curl()}")
    return "\n".join(lines)


class Recorder:
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self.secrets = secrets
        self.checks: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.observed: Counter[tuple[str, int]] = Counter()
        self.asserted: Counter[tuple[str, int]] = Counter()
        self.requests = 0
        self.pending: list[Finding] = []
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        verdicts = rules.judge_exchange(exchange)
        self._count(exchange, verdicts)

    def judge_sequence(self, rule: rules.Rule | Any, *args: Any) -> list[Finding]:
        """Run a sequence rule and keep its findings; the rule is given by its function."""
        name = rule.__name__
        result = rule(*args)
        with self._lock:
            if result is not None:
                self.checks[name] += 1
                if result:
                    self.violations[name] += 1
                    self.pending.extend(result)
        return result or []

    def record_failures(self, source: str, exchange: Exchange, failures: Iterable[BaseException]) -> None:
        """Findings of another checker (schemathesis) about an exchange, under `source.Kind` names."""
        with self._lock:
            self.checks[source] += 1
            for failure in failures:
                name = f"{source}.{type(failure).__name__}"
                title = getattr(failure, "title", "") or type(failure).__name__
                message = " ".join(str(getattr(failure, "message", "") or failure).split())
                self.violations[name] += 1
                self.pending.append(Finding(name, f"{what_happened(exchange)}: {title}: {message}"[:2000], exchange))

    def _count(self, exchange: Exchange, verdicts: dict[str, rules.Result]) -> None:
        with self._lock:
            self.requests += 1
            cell = (exchange.operation, exchange.status)
            self.observed[cell] += 1
            for name, result in verdicts.items():
                if result is None:
                    continue
                self.checks[name] += 1
                if rules.EXCHANGE_RULES[name].expectation:
                    self.asserted[cell] += 1
                if result:
                    self.violations[name] += 1
                    self.pending.extend(result)

    def take_pending(self) -> list[Finding]:
        with self._lock:
            pending, self.pending = self.pending, []
        return pending

    def check(self) -> None:
        """Raise ContractViolation if anything was found since the last check."""
        pending = self.take_pending()
        if pending:
            raise ContractViolation(pending)

    # persistence: one JSON-lines file per pytest process, merged by the report

    def finding_line(self, finding: Finding, test: str) -> str:
        line = {"type": "finding", "test": test, "at": time.time(), **finding.to_dict()}
        return redact_text(json.dumps(line), self.secrets)

    def totals_line(self) -> str:
        return json.dumps(
            {
                "type": "totals",
                "requests": self.requests,
                "checks": dict(self.checks),
                "violations": dict(self.violations),
                "observed": [[op, status, n] for (op, status), n in self.observed.items()],
                "asserted": [[op, status, n] for (op, status), n in self.asserted.items()],
            }
        )


def append_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for line in lines:
            out.write(line + "\n")
