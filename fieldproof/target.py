"""Reading and validating a target file: where to send requests, with which runs and limits.

The only module that reads target files. Tokens come from the env vars the file names, never
from the file itself, so a target file can be committed and shared.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import idna

from fieldproof import contract
from fieldproof.errors import TargetError, TomlFileError
from fieldproof.tomlfile import read_toml, table_entries

ROLES = tuple(contract.ROLES)
PRODUCTION_HOSTS = ("api.cint.com",)
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RUN_ID = re.compile(r"[^\x00-\x20\x7f/?#]+")
_KEYS = {
    "base_url", "api_version", "account_id", "token_env", "foreign_token_env", "max_requests",
    "max_rps", "timeout_s", "rate_limit_probe", "allow_production", "allow_insecure_http", "runs",
    "max_body_bytes", "max_duration_s",
}  # fmt: skip
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DURATION_S = 1800.0
_RUN_KEYS = {"role", "project_id", "target_group_id", "fielding_run_id"}


@dataclass(frozen=True)
class RunRef:
    role: str
    account_id: str
    project_id: str
    target_group_id: str
    fielding_run_id: str

    def ids(self) -> dict[str, str]:
        """The run's path parameters, by name."""
        return {name: getattr(self, name) for name in contract.PATH_PARAMETERS}

    def path(self) -> str:
        return contract.run_path(**self.ids())


@dataclass(frozen=True)
class Target:
    base_url: str
    api_version: str
    account_id: str
    token: str = field(repr=False)
    foreign_token: str | None = field(default=None, repr=False)
    token_env: str = "FIELDPROOF_TOKEN"
    foreign_token_env: str | None = None
    runs: tuple[RunRef, ...] = ()
    max_requests: int = 2000
    max_rps: float | None = None
    timeout_s: float = 10.0  # a whole request: connect, send and every byte of the answer
    rate_limit_probe: bool = False
    source: str = "target file"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # a longer response body is cut off there
    max_duration_s: float = DEFAULT_MAX_DURATION_S  # the whole run
    ca_file: str | None = None  # PEM CA certificates trusted for this target (None: the system's)

    def runs_of(self, role: str) -> tuple[RunRef, ...]:
        return tuple(run for run in self.runs if run.role == role)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.token, self.foreign_token) if t)


def normalized_host(host: str) -> str:
    """The host as the HTTP client will connect to it: lower case, no trailing dot, and a
    non-ASCII name through IDNA (UTS #46: fullwidth forms, the Unicode dots "。．｡"), so that
    the production guard compares the very name the TLS handshake will use."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    try:
        name = host if host.isascii() else idna.encode(idna.uts46_remap(host).rstrip("."), uts46=True).decode()
    except (idna.IDNAError, UnicodeError) as exc:
        raise TargetError(f"base_url's host {host!r} is no valid host name ({exc}); write it in plain ASCII") from None
    name = name.lower().rstrip(".")
    if not _HOST.fullmatch(name):
        raise TargetError(f"base_url's host {host!r} is no valid host name; write it in plain ASCII, without '%' escapes")
    return name


def _check_base_url(url: Any, allow_production: bool, allow_insecure_http: bool) -> str:
    if not isinstance(url, str) or not url:
        raise TargetError("base_url must be a URL such as \"https://staging.example.com/v1\"")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"base_url must be an http(s) URL with a host, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise TargetError("base_url must not hold a user name or password; tokens come from token_env")
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"base_url has no valid port: {url!r}") from None
    host = normalized_host(parts.hostname)
    if host in PRODUCTION_HOSTS and not allow_production:
        raise TargetError(
            f"base_url points at production ({host}); use a staging deployment, "
            "or set allow_production = true if you really mean it"
        )
    if parts.scheme == "http" and not is_loopback(host) and not allow_insecure_http:
        raise TargetError(
            f"base_url uses plain http to {host}, which would send the token unencrypted; "
            "use https, or set allow_insecure_http = true"
        )
    netloc = f"[{host}]" if ":" in host else host
    # the client connects to exactly the host the guard judged
    return parts._replace(netloc=netloc + (f":{port}" if port is not None else "")).geturl().rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value: Any = data.get(key, default)
    if value is default:
        return value
    expected = "true or false" if kind is bool else ("a whole number" if kind is int else "a number")
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise TargetError(f"{key} must be {expected}, got {value!r}")
    if kind is not bool and not (0 < cast(float, value) < math.inf):  # also refuses nan
        raise TargetError(f"{key} must be a finite number greater than 0, got {value!r}")
    return value


def _token(env: Mapping[str, str], key: str, name: Any, account: str, required: bool) -> str | None:
    if name is None and not required:
        return None
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise TargetError(f"{key} must name an environment variable, got {name!r}")
    value = env.get(name, "").strip()
    if not value:
        if not required:
            raise TargetError(
                f"{key} names {name}, which is not set; set it to a valid token of another "
                f"account than {account}, or remove {key}"
            )
        raise TargetError(f"{name} is not set; set it to a bearer token of account {account} ({key})")
    return value


def parse_target(data: Mapping[str, Any], env: Mapping[str, str], source: str = "target file") -> Target:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TargetError(f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KEYS))}")
    for key in ("base_url", "api_version", "account_id", "token_env"):
        if key not in data:
            raise TargetError(f"{key} is missing")
    allow_production = _typed(data, "allow_production", bool, False)
    allow_insecure_http = _typed(data, "allow_insecure_http", bool, False)
    base_url = _check_base_url(data["base_url"], allow_production, allow_insecure_http)
    api_version = data["api_version"]
    if not isinstance(api_version, str) or not contract.API_VERSION_FORMAT.fullmatch(api_version):
        raise TargetError(f"api_version must look like \"2025-12-18\", got {api_version!r}")
    account_id = data["account_id"]
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account_id = str(account_id)
    if not isinstance(account_id, str) or not contract.ACCOUNT_ID.fullmatch(account_id):
        raise TargetError(f"account_id must be the account's number, such as \"101\", got {account_id!r}")
    token = _token(env, "token_env", data["token_env"], account_id, required=True)
    foreign = _token(env, "foreign_token_env", data.get("foreign_token_env"), account_id, required=False)
    if foreign is not None and foreign == token:
        raise TargetError("foreign_token_env holds the same token as token_env; give another account's token")
    runs = _parse_runs(data.get("runs"), account_id)
    assert token is not None
    return Target(
        base_url=base_url,
        api_version=api_version,
        account_id=account_id,
        token=token,
        foreign_token=foreign,
        token_env=data["token_env"],
        foreign_token_env=data.get("foreign_token_env"),
        runs=runs,
        max_requests=_typed(data, "max_requests", int, 2000),
        max_rps=_typed(data, "max_rps", (int, float), None),
        timeout_s=float(_typed(data, "timeout_s", (int, float), 10.0)),
        rate_limit_probe=_typed(data, "rate_limit_probe", bool, False),
        source=source,
        max_body_bytes=_typed(data, "max_body_bytes", int, DEFAULT_MAX_BODY_BYTES),
        max_duration_s=float(_typed(data, "max_duration_s", (int, float), DEFAULT_MAX_DURATION_S)),
    )


def _parse_runs(raw: Any, account_id: str) -> tuple[RunRef, ...]:
    if not isinstance(raw, list) or not raw:
        raise TargetError("no [[runs]] given; list at least one run with its role and ids")
    runs = []
    try:
        entries = list(table_entries(raw, "runs", _RUN_KEYS))
    except TomlFileError as exc:
        raise TargetError(str(exc)) from None
    for where, entry in entries:
        missing = [key for key in sorted(_RUN_KEYS) if key not in entry]
        if missing:
            raise TargetError(f"{where}: {missing[0]} is missing")
        if entry["role"] not in ROLES:
            raise TargetError(f"{where}: role must be one of {', '.join(ROLES)}, got {entry['role']!r}")
        for key in ("project_id", "target_group_id"):
            if not isinstance(entry[key], str) or not contract.ULID.fullmatch(entry[key]):
                raise TargetError(f"{where}: {key} must be a ULID (26 characters 0-9A-Z), got {entry[key]!r}")
        run_id = entry["fielding_run_id"]
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise TargetError(
                f"{where}: fielding_run_id must be a non-empty id of printable characters "
                f"without '/', '?' or '#', got {run_id!r}"
            )
        runs.append(RunRef(entry["role"], account_id, entry["project_id"], entry["target_group_id"], run_id))
    ids = [run.fielding_run_id for run in runs]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise TargetError(f"fielding_run_id {duplicate!r} is listed twice; give each run one role")
    return tuple(runs)


def load_target(path: str | Path, env: Mapping[str, str] | None = None) -> Target:
    path = Path(path)
    try:
        data = read_toml(path, "target file")
    except TomlFileError as exc:
        raise TargetError(str(exc)) from None
    try:
        return parse_target(data, os.environ if env is None else env, source=str(path))
    except TargetError as exc:
        raise TargetError(f"target file {path}: {exc}") from None
