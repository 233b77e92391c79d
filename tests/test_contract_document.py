"""Checks on fieldproof's OpenAPI statement of the fielding-run contract.

These tests read contracts/fielding-runs.openapi.yaml and assert the documented facts it must
carry (status sets, required headers, patterns, links) and that the tools we rely on
(openapi-spec-validator, schemathesis 4) accept it. No network calls are made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
import yaml
from openapi_spec_validator import validate

CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "fielding-runs.openapi.yaml"

FR = (
    "/demand/accounts/{account_id}/projects/{project_id}"
    "/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}"
)
PATH_IDS = ("account_id", "project_id", "target_group_id", "fielding_run_id")

WRITE_STATUSES = {"204", "400", "401", "403", "404", "412", "422", "429", "500"}
EXPECTED_STATUSES = {
    "getFieldingRun": {"200", "400", "401", "403", "404", "429", "500"},
    "pauseFieldingRun": WRITE_STATUSES,
    "resumeFieldingRun": WRITE_STATUSES,
    "completeFieldingRun": WRITE_STATUSES,
}
EXPECTED_ROUTES = {
    "getFieldingRun": ("get", FR),
    "pauseFieldingRun": ("post", FR + "/pause"),
    "resumeFieldingRun": ("post", FR + "/resume"),
    "completeFieldingRun": ("post", FR + "/complete"),
}
# the rest of the fielding-run resource and the other conditionally written resources of the
# Demand API: judged by the generic locking oracles (the others only when a session opts in)
GENERIC = {
    "updateFieldingRun": ("put", FR),
    "launchNowFieldingRun": ("post", FR + "/launch-now"),
    "relaunchFieldingRun": ("post", FR + "/relaunch"),
    "getProject": ("get", "/demand/accounts/{account_id}/projects/{project_id}"),
    "updateProject": ("put", "/demand/accounts/{account_id}/projects/{project_id}"),
    "createWebhook": ("post", "/accounts/{account_id}/webhooks"),
    "getWebhook": ("get", "/accounts/{account_id}/webhooks/{webhook_id}"),
    "updateWebhook": ("put", "/accounts/{account_id}/webhooks/{webhook_id}"),
    "deleteWebhook": ("delete", "/accounts/{account_id}/webhooks/{webhook_id}"),
    "getAllocationTemplate": ("get", "/demand/accounts/{account_id}/allocation-templates/{template_id}"),
    "updateAllocationTemplate": ("put", "/demand/accounts/{account_id}/allocation-templates/{template_id}"),
    "getAllocationTemplateAssociation": ("get", "/demand/accounts/{account_id}/allocation-template-association"),
    "setAllocationTemplateAssociation": ("put", "/demand/accounts/{account_id}/allocation-template-association"),
    "getFieldingAssistantAssignment": ("get", "/demand/accounts/{account_id}/projects/{project_id}"
                                       "/target-groups/{target_group_id}/fielding-assistant-assignment"),
    "setFieldingAssistantAssignment": ("put", "/demand/accounts/{account_id}/projects/{project_id}"
                                       "/target-groups/{target_group_id}/fielding-assistant-assignment"),
}
# source operationId -> status -> link name -> target operationId
EXPECTED_LINKS = {
    "getFieldingRun": {
        "200": {
            "PauseWithEtag": "pauseFieldingRun",
            "ResumeWithEtag": "resumeFieldingRun",
            "CompleteWithEtag": "completeFieldingRun",
        }
    },
    "pauseFieldingRun": {"204": {"ResumeWithEtag": "resumeFieldingRun", "GetRun": "getFieldingRun"}},
    "resumeFieldingRun": {"204": {"PauseWithEtag": "pauseFieldingRun", "GetRun": "getFieldingRun"}},
    "completeFieldingRun": {"204": {"GetRun": "getFieldingRun"}},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    with CONTRACT.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (possibly chained) until a concrete object is reached."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are expected, got {ref!r}"
        assert ref not in seen, f"reference cycle at {ref!r}"
        seen.add(ref)
        target: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert part in target, f"dangling reference {ref!r}"
            target = target[part]
        node = target
    return node


def operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """operationId -> (method, path, path item, operation)."""
    found: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                op_id = op["operationId"]
                assert op_id not in found, f"duplicate operationId {op_id}"
                found[op_id] = (method, path, item, op)
    return found


def parameters_of(doc: dict[str, Any], op_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(in, name) -> resolved parameter, path-item level merged with operation level."""
    _, _, item, op = operations(doc)[op_id]
    params = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = resolve(doc, raw)
        params[(param["in"], param["name"])] = param
    return params


def responses_of(doc: dict[str, Any], op_id: str) -> dict[str, dict[str, Any]]:
    _, _, _, op = operations(doc)[op_id]
    return {str(code): resolve(doc, resp) for code, resp in op["responses"].items()}


def response_header(doc: dict[str, Any], response: dict[str, Any], name: str) -> dict[str, Any] | None:
    for key, header in response.get("headers", {}).items():
        if key.lower() == name.lower():
            return resolve(doc, header)
    return None


def all_responses(doc: dict[str, Any]):
    for op_id in EXPECTED_STATUSES:
        for code, response in responses_of(doc, op_id).items():
            yield op_id, code, response


def schema_validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# --------------------------------------------------------------------------- validity


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_servers_are_production_and_local_sandbox(doc):
    assert [s["url"] for s in doc["servers"]] == ["https://api.cint.com/v1", "http://127.0.0.1:8080/v1"]


def test_operations_and_routes(doc):
    ops = operations(doc)
    assert {op_id: (m, p) for op_id, (m, p, _, _) in ops.items()} == {**EXPECTED_ROUTES, **GENERIC}


def test_bearer_auth_applies_globally(doc):
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert doc["security"] == [{"bearerAuth": []}]
    assert all("security" not in op for *_, op in operations(doc).values()), "no per-operation override"


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize("op_id", sorted(EXPECTED_STATUSES))
def test_exactly_the_documented_statuses(doc, op_id):
    assert set(responses_of(doc, op_id)) == EXPECTED_STATUSES[op_id]


def test_no_default_409_or_428_anywhere(doc):
    for op_id, code, _ in all_responses(doc):
        assert code not in {"default", "409", "428"}, (op_id, code)
        assert not code.upper().endswith("XX"), f"{op_id}: wildcard {code} would widen the contract"


def test_success_and_error_bodies(doc):
    for op_id, code, response in all_responses(doc):
        content = response.get("content", {})
        if code == "204":
            assert content == {}, f"{op_id} 204 must have no body"
            continue
        assert list(content) == ["application/json"], (op_id, code)
        schema = content["application/json"]["schema"]
        expected = {"200": "FieldingRun", "429": "TooManyRequests"}.get(code, "Error")
        assert schema == {"$ref": f"#/components/schemas/{expected}"}, (op_id, code)


# --------------------------------------------------------------------------- headers


def test_traceparent_required_on_every_response(doc):
    checked = 0
    for op_id, code, response in all_responses(doc):
        header = response_header(doc, response, "traceparent")
        assert header is not None, f"{op_id} {code}: no traceparent"
        assert header.get("required") is True, f"{op_id} {code}: traceparent not required"
        tracestate = response_header(doc, response, "tracestate")
        assert tracestate is not None and tracestate.get("required", False) is False, (op_id, code)
        checked += 1
    assert checked == sum(len(s) for s in EXPECTED_STATUSES.values())


def test_etag_required_on_success(doc):
    for op_id, code, response in all_responses(doc):
        etag = response_header(doc, response, "ETag")
        if code in {"200", "204"}:
            assert etag is not None and etag.get("required") is True, f"{op_id} {code}: ETag not required"
        else:
            assert etag is None, f"{op_id} {code}: ETag is not documented on errors"


def test_retry_after_required_integer_on_429(doc):
    for op_id, code, response in all_responses(doc):
        retry_after = response_header(doc, response, "Retry-After")
        if code != "429":
            assert retry_after is None, (op_id, code)
            continue
        assert retry_after is not None and retry_after.get("required") is True, op_id
        schema = resolve(doc, retry_after["schema"])
        assert schema["type"] == "integer" and schema["minimum"] == 0, op_id


def test_request_headers(doc):
    for op_id in EXPECTED_STATUSES:
        params = parameters_of(doc, op_id)
        version = params[("header", "Cint-API-Version")]
        assert version["required"] is True
        assert re.fullmatch(resolve(doc, version["schema"])["pattern"], "2025-12-18")
        assert not re.fullmatch(resolve(doc, version["schema"])["pattern"], "2025-12-1")
        assert params[("header", "traceparent")].get("required", False) is False
        assert params[("header", "tracestate")].get("required", False) is False
        if_match = params.get(("header", "If-Match"))
        if op_id == "getFieldingRun":
            assert if_match is None
        else:
            assert if_match is not None and if_match["required"] is True, op_id
        assert {name for (where, name) in params if where == "path"} == set(PATH_IDS)
        assert all(params[("path", n)]["required"] is True for n in PATH_IDS)


def test_path_parameter_schemas(doc):
    params = parameters_of(doc, "getFieldingRun")
    account = resolve(doc, params[("path", "account_id")]["schema"])
    assert account == {"type": "integer", "format": "int32", "minimum": 1}  # int32, as the vendor's spec
    for name in ("project_id", "target_group_id"):
        schema = resolve(doc, params[("path", name)]["schema"])
        assert schema["type"] == "string" and re.fullmatch(schema["pattern"], "01J9Z8Q3W5E6R7T8Y9U0I1O2P3")
        assert not re.fullmatch(schema["pattern"], "01j9z8q3w5e6r7t8y9u0i1o2p3")
    run = resolve(doc, params[("path", "fielding_run_id")]["schema"])
    assert run == {"type": "string", "minLength": 1}


# --------------------------------------------------------------------------- patterns


def entity_tag_patterns(doc):
    """(where, pattern) for the response ETag and every operation's If-Match, read from the YAML."""
    patterns = [("ETag header", resolve(doc, doc["components"]["headers"]["ETag"]["schema"])["pattern"])]
    for op_id in ("pauseFieldingRun", "resumeFieldingRun", "completeFieldingRun"):
        param = parameters_of(doc, op_id)[("header", "If-Match")]
        patterns.append((f"{op_id} If-Match", resolve(doc, param["schema"])["pattern"]))
    return patterns


@pytest.mark.parametrize("value", ['W/"1234"', '"abc"', 'W/""', '""', '"01J9Z8"', 'W/"a-b_c.d"'])
def test_entity_tag_pattern_accepts(doc, value):
    for where, pattern in entity_tag_patterns(doc):
        assert re.fullmatch(pattern, value), f"{where} rejects {value!r}"


@pytest.mark.parametrize(
    "value", ["1234", "W/1234", '"a"b"', "*", 'w/"1"', '"1", "2"', '"a b"', 'W/"1"x', '"1', ""]
)
def test_entity_tag_pattern_rejects(doc, value):
    for where, pattern in entity_tag_patterns(doc):
        assert not re.fullmatch(pattern, value), f"{where} accepts {value!r}"


def traceparent_patterns(doc):
    return [
        resolve(doc, doc["components"]["headers"]["traceparent"]["schema"])["pattern"],
    ]


def test_traceparent_pattern_accepts_valid_sample(doc):
    for pattern in traceparent_patterns(doc):
        assert re.fullmatch(pattern, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


@pytest.mark.parametrize(
    "value",
    [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper-case hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01",  # one upper-case part
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # trace-id 31
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",  # trace-id 33
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  # parent-id 15
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # flags 1
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version 1
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  # trailing junk
    ],
)
def test_traceparent_pattern_rejects(doc, value):
    for pattern in traceparent_patterns(doc):
        assert not re.fullmatch(pattern, value)


# --------------------------------------------------------------------------- bodies


def test_fielding_run_schema(doc):
    validator = schema_validator(doc, "FieldingRun")
    run = {
        "id": "01J9Z8Q3W5E6R7T8Y9U0I1O2P3",
        "status": "paused",
        "version": 3,
        "start_fielding_at": "2025-12-01T09:00:00.000Z",
        "end_fielding_at": "2026-01-01T09:00:00.000Z",
        "last_changed_at": "2025-12-18T10:11:12.123Z",
        "last_changed_by": "5b0c6f2e-8d5a-4c3e-9f1a-2b3c4d5e6f70",
    }
    validator.validate(run)
    validator.validate({**run, "account_id": "42", "project_id": "01J9Z8Q3W5E6R7T8Y9U0I1O2P4", "x_new": [1]})
    for status in ("scheduled", "live", "paused", "completed", "Scheduled", "Live", "Paused", "Completed"):
        validator.validate({**run, "status": status})
    assert not validator.is_valid({**run, "status": "LIVE"})
    assert not validator.is_valid({**run, "version": "3"})
    for field in ("id", "status", "version", "start_fielding_at", "end_fielding_at", "last_changed_at",
                  "last_changed_by"):
        broken = dict(run)
        del broken[field]
        assert not validator.is_valid(broken), f"{field} should be required"


def test_error_and_too_many_requests_schemas(doc):
    error = schema_validator(doc, "Error")
    error.validate({"object": "precondition_failed_error", "detail": "stale"})
    error.validate({
        "id": "5b0c6f2e-8d5a-4c3e-9f1a-2b3c4d5e6f70",
        "object": "bad_request_error",
        "detail": "bad",
        "invalid_params": [{"name": "If-Match", "reason": "malformed"}],
        "extra": True,
    })
    assert not error.is_valid({"object": "bad_request_error"})
    assert not error.is_valid({"detail": "x"})
    assert not error.is_valid({"object": "BadRequest", "detail": "x"})

    too_many = schema_validator(doc, "TooManyRequests")
    too_many.validate({"object": "too_many_requests_problem_details", "details": "slow down"})
    assert not too_many.is_valid({"object": "too_many_requests_problem_details", "detail": "slow down"})
    assert not too_many.is_valid({"object": "rate_limited", "details": "slow down"})


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize("source", sorted(EXPECTED_LINKS))
def test_links(doc, source):
    ops = operations(doc)
    responses = responses_of(doc, source)
    actual = {
        code: {name: resolve(doc, link) for name, link in responses[code].get("links", {}).items()}
        for code in responses
        if responses[code].get("links")
    }
    assert {c: {n: lk["operationId"] for n, lk in links.items()} for c, links in actual.items()} == (
        EXPECTED_LINKS[source]
    )
    for code, links in actual.items():
        for name, link in links.items():
            target = link["operationId"]
            assert target in ops, f"{source} {code} {name}: unknown operationId {target}"
            params = link["parameters"]
            for path_id in PATH_IDS:
                assert params[path_id] == f"$request.path.{path_id}", (name, path_id)
            target_params = {n for (_, n) in parameters_of(doc, target)}
            assert set(params) <= target_params, f"{name}: parameters unknown to {target}"
            if target == "getFieldingRun":
                assert set(params) == set(PATH_IDS)
            else:
                assert params["If-Match"] == "$response.header.ETag", name
            # the ETag a link reads must be declared (and required) on the response it hangs off
            assert response_header(doc, responses[code], "ETag")["required"] is True


# --------------------------------------------------------------------------- schemathesis


@pytest.fixture(scope="module")
def st_schema():
    """What the harness gives schemathesis: the four operations, with the links it adds."""
    from fieldproof.document import ContractDocument

    schema = schemathesis.openapi.from_dict(ContractDocument.load(CONTRACT).for_schemathesis())
    schema.config.update(base_url="http://127.0.0.1:1/v1")
    return schema


def test_schemathesis_loads_the_four_operations(st_schema):
    found = {}
    for result in st_schema.get_all_operations():
        operation = result.ok()  # an Err here has no .ok() and fails the test
        found[operation.definition.raw["operationId"]] = (operation.method.lower(), operation.path)
    assert found == EXPECTED_ROUTES
    assert len(st_schema) == 4


def test_schemathesis_sees_required_response_headers(st_schema):
    operation = st_schema[FR + "/resume"]["POST"]
    required = {
        code: {name.lower() for name, header in response.headers.items() if header.is_required}
        for code, response in operation.responses.items()
    }
    assert required["204"] == {"etag", "traceparent"}
    assert required["429"] == {"retry-after", "traceparent"}
    assert all("traceparent" in names for names in required.values())


def test_schemathesis_builds_all_links(st_schema):
    machine = st_schema.as_state_machine()  # raises InvalidStateMachine on any broken link
    built = {}
    for transitions in machine._transitions.operations.values():
        for link in transitions.outgoing:
            assert not link.is_inferred
            built[(link.source.definition.raw["operationId"], link.status_code, link.name)] = (
                link.target.definition.raw["operationId"]
            )
    expected = {
        (source, code, name): target
        for source, by_code in EXPECTED_LINKS.items()
        for code, links in by_code.items()
        for name, target in links.items()
    }
    assert built == expected


def test_generated_if_match_values_fit_the_pattern(doc, st_schema):
    from hypothesis import HealthCheck, given, settings

    pattern = entity_tag_patterns(doc)[1][1]
    operation = st_schema[FR + "/pause"]["POST"]
    seen = []

    @settings(max_examples=25, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy())
    def generate(case):
        seen.append(case.headers["If-Match"])

    generate()
    assert seen
    assert all(re.fullmatch(pattern, value) for value in seen), seen


def test_request_traceparent_is_any_string_because_receivers_ignore_invalid_ones(doc):
    """W3C: an invalid incoming traceparent is ignored (a new trace starts), never rejected, so
    the contract must not let a fuzzer expect a 4xx for one."""
    schema = resolve(doc, parameters_of(doc, "getFieldingRun")[("header", "traceparent")]["schema"])
    assert schema == {"type": "string"}
