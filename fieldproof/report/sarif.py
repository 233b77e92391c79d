"""SARIF 2.1.0 of a summary, for code scanning: one result per finding group, its ruleId the
rule's name (described in the tool's rules), located in a file of the user's repository (the
contract document they passed, at the operation's line; else their target file), the curl
reproduction in the message; an accepted group is a suppressed
result (the baseline's reason as justification). The invocation says whether the session
completed (a pass or a finding): one interrupted, or ended before its verdict, is
`executionSuccessful: false`, with the reason in its notifications."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fieldproof import __version__, contract
from fieldproof.errors import MEANINGS, ExitCode
from fieldproof.report.summary import FindingGroup, RuleRow, Summary
from fieldproof.reproduce import text_of
from fieldproof.rules import Severity, severity_of
from fieldproof.target import SANDBOX_SOURCE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"




def _as_given(path: str) -> str:
    """A path as the user's repository knows it: relative to the working folder (in the Action,
    the repository's root) when it lies below it; else absolute."""
    absolute, base = Path(path).resolve(), Path.cwd().resolve()
    return str(absolute.relative_to(base)) if absolute.is_relative_to(base) else str(absolute)


def findings_file(summary: Summary) -> tuple[str, dict[str, int]] | None:
    """The file of the user's own that findings are placed in, and each operation's line in it:
    the contract document they passed (`--contract`), else their target file (at its top); None
    for the built-in sandbox judged by the built-in contract, where no file is theirs (a
    location there would point into fieldproof's own repository)."""
    where = summary.contract
    if where and where.get("path") and Path(str(where["path"])).resolve() != contract.CONTRACT_PATH.resolve():
        return _as_given(str(where["path"])), {name: int(line) for name, line in (where.get("lines") or {}).items() if line}
    source = summary.target.get("source")
    if source and source != SANDBOX_SOURCE:
        return _as_given(str(source)), {}
    return None


def _uri(path: str) -> str:
    return Path(path).as_uri() if Path(path).is_absolute() else Path(path).as_posix()


def _locations(summary: Summary, group: FindingGroup) -> list[dict[str, object]]:
    found = findings_file(summary)
    if found is None:
        return []
    path, lines = found
    operation = group.operation or ""
    if operation not in contract.OPERATIONS:
        operation = "resume"  # a sequence rule's group: the operation the harness is built around
    line = max(1, lines.get(operation, 1))
    return [{"physicalLocation": {"artifactLocation": {"uri": _uri(path)}, "region": {"startLine": line}}}]


def _message(group: FindingGroup) -> str:
    text = f"[{group.severity}] {group.signature}: {group.count} finding{'s' if group.count != 1 else ''}."
    if group.examples:
        text += f" {group.examples[0]['message'].splitlines()[0]}"
    if group.reproduction is not None:
        text += f"\nreproduce:\n{text_of(group.reproduction)}"
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
                         f"{rule.unexercised or 'see the report'}."},
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
                *(("note", note) for note in summary.notes)]
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
            "partialFingerprints": {"fieldproofSignature/v1": hashlib.sha256(f"{rule_id}|{group.signature}".encode()).hexdigest()},
            "properties": {"severity": group.severity},
        }
        if locations := _locations(summary, group):
            result["locations"] = locations
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
    }
    return json.dumps(log, indent=1)
