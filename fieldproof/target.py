"""Reading and validating a target file: where to send requests, with which runs and limits.

The only module that reads target files. Tokens come from the env vars the file names, never
from the file itself, so a target file can be committed and shared.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import idna

from fieldproof import contract
from fieldproof.errors import TargetError, TomlFileError
from fieldproof.tomlfile import read_toml, table_entries
from fieldproof.userfiles import read_user_text, shown

ROLES = tuple(contract.ROLES)
PRODUCTION_HOSTS = ("api.cint.com",)
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RUN_ID = re.compile(r"[^\x00-\x20\x7f/?#]+")
_KEYS = {
    "base_url", "api_version", "account_id", "token_env", "foreign_token_env", "max_requests",
    "max_rps", "timeout_s", "rate_limit_probe", "allow_production", "allow_insecure_http", "runs",
    "max_body_bytes", "max_duration_s", "ca_file", "resources", "create_delete",
}
_KIND = re.compile(r"[a-z][a-z0-9-]*")
_ID_KEY = re.compile(r"[a-z][a-z0-9_]*_id")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DURATION_S = 1800.0
# The largest number each limit accepts, and its unit: beyond these a value is a slip of the
# keyboard, not a plan (a day's session, a million requests, a 64 MiB body held in memory).
CAPS: dict[str, tuple[int, str]] = {
    "max_requests": (1_000_000, "requests"),
    "max_rps": (10_000, "requests a second"),
    "timeout_s": (600, "seconds"),
    "max_duration_s": (86_400, "seconds"),
    "max_body_bytes": (64 * 1024 * 1024, "bytes"),
}
MIN_RPS = 0.001  # one request every 1000 s: any slower and a session would never get anywhere
MAX_TOKEN_CHARS = 16 * 1024  # servers refuse longer headers than this
MAX_CA_FILE_BYTES = 4 * 1024 * 1024  # many times a whole system bundle of CA certificates
_RUN_KEYS = {"role", "project_id", "target_group_id", "fielding_run_id"}


SANDBOX_SOURCE = "built-in sandbox"  # a session's target source when it ran on the built-in sandbox (no target file)

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
class ResourceRef:
    """One resource a target file lists for the locking oracles: its kind (the last fixed segment
    of its read's path in the contract document, such as `webhooks`) and its path parameters."""

    kind: str
    account_id: str
    ids: tuple[tuple[str, str], ...]  # the path parameters besides account_id, by name, sorted

    def params(self) -> dict[str, str]:
        """Every path parameter, account_id included, by name."""
        return {"account_id": self.account_id, **dict(self.ids)}

    def label(self) -> str:
        return self.kind + "".join(f" {name}={value}" for name, value in self.ids)


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
    ca_file: str | None = None  # absolute path of a PEM file of CA certificates trusted for this target
    # resources other than fielding runs the locking oracles may judge; none unless listed
    resources: tuple[ResourceRef, ...] = ()
    # the kinds a session may create and delete resources of (nothing is, unless the file says so)
    create_delete: frozenset[str] = frozenset()

    def resources_of(self, kind: str) -> tuple[ResourceRef, ...]:
        return tuple(resource for resource in self.resources if resource.kind == kind)

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
        raise TargetError(f"base_url's host {shown(host)} is no valid host name ({exc}); write it in plain ASCII") from None
    name = name.lower().rstrip(".")
    if not _HOST.fullmatch(name):
        raise TargetError(f"base_url's host {shown(host)} is no valid host name; write it in plain ASCII, without '%' escapes")
    if len(name) > 253 or any(len(label) > 63 for label in name.split(".")):
        raise TargetError(f"base_url's host {shown(host)} is longer than DNS allows (63 characters a label, 253 in all)")
    for label in name.split("."):
        if label.startswith("xn--"):  # an IDNA name already encoded: the client will decode it
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise TargetError(f"base_url's host {shown(host)} has the label {label!r}, which is no valid IDNA "
                                  f"encoding ({exc}); write the host as its certificate names it") from None
    return name


def _validate_base_url(url: Any, allow_production: bool, allow_insecure_http: bool) -> str:
    example = "such as \"https://staging.example.com/v1\""
    if not isinstance(url, str) or not url:
        raise TargetError(f"base_url must be a URL {example}")
    odd = next((i for i, c in enumerate(url, 1) if c.isspace() or not c.isprintable()), None)
    if odd is not None:  # urlsplit would silently drop a tab or a line break
        raise TargetError(f"base_url holds a space or control character at character {odd}; remove it")
    if "?" in url or "#" in url:
        raise TargetError(f"base_url must not hold a query ('?') or a fragment ('#'): the run paths are appended to it; "
                          f"give the API's root, {example}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a bracketed host that is no IP address, among others
        if "[" in url:
            _validate_brackets(url.split("://", 1)[-1].split("/", 1)[0].rpartition("@")[2])
        raise TargetError(f"base_url is no valid URL ({exc}); give one {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"base_url must be an http(s) URL with a host, got {shown(url)}")
    if parts.username is not None or parts.password is not None:
        raise TargetError("base_url must not hold a user name or password; tokens come from token_env")
    _validate_brackets(parts.netloc.rpartition("@")[2])
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"base_url has no valid port: {shown(url)}") from None
    if port == 0:
        raise TargetError(f"base_url's port must be from 1 to 65535, got 0: {shown(url)}")
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


def _validate_brackets(netloc: str) -> None:
    """Brackets hold an IPv6 address and nothing else: urlsplit also takes "[v1.fe]" (an
    IPvFuture literal) and "[::1]junk", which the client would reach under another name."""
    if "[" not in netloc and "]" not in netloc:
        return
    literal = re.fullmatch(r"\[([^\]]*)\](?::[0-9]*)?", netloc)
    try:
        address = ipaddress.IPv6Address(literal.group(1)) if literal and "%" not in literal.group(1) else None
    except ValueError:
        address = None
    if address is None:
        raise TargetError(f"base_url's host {shown(netloc)} is no IPv6 address in brackets; write an IPv6 address "
                          "as [2001:db8::1] (without a zone), a host name or IPv4 address without brackets")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return bool((mapped or address).is_loopback)


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value: Any = data.get(key, default)
    if value is default:
        return value
    expected = "true or false" if kind is bool else ("a whole number" if kind is int else "a number")
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise TargetError(f"{key} must be {expected}, got {shown(value)}")
    if kind is bool:
        return value
    number = float(cast(float, value))
    if not (0 < number < math.inf):  # also refuses nan
        raise TargetError(f"{key} must be a finite number greater than 0, got {shown(value)}")
    cap, unit = CAPS[key]
    if number > cap:
        raise TargetError(f"{key} must be at most {cap} ({unit}), got {shown(value)}; give a smaller {key}")
    if key == "max_rps" and number < MIN_RPS:
        raise TargetError(f"max_rps must be at least {MIN_RPS:g} (one request every {1 / MIN_RPS:g} s), got "
                          f"{shown(value)}; at that rate the session would never get anywhere")
    return value


def _token(env: Mapping[str, str], key: str, name: Any, account: str, required: bool) -> str | None:
    if name is None and not required:
        return None
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise TargetError(f"{key} must name an environment variable, got {shown(name)}")
    value = env.get(name, "").strip()
    if not value:
        if not required:
            raise TargetError(
                f"{key} names {name}, which is not set; set it to a valid token of another "
                f"account than {account}, or remove {key}"
            )
        raise TargetError(f"{name} is not set; set it to a bearer token of account {account} ({key})")
    _validate_token(value, name, key)
    return value


def _validate_token(value: str, name: str, key: str) -> None:
    """A bearer token is visible ASCII (RFC 6750's token68 and more): anything else would break
    the request, or put a line of the user's choosing into it. The message names where and what
    kind of character is wrong, never the character or the token."""
    if len(value) > MAX_TOKEN_CHARS:
        raise TargetError(f"{name} ({key}) holds {len(value)} characters, more than any bearer token "
                          f"({MAX_TOKEN_CHARS}); set it to the token alone")
    for position, char in enumerate(value, 1):
        if "\x21" <= char <= "\x7e":
            continue
        if char in "\r\n":
            kind = "a line break"
        elif char in " \t":
            kind = "a space or tab"
        elif char.isascii():
            kind = "a control character"
        else:
            kind = "a non-ASCII character"
        raise TargetError(f"{name} ({key}) holds {kind} at character {position} of the token; a bearer token is "
                          f"visible ASCII only (letters, digits, punctuation): set {name} to the token alone")


def _ca_file(raw: Any, base_dir: Path) -> str | None:
    """The absolute path of the PEM file `ca_file` names (relative: to the target file's
    folder), checked to hold CA certificates the TLS client can load."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise TargetError(f"ca_file must name a PEM file of CA certificates, such as \"ca.pem\" (relative to the "
                          f"target file's folder), got {shown(raw)}")
    path = Path(os.path.abspath(base_dir / raw))
    give = "give the PEM file of the CA that signed the target's certificate"
    text = read_user_text(path, "ca_file", MAX_CA_FILE_BYTES, TargetError, give=give)
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TargetError(f"ca_file {path} holds no certificate (no '-----BEGIN CERTIFICATE-----' line); {give}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise TargetError(f"ca_file {path} cannot be loaded as CA certificates ({reason}); {give}") from None
    return str(path)


def parse_target(data: Mapping[str, Any], env: Mapping[str, str], source: str = "target file",
                 base_dir: Path | None = None) -> Target:
    """The target `data` (a target file's table) describes; `base_dir` is the folder a relative
    ca_file is read from (the target file's; default: the working folder)."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TargetError(f"unknown key {shown(unknown[0])}; known keys: {', '.join(sorted(_KEYS))}")
    for key in ("base_url", "api_version", "account_id", "token_env"):
        if key not in data:
            raise TargetError(f"{key} is missing")
    allow_production = _typed(data, "allow_production", bool, False)
    allow_insecure_http = _typed(data, "allow_insecure_http", bool, False)
    base_url = _validate_base_url(data["base_url"], allow_production, allow_insecure_http)
    api_version = data["api_version"]
    if not isinstance(api_version, str) or not contract.API_VERSION_FORMAT.fullmatch(api_version):
        raise TargetError(f"api_version must look like \"2025-12-18\", got {shown(api_version)}")
    account_id = data["account_id"]
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account_id = str(account_id)
    if not isinstance(account_id, str) or not contract.ACCOUNT_ID.fullmatch(account_id):
        raise TargetError(f"account_id must be the account's number, such as \"101\", got {shown(account_id)}")
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
        ca_file=_ca_file(data.get("ca_file"), Path.cwd() if base_dir is None else base_dir),
        resources=_parse_resources(data.get("resources", []), account_id),
        create_delete=_parse_kinds(data.get("create_delete", [])),
    )


def _parse_kinds(raw: Any) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(kind, str) and _KIND.fullmatch(kind) for kind in raw):
        raise TargetError(f"create_delete must be a list of resource kinds such as [\"webhooks\"], got {shown(raw)}")
    return frozenset(raw)


def _parse_resources(raw: Any, account_id: str) -> tuple[ResourceRef, ...]:
    if not isinstance(raw, list):
        raise TargetError("resources must be [[resources]] entries, each with a kind and the resource's ids")
    found = []
    for index, entry in enumerate(raw, start=1):
        where = f"[[resources]] entry {index}"
        if not isinstance(entry, dict):
            raise TargetError(f"{where} must be a table")
        kind = entry.get("kind")
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise TargetError(f"{where}: kind must name a resource kind such as \"webhooks\", got {shown(kind)}")
        ids = []
        for key, value in sorted(entry.items()):
            if key == "kind":
                continue
            if key == "account_id" or not _ID_KEY.fullmatch(key):
                raise TargetError(f"{where}: unknown key {shown(key)}; give kind and the path parameters besides "
                                  "account_id (such as webhook_id)")
            if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
                raise TargetError(f"{where}: {key} must be a non-empty id of printable characters without '/', '?' or '#', "
                                  f"got {shown(value)}")
            ids.append((key, value))
        ref = ResourceRef(kind, account_id, tuple(ids))
        if ref in found:
            raise TargetError(f"{where}: {ref.label()} is listed twice")
        found.append(ref)
    return tuple(found)


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
            raise TargetError(f"{where}: role must be one of {', '.join(ROLES)}, got {shown(entry['role'])}")
        for key in ("project_id", "target_group_id"):
            if not isinstance(entry[key], str) or not contract.ULID.fullmatch(entry[key]):
                raise TargetError(f"{where}: {key} must be a ULID (26 characters 0-9A-Z), got {shown(entry[key])}")
        run_id = entry["fielding_run_id"]
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise TargetError(
                f"{where}: fielding_run_id must be a non-empty id of printable characters "
                f"without '/', '?' or '#', got {shown(run_id)}"
            )
        runs.append(RunRef(entry["role"], account_id, entry["project_id"], entry["target_group_id"], run_id))
    seen: set[str] = set()
    for run in runs:
        if run.fielding_run_id in seen:
            raise TargetError(f"fielding_run_id {shown(run.fielding_run_id)} is listed twice; give each run one role")
        seen.add(run.fielding_run_id)
    return tuple(runs)


def load_target(path: str | Path, env: Mapping[str, str] | None = None) -> Target:
    path = Path(path)
    try:
        data = read_toml(path, "target file")
    except TomlFileError as exc:
        raise TargetError(str(exc)) from None
    try:
        return parse_target(data, os.environ if env is None else env, source=str(path), base_dir=path.parent)
    except TargetError as exc:
        raise TargetError(f"target file {path}: {exc}") from None
