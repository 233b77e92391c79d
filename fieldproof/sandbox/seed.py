"""Seeding the sandbox: run specs (from a seed TOML or the control API) and target files.

A run spec is a small dict: a `role` gives the state the harness expects of that role, and
any field may override it. The same function reads specs for the seed file and the control API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fieldproof import contract
from fieldproof.contract import DEFAULT_API_VERSION
from fieldproof.errors import SeedError, TomlFileError
from fieldproof.sandbox.auth import issue_token, user_id_for
from fieldproof.sandbox.resources import CREATE_DELETE, KINDS, Resource, ResourceStore, account_key
from fieldproof.sandbox.store import STATUSES, Run, Store, format_time, make_run, utcnow
from fieldproof.tomlfile import read_toml

DEFAULT_SEED = Path(__file__).resolve().parent / "default-seed.toml"
TOKEN_ENV = "FIELDPROOF_TOKEN"
FOREIGN_TOKEN_ENV = "FIELDPROOF_FOREIGN_TOKEN"

# what a role of the contract's table is in the store: its status, and what blocks a resume
_BLOCKERS = ("goal_reached", "end_date_passed")
ROLES: dict[str, dict[str, Any]] = {
    name: {"status": role.status, **({name: True} if name in _BLOCKERS else {})} for name, role in contract.ROLES.items()
}
_SPEC_KEYS = {
    "role", "account", "account_id", "fielding_run_id", "project_id", "target_group_id",
    "status", "version", "completes", "completes_goal", "goal_reached", "end_date_passed",
    "start_fielding_at", "end_fielding_at",
}


@dataclass(frozen=True)
class Seed:
    main_account: str
    foreign_account: str
    runs: tuple[tuple[str | None, Run], ...]  # (role, run)
    resources: tuple[Resource, ...] = ()  # the Demand API's other resources, each at version 1

    def apply(self, store: Store, resources: ResourceStore | None = None) -> None:
        for _, run in self.runs:
            store.put(run)
        if resources is not None:
            for resource in self.resources:
                resources.put(resource)

    def main_resources(self) -> tuple[Resource, ...]:
        """The resources of the main account: the ones a target file lists."""
        return tuple(resource for resource in self.resources if resource.account == account_key(self.main_account))


def run_from_spec(
    spec: Mapping[str, Any], accounts: Mapping[str, str], now: datetime | None = None
) -> Run:
    """Build a run from a spec; `accounts` maps names ('main', 'foreign') to account ids."""
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise SeedError(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_SPEC_KEYS))}")
    role = spec.get("role")
    if role is not None and role not in ROLES:
        raise SeedError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    fields = {**(ROLES[role] if role is not None else {}), **{k: v for k, v in spec.items() if k != "role"}}
    now = now or utcnow()
    account = fields.pop("account", "main")
    account_id = str(fields.pop("account_id", accounts.get(account, account)))
    if not account_id.isdigit():
        raise SeedError(f"account must be 'main', 'foreign' or digits, got {account!r}")
    status = fields.get("status", "paused")
    if status not in STATUSES:
        raise SeedError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    try:
        goal = int(fields.get("completes_goal", 100))
        completes = int(fields.get("completes", goal if fields.get("goal_reached") else 0))
        version = int(fields.get("version", 1))
    except (TypeError, ValueError):
        raise SeedError("completes, completes_goal and version must be integers") from None
    if version < 1 or goal < 1 or completes < 0:
        raise SeedError("version and completes_goal must be at least 1, completes at least 0")
    end = fields.get("end_fielding_at")
    start = fields.get("start_fielding_at")
    if fields.get("end_date_passed"):
        # at the boundary: passed, but earlier today (UTC), so a server comparing days gets it wrong
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = end or format_time(max(midnight, now - timedelta(hours=1)))
        start = start or format_time(now - timedelta(days=30))
    return make_run(
        account_id=account_id,
        project_id=fields.get("project_id"),
        target_group_id=fields.get("target_group_id"),
        run_id=fields.get("fielding_run_id"),
        status=status,
        version=version,
        start_fielding_at=start,
        end_fielding_at=end,
        completes=completes,
        completes_goal=goal,
        last_changed_by=user_id_for(account_id),
        now=now,
    )


def resource_from_spec(spec: Mapping[str, Any], accounts: Mapping[str, str]) -> Resource:
    """A [[resources]] entry: kind, account (optional: 'main', 'foreign' or digits), every path id
    of its kind besides account_id, and its body (a table)."""
    kind = KINDS.get(str(spec.get("kind")))
    if kind is None:
        raise SeedError(f"kind must be one of {', '.join(KINDS)}, got {spec.get('kind')!r}")
    known = {"kind", "account", "body", *kind.ids}
    unknown = set(spec) - known
    if unknown:
        raise SeedError(f"unknown key(s) {', '.join(sorted(unknown))} for kind {kind.name}; known: {', '.join(sorted(known))}")
    missing = [name for name in kind.ids if not isinstance(spec.get(name), str) or not spec[name] or "/" in spec[name]]
    if missing:
        raise SeedError(f"{missing[0]} is missing or not an id (a non-empty string without '/')")
    account = str(spec.get("account", "main"))
    account_id = accounts.get(account, account)
    if not account_id.isdigit():
        raise SeedError(f"account must be 'main', 'foreign' or digits, got {account!r}")
    body = spec.get("body", {})
    if not isinstance(body, dict):
        raise SeedError("body must be a table, such as body = { name = \"x\" }")
    ids = {name: spec[name] for name in kind.ids}
    return Resource(kind.name, account_key(account_id), kind.key(ids),
                    1, {name: value for name, value in body.items() if name not in kind.read_only})


def load_seed(path: str | Path | None = None) -> Seed:
    path = Path(path) if path is not None else DEFAULT_SEED
    try:
        data = read_toml(path, "seed file")
    except TomlFileError as exc:
        raise SeedError(str(exc)) from None
    accounts = {
        "main": str(data.get("main_account", "101")),
        "foreign": str(data.get("foreign_account", "202")),
    }
    defaults = data.get("defaults", {})
    runs = []
    for index, spec in enumerate(data.get("runs", []), start=1):
        try:
            run = run_from_spec({**defaults, **spec}, accounts)
        except SeedError as exc:
            raise SeedError(f"seed file {path}, [[runs]] entry {index}: {exc}") from None
        runs.append((spec.get("role") if spec.get("account", "main") == "main" else None, run))
    ids = [run.id for _, run in runs]
    if len(set(ids)) != len(ids):
        raise SeedError(f"seed file {path}: two [[runs]] entries share a fielding_run_id")
    resources: list[Resource] = []
    entries = data.get("resources", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SeedError(f"seed file {path}: resources must be [[resources]] tables")
    for index, spec in enumerate(entries, start=1):
        try:
            resource = resource_from_spec(spec, accounts)
        except SeedError as exc:
            raise SeedError(f"seed file {path}, [[resources]] entry {index}: {exc}") from None
        if any((r.kind, r.account, r.key) == (resource.kind, resource.account, resource.key) for r in resources):
            raise SeedError(f"seed file {path}, [[resources]] entry {index}: a second {resource.kind} with the same ids")
        resources.append(resource)
    return Seed(accounts["main"], accounts["foreign"], tuple(runs), tuple(resources))


def write_target(
    path: str | Path, base_url: str, seed: Seed, jwt_secret: str, token_ttl_s: int
) -> Path:
    """Write a target file for the seeded sandbox, and its tokens to `<path>.env` (mode 0600)."""
    path = Path(path)
    quote = json.dumps  # a JSON string is a valid TOML basic string
    lines = [
        "# Written by `fieldproof sandbox --write-target`; the tokens are in the .env file beside it.",
        f"base_url = {quote(base_url)}",
        f"api_version = {quote(DEFAULT_API_VERSION)}",
        f"account_id = {quote(seed.main_account)}",
        f"token_env = {quote(TOKEN_ENV)}",
        f"foreign_token_env = {quote(FOREIGN_TOKEN_ENV)}",
        # the kinds the sandbox serves a create or a DELETE of (a session may create and delete these)
        f"create_delete = [{', '.join(quote(kind) for kind in CREATE_DELETE)}]",
    ]
    for role, run in seed.runs:
        if role is None:
            continue
        lines += [
            "",
            "[[runs]]",
            f"role = {quote(role)}",
            f"project_id = {quote(run.project_id)}",
            f"target_group_id = {quote(run.target_group_id)}",
            f"fielding_run_id = {quote(run.id)}",
        ]
    # the Demand API's other resources: judged only when a session opts in (--resources)
    for resource in seed.main_resources():
        ids = dict(zip(KINDS[resource.kind].ids, resource.key.split("/"), strict=True)) if KINDS[resource.kind].ids else {}
        lines += ["", "[[resources]]", f"kind = {quote(resource.kind)}", *(f"{name} = {quote(value)}" for name, value in ids.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    env_path = path.with_name(path.name + ".env")
    tokens = {
        TOKEN_ENV: issue_token(jwt_secret, seed.main_account, token_ttl_s),
        FOREIGN_TOKEN_ENV: issue_token(jwt_secret, seed.foreign_account, token_ttl_s),
    }
    fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as env_file:
        env_file.writelines(f"{name}={value}\n" for name, value in tokens.items())
    return env_path
