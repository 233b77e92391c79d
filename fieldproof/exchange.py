"""The exchange: one request the harness sent and the response it got, as rules judge it.

Secrets are redacted here, when the exchange is recorded, so that no later step (rules,
reports, logs) ever holds a token.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

REDACTED = "[REDACTED]"
_SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization")
OPERATIONS = ("get", "pause", "resume", "complete")


@dataclass(frozen=True)
class Snapshot:
    """What a GET showed of a run: status, version and the ETag."""

    status_code: int
    etag: str | None
    body: Mapping[str, Any] | None

    @property
    def state(self) -> tuple[Any, ...] | None:
        """The fields a refused request must leave as they were."""
        if self.status_code != 200 or self.body is None:
            return None
        keys = ("status", "version", "last_changed_at", "last_changed_by", "end_fielding_at")
        return (self.etag, *(self.body.get(key) for key in keys))

    @property
    def status(self) -> str | None:
        status = (self.body or {}).get("status")
        return status.lower() if isinstance(status, str) else None


@dataclass
class Exchange:
    operation: str  # one of OPERATIONS, or "other"
    method: str
    url: str
    request_headers: dict[str, str]
    status: int
    response_headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed_s: float
    # what the suite knew when it sent the request: facts, never a verdict
    context: dict[str, Any] = field(default_factory=dict)
    before: Snapshot | None = None
    after: Snapshot | None = None
    raw: Any = field(default=None, repr=False, compare=False)  # the httpx.Response; never reported
    rate_limited: list[Exchange] = field(default_factory=list, repr=False)  # 429s waited out first

    def header(self, name: str) -> str | None:
        return self.response_headers.get(name.lower())

    def request_header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.request_headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def curl(self) -> str:
        """A copy-paste reproduction; a redacted token is read from the env var it came from."""
        parts = ["curl -i -X", shlex.quote(self.method)]
        for name, value in self.request_headers.items():
            if name.lower() == "authorization" and value == REDACTED:
                token_env = self.context.get("token_env", "FIELDPROOF_TOKEN")
                parts.append(f'-H "Authorization: Bearer ${token_env}"')
            else:
                parts.append("-H " + shlex.quote(f"{name}: {value}"))
        parts.append(shlex.quote(self.url))
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        body = self.body.decode("utf-8", "replace")
        return {
            "operation": self.operation,
            "method": self.method,
            "url": self.url,
            "request_headers": self.request_headers,
            "status": self.status,
            "response_headers": self.response_headers,
            "body": body[:2000],
            "elapsed_s": round(self.elapsed_s, 4),
            "context": {k: v for k, v in self.context.items() if isinstance(v, (str, int, float, bool, type(None)))},
            "curl": self.curl(),
        }


def redact_headers(headers: Mapping[str, str], secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers with credentials replaced; also any header value that contains a known secret."""
    redacted = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            redacted[name] = REDACTED
        elif any(secret and secret in value for secret in secrets):
            redacted[name] = REDACTED
        else:
            redacted[name] = value
    return redacted


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
