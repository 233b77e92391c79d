"""SARIF 2.1.0 of a summary, for code scanning: one result per finding group, its ruleId the
rule's name (described in the tool's rules), located at the operation in the contract document
(its file and line), the curl reproduction in the message; an accepted group is a suppressed
result (the baseline's reason as justification). The invocation says whether the session
completed (a pass or a finding): one interrupted, or ended before its verdict, is
`executionSuccessful: false`, with the reason in its notifications."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fieldproof import __version__, contract
from fieldproof.errors import MEANINGS, ExitCode
from fieldproof.report.summary import GroupRow, RuleRow, Summary
from fieldproof.rules import Severity, severity_of

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> str:
    return Path(path).as_uri() if Path(path).is_absolute() else path


def _location(summary: Summary, group: GroupRow) -> dict[str, object]:
    where = summary.contract or {"path": "contracts/fielding-runs.openapi.yaml", "lines": {}}
    operation = group.operation or ""
    if operation not in contract.OPERATIONS:
        operation = "resume"  # a sequence rule's group: the operation the harness is built around
    line = max(1, int(where["lines"].get(operation, 1) or 1))
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(str(where["path"]))}, "region": {"startLine": line}}}


def _message(group: GroupRow) -> str:
    text = f"[{group.severity}] {group.signature}: {group.count} finding{'s' if group.count != 1 else ''}."
    if group.examples:
        text += f" {group.examples[0]['message'].splitlines()[0]}"
    if group.reproduction:
        text += f"\nreproduce:\n{group.reproduction}"
    if group.more:
        text += f"\n... and {group.more} more like this"
    return text


def _rule(rule: RuleRow) -> dict[str, object]:
    level = severity_of(rule.name).level
    return {
        "id": rule.name,
        "name": "".join(part.title() for part in rule.name.replace(".", "_").split("_")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": f"{rule.summary}. Exercised by the suites of `fieldproof run`; when it judged nothing: "
                         f"{rule.unexercised or 'see the report'}."},  # fmt: skip
        "defaultConfiguration": {"level": level},
    }


def _invocation(summary: Summary) -> dict[str, object]:
    outcome = summary.outcome
    invocation: dict[str, object] = {"executionSuccessful": outcome.completed}
    if summary.exit_code is not None:
        invocation["exitCode"] = summary.exit_code
        invocation["exitCodeDescription"] = MEANINGS[ExitCode(summary.exit_code)]
    if not outcome.completed:
        said = [("error", outcome.line), *(("error", f"{p.kind}: {p.message}") for p in summary.problems),
                *(("note", note) for note in summary.notes)]  # fmt: skip
        invocation["toolExecutionNotifications"] = [{"level": level, "message": {"text": text}} for level, text in said]
    return invocation


def render_sarif(summary: Summary) -> str:
    results = []
    owner = {id(group): rule.name for rule in summary.rules for group in rule.groups}  # an external group's row
    for group in summary.groups:  # most severe first
        rule_id = owner[id(group)]
        result: dict[str, object] = {
            "ruleId": rule_id,
            "level": Severity(group.severity).level,
            "message": {"text": _message(group)},
            "locations": [_location(summary, group)],
            "partialFingerprints": {"fieldproofSignature/v1": hashlib.sha256(f"{rule_id}|{group.signature}".encode()).hexdigest()},
            "properties": {"severity": group.severity},
        }
        if group.accepted is not None:
            result["suppressions"] = [{"kind": "external", "justification": group.accepted}]
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fieldproof", "version": __version__, "informationUri": "https://github.com/fieldproof/fieldproof",
                                "rules": [_rule(rule) for rule in summary.rules]}},
            "invocations": [_invocation(summary)],
            "results": results,
        }],
    }  # fmt: skip
    return json.dumps(log, indent=1)
