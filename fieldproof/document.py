"""The contract document in use: ours (contracts/fielding-runs.openapi.yaml) or a provider's own
OpenAPI document (`fieldproof run --contract FILE`, such as the vendor's whole Demand API).

The four fielding-run operations are found by method and path template, never by operationId
(providers name them as they like). The harness works on a copy of the document that holds
those four operations only, under our parameter names and operationIds, with the ETag ->
If-Match links added. The document's other conditional writes are the locking oracles' (surface.py),
sent only to the resources a session opts into.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fieldproof import contract
from fieldproof.errors import ContractError
from fieldproof.surface import ResourceKind, key_of, operations, resource_kinds, statuses_of
from fieldproof.userfiles import MAX_DOCUMENT_BYTES, read_user_text

OPERATION_IDS = {"get": "getFieldingRun", "pause": "pauseFieldingRun", "resume": "resumeFieldingRun",
                 "complete": "completeFieldingRun"}
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
# the links the harness adds: after a GET's 200 or a write's 204, which operations may follow
_LINK_NAMES = {"get": "GetRun", "pause": "PauseWithEtag", "resume": "ResumeWithEtag", "complete": "CompleteWithEtag"}
_FOLLOWERS = {"get": ("pause", "resume", "complete"), "pause": ("resume", "get"), "resume": ("pause", "get"),
              "complete": ("get",)}


@dataclass(frozen=True)
class Found:
    """Where one of the four operations sits in the document."""

    path: str  # the document's own path template
    method: str  # lower case
    names: tuple[str, ...]  # the document's path parameter names, in RUN_PATH's order
    line: int  # 1-based line of the path in the file (0: unknown)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML read as schemathesis reads an API document (schemathesis.core.deserialization), so
    that the data it is handed is the data it would have loaded itself: an unquoted date or
    timestamp stays a string (JSON has no date, and schemathesis refuses one), only `true` and
    `false` are booleans (YAML 1.2: a parameter named `on` or a value `no` stays a string), a
    float may be written `1e10`, a mapping key keeps its text (`200:` is "200"), and `!!binary`
    keeps its base64 text. libyaml's parser where PyYAML has it: the same data, much sooner."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # `<<` merge keys
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        "found a key that is not a plain value", key_node.start_mark)
            key = self.construct_object(key_node, deep) if key_node.tag == "tag:yaml.org,2002:str" else key_node.value
            mapping[key] = self.construct_object(value_node, deep)
        return mapping

    def construct_binary(self, node: Any) -> Any:
        return self.construct_scalar(node)


_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
# PyYAML's own float resolver wants a dot and a signed exponent; this one, tried after it, takes `1e10` too
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)
_Loader.add_constructor("tag:yaml.org,2002:binary", _Loader.construct_binary)


def _parse(text: str, suffix: str) -> Any:
    """The document's data, told JSON from YAML as schemathesis tells them: by the file's
    suffix, else JSON first."""
    if suffix == ".json":
        return json.loads(text)
    if suffix not in (".yaml", ".yml"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return yaml.load(text, Loader=_Loader)


def _read(path: Path) -> tuple[dict[str, Any], str]:
    text = read_user_text(path, "contract document", MAX_DOCUMENT_BYTES, ContractError, give="give an OpenAPI file")
    try:
        data = _parse(text, path.suffix.lower())
    except (ValueError, yaml.YAMLError) as exc:
        raise ContractError(f"contract document {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                            f"{str(exc).splitlines()[0]}") from None
    except RecursionError:  # libyaml stops deep nesting itself; json does not
        raise ContractError(f"contract document {path} is nested too deeply to be an OpenAPI document") from None
    if not isinstance(data, dict) or not isinstance(data.get("paths"), dict) or "openapi" not in data:
        raise ContractError(f"contract document {path} is not an OpenAPI 3 document (no 'openapi' and 'paths')")
    return data, text


def read_document(path: Path) -> tuple[dict[str, Any], str]:
    """Any OpenAPI 3 document's data and text, read as the session reads its contract document
    (a user error, one line, when it cannot be)."""
    return _read(path)


def _match(template: str) -> tuple[str | None, tuple[str, ...]] | None:
    """(action, parameter names) if `template` is the run path or an action below it."""
    segments = template.strip("/").split("/")
    fixed = contract.RUN_PATH_SEGMENTS
    if len(segments) not in (len(fixed), len(fixed) + 1):
        return None
    names = []
    for segment, want in zip(segments, fixed, strict=False):  # an action segment may follow
        if want is None:
            if not (segment.startswith("{") and segment.endswith("}")):
                return None
            names.append(segment[1:-1])
        elif segment != want:
            return None
    action = segments[len(fixed)] if len(segments) > len(fixed) else None
    return action, tuple(names)


def _ours(action: str | None) -> str:
    return contract.RUN_PATH + (f"/{action}" if action else "")


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """A local $ref followed (one level at a time, until none is left)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ContractError(f"only local $refs are supported in the fielding-run operations, got {ref!r}")
        node = document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node


def _references(node: Any) -> Iterator[str]:
    """Every `$ref` below a node, and every schema a discriminator's mapping names."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            discriminator = node.get("discriminator")
            mapping = discriminator.get("mapping") if isinstance(discriminator, dict) else None
            for target in (mapping or {}).values() if isinstance(mapping, dict) else ():
                if isinstance(target, str):  # a schema's name, or a reference
                    yield target if "/" in target or "#" in target else f"#/components/schemas/{target}"
            stack.extend(node.values())


def _drop_external_examples(reduced: dict[str, Any], document: dict[str, Any]) -> None:
    """Examples given only by `externalValue` (a URL) are left out: schemathesis would fetch
    them itself, outside the harness's client."""
    stack: list[Any] = [reduced]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            examples = node.get("examples")
            if isinstance(examples, dict):
                for name, example in list(examples.items()):
                    example = _resolve(document, example) if isinstance(example, dict) else example
                    if isinstance(example, dict) and "externalValue" in example and "value" not in example:
                        del examples[name]
            stack.extend(node.values())


class ContractDocument:
    def __init__(self, path: Path, data: dict[str, Any], text: str) -> None:
        self.path = path
        self.data = data
        self.found: dict[str, Found] = {}
        self.templates: dict[str, str] = {}  # our path template -> the document's
        lines = text.splitlines()
        for template, item in data["paths"].items():
            matched = _match(str(template))
            if matched is None or not isinstance(item, dict):
                continue
            action, names = matched
            self.templates[_ours(action)] = str(template)
            line = next((n for n, text_line in enumerate(lines, 1) if key_of(text_line) == template), 0)
            for name, operation in contract.OPERATIONS.items():
                if operation.action == action and operation.method.lower() in item:
                    self.found[name] = Found(str(template), operation.method.lower(), names, line)
        missing = [name for name in contract.OPERATIONS if name not in self.found]
        if missing:
            wanted = ", ".join(f"{op.method} {contract.RUN_PATH}{'/' + op.action if op.action else ''}"
                               for name, op in contract.OPERATIONS.items() if name in missing)
            raise ContractError(f"contract document {path} has no {wanted}; fieldproof needs the four fielding-run operations")
        self.statuses: dict[str, frozenset[int]] = {}
        for name, found in self.found.items():
            operation = _resolve(data, data["paths"][found.path][found.method])
            self.statuses[name] = statuses_of(_resolve(data, operation.get("responses") or {}))
        self._reduced = self._reduce()  # here, so that a document schemathesis cannot use is refused before any request
        # the conditionally written resources, by kind, for the locking oracles
        self.kinds: dict[str, ResourceKind] = resource_kinds(operations(data, text))

    @property
    def documented(self) -> dict[str, frozenset[int]]:
        """Every operation's documented statuses by the name its exchanges carry: the four by
        ours, the resources' reads, writes and creates by their operationId."""
        found = {op.name: op.statuses for kind in self.kinds.values()
                 for op in (kind.read, *(w.write for w in kind.writes), *((kind.create,) if kind.create else ()))}
        return {**found, **self.statuses}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ContractDocument:
        return _load(str(Path(path).resolve()) if path is not None else str(contract.CONTRACT_PATH))

    def location(self, base: Path | None = None) -> dict[str, Any]:
        """Where the document and each operation are, for reports that point into it: the path
        relative to `base` (the working folder) when it lies below it."""
        real = self.path.resolve()  # ours is a symlink into contracts/
        base = (base or Path.cwd()).resolve()
        path = str(real.relative_to(base)) if real.is_relative_to(base) else str(real)
        return {"path": path, "lines": {name: found.line for name, found in self.found.items()}}

    def declared_methods(self, template: str) -> frozenset[str]:
        """Every method the document declares on one of our path templates (upper case), ours
        or not: the vendor's run path also has PUT, which the harness must never send."""
        item = self.data["paths"].get(self.templates.get(template, ""), {})
        return frozenset(m.upper() for m in item if m in _HTTP_METHODS)

    def for_schemathesis(self) -> dict[str, Any]:
        """A copy of the document with only the four operations, under our path parameter
        names and operationIds, the ETag -> If-Match links, and the components they use."""
        return copy.deepcopy(self._reduced)  # schemathesis changes what it is given

    def _reduce(self) -> dict[str, Any]:
        data = self.data
        reduced: dict[str, Any] = {key: copy.deepcopy(value) for key, value in data.items() if key not in ("paths", "components")}
        reduced["paths"] = {}
        if_match_names: dict[str, str] = {}
        for name, found in self.found.items():
            item = data["paths"][found.path]
            renamed = dict(zip(found.names, contract.PATH_PARAMETERS, strict=True))
            path_params = [self._renamed(p, renamed) for p in item.get("parameters") or []]
            operation = copy.deepcopy(_resolve(data, item[found.method]))
            operation["operationId"] = OPERATION_IDS[name]
            operation["parameters"] = [self._renamed(p, renamed) for p in operation.get("parameters") or []]
            if name in contract.WRITES:
                params = [_resolve(data, p) for p in path_params + operation["parameters"]]
                header = next((p["name"] for p in params if p.get("in") == "header" and str(p.get("name")).lower() == "if-match"), None)
                if header is None:  # older documents marked it optional or left it out
                    header = "If-Match"
                    operation["parameters"].append({"name": header, "in": "header", "required": False, "schema": {"type": "string"}})
                if_match_names[name] = header
            responses = _resolve(data, operation.get("responses")) or {}
            operation["responses"] = {str(k): copy.deepcopy(_resolve(data, v)) for k, v in responses.items()}
            for response in operation["responses"].values():
                if isinstance(response, dict):  # the provider's links lead to operations that are not here
                    response.pop("links", None)
            template = _ours(contract.OPERATIONS[name].action)
            target = reduced["paths"].setdefault(template, {})
            if path_params:
                target["parameters"] = path_params
            target[found.method] = operation
        for name, found in self.found.items():
            operation = reduced["paths"][_ours(contract.OPERATIONS[name].action)][found.method]
            success = "200" if name == "get" else "204"
            response = operation["responses"].get(success)
            if not isinstance(response, dict):
                continue
            response["links"] = {
                _LINK_NAMES[follower]: {
                    "operationId": OPERATION_IDS[follower],
                    "parameters": {
                        **{p: f"$request.path.{p}" for p in contract.PATH_PARAMETERS},
                        **({if_match_names[follower]: "$response.header.ETag"} if follower in if_match_names else {}),
                    },
                }
                for follower in _FOLLOWERS[name]
            }
        reduced["components"] = self._used_components(reduced)
        _drop_external_examples(reduced, data)
        return reduced

    def _used_components(self, reduced: dict[str, Any]) -> dict[str, Any]:
        """The components the reduced document reaches, copied; the security schemes whole (they
        are named, not referenced). A reference outside the document is refused: schemathesis
        would fetch it itself, a request outside the harness's client to a host nobody named."""
        components = self.data.get("components")
        if not isinstance(components, dict):
            return {}
        used: dict[str, set[str]] = {}
        pending: list[Any] = [node for key, node in reduced.items() if key != "components"]
        while pending:
            for ref in _references(pending.pop()):
                if not ref.startswith("#"):
                    raise ContractError(f"contract document {self.path}: the fielding-run operations refer to {ref!r}, outside the "
                                        "document; fieldproof reads nothing else: bundle the document into one file")
                parts = [part.replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/")]
                if len(parts) < 3 or parts[0] != "components" or parts[2] in used.setdefault(parts[1], set()):
                    continue
                section = components.get(parts[1])
                if isinstance(section, dict) and parts[2] in section:
                    used[parts[1]].add(parts[2])
                    pending.append(section[parts[2]])
        kept = {section: {name: copy.deepcopy(components[section][name]) for name in names} for section, names in used.items() if names}
        if "securitySchemes" in components:
            kept["securitySchemes"] = copy.deepcopy(components["securitySchemes"])
        return kept

    def _renamed(self, parameter: Any, renamed: dict[str, str]) -> Any:
        resolved = _resolve(self.data, parameter)
        if isinstance(resolved, dict) and resolved.get("in") == "path" and resolved.get("name") in renamed:
            return {**copy.deepcopy(resolved), "name": renamed[resolved["name"]]}
        return copy.deepcopy(parameter)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> ContractDocument:
    data, text = _read(Path(path))
    return ContractDocument(Path(path), data, text)
