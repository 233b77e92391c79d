"""Which resources a session judges besides fielding runs, and putting them back as they were.

A session reads each judged resource once before the suites (`resources.look`), and whatever ends
it, writes back what that read showed (`restore_resource`): the fields the kind's PUT can set,
with the current tag, verified by a read afterwards. A resource the session created (a kind the
target file lists in `create_delete`) and that is still there at the end is deleted
(`delete_created`). Kinds without a PUT need no restore: a session never deletes a listed
resource.

`judged_kinds` decides which kinds are judged, and refuses, in one line each, a choice or a
target file the contract document in use cannot serve.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fieldproof.client.recording import ApiClient
from fieldproof.document import ContractDocument
from fieldproof.errors import TargetError, UsageError
from fieldproof.exchange import Snapshot
from fieldproof.resources import JudgedResource, look, write_resource
from fieldproof.rules.locking import same
from fieldproof.surface import FIELDING_RUNS, Conditional, ResourceKind
from fieldproof.target import ResourceRef, Target

ALL = "all"  # `--resources all`: every kind the target file lists
RESTORE_REQUESTS = 3  # a listed resource: a read, a write back, a read to verify
DELETE_REQUESTS = 3  # a created one left behind: a read for its tag, the DELETE, a read to verify
SHOWN_BODY_CHARS = 2000  # of the representation a note gives for putting a resource back by hand


def fields_differing(want: Mapping[str, Any], shown: Mapping[str, Any]) -> list[str]:
    """The fields written back that a read does not show as written (timestamps compared as
    instants). A field the session added and the server keeps is not among them: a PUT that
    merges cannot remove it, and what was there before is back."""
    return sorted(name for name in want if not same(shown.get(name), want[name]))


def put_of(kind: ResourceKind) -> Conditional | None:
    """The PUT on the resource's own path: what puts a changed resource back (None: the kind has
    none, and so nothing a session does to a listed resource needs putting back)."""
    return next((w for w in kind.writes if w.write.method == "put" and w.action is None), None)


def delete_of(kind: ResourceKind) -> Conditional | None:
    return next((w for w in kind.writes if w.write.method == "delete" and w.action is None), None)


def _parameters(kind: ResourceKind) -> tuple[str, ...]:
    """Every path parameter of the kind's paths (its read, writes and create), besides account_id."""
    ops = (kind.read, *(w.write for w in kind.writes), *((kind.create,) if kind.create else ()))
    return tuple(dict.fromkeys(name for op in ops for name in op.path_parameters if name != "account_id"))


def validate_target_resources(document: ContractDocument, target: Target, only: tuple[str, ...] | None = None) -> None:
    """The target file's [[resources]] and create_delete, against the document in use: every
    kind is one of the document's, every entry fills its kind's path parameters, and every kind
    to create and delete has a create or a DELETE. `only`: check the entries of these kinds
    alone (the built-in sandbox's own target file lists every kind it serves, which another
    document given by --contract need not have)."""
    kinds = document.kinds
    has = f"the contract document {document.path.name} has {', '.join(sorted(kinds)) or 'no conditionally written resource'}"
    for index, ref in enumerate(target.resources, start=1):
        if only is not None and ref.kind not in only:
            continue
        where = f"target file {target.source}: [[resources]] entry {index} ({ref.label()})"
        kind = kinds.get(ref.kind)
        if kind is None or ref.kind == FIELDING_RUNS:
            why = "fielding runs are listed as [[runs]] by role" if ref.kind == FIELDING_RUNS else has
            raise TargetError(f"{where}: kind {ref.kind!r} is no resource kind to list here; {why}")
        given = dict(ref.ids)
        missing = [name for name in _parameters(kind) if name not in given]
        if missing:
            raise TargetError(f"{where} lacks {missing[0]}, a path parameter of {kind.read.method.upper()} {kind.read.path}; "
                              f"add {missing[0]} = \"...\" to the entry")
    for name in sorted(target.create_delete):
        if only is not None and name not in only:
            continue
        kind = kinds.get(name)
        if kind is None:
            raise TargetError(f"target file {target.source}: create_delete names {name!r}, which is no resource kind; {has}")
        if kind.create is None and delete_of(kind) is None:
            raise TargetError(f"target file {target.source}: create_delete names {name!r}, but the contract document "
                              f"{document.path.name} has no create (POST on its collection) nor DELETE for it; remove it")


def validate_choice(document: ContractDocument, chosen: tuple[str, ...] | None) -> None:
    """`--resources` names kinds of the document (or `all`), before anything starts."""
    for name in chosen or ():
        if name != ALL and name not in document.kinds:
            raise UsageError(f"--resources: unknown resource kind {name!r}; the contract document {document.path.name} has "
                             f"{', '.join(sorted(document.kinds))}, or give 'all'")


def judged_kinds(document: ContractDocument, target: Target, chosen: tuple[str, ...] | None, sandbox: bool) -> tuple[str, ...]:
    """The kinds whose conditional writes the locking oracles judge: on a target file, those its
    [[resources]] list, narrowed by `chosen`; on the built-in sandbox, only those `chosen` names
    (None: the flag left out). `fielding-runs` (named, or `all`) adds the fielding run's writes
    besides pause, resume and complete (update, launch-now, relaunch): a server may serve the
    four alone, so they are judged only when asked for; the four are judged always."""
    validate_choice(document, chosen)
    listed = tuple(dict.fromkeys(ref.kind for ref in target.resources))
    runs = (FIELDING_RUNS,) if FIELDING_RUNS in document.kinds else ()
    if chosen is None:
        return () if sandbox else listed
    if ALL in chosen:
        return runs + listed
    named = tuple(dict.fromkeys(name for name in chosen if name != FIELDING_RUNS))
    unlisted = [name for name in named if name not in listed]
    if unlisted:
        where = "the built-in sandbox's seed" if sandbox else f"target file {target.source}"
        raise TargetError(f"--resources names {unlisted[0]!r}, but {where} lists no [[resources]] of that kind; "
                          + ("" if sandbox else f"add one (kind = {unlisted[0]!r} and its ids) or ")
                          + f"choose from {', '.join(runs + listed)}")
    return (runs if FIELDING_RUNS in chosen else ()) + named


@dataclass(frozen=True)
class Kept:
    """What the session's first read showed of a judged resource it may have to put back."""

    judged: JudgedResource
    seen: Snapshot


@dataclass(frozen=True)
class ResourceRestoration:
    ok: bool  # as it was (or, created by the session, gone)
    note: str | None = None  # what was done, or what is wrong and what to do; None when nothing was needed


def _by_hand(kept: Kept, put: Conditional, base_url: str) -> str:
    body = json.dumps(kept.seen.writable(put.write.request_schema), separators=(",", ":"), sort_keys=True)
    if len(body) > SHOWN_BODY_CHARS:
        body = body[:SHOWN_BODY_CHARS] + "…"
    return f"put it back by hand: {put.write.method.upper()} {kept.judged.url(base_url, put.write)} with a current If-Match and {body}"


def restore_resource(client: ApiClient, kept: Kept, *, record: bool = False, role: str | None = None) -> ResourceRestoration:
    """Write back what the first read showed, if a field its PUT sets changed since, and verify it
    by a read. The session's restore is not judged (record=False); a locking test's put-back is
    (record=True, `role`: the fielding run's, where the resource is one)."""
    judged, label = kept.judged, kept.judged.label
    put = put_of(judged.kind)
    if put is None or kept.seen.status_code != 200:  # nothing a session does needs it; or nothing was seen to put back
        return ResourceRestoration(True)
    schema = put.write.request_schema
    want = kept.seen.writable(schema)
    base_url = client.target.base_url
    now = look(client, judged, record=record)
    if now.status_code == 404:
        return ResourceRestoration(False, f"{label} is gone (GET answered 404); create it again and list its new id, or "
                                          + _by_hand(kept, put, base_url))
    if now.status_code != 200:
        return ResourceRestoration(False, f"{label} could not be read to put it back (GET answered {now.status_code}); "
                                          + _by_hand(kept, put, base_url))
    if not fields_differing(want, now.writable(schema)):  # as it was (a new ETag alone needs no write)
        return ResourceRestoration(True)
    written = write_resource(client, judged, put, now.etag, want, record=record, current=now.etag, role=role)
    if not 200 <= written.status < 300:
        return ResourceRestoration(False, f"the target refused to put {label} back with its current ETag (answered "
                                          f"{written.status}); " + _by_hand(kept, put, base_url))
    after = look(client, judged, record=record)
    differ = fields_differing(want, after.writable(schema))
    if after.status_code != 200 or differ:
        shown = f"GET answered {after.status_code}" if after.status_code != 200 else f"{', '.join(differ)} still differ"
        return ResourceRestoration(False, f"{label} was written back but the read after shows otherwise ({shown}); "
                                          + _by_hand(kept, put, base_url))
    return ResourceRestoration(True, f"{label} was changed: put back as it was (its writable fields verified by a read)")


def delete_created(client: ApiClient, judged: JudgedResource) -> ResourceRestoration:
    """Delete a resource the session created and did not delete (a test stopped before its own
    clean-up), with its current tag, and verify it is gone."""
    delete, label = delete_of(judged.kind), judged.label
    now = look(client, judged, record=False)
    if now.status_code == 404:
        return ResourceRestoration(True)
    url = judged.url(client.target.base_url, judged.kind.read)
    if delete is None:
        return ResourceRestoration(False, f"{label}, created by this session, is left: its kind has no DELETE; delete {url} by hand")
    gone = write_resource(client, judged, delete, now.etag, record=False)
    after = look(client, judged, record=False) if 200 <= gone.status < 300 else None
    if after is None or after.status_code != 404:
        answered = f"DELETE answered {gone.status}" if after is None else f"GET after the DELETE answered {after.status_code}"
        return ResourceRestoration(False, f"{label}, created by this session, could not be deleted ({answered}); delete {url} by hand")
    return ResourceRestoration(True, f"{label}, created by a test that stopped before deleting it, was deleted")


def created_ref(kind: str, account_id: str, ids: Mapping[str, Any]) -> ResourceRef:
    return ResourceRef(kind, account_id, tuple(sorted((name, str(value)) for name, value in ids.items() if name != "account_id")))
