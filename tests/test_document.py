"""The contract document in use: the four operations found by method and path, our names,
the links added, and nothing else of a provider's document."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import Phase, given, settings
from vendor_like import vendor_like_text, write_vendor_like

from fieldproof import contract
from fieldproof import document as document_module
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
    })
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
                             for a in contract.WRITES}})
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


# --- documents as providers write them ---------------------------------------------------------

# YAML that PyYAML's safe loader reads differently from schemathesis' loader
_YAML_FEATURES = """\
openapi: 3.0.3
info: {title: t, version: '1'}
paths: {}
x-features:
  date: 2025-12-18
  timestamp: 2023-10-09 12:00:00+00:00
  timestamp_t: 2026-01-23T10:04:44.209Z
  words: [on, off, yes, no, y, n, true, False]
  exponent: 1e10
  exponent_dot: 1.5e3
  binary: !!binary aGVsbG8=
  anchored: &shared {type: string, example: 2024-01-31}
  aliased: *shared
  merged:
    <<: *shared
    format: date
  ? explicit key
  : value
  200: int key
  on: bool key
  1.5: float key
  null: null key
"""


def test_yaml_is_read_as_schemathesis_reads_it(tmp_path: Path) -> None:
    """What fieldproof hands schemathesis is what schemathesis would have loaded from the file:
    dates and timestamps stay text (schemathesis refuses a date), only true/false are booleans,
    mapping keys keep their text."""
    from schemathesis.core.deserialization import deserialize_yaml

    path = tmp_path / "features.yaml"
    path.write_text(_YAML_FEATURES)
    data = document_module._read(path)[0]
    features = data["x-features"]
    assert features["date"] == "2025-12-18" and features["timestamp"] == "2023-10-09 12:00:00+00:00"
    assert features["timestamp_t"] == "2026-01-23T10:04:44.209Z"
    assert features["words"] == ["on", "off", "yes", "no", "y", "n", True, False]
    assert features["exponent"] == 1e10 and features["exponent_dot"] == 1500.0
    assert features["binary"] == "aGVsbG8="
    assert features["aliased"] == {"type": "string", "example": "2024-01-31"}
    assert features["merged"] == {"type": "string", "example": "2024-01-31", "format": "date"}
    assert {"explicit key", "200", "on", "1.5", "null"} <= set(features)
    assert data == deserialize_yaml(_YAML_FEATURES)  # and nothing else differs


def test_a_json_document_is_read_as_json(tmp_path: Path) -> None:
    path = tmp_path / "doc.JSON"
    path.write_text('{"openapi": "3.0.3", "paths": {}, "x-n": 1e10}')
    assert document_module._read(path)[0]["x-n"] == 1e10  # YAML 1.1 would read "1e10"
    path = tmp_path / "doc.txt"  # neither suffix: JSON first, as schemathesis does
    path.write_text('{"openapi": "3.0.3", "paths": {}, "x-n": 1e10}')
    assert document_module._read(path)[0]["x-n"] == 1e10


def test_a_non_scalar_key_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text("openapi: 3.0.3\npaths:\n  ? [a, b]\n  : c\n")
    with pytest.raises(ContractError, match=r"is not valid YAML: while constructing a mapping"):
        ContractDocument.load(path)


def _generates_a_case_for_each_operation(document: ContractDocument) -> set[str]:
    schema = schemathesis.openapi.from_dict(document.for_schemathesis())
    generated: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @settings(max_examples=1, database=None, phases=[Phase.generate])
        def draw(case: Any) -> None:
            generated.add(case.operation.definition.raw["operationId"])

        draw()
    return generated


def _holds_the_vendors_shapes(document: ContractDocument) -> None:
    assert set(document.found) == set(contract.OPERATIONS)
    assert all(found.line > 0 for found in document.found.values())  # `? /path` keys are found too
    assert document.statuses["get"] == {200, 400, 401, 403, 404, 429, 500}
    assert all(document.statuses[name] == {204, 400, 401, 403, 404, 412, 422, 429, 500} for name in contract.WRITES)
    assert document.declared_methods(contract.RUN_PATH) == {"GET", "PUT"}
    reduced = document.for_schemathesis()
    version = reduced["paths"][contract.RUN_PATH]["parameters"][-1]
    assert document_module._resolve(reduced, version)["schema"]["example"] == "2025-12-18"  # a date to YAML 1.1
    # the three writes share one 204 (an alias): each gets the links of its own followers
    links = {name: set(reduced["paths"][f"{contract.RUN_PATH}/{name}"]["post"]["responses"]["204"]["links"])
             for name in contract.WRITES}
    assert links == {"pause": {"ResumeWithEtag", "GetRun"}, "resume": {"PauseWithEtag", "GetRun"}, "complete": {"GetRun"}}
    assert _generates_a_case_for_each_operation(document) == set(OPERATION_IDS.values())


def test_a_document_shaped_like_the_vendors_loads_and_generates(tmp_path: Path) -> None:
    """The vendor's shapes and YAML (tests/vendor_like.py): the four operations found, their
    statuses, the PUT beside them, and schemathesis generates cases for each."""
    _holds_the_vendors_shapes(ContractDocument.load(write_vendor_like(tmp_path / "vendor-like.yml")))


VENDOR_DOCUMENTS = Path(os.environ.get("FIELDPROOF_VENDOR_DOCUMENTS", "/work/vendor"))


@pytest.mark.parametrize("name", ["cint-demand-openapi.yml", "cint-fielding-api-openapi.yml"])
def test_the_vendors_own_documents_where_they_are_at_hand(name: str) -> None:
    """The vendor's files themselves (unlicensed, so never in this repository): an extra check
    where a copy is at hand; test_a_document_shaped_like_the_vendors_loads_and_generates is the
    one that always runs."""
    path = VENDOR_DOCUMENTS / name
    if not path.is_file():
        pytest.skip(f"not checked: the vendor's {name} is not in {VENDOR_DOCUMENTS} (set FIELDPROOF_VENDOR_DOCUMENTS)")
    _holds_the_vendors_shapes(ContractDocument.load(path))


# --- nothing that schemathesis would fetch by itself --------------------------------------------


def test_a_reference_outside_the_document_is_refused_at_load(tmp_path: Path) -> None:
    """schemathesis would fetch it with its own HTTP client: a request outside fieldproof's,
    to a host nobody named as the target. Refused before any request, in one line."""
    text = vendor_like_text().replace("    FieldingRunID:\n      type: string\n",
                                      "    FieldingRunID:\n      $ref: 'https://schemas.example.invalid/id.json'\n")
    path = tmp_path / "remote.yml"
    path.write_text(text)
    with pytest.raises(ContractError, match=r"refer to 'https://schemas.example.invalid/id.json', outside the document") as raised:
        ContractDocument.load(path)
    assert "\n" not in str(raised.value)


def test_components_the_operations_do_not_use_are_left_out(tmp_path: Path) -> None:
    """A reference elsewhere in the provider's document (to a file or a URL) is not ours to
    follow, and schemathesis never sees it."""
    text = vendor_like_text().replace("  schemas:\n", "  schemas:\n    Elsewhere:\n      $ref: 'https://schemas.example.invalid/x.json'\n"
                                      "    Mapped:\n      type: object\n"
                                      "    Poly:\n      oneOf: [{$ref: '#/components/schemas/Mapped'}]\n"
                                      "      discriminator: {propertyName: kind, mapping: {m: Mapped}}\n", 1)
    text = text.replace("        version:\n          type: integer\n", "        version:\n          type: integer\n"
                        "        extra:\n          $ref: '#/components/schemas/Poly'\n", 1)
    path = tmp_path / "elsewhere.yml"
    path.write_text(text)
    schemas = ContractDocument.load(path).for_schemathesis()["components"]["schemas"]
    assert "Elsewhere" not in schemas and "Event" not in schemas  # unused
    assert {"FieldingRunItem", "FieldingRunStatus", "Error", "InvalidParam", "TooManyRequests", "Poly", "Mapped"} <= set(schemas)


def test_examples_given_only_by_url_and_the_providers_links_are_left_out(tmp_path: Path) -> None:
    text = vendor_like_text().replace(
        "      schema:\n        type: string\n        example: 2025-12-18\n",
        "      schema:\n        type: string\n        example: 2025-12-18\n"
        "      examples:\n        remote: {externalValue: 'https://examples.example.invalid/v.txt'}\n"
        "        inline: {value: '2025-12-18'}\n",
        1,
    ).replace("      description: Too many requests.\n",
              "      description: Too many requests.\n      links:\n        Update: {operationId: update_fielding_run}\n", 1)
    path = tmp_path / "external.yml"
    path.write_text(text)
    reduced = ContractDocument.load(path).for_schemathesis()
    assert "externalValue" not in json.dumps(reduced)
    assert reduced["components"]["parameters"]["CintAPIVersion-2025-12-18"]["examples"] == {"inline": {"value": "2025-12-18"}}
    links = {(template, status): set(response.get("links", ())) for template, item in reduced["paths"].items()
             for operation in item.values() if isinstance(operation, dict) and "responses" in operation
             for status, response in operation["responses"].items()}
    assert links[(contract.RUN_PATH, "429")] == set()  # the provider's, to an operation that is not here
    assert links[(contract.RUN_PATH, "200")] == {"PauseWithEtag", "ResumeWithEtag", "CompleteWithEtag"}  # ours


def test_a_document_nested_too_deeply_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"openapi": "3.0.3", "paths": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ContractError, match=r"is nested too deeply"):
        ContractDocument.load(path)
