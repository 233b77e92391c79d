"""The conditional surface of a contract document: what the locking oracles and the lint read."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldproof.contract import CONTRACT_PATH
from fieldproof.document import ContractDocument, read_document
from fieldproof.surface import conditionals, kind_of, operations, resource_kinds, statuses_of

DOCUMENT = """\
openapi: 3.1.0
info: {title: shapes, version: '1'}
paths:
  /accounts/{account_id}/webhooks:
    post:
      operationId: create_webhook
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Hook'}}}}
      responses: {'201': {description: made}}
  /accounts/{account_id}/webhooks/{webhook_id}:
    get:
      operationId: get_webhook
      responses: {'200': {description: ok}}
    put:
      operationId: update_webhook
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      requestBody: {$ref: '#/components/requestBodies/Hook'}
      responses: {'200': {description: ok}, 4XX: {description: refused}}
    delete:
      operationId: delete_webhook
      parameters: [{name: if-match, in: header, schema: {type: string}}]
      responses: {'204': {description: gone}}
  /things/{thing_id}/start:
    post:
      operationId: start_thing
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      responses: {'204': {description: started}}
  /things/{thing_id}:
    get:
      operationId: get_thing
      responses: {'200': {description: ok}}
  /singletons/default-template:
    get: {operationId: get_default, responses: {'200': {description: ok}}}
    put:
      operationId: set_default
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      requestBody: {content: {application/json; charset=utf-8: {schema: {type: object, properties: {id: {type: string}}}}}}
      responses: {'204': {description: set}}
  /orphans/{id}:
    patch:
      operationId: patch_orphan
      parameters: [{$ref: '#/components/parameters/IfMatch'}]
      responses: {'204': {description: ok}}
components:
  parameters:
    IfMatch: {name: If-Match, in: header, required: true, schema: {type: string}}
  requestBodies:
    Hook: {content: {application/json: {schema: {$ref: '#/components/schemas/Hook'}}}}
  schemas:
    Hook: {type: object, properties: {url: {type: string}}}
"""


@pytest.fixture
def found(tmp_path: Path) -> list:
    path = tmp_path / "shapes.yaml"
    path.write_text(DOCUMENT)
    return operations(*read_document(path))


def test_each_conditional_write_is_paired_with_the_read_of_its_path_or_of_its_parent(found: list) -> None:
    pairs = {pair.write.operation_id: (pair.read.operation_id if pair.read else None, pair.action) for pair in conditionals(found)}
    assert pairs == {
        "update_webhook": ("get_webhook", None),
        "delete_webhook": ("get_webhook", None),
        "start_thing": ("get_thing", "start"),
        "set_default": ("get_default", None),
        "patch_orphan": (None, None),
    }


def test_resource_kinds_are_named_by_the_reads_last_fixed_segment_and_find_their_create(found: list) -> None:
    kinds = resource_kinds(found)
    assert sorted(kinds) == ["default-template", "things", "webhooks"]  # the orphan has no read: the lint says so
    webhooks = kinds["webhooks"]
    assert [w.write.operation_id for w in webhooks.writes] == ["update_webhook", "delete_webhook"]
    assert webhooks.create is not None and webhooks.create.operation_id == "create_webhook"
    assert webhooks.path_parameters == ("account_id", "webhook_id")
    assert kinds["default-template"].create is None  # a singleton has no collection to create in
    assert kinds["things"].create is None


def test_what_each_write_documents_is_read_through_its_refs(found: list) -> None:
    by_id = {op.operation_id: op for op in found}
    update = by_id["update_webhook"]
    assert update.request_schema == {"type": "object", "properties": {"url": {"type": "string"}}}
    assert update.if_match_required and not by_id["delete_webhook"].if_match_required
    assert 412 in update.statuses and 200 in update.statuses and 500 not in update.statuses  # 4XX spelt out
    assert by_id["set_default"].request_schema == {"type": "object", "properties": {"id": {"type": "string"}}}  # media type parameters
    assert by_id["start_thing"].request_schema is None


def test_statuses_and_kind_names() -> None:
    assert statuses_of(["200", "default"]) == frozenset(range(100, 600))
    assert statuses_of(["2XX", "412"]) == frozenset(range(200, 300)) | {412}
    assert kind_of("/demand/accounts/{account_id}/allocation-template-association") == "allocation-template-association"


def test_our_document_has_the_whole_fielding_run_resource_and_the_other_kinds() -> None:
    kinds = ContractDocument.load(CONTRACT_PATH).kinds
    assert sorted(kinds) == ["allocation-template-association", "allocation-templates", "fielding-assistant-assignment",
                             "fielding-runs", "projects", "webhooks"]
    runs = kinds["fielding-runs"]
    assert sorted((w.write.method, w.action) for w in runs.writes) == [
        ("post", "complete"), ("post", "launch-now"), ("post", "pause"), ("post", "relaunch"), ("post", "resume"), ("put", None)]
    # every write of ours documents 412 and requires If-Match
    assert all(412 in w.write.statuses and w.write.if_match_required for kind in kinds.values() for w in kind.writes)
    assert kinds["webhooks"].create is not None
