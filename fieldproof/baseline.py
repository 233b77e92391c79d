"""A baseline: the findings a team has accepted for now, as teams adopt a checker on an API that
already has known defects (`fieldproof run --baseline FILE`).

```toml
[[accept]]
rule = "traceparent_on_every_response"   # required
signature = "get 404: no traceparent header"   # optional: one group only (as the report prints it)
reason = "the gateway strips it on errors; API-123"   # required
expires = 2027-03-01                     # optional (a TOML date)
```

An accepted finding is still reported (marked accepted) and does not fail the run; an expired
entry fails again; an entry that no longer occurs is reported as not seen, so it can be pruned.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldproof import rules
from fieldproof.errors import BaselineError, TomlFileError
from fieldproof.files import write_file
from fieldproof.tomlfile import read_toml, table_entries

_KEYS = {"rule", "signature", "reason", "expires"}
EXTERNAL_PREFIXES = ("schemathesis.",)  # another checker's findings, named source.Kind


@dataclass(frozen=True)
class Acceptance:
    rule: str
    reason: str
    signature: str | None = None
    expires: datetime.date | None = None

    def covers(self, rule: str, signature: str) -> bool:
        return self.rule == rule and (self.signature is None or self.signature == signature)

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and self.expires < today

    def describe(self) -> str:
        what = f"{self.rule}" + (f" [{self.signature}]" if self.signature else "")
        return what + (f" (expires {self.expires.isoformat()})" if self.expires else "")

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "signature": self.signature, "reason": self.reason,
                "expires": self.expires.isoformat() if self.expires else None}


@dataclass(frozen=True)
class Baseline:
    source: str
    entries: tuple[Acceptance, ...] = ()

    def match(self, rule: str, signature: str) -> Acceptance | None:
        """The entry for a finding group: one naming its signature first, else one for its rule."""
        exact = [e for e in self.entries if e.signature is not None and e.covers(rule, signature)]
        return next(iter(exact or [e for e in self.entries if e.covers(rule, signature)]), None)


def _known_rule(name: str) -> bool:
    return name in rules.all_rules() or name.startswith(EXTERNAL_PREFIXES)


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    try:
        data = read_toml(path, "baseline file")
    except TomlFileError as exc:
        raise BaselineError(str(exc)) from None
    unknown = sorted(set(data) - {"accept"})
    if unknown:
        raise BaselineError(f"baseline file {path}: unknown key {unknown[0]!r}; list entries as [[accept]] tables")
    raw = data.get("accept", [])
    if not isinstance(raw, list):
        raise BaselineError(f"baseline file {path}: 'accept' must be [[accept]] tables")
    try:
        tables = list(table_entries(raw, "accept", _KEYS, f"baseline file {path}, "))
    except TomlFileError as exc:
        raise BaselineError(str(exc)) from None
    return Baseline(str(path), tuple(_acceptance(where, entry) for where, entry in tables))


def _acceptance(where: str, entry: dict[str, Any]) -> Acceptance:
    rule = entry.get("rule")
    if not isinstance(rule, str) or not rule:
        raise BaselineError(f"{where}: rule is missing; name the rule the finding is of, e.g. rule = \"documented_status\"")
    if not _known_rule(rule):
        raise BaselineError(f"{where}: unknown rule {rule!r}; the report's rule table lists the rules")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BaselineError(f"{where}: reason is missing; say why the finding is accepted (a ticket, an owner)")
    signature = entry.get("signature")
    if signature is not None and (not isinstance(signature, str) or not signature):
        raise BaselineError(f"{where}: signature must be text as the report prints it, e.g. \"get 404: no traceparent header\"")
    expires = entry.get("expires")
    if expires is not None and (not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime)):
        raise BaselineError(f"{where}: expires must be a TOML date such as 2027-03-01 (no quotes), got {expires!r}")
    return Acceptance(rule, reason.strip(), signature, expires)


def write_baseline(path: str | Path, groups: Iterable[tuple[str, str]], old: Baseline | None, today: datetime.date) -> int:
    """Write a baseline accepting every (rule, signature) group given; an entry of the old
    baseline that still covers a group is kept as it was (its reason, its expiry). Returns the
    number of entries written."""
    kept: list[Acceptance] = []
    for rule, signature in groups:
        entry = old.match(rule, signature) if old is not None else None
        if entry is None:
            entry = Acceptance(rule, f"accepted by --baseline-update on {today.isoformat()}; say why", signature)
        if entry not in kept:
            kept.append(entry)
    lines = ["# fieldproof baseline: findings accepted for now (fieldproof run --baseline FILE).",
             "# Each entry needs a reason; an entry past its expires date fails the run again.", ""]
    for entry in kept:
        lines.append("[[accept]]")
        lines.append(f"rule = {json.dumps(entry.rule)}")
        if entry.signature is not None:
            lines.append(f"signature = {json.dumps(entry.signature)}")
        lines.append(f"reason = {json.dumps(entry.reason)}")
        if entry.expires is not None:
            lines.append(f"expires = {entry.expires.isoformat()}")
        lines.append("")
    try:
        write_file(Path(path), "\n".join(lines))
    except OSError as exc:
        raise BaselineError(f"cannot write baseline file {path}: {exc.strerror}; choose another path") from None
    return len(kept)
