"""Talking to the fielding-run endpoints.

- `FieldingRunsClient` (reference.py): a small reference client for client teams, the worked
  example of what the contract asks of a client (carry the ETag, honour Retry-After, refresh on
  412 only when asked, never retry a 422).
- `ApiClient` (recording.py): the harness's own client, which records every exchange for the
  rules and keeps within the limits.
- `Budget`, `Pacer`, `Liveness` (limits.py): the limits a process's clients keep together (the
  request budget, `max_rps` and the target's own rate, an answering target and the deadline).

The sandbox's control API has its own client, `fieldproof.sandbox.control_client.SandboxControl`.
"""

from fieldproof.client.limits import Budget, Liveness, Pacer
from fieldproof.client.recording import ApiClient, Credentials
from fieldproof.client.reference import (
    ApiError,
    BadRequest,
    FieldingRun,
    FieldingRunsClient,
    Forbidden,
    InvalidState,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    Unauthorized,
)
from fieldproof.errors import BudgetExhausted, TargetUnreachable

__all__ = [
    "ApiClient", "ApiError", "BadRequest", "Budget", "BudgetExhausted", "Credentials", "FieldingRun",
    "FieldingRunsClient", "Forbidden", "InvalidState", "Liveness", "NotFound", "Pacer", "PreconditionFailed", "RateLimited",
    "ServerError", "TargetUnreachable", "Unauthorized",
]
