"""`fieldproof lint --contract FILE`: what a contract document leaves out about its conditional
requests. The document here has the vendor's shapes (its webhooks and projects, a `? ` long key,
$ref parameters) without being the vendor's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldproof.cli import main
from fieldproof.document import read_document
from fieldproof.lint import lint, render_sarif
from fieldproof.surface import conditionals, operations

DOCUMENT = """\
openapi: 3.0.3
info: {title: vendor-like, version: '1'}
paths:
  /accounts/{account_id}/webhooks/{webhook_id}:
    get:
      operationId: get_webhook
      responses:
        '200': {description: ok, headers: {ETag: {$ref: '#/components/headers/ETag'}}}
    put:
      operationId: update_webhook
      parameters: [{$ref: '#/components/parameters/IfMatchOptional'}]
      responses:
        '200': {description: ok}
        '400': {description: bad}
    delete:
      operationId: delete_webhook
      parameters: [{$ref: '#/components/parameters/IfMatchOptional'}]
      responses:
        '204': {description: gone}
  /demand/accounts/{account_id}/projects/{project_id}:
    get:
      operationId: get_project_by_id
      responses:
        '200': {description: ok, headers: {ETag: {$ref: '#/components/headers/ETag'}}}
    put:
      operationId: update_project
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      responses:
        '200': {description: ok}
        '412': {description: stale}
        '428': {description: no If-Match}
  ? /demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}/resume
  : post:
      operationId: resume_fielding_run
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      responses:
        '204': {description: resumed, headers: {ETag: {$ref: '#/components/headers/ETag'}}}
        '412': {description: stale}
        '428': {description: no If-Match}
  /demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}:
    get:
      operationId: get_fielding_run
      responses:
        '200': {description: ok, headers: {ETag: {$ref: '#/components/headers/ETag'}}}
  /demand/accounts/{account_id}/templates/{template_id}:
    get:
      operationId: get_template
      responses:
        '200': {description: ok}
    put:
      operationId: update_template
      parameters: [{name: If-Match, in: header, required: true, schema: {type: string}}]
      responses:
        '204': {description: ok, headers: {etag: {schema: {type: string}}}}
        '412': {description: stale}
  /orphans/{id}:
    patch:
      operationId: patch_orphan
      parameters: [{name: if-match, in: header, required: true, schema: {type: string}}]
      responses:
        '204': {description: ok, headers: {ETag: {schema: {type: string}}}}
        '412': {description: stale}
        '428': {description: no If-Match}
components:
  headers:
    ETag: {schema: {type: string}}
  parameters:
    IfMatch: {name: If-Match, in: header, required: true, schema: {type: string}}
    IfMatchOptional: {name: If-Match, in: header, schema: {type: string}}
"""

FOUND = {
    ("conditional_write_documents_412", "update_webhook"),
    ("conditional_write_documents_412", "delete_webhook"),
    ("conditional_success_documents_etag", "update_webhook"),
    ("conditional_success_documents_etag", "update_project"),
    ("conditional_read_documents_etag", "update_template"),
    ("required_if_match_documents_428", "update_template"),
    ("conditional_read_documents_etag", "patch_orphan"),
}


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "demand.yml"
    path.write_text(DOCUMENT)
    return path


def test_every_conditional_write_is_paired_with_the_read_of_its_resource(document: Path) -> None:
    data, text = read_document(document)
    pairs = {pair.write.operation_id: pair.read.operation_id if pair.read else None for pair in conditionals(operations(data, text))}
    assert pairs == {"update_webhook": "get_webhook", "delete_webhook": "get_webhook", "update_project": "get_project_by_id",
                     "resume_fielding_run": "get_fielding_run",  # an action: read by the GET of its parent path
                     "update_template": "get_template", "patch_orphan": None}


def test_the_lint_finds_what_the_document_leaves_out_and_nothing_else(document: Path) -> None:
    _, findings = lint(document)
    assert {(f.rule, f.operation.operation_id) for f in findings} == FOUND
    # resume documents 412, 428 and its ETag, and requires If-Match: nothing to say of it
    assert not [f for f in findings if f.operation.operation_id == "resume_fielding_run"]
    assert [f.severity.value for f in findings] == sorted((f.severity.value for f in findings), key=["critical", "major", "minor"].index)


def test_each_finding_is_located_at_its_operations_line(document: Path) -> None:
    lines = DOCUMENT.splitlines()
    _, findings = lint(document)
    data, text = read_document(document)
    for op in operations(data, text):
        assert op.line > 0 and lines[op.line - 1].strip().lstrip(": ").startswith(f"{op.method}:"), op
    sarif = json.loads(render_sarif(document, findings))
    results = sarif["runs"][0]["results"]
    assert len(results) == len(FOUND)
    by_rule = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    delete_line = next(n for n, line in enumerate(lines, 1) if line.strip() == "delete:")
    assert ("conditional_write_documents_412", delete_line) in by_rule
    assert {r["level"] for r in results} == {"error", "warning"}  # major, minor


def test_the_command_exits_1_on_findings_0_on_none_and_writes_sarif(document: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sarif = tmp_path / "lint.sarif"
    assert main(["lint", "--contract", str(document), "--sarif", str(sarif)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("6 conditional writes, 7 findings")
    assert "update_webhook" in out and "delete_webhook" in out and "update_project" in out
    assert len(json.loads(sarif.read_text())["runs"][0]["results"]) == len(FOUND)
    clean = tmp_path / "clean.yml"
    head, _, rest = DOCUMENT.partition("  /accounts/{account_id}/webhooks/{webhook_id}:")
    resume = rest[rest.index("  ? /demand"):rest.index("  /demand/accounts/{account_id}/templates")]
    clean.write_text(head + resume + rest[rest.index("components:"):])
    assert main(["lint", "--contract", str(clean)]) == 0
    assert capsys.readouterr().out.strip().endswith("1 conditional write, 0 findings")


@pytest.mark.parametrize("args, says", [
    (["--contract", "{missing}"], "does not exist"),
    (["--contract", "{bad}"], "is not an OpenAPI 3 document"),
    (["--contract", "{doc}", "--sarif", "{nowhere}"], "--sarif"),
])
def test_a_bad_input_is_one_line_and_exit_2(document: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], says: str) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("just: text\n")
    names = {"missing": tmp_path / "none.yml", "bad": bad, "doc": document, "nowhere": tmp_path / "no" / "such" / "x.sarif"}
    assert main(["lint", *(a.format(**names) for a in args)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err


def test_our_own_document_leaves_only_the_open_question_of_a_missing_if_match(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --contract, fieldproof's own document: every conditional write documents 412 and its
    ETag; what a write without If-Match gets (400, 412 or 428) is an open question of the docs."""
    assert main(["lint"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("12 conditional writes, 12 findings")
    assert all("required_if_match_documents_428" in line for line in lines[1:])
