"""Talking to the fielding-run endpoints.

- `FieldingRunsClient` (reference.py): a small reference client for client teams, the worked
  example of what the contract asks of a client (carry the ETag, honour Retry-After, refresh on
  412 only when asked, never retry a 422).
- `ApiClient` (recording.py): the harness's own client, which records every exchange for the
  rules and keeps within a target's request budget.
"""

from fieldproof.client.recording import ApiClient, Budget, Credentials
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
    "FieldingRunsClient", "Forbidden", "InvalidState", "NotFound", "PreconditionFailed", "RateLimited",
    "ServerError", "TargetUnreachable", "Unauthorized",
]  # fmt: skip
