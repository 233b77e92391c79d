"""Request bodies for a resource's conditional write, built from the document's request schema.

A body starts from what the resource holds now (`Snapshot.writable`: the fields the
write can set, as the read before showed them), so that it is valid on a real server whatever
the schema leaves unsaid, and then varies one field with values the schema allows, so that N
bodies all differ from each other and from the resource as it is (raced writers whose bodies
differ cannot hide a second winner behind an unchanged representation).

Which field is varied, in this order of preference:

- a free string (no enum, no date): a seeded token appended within its length bounds (a URI
  keeps its scheme and host); a field named as an id is left alone: it names another resource,
  and one made up would be refused;
- the latest date-time: moved later by whole days (a start already in the past is refused by
  the vendor, and an end moved later stays after its start);
- otherwise the combinations of enums, booleans and arrays of enums, nested objects included.

Values come from a `random.Random` seeded by the session's --seed, so a session's bodies can be
sent again.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import random
import string
from collections.abc import Iterator, Mapping
from typing import Any

from fieldproof.surface import resolve

_MAX_DEPTH = 8


def resolved(document: Mapping[str, Any], schema: Any, depth: int = 0) -> Any:
    """The schema with every local $ref followed, all the way down (an external or a cyclic one
    beyond a few levels is left as it is)."""
    node = resolve(dict(document), schema)
    if depth > _MAX_DEPTH:
        return node
    if isinstance(node, dict):
        return {key: resolved(document, value, depth + 1) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(document, value, depth + 1) for value in node]
    return node


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return dict(properties) if isinstance(properties, Mapping) else {}


def _is_date_time(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "string" and schema.get("format") == "date-time"


def _is_free_string(name: str, schema: Mapping[str, Any]) -> bool:
    if schema.get("type") != "string" or "enum" in schema or "const" in schema:
        return False
    if schema.get("format") in ("date-time", "date", "uuid", "email"):
        return False
    named_an_id = name == "id" or name.endswith("_id") or name.endswith("Id")
    return not named_an_id and (schema.get("maxLength") is None or int(schema["maxLength"]) >= 4)


def _timestamp(value: Any) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _rfc3339(moment: datetime.datetime) -> str:
    """In UTC, with no more fraction of a second than it has (as servers write it back)."""
    spec = "seconds" if not moment.microsecond else "milliseconds" if not moment.microsecond % 1000 else "microseconds"
    return moment.astimezone(datetime.UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _token(rng: random.Random, n: int) -> str:
    return f"{n}{''.join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))}"


def _free_string(base: Any, schema: Mapping[str, Any], token: str) -> str:
    """A string the schema allows, holding `token`: the value held now with the token after it."""
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", 256))
    if schema.get("format") in ("uri", "url") or str(schema.get("pattern", "")).startswith("^http"):
        start = base if isinstance(base, str) and base.startswith("https://") else "https://hooks.example.com/fieldproof"
        text = f"{start.split('?', 1)[0].rstrip('/')}/{token}"
    else:
        start = base if isinstance(base, str) else "fieldproof"
        text = f"{start[: max(0, high - len(token) - 1)]} {token}".strip()
    text = text[:high]
    return text + "x" * max(0, low - len(text))


def example(schema: Mapping[str, Any], rng: random.Random) -> Any:
    """A value the schema allows, for a field the body must have that the resource does not show."""
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required") or []
        return {name: example(sub, rng) for name, sub in _properties(schema).items() if name in required}
    if kind == "array":
        items = schema.get("items")
        return [example(items if isinstance(items, Mapping) else {}, rng) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return int(schema.get("minimum", 0))
    if _is_date_time(schema):
        return _rfc3339(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30))
    return _free_string(None, schema, _token(rng, 0))


_ABSENT = object()  # an optional field left out (for a full replacement, a setting turned off)


def _without_absent(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    return {name: value for name, value in zip(names, values, strict=True) if value is not _ABSENT}


def _choices(schema: Mapping[str, Any], current: Any, optional: bool = False) -> list[Any]:
    """The values an enum, a boolean, an array of enums or an object of those may take (the
    current one first), a few of them, and its absence where it is optional: what a body of no
    free field can vary."""
    values = _values(schema, current)
    return [*values, _ABSENT] if optional and len(values) > 1 else values


def _values(schema: Mapping[str, Any], current: Any) -> list[Any]:
    if "enum" in schema and schema["enum"]:
        values = list(schema["enum"])
    elif schema.get("type") == "boolean":
        values = [False, True]
    elif schema.get("type") == "array" and isinstance(schema.get("items"), Mapping) and schema["items"].get("enum"):
        enum = list(schema["items"]["enum"])
        low = max(1, int(schema.get("minItems", 1)))
        values = [list(combo) for size in range(low, min(len(enum), low + 1) + 1) for combo in itertools.combinations(enum, size)]
    elif schema.get("type") == "object":
        names = list(_properties(schema))[:3]
        held = current if isinstance(current, Mapping) else {}
        required = schema.get("required") or []
        per_field = [_choices(_properties(schema)[name], held.get(name), name not in required)[:4] for name in names]
        values = [_without_absent(names, combo) for combo in itertools.product(*per_field)] if names else [{}]
    else:
        return [current]
    return [current, *(value for value in values if value != current)] if current is not None else values


def _variants(schema: Mapping[str, Any], base: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Bodies that differ from `base` (and from each other), for as long as the schema allows."""
    properties = _properties(schema)
    free = next((name for name, sub in properties.items() if _is_free_string(name, sub)), None)
    if free is not None:
        for n in itertools.count(1):
            yield {**base, free: _free_string(base.get(free), properties[free], _token(rng, n))}
    dates = [(moment, name) for name, sub in properties.items()
             if _is_date_time(sub) and (moment := _timestamp(base.get(name))) is not None]
    if dates:
        moment, name = max(dates)
        for n in itertools.count(1):
            yield {**base, name: _rfc3339(moment + datetime.timedelta(days=n))}
    required = schema.get("required") or []
    names = [name for name, sub in properties.items() if len(_choices(sub, base.get(name))) > 1]
    options = [_choices(properties[name], base.get(name), name not in required) for name in names]
    for combo in itertools.islice(itertools.product(*options), 1, 256):
        yield {**{k: v for k, v in base.items() if k not in names}, **_without_absent(names, combo)}


def distinct_bodies(schema: Mapping[str, Any] | None, writable: Mapping[str, Any], count: int, seed: int | None,
                    document: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Up to `count` bodies for a write whose request schema is `schema` ($refs resolved against
    `document`), each different from the others and from `writable` (the fields the resource
    holds now); fewer when the schema allows no more."""
    if schema is None:
        return []
    full = resolved(document or {}, schema)
    if not isinstance(full, Mapping):
        return []
    rng = random.Random(seed if seed is not None else 0)
    base = copy.deepcopy(dict(writable))
    required = full.get("required") or []
    for name, sub in _properties(full).items():
        if name in required and name not in base and isinstance(sub, Mapping):
            base[name] = example(sub, rng)
    bodies: list[dict[str, Any]] = []
    for body in _variants(full, base, rng):
        if body != dict(writable) and body not in bodies:
            bodies.append(body)
        if len(bodies) >= count:
            break
    return bodies
