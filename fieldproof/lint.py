"""`fieldproof lint --contract FILE`: what a contract document leaves out about its conditional
requests, before anything is sent.

The conditional writes and their reads are found by `fieldproof.surface`. Each lint rule below is
one function named after what it asks of the document; a document that breaks one gets a finding located at the operation's line.
What RFC 9110 and RFC 6585 let a client rely on only when the document says it:
- a conditional write documents 412 (Precondition Failed), and 428 where `If-Match` is required;
- `If-Match` is required on a write that documents 412 (else a client may leave it out unchecked);
- a conditional write's success (a DELETE's aside) documents the new `ETag`;
- the read of a conditionally written resource documents its `ETag`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from fieldproof import __version__
from fieldproof.contract import CONTRACT_PATH
from fieldproof.document import read_document
from fieldproof.errors import ExitCode, UsageError
from fieldproof.files import write_file
from fieldproof.rules import Severity
from fieldproof.surface import Conditional, Operation, conditionals, operations

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class LintFinding:
    rule: str
    severity: Severity
    operation: Operation
    message: str


# --- the lint rules: each asks one thing of one conditional write --------------------------------


def conditional_write_documents_412(pair: Conditional) -> str | None:
    if not pair.write.documents("412"):
        return "declares If-Match but documents no 412: a client cannot tell a stale tag's refusal from any other error"
    return None


def required_if_match_documents_428(pair: Conditional) -> str | None:
    if pair.write.if_match is not None and pair.write.if_match.get("required") is True and not pair.write.documents("428"):
        return "requires If-Match but documents no 428 (RFC 6585): what a request without it gets is not said"
    return None


def if_match_required_on_conditional_write(pair: Conditional) -> str | None:
    if pair.write.documents("412") and (pair.write.if_match or {}).get("required") is not True:
        return "documents 412 but declares If-Match optional: a write without it may overwrite what the client never saw"
    return None


def conditional_success_documents_etag(pair: Conditional) -> str | None:
    if pair.write.method == "delete":
        return None  # nothing is left to tag
    untagged = [status for status in pair.write.successes() if not pair.write.etag_on(status)]
    if untagged:
        return f"a conditional write whose success ({', '.join(untagged)}) documents no ETag: the next write's If-Match must be read again"
    return None


def conditional_read_documents_etag(pair: Conditional) -> str | None:
    if pair.read is None:
        return "a conditional write whose resource has no GET in the document: no ETag to send can be read"
    if "200" in pair.read.responses and not pair.read.etag_on("200"):
        return f"the read of a conditionally written resource ({pair.read.name}) documents no ETag on its 200"
    return None


LINT_RULES: dict[str, tuple[Callable[[Conditional], str | None], Severity]] = {
    "conditional_write_documents_412": (conditional_write_documents_412, Severity.MAJOR),
    "if_match_required_on_conditional_write": (if_match_required_on_conditional_write, Severity.MAJOR),
    "conditional_read_documents_etag": (conditional_read_documents_etag, Severity.MAJOR),
    "conditional_success_documents_etag": (conditional_success_documents_etag, Severity.MINOR),
    "required_if_match_documents_428": (required_if_match_documents_428, Severity.MINOR),
}


def lint(path: Path) -> tuple[list[Conditional], list[LintFinding]]:
    """The document's conditional writes, and what it leaves out about them, most severe first."""
    document, text = read_document(path)
    pairs = conditionals(operations(document, text))
    findings = [LintFinding(name, severity, pair.write, message)
                for pair in pairs for name, (rule, severity) in LINT_RULES.items() if (message := rule(pair))]
    findings.sort(key=lambda f: (f.severity.rank, f.operation.line, f.rule))
    return pairs, findings


def render_text(path: Path, pairs: list[Conditional], findings: list[LintFinding]) -> Iterator[str]:
    yield (f"{path}: {len(pairs)} conditional write{'s' if len(pairs) != 1 else ''}, "
           f"{len(findings)} finding{'s' if len(findings) != 1 else ''}")
    for finding in findings:
        op = finding.operation
        yield f"{path}:{op.line}: [{finding.severity.value}] {finding.rule}: {op.method.upper()} {op.path} ({op.name}): {finding.message}"


def render_sarif(path: Path, findings: list[LintFinding]) -> str:
    results = []
    for finding in findings:
        op = finding.operation
        location: dict[str, Any] = {"artifactLocation": {"uri": path.as_posix()}}
        if op.line:
            location["region"] = {"startLine": op.line}
        results.append({
            "ruleId": finding.rule,
            "level": finding.severity.level,
            "message": {"text": f"{op.method.upper()} {op.path} ({op.name}): {finding.message}"},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"fieldproofLint/v1": hashlib.sha256(f"{finding.rule}|{op.method}|{op.path}".encode()).hexdigest()},
        })
    rules = [{"id": name, "defaultConfiguration": {"level": severity.level}, "fullDescription": {"text": (rule.__doc__ or name)}}
             for name, (rule, severity) in LINT_RULES.items()]
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "fieldproof lint", "version": __version__, "rules": rules}}, "results": results}]}
    return json.dumps(log, indent=1)


def run_lint(contract: str | None, sarif: str | None, out: TextIO) -> int:
    """The command: the findings as text (and SARIF); exit 1 when the document leaves something out.
    `contract` None: fieldproof's own contract document."""
    path = Path(contract) if contract is not None else CONTRACT_PATH
    pairs, findings = lint(path)
    for line in render_text(path, pairs, findings):
        print(line, file=out)
    if sarif is not None:
        try:
            write_file(Path(sarif), render_sarif(path, findings))
        except OSError as exc:
            raise UsageError(f"--sarif {sarif} cannot be written ({exc.strerror or exc}); give a file in a folder you can write") from None
    return ExitCode.FINDING if findings else ExitCode.OK
