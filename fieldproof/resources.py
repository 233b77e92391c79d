"""The resources a session judges besides the four fielding-run operations: reading one, writing
it conditionally, and putting it back as it was.

A **judged resource** is one resource a target file lists (a `ResourceRef`), joined to its kind
in the contract document in use (a `surface.ResourceKind`): the document says which paths to
send to, the target file which resource. Putting a resource back writes the representation read
before the session touched it, with the current tag, and reads it again to verify it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fieldproof.client.recording import ApiClient
from fieldproof.document import ContractDocument
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch
from fieldproof.surface import Conditional, Operation, ResourceKind
from fieldproof.target import ResourceRef, Target


@dataclass(frozen=True)
class JudgedResource:
    kind: ResourceKind
    ref: ResourceRef

    def url(self, base_url: str, operation: Operation) -> str:
        params = self.ref.params()
        path = operation.path
        for name in operation.path_parameters:
            path = path.replace("{" + name + "}", quote(params[name], safe=""))
        return base_url + path

    @property
    def label(self) -> str:
        return self.ref.label()


def judged_resources(document: ContractDocument, target: Target, kinds: tuple[str, ...]) -> tuple[JudgedResource, ...]:
    """The target's listed resources of the judged kinds, joined to the document's kinds."""
    return tuple(JudgedResource(document.kinds[ref.kind], ref) for ref in target.resources
                 if ref.kind in kinds and ref.kind in document.kinds)


def read_resource(client: ApiClient, judged: JudgedResource, *, record: bool = True) -> Exchange:
    operation = judged.kind.read
    return client.send(operation.name, "GET", judged.url(client.target.base_url, operation), run=None, record=record)


def write_resource(client: ApiClient, judged: JudgedResource, write: Conditional, if_match: str | None,
                   body: Any = None, *, headers: Mapping[str, str | None] | None = None, record: bool = True,
                   tag: IfMatch | None = None, current: str | None = None, role: str | None = None) -> Exchange:
    """One conditional write; `if_match` None sends no If-Match; `body` is sent as JSON when the
    write takes one. `tag`: where a tag that is not the current one came from (stale, another
    resource's, never issued, a racer's); `current`: the ETag the last read showed (for the
    request's facts); `role`: the role of the fielding run written, where it is one."""
    sent: dict[str, str | None] = {**(headers or {})}
    if not any(name.lower() == "if-match" for name in sent):
        sent["If-Match"] = if_match
    content = None
    if body is not None:
        content = json.dumps(body, separators=(",", ":")).encode()
        sent.setdefault("Content-Type", "application/json")
    operation = write.write
    return client.send(operation.name, operation.method.upper(), judged.url(client.target.base_url, operation), run=None,
                       headers=sent, record=record, body=content, conditional=True, provenance=tag, current=current, role=role)


def look(client: ApiClient, judged: JudgedResource, *, record: bool = True) -> Snapshot:
    """A read of the resource, as the rules look at it before and after a write (record=False:
    as the session reads it to put it back, outside the suites' judgement)."""
    return Snapshot.of(read_resource(client, judged, record=record))


def observed_write(client: ApiClient, judged: JudgedResource, write: Conditional, if_match: str | None, body: Any,
                   before: Snapshot, *, tag: IfMatch | None = None, role: str | None = None) -> Exchange:
    """A conditional write with the read before it (`before`, taken just now) and a read after
    it attached, then recorded: the locking oracles judge it with both looks."""
    exchange = write_resource(client, judged, write, if_match, body, record=False, tag=tag, current=before.etag, role=role)
    exchange.before = before
    try:
        exchange.after = look(client, judged)
    finally:  # recorded whatever happens to the read after it: every answer counts
        client.record(exchange)
    return exchange
