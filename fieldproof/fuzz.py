"""Schemathesis over the contract document, bound to a fieldproof target.

- `register_checks()` makes our exchange rules schemathesis checks (named after the rules),
  so that `st run` or a team's own schemathesis tests apply the very same functions.
- `load_schema()` loads contracts/fielding-runs.openapi.yaml with the checks and expected
  statuses the documented contract calls for.
- `send_case()` sends a generated case through the harness's client, so that it keeps the
  target's budget, `max_rps` and `Retry-After`, and its exchange is judged and recorded like
  every other; schemathesis then validates the same response.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable
from urllib.parse import urlencode

import httpx
import schemathesis
from schemathesis import GenerationMode

from fieldproof import rules
from fieldproof.client.recording import ApiClient
from fieldproof.contract import CONTRACT_PATH, OPERATION_IDS
from fieldproof.exchange import Exchange, redact_headers

OPERATION_OF = {operation_id: name for name, operation_id in OPERATION_IDS.items()}
METHOD_OF = {"get": "GET", "pause": "POST", "resume": "POST", "complete": "POST"}

# Checks that send requests of their own (outside our client and budget), or that need
# identities and resources this API does not have.
EXCLUDED_BUILTIN_CHECKS = ("ignored_auth", "use_after_free", "ensure_resource_availability", "object_level_authorization")

# What schema-valid data may be answered: a generated tag is stale (412), generated ids are
# unknown (404), a listed run's state may forbid the write (422), rate limits (429).
POSITIVE_STATUSES = ["2xx", "400", "401", "403", "404", "412", "422", "429"]
# A required header left out: If-Match (400 or 412, an open question), Cint-API-Version (403).
MISSING_HEADER_STATUSES = ["400", "401", "403", "412"]
# Schema-violating data: a malformed If-Match may be 400 or 412 (open question); ids 400 or 404.
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "412", "422", "429"]

_registered: dict[str, Callable[..., Any]] = {}


def operation_of(case: Any) -> str:
    """Our name of the case's operation; "other" for a probe with another method (coverage
    phase), which no operation's contract covers."""
    operation = OPERATION_OF.get(case.operation.definition.raw.get("operationId"), "other")
    if operation != "other" and case.method.upper() != METHOD_OF[operation]:
        return "other"
    return operation


def _exchange_of(response: Any, case: Any) -> Exchange:
    """A schemathesis response as our exchange, for the rule checks."""
    request = response.request
    return Exchange(
        operation=operation_of(case),
        method=case.method.upper(),
        url=str(request.url),
        request_headers=redact_headers(dict(request.headers)),
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
            findings = _rule.check(_exchange_of(response, case))
            if findings:
                raise AssertionError("; ".join(f.message for f in findings))

        check.__name__ = check.__qualname__ = name
        check.__doc__ = rule.summary
        _registered[name] = schemathesis.check(check)
    return _registered


def load_schema(*, base_url: str, max_examples: int, with_complete: bool) -> Any:
    """The contract as a schemathesis schema, configured for a run against one target."""
    register_checks()
    schema = schemathesis.openapi.from_path(str(CONTRACT_PATH))
    # cases are sent by our client, but schemathesis still wants to know where they would go
    schema.config.update(base_url=base_url)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        deterministic=True,
        database="none",
    )
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
    schema.config.checks.update(excluded_check_names=list(EXCLUDED_BUILTIN_CHECKS))
    schema.config.checks.positive_data_acceptance.expected_statuses = POSITIVE_STATUSES
    schema.config.checks.missing_required_header.expected_statuses = MISSING_HEADER_STATUSES
    schema.config.checks.negative_data_rejection.expected_statuses = NEGATIVE_STATUSES
    if not with_complete:  # complete cannot be undone: never on a live target's runs
        schema = schema.exclude(operation_id="completeFieldingRun")
    return schema


def pick(case: Any, salt: str) -> int:
    """A number derived from the generated case only, so that hypothesis replays it exactly."""
    headers = sorted((k, v) for k, v in (case.headers or {}).items() if k.lower() != "authorization")
    seed = repr((case.method, sorted(case.path_parameters.items()), headers, salt))
    return int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big")


def send_case(client: ApiClient, case: Any, context: dict[str, Any] | None = None) -> tuple[Exchange, httpx.Response]:
    """Send a case with its own headers (auth included) through the harness's client."""
    operation = operation_of(case)
    url = client.target.base_url + case.formatted_path
    if case.query:
        url += "?" + urlencode(case.query, doseq=True)
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    # the client adds Cint-API-Version and a traceparent; a case that left one out keeps it out
    defaults: dict[str, str | None] = {"Cint-API-Version": None, "traceparent": None}
    exchange = client.send(operation, case.method.upper(), url, auth="none",
                           headers={**defaults, **headers}, context=context or {})  # fmt: skip
    assert exchange.raw is not None
    return exchange, exchange.raw
