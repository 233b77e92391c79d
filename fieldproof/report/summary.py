"""Merging the workers' JSON lines into one summary: per rule, coverage matrix, verdict."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldproof import rules
from fieldproof.contract import OPERATION_IDS, documented_statuses

PASS, VIOLATION, ERROR = "pass", "violation", "error"


@dataclass
class TestOutcomes:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    skips: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # suites that could not be collected


@dataclass
class Summary:
    verdict: str
    target: dict[str, Any]
    profile: str
    duration_s: float
    requests: int
    rules: list[dict[str, Any]]
    coverage: list[dict[str, Any]]
    tests: TestOutcomes
    problems: list[dict[str, str]]  # harness errors: budget spent, unreachable, crashes
    notes: list[str] = field(default_factory=list)
    suites_s: float = 0.0  # the part of duration_s spent inside pytest
    started_at: float = 0.0  # epoch seconds; findings carry their own `at`

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "target": self.target,
            "profile": self.profile,
            "duration_s": round(self.duration_s, 2),
            "suites_s": round(self.suites_s, 2),
            "started_at": self.started_at,
            "requests": self.requests,
            "rules": self.rules,
            "coverage": self.coverage,
            "tests": self.tests.__dict__,
            "problems": self.problems,
            "notes": self.notes,
        }

    @property
    def violations(self) -> int:
        return sum(rule["violations"] for rule in self.rules)


def _read_lines(work_dir: Path) -> list[dict[str, Any]]:
    lines = []
    for path in sorted(work_dir.glob("*.jsonl")):
        for raw in path.read_text().splitlines():
            if raw.strip():
                lines.append(json.loads(raw))
    return lines


def build_summary(
    work_dir: Path,
    *,
    target: dict[str, Any],
    profile: str,
    duration_s: float,
    tests: TestOutcomes,
    notes: list[str] | None = None,
    suites_s: float = 0.0,
    started_at: float = 0.0,
) -> Summary:
    lines = _read_lines(work_dir)
    checks: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    observed: Counter[tuple[str, int]] = Counter()
    asserted: Counter[tuple[str, int]] = Counter()
    findings: dict[str, list[dict[str, Any]]] = {}
    problems = []
    requests = 0
    for line in lines:
        kind = line.pop("type")
        if kind == "totals":
            requests += line["requests"]
            checks.update(line["checks"])
            violations.update(line["violations"])
            observed.update({(op, status): n for op, status, n in line["observed"]})
            asserted.update({(op, status): n for op, status, n in line["asserted"]})
        elif kind == "finding":
            findings.setdefault(line["rule"], []).append(line)
        else:
            problems.append({"kind": kind, **line})
    rule_rows = []
    for registry, rule_kind in ((rules.EXCHANGE_RULES, "exchange"), (rules.SEQUENCE_RULES, "sequence")):
        for name, rule in registry.items():
            rule_rows.append(
                {
                    "name": name,
                    "kind": rule_kind,
                    "summary": rule.summary,
                    "checks": checks[name],
                    "violations": max(violations[name], len(findings.get(name, []))),
                    "findings": findings.get(name, []),
                }
            )
    known = set(rules.EXCHANGE_RULES) | set(rules.SEQUENCE_RULES)
    for source in sorted(name for name in checks if name not in known):
        # another checker's verdicts (schemathesis): one row, its findings named source.Kind
        theirs = [f for name, found in findings.items() if name.startswith(source + ".") for f in found]
        rule_rows.append(
            {
                "name": source,
                "kind": "external",
                "summary": f"{source}'s own checks on the responses it validated",
                "checks": checks[source],
                "violations": max(sum(n for name, n in violations.items() if name.startswith(source + ".")), len(theirs)),
                "findings": theirs,
            }
        )
    coverage = []
    for operation in OPERATION_IDS:
        documented = documented_statuses(operation)
        statuses = sorted(documented | {s for (op, s) in observed if op == operation})
        for status in statuses:
            coverage.append(
                {
                    "operation": operation,
                    "status": status,
                    "documented": status in documented,
                    "observed": observed[(operation, status)],
                    "asserted": asserted[(operation, status)],
                }
            )
    problems += [{"kind": "collection", **error} for error in tests.errors]
    found = any(row["violations"] for row in rule_rows)
    verdict = VIOLATION if found else (ERROR if problems or tests.failed or not tests.passed else PASS)
    return Summary(verdict, target, profile, duration_s, requests, rule_rows, coverage, tests, problems, notes or [], suites_s, started_at)
