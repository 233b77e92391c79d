"""The sandbox's settings: one table, read from a TOML file, env vars and flags.

Every open question of the API doc is a setting here, with the likeliest answer as default,
so a harness run can be pointed at either answer. Precedence: flag > env var > file > default.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldproof.contract import API_VERSIONS, OPEN_QUESTIONS
from fieldproof.errors import SettingsError, TomlFileError
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.tomlfile import read_toml

ENV_PREFIX = "FIELDPROOF_SANDBOX_"
# A local test server's signing key, not a secret: it lets `fieldproof sandbox token` print a
# token that any sandbox started with the same key accepts.
DEFAULT_JWT_SECRET = "fieldproof-sandbox-signing-key-not-a-secret"
KNOWN_API_VERSIONS = API_VERSIONS


# where and how the sandbox is served, not how it answers; the signing key is never reported
SERVING = frozenset({"host", "port", "workers", "db", "control", "jwt_secret", "token_ttl_s"})


def _setting(default: Any, help: str, choices: tuple[str, ...] | None = None, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, **kw})


def _open_question(name: str) -> Any:
    """A setting that answers one of the contract's open questions, its choices from the table."""
    question = OPEN_QUESTIONS[name]
    return _setting(question.default, question.question, question.choices)


@dataclass(frozen=True)
class SandboxSettings:
    # serving
    host: str = _setting("127.0.0.1", "address to listen on (keep it loopback)")
    port: int = _setting(8080, "port to listen on; 0 picks a free one")
    workers: int = _setting(1, "worker processes sharing one database", minimum=1, maximum=32)
    db: str | None = _setting(None, "SQLite file to keep state in (default: a temporary file)")
    control: bool = _setting(False, "enable the loopback-only control API under /_control")
    jwt_secret: str = _setting(DEFAULT_JWT_SECRET, "HS256 key the sandbox signs tokens with")
    token_ttl_s: int = _setting(86400, "lifetime of printed tokens, seconds", minimum=1)

    # open questions of the API doc (contract.OPEN_QUESTIONS; default: the likeliest answer)
    malformed_id: str = _open_question("malformed_id")
    undeclared_method: str = _open_question("undeclared_method")
    missing_if_match: str = _open_question("missing_if_match")
    malformed_if_match: str = _open_question("malformed_if_match")
    if_match_star: str = _open_question("if_match_star")
    if_match_list: str = _open_question("if_match_list")
    if_match_comparison: str = _open_question("if_match_comparison")
    resume_live: str = _open_question("resume_live")
    pause_paused: str = _open_question("pause_paused")
    complete_paused: str = _open_question("complete_paused")
    foreign_account: str = _open_question("foreign_account")
    other_scope: str = _open_question("other_scope")
    gate_order: str = _open_question("gate_order")
    unknown_api_version: str = _open_question("unknown_api_version")
    status_case: str = _open_question("status_case")

    # fault injection, all off by default
    latency_ms: float = _setting(0.0, "added latency per request, ms", minimum=0)
    jitter_ms: float = _setting(0.0, "random extra latency up to this many ms", minimum=0)
    error_rate: float = _setting(0.0, "fraction of API requests answered 500", minimum=0, maximum=1)
    rate_limit_burst: int = _setting(0, "token-bucket size per token; 0 turns limits off", minimum=0)
    rate_limit_refill: float = _setting(1.0, "tokens added per second", minimum=0.001)

    # deliberate bugs, to prove the harness catches them (`fieldproof sandbox --fault list`)
    fault: str = _setting("none", "fault modes to inject, comma-separated (see --fault list)",
                          ("none", "list", *FAULT_MODES), multiple=True)
    race_window_ms: float = _setting(1.0, "check_then_act_race, pause_check_then_act, lock_per_operation, resource_lost_update: "
                                          "ms between decision and write", minimum=0)

    @property
    def faults(self) -> frozenset[str]:
        """The fault modes in force (none, one, or several in different layers)."""
        return frozenset(name for name in self.fault.split(",") if name not in ("", "none", "list"))

    def record(self) -> dict[str, str]:
        """How this sandbox answers, for a session's reports and its reproductions: every setting
        of its behaviour that is not the default, fault modes included, as `fieldproof sandbox`
        flags' values (with them, `fieldproof sandbox --fault NAME,… --SETTING VALUE …` answers
        alike). Where it listens and its signing key are not its behaviour."""
        defaults = SandboxSettings()
        return {f.name: str(getattr(self, f.name)) for f in setting_fields()
                if f.name not in SERVING and getattr(self, f.name) != getattr(defaults, f.name)}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SandboxSettings:
        return cls(**json.loads(text))


def setting_fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(SandboxSettings)


def _coerce(f: dataclasses.Field[Any], raw: Any, source: str) -> Any:
    """Turn a raw value (TOML value or string) into the field's type, or say what is wrong."""
    meta = f.metadata
    kind = str(f.type)
    where = f"{source}: setting {f.name!r}"
    try:
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                value: Any = raw
            elif str(raw).lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise ValueError
        elif kind.startswith("int"):
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw)
        elif kind.startswith("float"):
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):  # float() takes "nan" and "inf"
                raise SettingsError(f"{where} must be a finite number, got {raw!r}")
        else:
            value = str(raw)
    except (TypeError, ValueError):
        expected = kind.split(" ")[0].replace("str", "text")
        raise SettingsError(f"{where} must be {expected}, got {raw!r}") from None
    choices = meta.get("choices")
    values = [v.strip() for v in value.split(",")] if meta.get("multiple") and isinstance(value, str) else [value]
    if choices and any(v not in choices for v in values):
        raise SettingsError(f"{where} must be one of {', '.join(choices)}; got {raw!r}")
    if meta.get("multiple"):
        value = ",".join(values)
    if "minimum" in meta and value < meta["minimum"]:
        raise SettingsError(f"{where} must be at least {meta['minimum']}, got {raw!r}")
    if "maximum" in meta and value > meta["maximum"]:
        raise SettingsError(f"{where} must be at most {meta['maximum']}, got {raw!r}")
    return value


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SandboxSettings:
    """Merge file < env < overrides onto the defaults; raise SettingsError on any bad value."""
    fields = {f.name: f for f in setting_fields()}
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = read_toml(path, "settings file")
        except TomlFileError as exc:
            raise SettingsError(str(exc)) from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in fields:
                raise SettingsError(
                    f"settings file {path}: unknown setting {key!r}; see `fieldproof sandbox --help`"
                )
            values[name] = _coerce(fields[name], raw, str(path))
    for name, f in fields.items():
        raw = (env if env is not None else os.environ).get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(f, raw, ENV_PREFIX + name.upper())
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(fields[name], raw, "--" + name.replace("_", "-"))
    return SandboxSettings(**values)
