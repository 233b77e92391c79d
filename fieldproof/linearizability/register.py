"""A versioned register, as the search's `Model`: the sequential model of any resource written
with `If-Match`, for the histories of the generic locking oracles.

The state is the resource's ETag and its writable body (the fields its write's request schema
names), either of them unknown (None) until an answer shows it. A read returns the state. A write
with tag t succeeds only if t is the current ETag (or `*`); it sets the body it sent and a new
ETag: the one its answer gives, else one the next read shows, never t again when the body
changed. A 412 requires t not to be current; any other refusal changes nothing. A write without
an answer may have taken effect or not.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fieldproof.linearizability.checker import DEFAULT_MAX_STATES, SearchResult, search

READ = "read"
WRITE = "write"


def canonical(body: Mapping[str, Any] | None) -> str | None:
    """A body as the model compares it: JSON with sorted keys, RFC 3339 timestamps as instants
    in UTC (a server may write back `…22.442Z` for the `…22.442000Z` it was sent); None: not known."""
    return None if body is None else json.dumps(_instants(body), sort_keys=True, separators=(",", ":"))


def _instants(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_instants(item) for item in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] in "Tt":
        moment = instant(value)
        return moment.astimezone(datetime.UTC).isoformat() if moment is not None else value
    return value


def instant(value: str) -> datetime.datetime | None:
    """An RFC 3339 timestamp as the instant it names (None: no timestamp with an offset)."""
    try:
        moment = datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class Version:
    """The register's state: its ETag and writable body (canonical JSON); None: not known. A
    write that changed the body and answered no ETag leaves the tag unknown, but known not to be
    the one it replaced (`not_etag`)."""

    etag: str | None
    body: str | None
    not_etag: str | None = None


@dataclass(frozen=True)
class RegisterOp:
    """One request as the model sees it: a read (its status, the ETag and writable body it showed)
    or a write (its If-Match, the body it sent, its status and the ETag its answer carried).
    `status` None: no answer (or a 5xx): it may or may not have taken effect."""

    kind: str  # READ or WRITE
    status: int | None
    etag: str | None = None
    body: str | None = None  # a read's writable body shown, a write's body sent (canonical JSON)
    if_match: str | None = None


def _matches(state: Version, if_match: str | None) -> bool | None:
    """Whether the If-Match holds the current tag (None: the current tag is not known)."""
    if if_match is not None and if_match.strip() == "*":
        return True
    if state.etag is None:
        return False if if_match is not None and if_match == state.not_etag else None
    return if_match == state.etag


class VersionedRegister:
    """The versioned register as a `checker.Model`: a state's key is its ETag; a write is guarded
    by its If-Match; reads and refusals never change the state (a read may only learn it)."""

    def step(self, state: Version, op: RegisterOp) -> list[Version]:
        if op.kind == READ:
            if op.status is None or op.status != 200:
                return [state]  # no answer, or a refusal (a 429): nothing shown, nothing changed
            if state.etag is not None and op.etag is not None and op.etag != state.etag:
                return []
            if state.etag is None and op.etag is not None and op.etag == state.not_etag:
                return []
            if state.body is not None and op.body is not None and op.body != state.body:
                return []
            etag = state.etag if state.etag is not None else op.etag
            return [Version(etag, state.body if state.body is not None else op.body, state.not_etag if etag is None else None)]
        matches = _matches(state, op.if_match)
        if op.status is None:  # no answer: it took effect, or it did not
            return [state, *self._written(state, op, matches)]
        if 200 <= op.status < 300:
            return self._written(state, op, matches)
        if op.status == 412:
            return [state] if matches is not True else []
        return [state]  # another refusal (400, 422, 429, ...): nothing changed

    @staticmethod
    def _written(state: Version, op: RegisterOp, matches: bool | None) -> list[Version]:
        if matches is False:
            return []
        changed = op.body is None or state.body is None or op.body != state.body
        if changed and op.etag is not None and op.if_match is not None and op.etag == op.if_match:
            return []  # a changed body under the tag it was sent with: a stale writer would still win
        if changed and op.etag is not None and state.etag is not None and op.etag == state.etag:
            return []
        replaced = state.etag if state.etag is not None else (op.if_match if op.if_match != "*" else None)
        surely_changed = op.body is not None and state.body is not None and op.body != state.body
        return [Version(op.etag, op.body, replaced if op.etag is None and surely_changed else None)]

    def never_changes(self, op: RegisterOp) -> bool:
        return op.kind == READ or (op.status is not None and not 200 <= op.status < 300)

    def state_key(self, state: Version) -> Hashable | None:
        return state.etag

    def guard_key(self, op: RegisterOp) -> Hashable | None:
        if op.kind == READ or op.if_match is None or op.if_match.strip() == "*":
            return None
        return op.if_match

    def new_key(self, op: RegisterOp) -> Hashable | None:
        return op.etag

    def kind(self, op: RegisterOp) -> Hashable:
        return (op.kind, op.status, op.etag, op.body)

    def describe_state(self, state: Version) -> str:
        return f"ETag {state.etag or 'unknown'}, body {state.body or 'unknown'}"

    def describe_op(self, op: RegisterOp) -> str:
        head = "read" if op.kind == READ else f"write If-Match {op.if_match or '(none)'} {op.body or ''}".rstrip()
        if op.status is None:
            return f"{head} -> no answer"
        shown = f" {op.etag}" if op.etag else ""
        if op.kind == READ and op.body is not None:
            shown += f" {op.body}"
        return f"{head} -> {op.status}{shown}"


REGISTER = VersionedRegister()


@dataclass(frozen=True)
class RegisterEntry:
    """One request of one client on the register: sent at `call`, answered at `ret` (None: no answer)."""

    client: str
    call: float
    ret: float | None
    op: RegisterOp

    @property
    def unknown(self) -> bool:
        return self.op.status is None


def check_register(history: Sequence[RegisterEntry], initial: Version,
                   max_states: int = DEFAULT_MAX_STATES) -> SearchResult[Version]:
    """Whether the history has an order that respects real time and the register accepts from
    `initial`: the answered requests all placed, the unanswered writes anywhere after their call,
    or never (`ok` None: the search gave up)."""
    answered = sorted((e for e in history if not e.unknown), key=lambda e: e.call)
    unanswered = [e for e in history if e.unknown and e.op.kind == WRITE]
    return search(REGISTER, initial, [(e.call, e.ret, e.op) for e in answered], [(e.call, e.op) for e in unanswered],
                  max_states)
