"""The exchange: one request the harness sent and the response it got, as rules judge it.

Secrets are redacted here, when the exchange is recorded, so that no later step (rules,
reports, logs) ever holds a token. A redacted header remembers the env var its secret came
from, so that a curl reproduction sends exactly what was sent.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldproof import contract
from fieldproof.facts import RequestFacts

REDACTED = "[REDACTED]"
_SECRET_HEADERS = ("cookie", "proxy-authorization")  # never sent by the harness; redacted whatever they hold
OPERATIONS = tuple(contract.OPERATIONS)


@dataclass(frozen=True)
class Snapshot:
    """What a GET showed of a run or of any resource: its status, ETag and JSON body (and, of a
    run, its run status and version)."""

    status_code: int
    etag: str | None
    body: Mapping[str, Any] | None

    @classmethod
    def of(cls, exchange: Exchange) -> Snapshot:
        """What a GET's exchange showed of the run."""
        body = exchange.json() if exchange.status == 200 else None
        return cls(exchange.status, exchange.header("etag"), body if isinstance(body, dict) else None)

    @property
    def state(self) -> tuple[Any, ...] | None:
        """The fields a refused request must leave as they were."""
        if self.status_code != 200 or self.body is None:
            return None
        status = self.run_status
        return (self.etag, *(status if key == "status" else self.body.get(key) for key in contract.UNCHANGED_FIELDS))

    def writable(self, schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """The fields of the body a write's request schema names: what a write can set, and so
        what putting a resource back must restore (the others are the server's to keep)."""
        properties = (schema or {}).get("properties")
        if self.body is None:
            return {}
        if not isinstance(properties, Mapping):
            return dict(self.body)
        return {name: value for name, value in self.body.items() if name in properties}

    @property
    def run_status(self) -> str | None:
        status = (self.body or {}).get("status")
        return status.lower() if isinstance(status, str) else None  # casing differs between versions

    @property
    def version(self) -> Any:
        return (self.body or {}).get("version")


@dataclass(frozen=True)
class Framing:
    """How a response broke HTTP/1.1 framing or its content coding."""

    defect: str  # what was wrong, as findings group it (no counts, no bytes)
    detail: str  # the particulars of this one
    received: bytes = field(repr=False)  # the bytes as they arrived (the first of them)
    readable: bool  # the message itself could still be read (bytes were left after its end)


@dataclass
class Exchange:
    operation: str  # one of OPERATIONS, or contract.OTHER
    method: str
    url: str  # as sent on the wire
    request_headers: dict[str, str]  # as sent, secrets redacted
    status: int
    response_headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed_s: float
    facts: RequestFacts = field(default_factory=RequestFacts)
    before: Snapshot | None = None
    after: Snapshot | None = None
    # header name -> env var holding the secret that was redacted from it (for curl)
    secret_env: dict[str, str] = field(default_factory=dict)
    # the statuses the contract document in use documents for this operation (None: the table's)
    documented: frozenset[int] | None = None
    gave_up_on_429: bool = False  # the client stopped waiting out 429s
    body_cut_at: int | None = None  # the body was longer than this (max_body_bytes) and cut off there
    sender: str | None = None  # who sent it, where several hosts do (a swarm's worker and user)
    sent_at: float = 0.0  # time.time() when it was sent (for timelines)
    raw: Any = field(default=None, repr=False, compare=False)  # the httpx.Response; never reported
    framing: Framing | None = None  # how the response broke HTTP/1.1 (None: it did not)
    request_body: bytes | None = None  # the body sent (a PUT's), None when the request had none

    @property
    def readable(self) -> bool:
        """Whether the response could be read as HTTP at all (if not, only the rule on
        well-formed HTTP judges it: its status, headers and body are not what the target meant)."""
        return self.framing is None or self.framing.readable
    rate_limited: list[Exchange] = field(default_factory=list, repr=False)  # 429s waited out first

    def header(self, name: str) -> str | None:
        return self.response_headers.get(name.lower())

    def request_header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.request_headers.items() if k.lower() == lowered), None)

    @property
    def documented_statuses(self) -> frozenset[int]:
        if self.documented is not None:
            return self.documented
        operation = contract.OPERATIONS.get(self.operation)
        return operation.statuses if operation else frozenset()

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def curl(self) -> str:
        """A copy-paste reproduction of exactly this request: a redacted secret is read from the
        env var it came from, every other header as it was sent."""
        return curl_command(self.method, self.url, self.request_headers, self.secret_env, body=self.request_body)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        """An exchange shipped as to_dict() (by a swarm worker): what a sequence rule needs of
        it, and its reproduction; the facts are not carried."""
        return cls(data["operation"], data["method"], data["url"], dict(data["request_headers"]), data["status"],
                   dict(data["response_headers"]), str(data["body"]).encode(), data["elapsed_s"],
                   secret_env=dict(data.get("secret_env") or {}), sender=data.get("sender"),
                   sent_at=data.get("sent_at", 0.0))

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
            "sent_at": self.sent_at,
            "facts": {
                "auth": self.facts.auth.value,
                "api_version": self.facts.api_version.value,
                "if_match": self.facts.if_match.value,
                "path": sorted(kind.value for kind in self.facts.path),
                "role": self.facts.role,
            },
            "curl": self.curl(),
            # the body sent (a PUT's, built from the document's schema): what a reproduction sends again
            "request_body": None if self.request_body is None else self.request_body.decode("utf-8", "replace"),
            # the run as the GET just before showed it: what a reproduction must re-create
            "before": None if self.before is None else {"status": self.before.run_status, "etag": self.before.etag},
            **({"framing": {"defect": self.framing.defect, "detail": self.framing.detail,
                            "received": self.framing.received.decode("latin-1")[:2000]}} if self.framing else {}),
            "secret_env": self.secret_env,
            "sender": self.sender,
        }


def curl_command(method: str, url: str, headers: Mapping[str, str], secret_env: Mapping[str, str],
                 expanded: Mapping[str, str] | None = None, options: str = "-i -g --path-as-is", body: bytes | None = None) -> str:
    """A curl command line sending `headers` as recorded: a redacted secret is read from the
    env var it came from, an empty value spelt as curl sends one. `expanded`: header name ->
    a value the shell expands when the command runs (say `${etag}`, a tag taken just before)."""
    parts = ["curl", options, "-X", shlex.quote(method)]
    for name, value in headers.items():
        env = secret_env.get(name)
        if expanded and name in expanded:
            parts.append("-H " + _double_quoted(f"{name}: ").removesuffix('"') + expanded[name] + '"')
        elif env is not None:
            parts.append("-H " + _double_quoted(f"{name}: {value}").replace(REDACTED, "${" + env + "}"))
        elif value == "":
            parts.append("-H " + shlex.quote(f"{name};"))  # curl's spelling of an empty header
        else:
            parts.append("-H " + shlex.quote(f"{name}: {value}"))
    if body is not None:  # a body the harness built (JSON from the document's schema): no secret in it
        parts.append("--data-binary " + shlex.quote(body.decode("utf-8", "replace")))
    parts.append(shlex.quote(url))
    return " ".join(parts)


def _double_quoted(text: str) -> str:
    """A shell double-quoted string (so that ${VAR} expands), everything else literal."""
    return '"' + "".join("\\" + c if c in '\\"$`' else c for c in text) + '"'


def redact_headers(headers: Mapping[str, str], secrets: Mapping[str, str] | tuple[str, ...] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Headers with every known secret replaced, in every spelling redact_text knows, and for
    each header the env var it came from.

    `secrets` maps a secret to the env var holding it (a bare tuple: no env var known). A value
    that is no known secret, such as a deliberately malformed token, is kept as it was sent.
    """
    named = secrets if isinstance(secrets, Mapping) else {secret: "" for secret in secrets}
    redacted: dict[str, str] = {}
    env: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            redacted[name] = REDACTED
            continue
        for secret, env_name in named.items():
            pattern = _secrets_pattern((secret,))
            if pattern is not None:
                value, found = pattern.subn(REDACTED, value)
                if found and env_name:
                    env[name] = env_name
        redacted[name] = value
    return redacted, env


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with each secret replaced wherever it shows, however it is spelt: as it is, URL-
    encoded (either case of hex, any characters escaped), JSON- or HTML-escaped, and in base64
    (standard or URL-safe, padded or not), alone or as "Bearer <secret>", also inside a longer
    base64 text. A target that echoes a token in any of these spellings leaks it no further."""
    # an escaped spelling needs an escape character: without one, the literal spellings alone
    # (a far cheaper search, over reports of megabytes)
    escaped = any(marker in text for marker in _ESCAPE_MARKERS)
    pattern = _secrets_pattern(secrets) if escaped else _literal_pattern(secrets)
    return text if pattern is None else pattern.sub(REDACTED, text)


_ESCAPE_MARKERS = ("%", "&", "\\", "+")


@functools.lru_cache(maxsize=64)
def _literal_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """Every spelling of every secret as it is (no character escaped), longest first."""
    spellings = sorted({spelling for secret in secrets if secret for spelling in _spellings(secret)}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, spellings))) if spellings else None


# How one character of a secret can be written where text escapes it: URL-encoded (%HH, in
# either case; quote_plus writes a space as "+"), JSON- and HTML/XML-escaped.
_ESCAPED = {
    " ": ("+",), '"': ('\\"', "&quot;", "&#34;", "&#x22;"), "'": ("&#39;", "&#x27;", "&apos;"), "&": ("&amp;",),
    "<": ("&lt;",), ">": ("&gt;",), "\\": ("\\\\",), "/": ("\\/",),
}
# A derived spelling (a base64 form) shorter than this is left alone: it would match unrelated
# text, and a secret that short spells out little.
_MIN_DERIVED = 8


@functools.lru_cache(maxsize=64)
def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression for every spelling of every secret, longest first (so that the
    base64 of "Bearer <secret>" is redacted whole, not around a part of it); None: no secret."""
    spellings = sorted({spelling for secret in secrets if secret for spelling in _spellings(secret)}, key=len, reverse=True)
    if not spellings:
        return None
    return re.compile("|".join("".join(_char_pattern(char) for char in spelling) for spelling in spellings))


@functools.lru_cache(maxsize=64)
def _spellings(secret: str) -> tuple[str, ...]:
    """The secret and its base64 forms (each matched later in any escaping too)."""
    spellings = [secret]
    for data in (secret.encode(), b"Bearer " + secret.encode()):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            whole = encode(data).decode()
            spellings += [whole, whole.rstrip("=")]
            for offset in (1, 2):  # inside a longer base64 text: the characters that depend on these bytes alone
                shifted = encode(b"\0" * offset + data).decode().rstrip("=")
                spellings.append(shifted[-(-8 * offset // 6) : 8 * (offset + len(data)) // 6])
            spellings.append(whole.rstrip("=")[: 8 * len(data) // 6])
    return (secret, *sorted({s for s in spellings[1:] if len(s) >= _MIN_DERIVED}))


def _char_pattern(char: str) -> str:
    """A character as it is or in any of its escaped spellings (longest first: an escape is
    matched whole, not its first character alone)."""
    escapes = sorted(_ESCAPED.get(char, ()), key=len, reverse=True)
    url_encoded = "".join(_hex_pattern(byte) for byte in char.encode())  # non-ASCII: its UTF-8 bytes
    return f"(?:{'|'.join([*(re.escape(s) for s in escapes), url_encoded, re.escape(char)])})"


def _hex_pattern(byte: int) -> str:
    return "%" + "".join(f"[{digit}{digit.lower()}]" if digit.isalpha() else digit for digit in f"{byte:02X}")
