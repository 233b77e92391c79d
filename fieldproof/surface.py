"""The conditional surface of a contract document: every conditional write, the read that shows
its resource, and what the document says of both.

A **conditional write** is an operation that declares an `If-Match` header. It is paired with the
**read** that shows its resource: the GET on the same path, or on the parent path for an action
(`…/resume` is read by the GET of `…`). A **resource kind** is the read's path template, named by
its last fixed segment (`webhooks`, `fielding-runs`, `allocation-template-association`): target
files list resources by that name.

This is the generic part of the contract table: `fieldproof lint` reads it to say what a document
leaves out, and the locking oracles read it to know what to send and what a correct answer is.
The hand-written facts of the four fielding-run operations (contract.py) sit on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WRITE_METHODS = ("put", "post", "patch", "delete")
FIELDING_RUNS = "fielding-runs"  # the kind whose four operations have hand-written facts


def key_of(line: str) -> str:
    """The mapping key a line of YAML or JSON opens, as written: `/p:`, `'/p':`, `"/p": {`, or
    `? /p` (YAML's explicit key, which writers use for long keys)."""
    text = line.strip().removeprefix("? ").removesuffix("{").rstrip()
    return text.rstrip(":").strip("'\"")


def resolve(document: dict[str, Any], node: Any) -> Any:
    """A local $ref followed; an external or dangling one is left as it is (the surface reads one
    file, and says what it finds rather than refusing the document)."""
    for _ in range(20):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/")):
            return node
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        node = target
    return node


def statuses_of(keys: Any) -> frozenset[int]:
    """The statuses a responses object documents (`4XX` and `default` spelled out)."""
    statuses: set[int] = set()
    for key in keys:
        key = str(key).upper()
        if key == "DEFAULT":
            return frozenset(range(100, 600))
        if len(key) == 3 and key.endswith("XX") and key[0].isdigit():
            statuses |= set(range(int(key[0]) * 100, int(key[0]) * 100 + 100))
        elif key.isdigit():
            statuses.add(int(key))
    return frozenset(statuses)


@dataclass(frozen=True)
class Operation:
    """One operation of a contract document, with what the generic oracles and the lint read."""

    method: str  # lower case
    path: str  # the path template as the document writes it
    operation_id: str
    line: int  # where the document declares it (1-based; 0: not found)
    if_match: dict[str, Any] | None  # the If-Match parameter, resolved
    responses: dict[str, dict[str, Any]]  # status as written -> the response, resolved
    request_schema: dict[str, Any] | None = None  # the JSON request body's schema (refs inside left as written)

    @property
    def name(self) -> str:
        return self.operation_id or f"{self.method.upper()} {self.path}"

    @property
    def path_parameters(self) -> tuple[str, ...]:
        """The path template's parameter names, in order."""
        return tuple(segment[1:-1] for segment in self.path.strip("/").split("/") if segment.startswith("{") and segment.endswith("}"))

    @property
    def statuses(self) -> frozenset[int]:
        return statuses_of(self.responses)

    @property
    def if_match_required(self) -> bool:
        return self.if_match is not None and self.if_match.get("required") is True

    def documents(self, status: str) -> bool:
        return status in self.responses

    def etag_on(self, status: str) -> bool:
        headers = self.responses.get(status, {}).get("headers") or {}
        return any(str(name).lower() == "etag" for name in headers)

    def successes(self) -> list[str]:
        return sorted(status for status in self.responses if status.startswith("2"))


def kind_of(path: str) -> str:
    """A resource kind's name: the last fixed segment of its read's path template."""
    fixed = [segment for segment in path.strip("/").split("/") if not segment.startswith("{")]
    return fixed[-1] if fixed else "/"


@dataclass(frozen=True)
class Conditional:
    """A conditional write and the read that shows its resource (None: the document has none)."""

    write: Operation
    read: Operation | None

    @property
    def kind(self) -> str:
        return kind_of(self.read.path if self.read is not None else self.write.path)

    @property
    def action(self) -> str | None:
        """The path segment after the read's path (`resume`), None when the write is on the read's own path."""
        if self.read is None or self.write.path.rstrip("/") == self.read.path.rstrip("/"):
            return None
        return self.write.path.rstrip("/").rsplit("/", 1)[1]


@dataclass(frozen=True)
class ResourceKind:
    """A resource's read and every conditional write of it, as one document declares them."""

    name: str
    read: Operation
    writes: tuple[Conditional, ...]
    create: Operation | None = None  # a POST on the read's parent path (the collection), if the document has one

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return self.read.path_parameters


def _lines(text: str) -> dict[tuple[str, str], int]:
    """(path, method) -> the line that opens the operation, read from the text as written."""
    found: dict[tuple[str, str], int] = {}
    path, path_indent = None, -1
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        value_of_a_long_key = raw.lstrip().startswith(": ")  # YAML's `? /long/path` then `: post:`
        key = key_of(raw.lstrip()[2:] if value_of_a_long_key else raw)
        if value_of_a_long_key:
            indent = path_indent + 1
        if key.startswith("/"):
            path, path_indent = key, indent
        elif path is not None and indent > path_indent and key in WRITE_METHODS + ("get",):
            found.setdefault((path, key), number)
        elif indent <= path_indent:
            path = None
    return found


def _request_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = resolve(document, operation.get("requestBody"))
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None
    media = next((value for key, value in content.items() if str(key).split(";")[0].strip().lower() == "application/json"), None)
    schema = resolve(document, media.get("schema")) if isinstance(media, dict) else None
    return schema if isinstance(schema, dict) else None


def operations(document: dict[str, Any], text: str) -> list[Operation]:
    """Every operation of the document, with its If-Match parameter, responses and request schema resolved."""
    lines = _lines(text)
    found = []
    for path, item in (document.get("paths") or {}).items():
        item = resolve(document, item)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in ("get", *WRITE_METHODS):
            operation = resolve(document, item.get(method))
            if not isinstance(operation, dict):
                continue
            parameters = [resolve(document, p) for p in [*shared, *(operation.get("parameters") or [])]]
            if_match = next((p for p in parameters if isinstance(p, dict) and p.get("in") == "header"
                             and str(p.get("name", "")).lower() == "if-match"), None)
            responses = {str(status): resolved for status, response in (resolve(document, operation.get("responses")) or {}).items()
                         if isinstance(resolved := resolve(document, response), dict)}
            found.append(Operation(method, str(path), str(operation.get("operationId") or ""), lines.get((str(path), method), 0),
                                   if_match, responses, _request_schema(document, operation)))
    return found


def conditionals(found: list[Operation]) -> list[Conditional]:
    """Each conditional write, paired with the GET of its path, or of its parent path (an action)."""
    reads = {op.path.rstrip("/"): op for op in found if op.method == "get"}
    paired = []
    for op in found:
        if op.method in WRITE_METHODS and op.if_match is not None:
            path = op.path.rstrip("/")
            paired.append(Conditional(op, reads.get(path) or reads.get(path.rsplit("/", 1)[0])))
    return paired


def resource_kinds(found: list[Operation]) -> dict[str, ResourceKind]:
    """The conditionally written resources, by kind; a write whose resource has no read is left
    out (nothing could show what it changed: the lint says so)."""
    pairs = conditionals(found)
    creates = {op.path.rstrip("/"): op for op in found if op.method == "post" and op.if_match is None}
    by_read: dict[str, tuple[Operation, list[Conditional]]] = {}
    for pair in pairs:
        if pair.read is not None:
            by_read.setdefault(pair.read.path, (pair.read, []))[1].append(pair)
    kinds: dict[str, ResourceKind] = {}
    for read, writes in by_read.values():
        item = read.path.rstrip("/")  # an item of a collection ends in its id; a singleton has no create
        create = creates.get(item.rsplit("/", 1)[0]) if item.endswith("}") else None
        kinds.setdefault(kind_of(read.path), ResourceKind(kind_of(read.path), read, tuple(writes), create))
    return kinds
