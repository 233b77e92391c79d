"""Schemathesis over the contract document in use, bound to a fieldproof target.

- `register_checks()` makes our exchange rules schemathesis checks (named after the rules),
  so that `st run` or a team's own schemathesis tests apply the very same functions.
- `load_schema()` loads the document's four fielding-run operations (fieldproof.document) with
  the checks and expected statuses the contract table calls for.
- `send_case()` sends a generated case through the harness's client, so that it keeps the
  target's budget, `max_rps` and `Retry-After`, and its exchange is judged and recorded like
  every other; schemathesis then validates the same response.
- `explained()` drops a schemathesis failure that an open question of the contract allows.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import schemathesis
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.hooks import HOOKS_MODULE_ENV_VAR
from schemathesis.core.parameters import ParameterLocation
from schemathesis.schemas import BaseSchema

from fieldproof import contract, rules
from fieldproof.client.recording import ApiClient
from fieldproof.contract import OPEN_QUESTIONS
from fieldproof.document import OPERATION_IDS, ContractDocument
from fieldproof.exchange import Exchange, redact_headers
from fieldproof.facts import ApiVersion, IfMatch
from fieldproof.target import RunRef

OPERATION_OF = {operation_id: name for name, operation_id in OPERATION_IDS.items()}

# Checks that send requests of their own, outside our client (not counted, paced, recorded or
# judged): ignored_auth and object_level_authorization send probes without or with other
# credentials; not_a_server_error sends a content-type probe again, without its Content-Type,
# after a 5xx (documented_status judges every 5xx already). And checks that need resources
# this API does not have (created ones, deleted ones).
EXCLUDED_BUILTIN_CHECKS = ("ignored_auth", "object_level_authorization", "not_a_server_error", "use_after_free",
                           "ensure_resource_availability")

_Q = OPEN_QUESTIONS
# What schema-valid data may be answered: a generated tag is stale (412), generated ids are
# unknown (404) or odd (400: a run id that is no ULID), another account's (403), a listed run's
# state may forbid the write (422), rate limits (429).
POSITIVE_STATUSES = ["2xx", *map(str, sorted(_Q["malformed_id"].refusals | _Q["foreign_account"].refusals
                                             | {401, 412, 422, 429}))]
# A required header left out: If-Match (an open question), Cint-API-Version (403).
MISSING_HEADER_STATUSES = [*map(str, sorted(_Q["missing_if_match"].refusals | {401, 403}))]
# Schema-violating data: ids, If-Match and the API version each have open answers.
NEGATIVE_STATUSES = [*map(str, sorted(_Q["malformed_id"].refusals | _Q["malformed_if_match"].refusals
                                      | _Q["unknown_api_version"].refusals | _Q["missing_if_match"].refusals
                                      | {401, 403, 405, 422, 429}))]

_registered: dict[str, Callable[..., Any]] = {}


def operation_of(case: Any) -> str:
    """Our name of the case's operation; contract.OTHER for a probe with another method
    (coverage phase), which no operation's contract covers."""
    operation = OPERATION_OF.get(case.operation.definition.raw.get("operationId"), contract.OTHER)
    if operation != contract.OTHER and case.method.upper() != contract.OPERATIONS[operation].method:
        return contract.OTHER
    return operation


def _exchange_of(response: Any, case: Any) -> Exchange:
    """A schemathesis response as our exchange, for the rule checks."""
    request = response.request
    headers, _ = redact_headers(dict(request.headers))
    return Exchange(
        operation=operation_of(case),
        method=case.method.upper(),
        url=str(request.url),
        request_headers=headers,
        status=response.status_code,
        response_headers={k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()},
        body=response.content or b"",
        elapsed_s=response.elapsed,
    )


def register_checks() -> dict[str, Callable[..., Any]]:
    """Register every rule that needs no suite facts as a schemathesis check (idempotent)."""
    for name, rule in rules.EXCHANGE_RULES.items():
        if rule.expectation or name in _registered or name in ("refusal_changes_nothing", "success_changes_the_run"):
            continue

        def check(ctx: Any, response: Any, case: Any, _rule: rules.Rule = rule) -> None:
            findings = _rule.judge(_exchange_of(response, case))
            if findings:
                raise AssertionError("; ".join(f.message for f in findings))

        check.__name__ = check.__qualname__ = name
        check.__doc__ = rule.summary
        _registered[name] = schemathesis.check(check)
    return _registered


def load_schema(document: ContractDocument, *, base_url: str, max_examples: int, with_complete: bool) -> Any:
    """The document's four operations as a schemathesis schema, for a run against one target."""
    register_checks()
    schema: BaseSchema = _without_users_setup(lambda: schemathesis.openapi.from_dict(document.for_schemathesis(),
                                                                                    config=SchemathesisConfig()))
    # cases are sent by our client, but schemathesis still wants to know where they would go
    schema.config.update(base_url=base_url)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        deterministic=True,
        database="none",
    )
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
    # probes of undeclared methods: safe ones only (send_case also skips any the document declares)
    schema.config.phases.coverage.unexpected_methods = {m.lower() for m in contract.SAFE_UNDECLARED_METHODS}
    schema.config.checks.update(excluded_check_names=list(EXCLUDED_BUILTIN_CHECKS))
    schema.config.checks.positive_data_acceptance.expected_statuses = POSITIVE_STATUSES
    schema.config.checks.missing_required_header.expected_statuses = MISSING_HEADER_STATUSES
    schema.config.checks.negative_data_rejection.expected_statuses = NEGATIVE_STATUSES
    if not with_complete:  # complete cannot be undone: never on a live target's runs
        schema = schema.exclude(operation_id=OPERATION_IDS["complete"])
    return schema


def _without_users_setup(load: Callable[[], BaseSchema]) -> BaseSchema:
    """schemathesis' defaults, never the user's own set-up for it: the schemathesis.toml it
    would discover in the working folder (headers, auth, proxies: its OAuth and WFC auth fetch
    tokens themselves) and the hooks module SCHEMATHESIS_HOOKS names (loaded when a project's
    configuration is made) would change what the harness sends, or send on their own."""
    hooks = os.environ.pop(HOOKS_MODULE_ENV_VAR, None)
    try:
        return load()
    finally:
        if hooks is not None:
            os.environ[HOOKS_MODULE_ENV_VAR] = hooks


def pick(case: Any, salt: str) -> int:
    """A number derived from the generated case only, so that hypothesis replays it exactly."""
    headers = sorted((k, v) for k, v in (case.headers or {}).items() if k.lower() != "authorization")
    seed = repr((case.method, sorted(case.path_parameters.items()), headers, salt))
    return int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big")


def has_body(case: Any) -> bool:
    """Whether schemathesis generated a request body for the case."""
    from schemathesis.core import NOT_SET

    return getattr(case, "body", NOT_SET) is not NOT_SET


def may_send(document: ContractDocument, case: Any) -> bool:
    """A case is sent as generated, or not at all. The four operations take no body (the docs:
    "no body on pause/resume/complete"; the client sends none), so a case with one, which only a
    provider's document that declares a body can give, is not sent: schemathesis would judge a
    request that never left. A probe with a method the contract does not declare is sent only
    if it is safe and the document declares no other operation of that method there (the
    vendor's run path has PUT)."""
    if has_body(case):
        return False
    if operation_of(case) != contract.OTHER:
        return True
    method = case.method.upper()
    return method in contract.SAFE_UNDECLARED_METHODS and method not in document.declared_methods(case.operation.path)


def send_case(client: ApiClient, case: Any, run: RunRef, current: str | None = None) -> tuple[Exchange, httpx.Response]:
    """Send a case with its own headers (auth included) through the harness's client.

    `run` is the run the case was aimed at, `current` its tag just before (when looked at), so
    that the exchange's facts say what was really sent. A probe with an undeclared method is
    looked at before and after: it must change nothing."""
    operation = operation_of(case)
    url = client.target.base_url + case.formatted_path
    if case.query:
        url += "?" + urlencode(case.query, doseq=True)
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    ids = {name: str(case.path_parameters[name]) for name in contract.PATH_PARAMETERS if name in case.path_parameters}
    # the client adds Authorization, Cint-API-Version and a traceparent; a case without one keeps it out
    defaults: dict[str, str | None] = {"Authorization": None, "Cint-API-Version": None, "traceparent": None}
    before = client.snapshot(run) if operation == contract.OTHER else None
    exchange = client.send(operation, case.method.upper(), url, run=run, ids=ids,
                           headers={**defaults, **headers}, current=current, record=before is None)
    if before is not None:
        exchange.before = before
        try:
            exchange.after = client.snapshot(run)
        finally:  # recorded whatever happens to the look after it
            client.record(exchange)
    assert exchange.raw is not None
    return exchange, exchange.raw


def invalid_parameters(case: Any) -> set[str]:
    """The parameters a negative case made invalid (from schemathesis' own record of it)."""
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    names = {getattr(data, "parameter", None)} | {getattr(m, "parameter", None) for m in getattr(data, "mutations", None) or ()}
    return {name for name in names if name}


def valid_headers(case: Any) -> bool:
    """Whether the case's headers were generated as valid data for the document (not one of
    its negative cases); unknown for a case without schemathesis' record of how it was made."""
    meta = getattr(case, "meta", None)
    return meta is not None and not meta.is_negative_at(ParameterLocation.HEADER)


def explained(exchange: Exchange, failure: BaseException, case: Any = None) -> bool:
    """A schemathesis failure that an open question of the contract allows: not a finding.

    - 428 for a missing If-Match, which no document lists;
    - a Cint-API-Version the server does not know, served as the current one;
    - a missing header refused by another gate first (the order of the gates is open): a
      request without a token that is odd in some other way too may get that other refusal."""
    kind = type(failure).__name__
    if kind == "MissingHeaderNotRejected" and not exchange.facts.ordinary(besides="auth"):
        return exchange.status in rules.REFUSALS
    if kind == "UndefinedStatusCode" and exchange.facts.if_match is IfMatch.MISSING:
        return exchange.status in OPEN_QUESTIONS["missing_if_match"].refusals
    if kind == "AcceptedNegativeData" and exchange.facts.api_version in (ApiVersion.UNKNOWN, ApiVersion.MALFORMED):
        return OPEN_QUESTIONS["unknown_api_version"].may_serve and invalid_parameters(case) == {"Cint-API-Version"}
    return False


# schemathesis' failure kinds: the name of the check that raises each (what a finding no rule
# restates is shown under, `schemathesis.<check>`), and the findings of rules that say the same
# thing, as (rule, how its problem begins): a failure such a finding also found on that exchange is
# that rule's finding, counted once. A finding of the rule about another fact folds nothing. An
# expectation rule finds a request's status wrong only when the request is odd in that one way
# only, so its finding is the one thing negative or positive data can be about there.
Restating = tuple[tuple[str, str], ...]
_BODY: Restating = (("run_body_documented", "no run in the body"), ("run_body_documented", "the run lacks"),
                    ("run_body_documented", "the run's "), ("error_body_documented", ""))
_MEDIA: Restating = (("run_body_documented", "no run in the body"), ("error_body_documented", "no JSON object body"))
_HEADER_FORM: Restating = (("traceparent_on_every_response", "an invalid traceparent"),
                           ("etag_on_success", "an ETag that is not a quoted entity tag"),
                           ("retry_after_on_429", "a Retry-After that is not a count of seconds"),
                           ("tracestate_well_formed", ""))
_EXPECTED = "expected "  # how every expectation rule's finding begins (rules/exchange.py, _expect)
_RESTATED: dict[str, tuple[str, Restating]] = {
    "UndefinedStatusCode": ("status_code_conformance", (("documented_status", "a status the contract does not document"),)),
    "JsonSchemaError": ("response_schema_conformance", _BODY),
    "MalformedJson": ("response_schema_conformance", _BODY),
    "DiscriminatorMismatch": ("response_schema_conformance", _BODY),
    "MissingContentType": ("content_type_conformance", _MEDIA),
    "UndefinedContentType": ("content_type_conformance", _MEDIA),
    "MalformedMediaType": ("content_type_conformance", _MEDIA),
    "ContentDeserializationError": ("content_type_conformance", _MEDIA),
    "MissingHeaderNotRejected": ("missing_required_header", (("auth_refused", _EXPECTED), ("api_version_required", ""))),
    "AcceptedNegativeData": ("negative_data_rejection", tuple((rule, _EXPECTED) for rule in (
        "auth_refused", "unknown_path_refused", "api_version_required", "unknown_api_version_answered", "stale_tag_refused",
        "if_match_variant_answered", "business_rules_refuse"))),
    "RejectedPositiveData": ("positive_data_acceptance", (("current_tag_wins", _EXPECTED), ("get_serves_the_run", _EXPECTED),
                                                          ("documented_status", "a server error"))),
    "UnsupportedMethodResponse": ("unsupported_method", (("undeclared_method_refused", ""),)),
    "AllowHeaderMismatch": ("unsupported_method", (("undeclared_method_refused", ""),)),
}
# a missing header, by its name: the rule that requires it, and how that rule says it is missing
_MISSING: dict[str, tuple[str, str]] = {"traceparent": ("traceparent_on_every_response", "no traceparent header"),
                                        "etag": ("etag_on_success", "no ETag"),
                                        "retry-after": ("retry_after_on_429", "no Retry-After")}
HEADER_SCHEMA_TITLE = "Response header does not conform to the schema"  # schemathesis' title for a header's value


def external_failures(failure: BaseException) -> list[rules.ExternalFailure]:
    """A schemathesis failure as the recorder keeps it: under its check's name, with the rules'
    findings that restate it (a missing-headers failure: one per header, each with its header's
    rule; a header's value against its schema: the header rules' findings on a header's form)."""
    kind = type(failure).__name__
    check, restating = _RESTATED.get(kind, (kind, ()))
    title = getattr(failure, "title", "") or kind
    detail = " ".join(str(getattr(failure, "message", "") or failure).split())
    if kind == "JsonSchemaError" and title == HEADER_SCHEMA_TITLE:
        check, restating = "response_headers_conformance", _HEADER_FORM
    missing = getattr(failure, "missing_headers", None)
    if kind == "MissingHeaders" and isinstance(missing, list) and missing:
        by_header = [(header, _MISSING.get(str(header).lower())) for header in missing]
        return [rules.ExternalFailure("response_headers_conformance", f"Missing header {header}", detail, (rule,) if rule else ())
                for header, rule in by_header]
    return [rules.ExternalFailure(check, title, detail, restating)]
