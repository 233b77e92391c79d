"""The contract document in use: the four operations found by method and path, our names,
the links added, and nothing else of a provider's document."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fieldproof import contract
from fieldproof.document import OPERATION_IDS, ContractDocument, ContractError

FR = "/demand/accounts/{a}/projects/{p}/target-groups/{t}/fielding-runs/{r}"


def _write(tmp_path: Path, paths: dict) -> Path:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}))
    return path


def _op(*statuses: str, **extra) -> dict:
    return {"responses": {s: {"description": s} for s in statuses}, **extra}


def test_operations_are_found_by_method_and_path_whatever_their_names(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        FR: {"get": _op("200", "4XX", operationId="read_it"), "put": _op("202", operationId="update_it")},
        FR + "/pause": {"post": _op("204", "default")},
        FR + "/resume": {"post": _op("204", "412")},
        FR + "/complete": {"post": _op("204")},
        FR + "/launch": {"post": _op("204", operationId="launch_it")},
        "/elsewhere": {"get": _op("200")},
    })  # fmt: skip
    document = ContractDocument.load(path)
    assert document.statuses["get"] == frozenset({200, *range(400, 500)})  # a range counts whole
    assert document.statuses["pause"] == frozenset(range(100, 600))  # "default" documents anything
    assert document.statuses["resume"] == {204, 412}
    assert document.declared_methods(contract.RUN_PATH) == {"GET", "PUT"}
    reduced = document.for_schemathesis()
    assert sorted(reduced["paths"]) == sorted(contract.RUN_PATH + (f"/{a}" if a else "") for a in (None, *contract.WRITES))
    operations = {op["operationId"] for item in reduced["paths"].values() for op in item.values() if isinstance(op, dict)}
    assert operations == set(OPERATION_IDS.values())  # ours, and no PUT, launch or elsewhere
    links = reduced["paths"][contract.RUN_PATH]["get"]["responses"]["200"]["links"]
    assert links["ResumeWithEtag"]["parameters"]["If-Match"] == "$response.header.ETag"
    assert links["ResumeWithEtag"]["parameters"]["fielding_run_id"] == "$request.path.fielding_run_id"


def test_path_parameters_are_renamed_to_ours(tmp_path: Path) -> None:
    param = {"name": "r", "in": "path", "required": True, "schema": {"type": "string"}}
    path = _write(tmp_path, {FR: {"parameters": [param], "get": _op("200")}, **{FR + f"/{a}": {"post": _op("204")}
                             for a in contract.WRITES}})  # fmt: skip
    reduced = ContractDocument.load(path).for_schemathesis()
    assert reduced["paths"][contract.RUN_PATH]["parameters"][0]["name"] == "fielding_run_id"
    # a write without an If-Match parameter (older documents) gets an optional one for the links
    resume = reduced["paths"][contract.RUN_PATH + "/resume"]["post"]
    assert [p["name"] for p in resume["parameters"]] == ["If-Match"]


def test_a_document_without_the_four_operations_says_which_are_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, {FR: {"get": _op("200")}})
    with pytest.raises(ContractError, match=r"has no POST .*/pause, POST .*/resume, POST .*/complete"):
        ContractDocument.load(path)


def test_our_document_documents_what_the_table_does() -> None:
    document = ContractDocument.load()
    assert document.statuses == {name: op.statuses for name, op in contract.OPERATIONS.items()}
    assert all(found.line > 0 for found in document.found.values())
