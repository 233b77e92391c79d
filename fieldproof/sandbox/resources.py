"""The Demand API's other resources (projects, webhooks, ...), kept in SQLite as versioned JSON
bodies beside the fielding runs. Knows nothing of HTTP.

One table for every kind: (kind, account, key) names a resource, `key` being its path ids
besides the account's. The optimistic lock is the conditional UPDATE or DELETE in `_commit`
and `delete` (`... AND version = ?`), whose row count decides who won, as in store.py; no
Python lock is involved.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldproof.sandbox.store import ANY_VERSION, Precondition, connect, new_ulid


@dataclass(frozen=True)
class Kind:
    """A resource kind as the sandbox serves it: named as surface.ResourceKind names it (the last
    fixed segment of its read's path)."""

    name: str
    path: str  # under the API prefix
    ids: tuple[str, ...]  # its path parameters besides account_id, in path order
    write_status: int  # a PUT's success: 200 with the resource, or 204
    replaces: bool = False  # a PUT replaces the whole body (else merges the object sent over it)
    creatable: bool = False  # a POST on the collection (the path without its last segment) creates one
    deletable: bool = False

    @property
    def read_only(self) -> frozenset[str]:
        """The fields a body may not change: the resource's ids."""
        return frozenset({"account_id", *self.ids, *(("id",) if self.item_id else ())})

    @property
    def item_id(self) -> str | None:
        """The parameter its path ends in, for an item of a collection (None for a singleton)."""
        return self.ids[-1] if self.ids and self.path.endswith("}") else None

    @property
    def collection(self) -> str:
        return self.path.rsplit("/", 1)[0]

    def key(self, params: Mapping[str, str]) -> str:
        return "/".join(params[name] for name in self.ids)


_TG = "/demand/accounts/{account_id}/projects/{project_id}/target-groups/{target_group_id}"
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in [
        # a PUT whose body has required fields replaces the writable fields; the webhook's, all
        # optional ("both fields are optional"), merges
        Kind("projects", "/demand/accounts/{account_id}/projects/{project_id}", ("project_id",), 200, replaces=True),
        Kind("webhooks", "/accounts/{account_id}/webhooks/{webhook_id}", ("webhook_id",), 200, creatable=True, deletable=True),
        Kind("allocation-templates", "/demand/accounts/{account_id}/allocation-templates/{template_id}", ("template_id",), 204,
             replaces=True),
        Kind("allocation-template-association", "/demand/accounts/{account_id}/allocation-template-association", (), 204,
             replaces=True),
        # "fully replaces": an omitted module is disabled
        Kind("fielding-assistant-assignment", f"{_TG}/fielding-assistant-assignment", ("project_id", "target_group_id"), 204,
             replaces=True),
    ]
}
# the kinds a session may create or delete resources of, on a target file that allows it
CREATE_DELETE = tuple(name for name, kind in KINDS.items() if kind.creatable or kind.deletable)


def account_key(account_id: str) -> str:
    """Account ids are integers sent as digits: 0101 is 101 (compared as text, as app.py does)."""
    return account_id.lstrip("0") or "0"


@dataclass(frozen=True)
class Resource:
    kind: str
    account: str
    key: str
    version: int
    body: dict[str, Any]  # as stored: without the ids

    def representation(self) -> dict[str, Any]:
        """The body as a GET shows it: the stored fields and the ids."""
        kind = KINDS[self.kind]
        ids = dict(zip(kind.ids, self.key.split("/"), strict=True)) if kind.ids else {}
        shown = {**self.body, "account_id": self.account, **ids}
        if kind.item_id:
            shown["id"] = ids[kind.item_id]
        return shown


class Decision(enum.Enum):
    CHANGED = "changed"
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    PRECONDITION_FAILED = "precondition_failed"


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    resource: Resource | None
    reason: str = ""
    seen_version: int = 0  # CHANGED: the version the write was decided on


# the fault modes this store acts on (sandbox/faults.py)
FAULTS = frozenset({"resource_ignores_if_match", "resource_lost_update", "delete_ignores_tag", "resource_etag_unchanged"})
IGNORES_IF_MATCH_KIND = "allocation-templates"  # resource_ignores_if_match: the one kind it breaks

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    body TEXT NOT NULL,
    PRIMARY KEY (kind, account, key)
)
"""


class ResourceStore:
    """Versioned JSON bodies by (kind, account, key); `faults`: the resource fault modes in force."""

    def __init__(self, path: str | Path, faults: frozenset[str] = frozenset()) -> None:
        self.path = str(path)
        self.faults = faults & FAULTS
        self._db = connect(self.path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    # reading and seeding

    def get(self, kind: str, account: str, key: str) -> Resource | None:
        row = self._db.execute("SELECT version, body FROM resources WHERE kind = ? AND account = ? AND key = ?",
                               (kind, account_key(account), key)).fetchone()
        return Resource(kind, account_key(account), key, row[0], json.loads(row[1])) if row else None

    def owner(self, kind: str, key: str) -> str | None:
        """The account holding a resource of this kind and key, if any (another account's, when
        `get` found none under the path's)."""
        row = self._db.execute("SELECT account FROM resources WHERE kind = ? AND key = ? LIMIT 1", (kind, key)).fetchone()
        return str(row[0]) if row else None

    def all(self) -> list[Resource]:
        rows = self._db.execute("SELECT kind, account, key, version, body FROM resources ORDER BY kind, account, key")
        return [Resource(kind, account, key, version, json.loads(body)) for kind, account, key, version, body in rows]

    def put(self, resource: Resource) -> None:
        """Insert or replace a resource as given (seeding)."""
        if resource.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {resource.kind!r}")
        self._db.execute("INSERT OR REPLACE INTO resources (kind, account, key, version, body) VALUES (?, ?, ?, ?, ?)",
                         (resource.kind, account_key(resource.account), resource.key, resource.version, json.dumps(resource.body)))

    def delete_all(self) -> None:
        self._db.execute("DELETE FROM resources")

    # writes

    def create(self, kind: str, account: str, body: Mapping[str, Any]) -> Resource:
        """A new resource of a collection, under a new ULID, at version 1."""
        found = KINDS[kind]
        assert found.creatable and found.item_id is not None and len(found.ids) == 1
        created = Resource(kind, account_key(account), new_ulid(), 1, self._writable(found, {}, body))
        self._db.execute("INSERT INTO resources (kind, account, key, version, body) VALUES (?, ?, ?, ?, ?)",
                         (created.kind, created.account, created.key, created.version, json.dumps(created.body)))
        return created

    def decide(self, kind: str, account: str, key: str, precondition: Precondition, body: Mapping[str, Any]) -> Outcome:
        """A PUT decided on a snapshot: the resource it would write (CHANGED), not yet written."""
        seen = self.get(kind, account, key)
        if seen is None:
            return Outcome(Decision.NOT_FOUND, None, "no such resource")
        if kind == IGNORES_IF_MATCH_KIND and "resource_ignores_if_match" in self.faults:
            precondition = ANY_VERSION  # the bug: this kind's writes never look at the tag
        if not precondition.holds(seen.version):
            return Outcome(Decision.PRECONDITION_FAILED, seen, "If-Match does not name the current version")
        found = KINDS[kind]
        version = seen.version if "resource_etag_unchanged" in self.faults else seen.version + 1
        decided = Resource(kind, seen.account, key, version, self._writable(found, seen.body, body))
        return Outcome(Decision.CHANGED, decided, seen_version=seen.version)

    def commit(self, seen_version: int, decided: Resource, conditional: bool = True) -> bool:
        """Write what `decide` decided, if the version it was decided on is still current (or
        whatever the version, unconditionally: only the resource_lost_update fault asks that)."""
        condition, args = ("AND version = ?", (seen_version,)) if conditional else ("", ())
        cursor = self._db.execute(
            f"UPDATE resources SET version = ?, body = ? WHERE kind = ? AND account = ? AND key = ? {condition}",
            (decided.version, json.dumps(decided.body), decided.kind, decided.account, decided.key, *args),
        )
        return cursor.rowcount == 1

    def write(self, kind: str, account: str, key: str, precondition: Precondition, body: Mapping[str, Any]) -> Outcome:
        """A PUT: merge the object sent over the stored one (replace it, for a kind that replaces),
        bump the version; retried only for If-Match: * (a named tag that lost a race is stale)."""
        for _ in range(16):
            outcome = self.decide(kind, account, key, precondition, body)
            if outcome.decision is not Decision.CHANGED:
                return outcome
            assert outcome.resource is not None
            if self.commit(outcome.seen_version, outcome.resource):
                return outcome
            if precondition.versions is not None:
                return Outcome(Decision.PRECONDITION_FAILED, self.get(kind, account, key), "another write came first")
        return Outcome(Decision.PRECONDITION_FAILED, self.get(kind, account, key), "the resource kept changing")

    def delete(self, kind: str, account: str, key: str, precondition: Precondition) -> Outcome:
        seen = self.get(kind, account, key)
        if seen is None:
            return Outcome(Decision.NOT_FOUND, None, "no such resource")
        if "delete_ignores_tag" in self.faults:
            precondition = ANY_VERSION  # the bug: deleted whatever the tag
        if not precondition.holds(seen.version):
            return Outcome(Decision.PRECONDITION_FAILED, seen, "If-Match does not name the current version")
        condition, args = ("", ()) if precondition.versions is None else ("AND version = ?", (seen.version,))
        cursor = self._db.execute(f"DELETE FROM resources WHERE kind = ? AND account = ? AND key = ? {condition}",
                                  (kind, seen.account, key, *args))
        if cursor.rowcount == 1:
            return Outcome(Decision.DELETED, seen)
        return Outcome(Decision.PRECONDITION_FAILED, self.get(kind, account, key), "another write came first")

    @staticmethod
    def _writable(kind: Kind, stored: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
        """The stored body after a write of `sent`: its ids are read-only, so they are left out."""
        changes = {name: value for name, value in sent.items() if name not in kind.read_only}
        return changes if kind.replaces else {**stored, **changes}

