"""The header grammars the contract is about: entity tags, If-Match lists, W3C trace context.

One parser per grammar, shared by the sandbox (which must produce and accept them) and the
rules (which judge them), so both sides read a header the same way.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
_ETAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_OWS = " \t"


@dataclass(frozen=True)
class EntityTag:
    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'


@dataclass(frozen=True)
class IfMatch:
    """A parsed If-Match field: `*`, or a list of entity tags."""

    any: bool = False
    tags: tuple[EntityTag, ...] = ()


class HeaderSyntaxError(ValueError):
    """A header value that does not follow its grammar."""


def parse_etag(value: str) -> EntityTag:
    match = _ETAG.fullmatch(value.strip(_OWS))
    if match is None:
        raise HeaderSyntaxError(f"not an entity tag: {value!r}")
    return EntityTag(opaque=match.group(2), weak=match.group(1) is not None)


def parse_if_match(value: str) -> IfMatch:
    """Parse `If-Match = "*" / #entity-tag` (RFC 9110 §13.1.1, list rule of §5.6.1).

    Empty list elements are allowed by the list rule; a list with no tag at all is not.
    Commas inside a quoted tag are part of the tag, so the list is scanned, not split.
    """
    text = value.strip(_OWS)
    if text == "*":
        return IfMatch(any=True)
    tags: list[EntityTag] = []
    pos = 0
    while pos < len(text):
        if text[pos] in _OWS or text[pos] == ",":
            pos += 1
            continue
        match = _ETAG.match(text, pos)
        if match is None:
            raise HeaderSyntaxError(f"If-Match is not '*' or a list of entity tags: {value!r}")
        tags.append(EntityTag(opaque=match.group(2), weak=match.group(1) is not None))
        pos = match.end()
        rest = text[pos:].lstrip(_OWS)
        if rest and not rest.startswith(","):
            raise HeaderSyntaxError(f"If-Match tags must be separated by commas: {value!r}")
    if not tags:
        raise HeaderSyntaxError(f"If-Match holds no entity tag: {value!r}")
    return IfMatch(tags=tuple(tags))


def weak_match(a: EntityTag, b: EntityTag) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison: the opaque tags match, weakness aside."""
    return a.opaque == b.opaque


# W3C Trace Context level 1 §3.2
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRACESTATE_KEY = re.compile(
    r"[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}"
)
_TRACESTATE_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")


@dataclass(frozen=True)
class TraceParent:
    version: str
    trace_id: str
    parent_id: str
    flags: str

    def __str__(self) -> str:
        return f"{self.version}-{self.trace_id}-{self.parent_id}-{self.flags}"


def parse_traceparent(value: str) -> TraceParent:
    """Parse a traceparent strictly as version 00 (what a service must send).

    Future versions are accepted only as a caller's header, see `continue_trace`.
    """
    match = _TRACEPARENT.fullmatch(value)
    if match is None or match.group(5) is not None:
        raise HeaderSyntaxError(f"not a version-00 traceparent: {value!r}")
    version, trace_id, parent_id, flags, _ = match.groups()
    if version != "00":
        raise HeaderSyntaxError(f"traceparent version must be 00, got {version!r}")
    if trace_id == "0" * 32:
        raise HeaderSyntaxError("traceparent trace-id is all zeros")
    if parent_id == "0" * 16:
        raise HeaderSyntaxError("traceparent parent-id is all zeros")
    return TraceParent(version, trace_id, parent_id, flags)


def parse_incoming_traceparent(value: str) -> TraceParent | None:
    """A caller's traceparent as W3C §4.3 says a receiver reads it; None when invalid."""
    match = _TRACEPARENT.fullmatch(value.strip(_OWS))
    if match is None:
        return None
    version, trace_id, parent_id, flags, extra = match.groups()
    if version == "ff" or (version == "00" and extra is not None):
        return None
    if extra is not None and not extra.startswith("-"):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return TraceParent("00", trace_id, parent_id, flags)


def tracestate_errors(value: str) -> list[str]:
    """Problems with a tracestate list (W3C §3.3); empty when it is well-formed."""
    errors: list[str] = []
    members = [m.strip(_OWS) for m in value.split(",")]
    members = [m for m in members if m]
    if len(members) > 32:
        errors.append(f"tracestate has {len(members)} members, at most 32 are allowed")
    keys: set[str] = set()
    for member in members:
        key, sep, val = member.partition("=")
        if not sep or not _TRACESTATE_KEY.fullmatch(key) or not _TRACESTATE_VALUE.fullmatch(val):
            errors.append(f"tracestate member is not key=value: {member!r}")
        elif key in keys:
            errors.append(f"tracestate key appears twice: {key!r}")
        keys.add(key)
    return errors


def continue_trace(incoming: str | None) -> TraceParent:
    """The traceparent a service answers with.

    A valid incoming traceparent keeps its trace-id and flags and gets a new parent-id;
    otherwise a new trace starts.
    """
    parent = parse_incoming_traceparent(incoming) if incoming else None
    span_id = secrets.token_hex(8)
    if parent is None:
        return TraceParent("00", secrets.token_hex(16), span_id, "00")
    # version 00 defines only the sampled bit; the others must be sent as zero (W3C §3.2.2.5)
    return TraceParent("00", parent.trace_id, span_id, f"{int(parent.flags, 16) & 0x01:02x}")


def merge_tracestate(incoming: str | None, vendor_key: str, vendor_value: str) -> str:
    """Our member first, then the caller's others (W3C §3.5); a malformed list is dropped."""
    ours = f"{vendor_key}={vendor_value}"
    if not incoming or tracestate_errors(incoming):
        return ours
    others = [m.strip(_OWS) for m in incoming.split(",") if m.strip(_OWS)]
    others = [m for m in others if m.partition("=")[0] != vendor_key]
    return ",".join([ours, *others][:32])


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if invalid."""
    if value is None:
        return None
    value = value.strip(_OWS)
    if re.fullmatch(r"[0-9]{1,10}", value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


@dataclass(frozen=True)
class RateLimitState:
    """What a response said of the caller's rate limit: requests left, and seconds until the
    window resets (either may be unknown)."""

    remaining: int | None
    reset_s: float | None


_RATELIMIT_ITEM = re.compile(r"(?:^|[;,])\s*([rt]|remaining|reset)\s*=\s*([0-9]+)")
_EPOCH = 10**9  # an X-RateLimit-Reset this large is a Unix time, not seconds from now


def rate_limit_state(headers: Mapping[str, str]) -> RateLimitState | None:
    """The rate limit a response announces, from the IETF draft's `RateLimit` field (the
    structured `"policy";r=R;t=T`, or the older `limit=L, remaining=R, reset=T`), its
    `RateLimit-Remaining`/`-Reset` fields, or the common `X-RateLimit-Remaining`/`-Reset`.
    `headers`: looked up by lower-case name (a response's own headers, or a dict so keyed);
    None when none of them is there or none parses."""
    remaining: int | None = None
    reset: float | None = None
    combined = headers.get("ratelimit")
    if combined is not None:
        for key, value in _RATELIMIT_ITEM.findall(combined):
            if key in ("r", "remaining"):
                remaining = int(value)
            else:
                reset = float(value)
    for prefix in ("ratelimit-", "x-ratelimit-"):
        raw_remaining, raw_reset = headers.get(prefix + "remaining"), headers.get(prefix + "reset")
        if remaining is None and raw_remaining is not None and raw_remaining.strip(_OWS).isdigit():
            remaining = int(raw_remaining.strip(_OWS))
        if reset is None and raw_reset is not None and raw_reset.strip(_OWS).isdigit():
            value = float(raw_reset.strip(_OWS))
            reset = max(0.0, value - time.time()) if value >= _EPOCH else value
    if remaining is None and reset is None:
        return None
    return RateLimitState(remaining, reset)
