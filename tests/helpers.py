"""Helpers for the tests that run `fieldproof run` as a user does, against the sandbox or the
independent server in tests/servers/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx

from fieldproof.sandbox.process import RunningSandbox, announced_child, sandbox_process

DOCS_SERVER = Path(__file__).resolve().parent / "servers" / "docs_server.py"
_DOCS_BANNER = re.compile(r"^docs-server: (http://\S+?)/v1\s")


def fieldproof_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300,
                   reports: str = "reports") -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    full_env["FIELDPROOF_STATE_DIR"] = str(tmp_path / "state")  # the target locks: never the user's own
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "fieldproof", "run", "--reports", str(tmp_path / reports), *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=tmp_path,
    )


def one_run_target(path: Path, base_url: str) -> Path:
    """A target file with one resumable run and FIELDPROOF_TOKEN as its token's variable."""
    run = 'role = "resumable"\nproject_id = "' + "0" * 26 + '"\ntarget_group_id = "' + "1" * 26 + '"\nfielding_run_id = "R1"\n'
    path.write_text(f'base_url = "{base_url}"\napi_version = "2025-12-18"\naccount_id = "101"\n'
                    f'token_env = "FIELDPROOF_TOKEN"\n\n[[runs]]\n{run}', encoding="utf-8")
    return path


def summary(tmp_path: Path, reports: str = "reports") -> dict[str, Any]:
    return json.loads((tmp_path / reports / "summary.json").read_text())


def rules_by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in data["rules"]}


def env_file(target: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(str(target) + ".env").read_text().split())


@contextmanager
def staging(tmp_path: Path, *args: str, resources: bool = False) -> Iterator[tuple[RunningSandbox, Path, dict[str, str]]]:
    """A seeded sandbox standing in for a staging deployment: (sandbox, target file, tokens).
    `resources`: the target file keeps the [[resources]] and create_delete the sandbox lists (a
    session on it then judges those kinds too); by default it lists runs only, as a staging
    target file that does not opt in does."""
    target = tmp_path / "staging.toml"
    with sandbox_process(["--control", "--write-target", str(target), *args]) as sandbox:
        if not resources:
            target.write_text(runs_only(target.read_text()))
        yield sandbox, target, env_file(target)


def runs_only(text: str) -> str:
    """A target file's text without its [[resources]] entries and create_delete."""
    head = text.split("[[resources]]", 1)[0]
    return "\n".join(line for line in head.splitlines() if not line.startswith("create_delete")) + "\n"


def sent_by_route(sandbox: RunningSandbox) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(sandbox.root_url + "/_control/stats").json()["by_route"]
    return stats


@contextmanager
def docs_server(tmp_path: Path, *args: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """The independent server (written from the docs alone) as a child: (target file, tokens)."""
    target = tmp_path / "docs-server.toml"
    command = [sys.executable, str(DOCS_SERVER), "--port", "0", "--write-target", str(target), *args]
    with announced_child(command, _DOCS_BANNER, "/healthz"):
        yield target, env_file(target)


FAULTY_PROXY = Path(__file__).resolve().parent / "servers" / "faulty_proxy.py"
_PROXY_BANNER = re.compile(r"^faulty-proxy: (http://\S+)\s")


@contextmanager
def faulty_target(tmp_path: Path, staged: tuple[RunningSandbox, Path, dict[str, str]], *proxy: str,
                  **keys: Any) -> Iterator[tuple[Path, str]]:
    """A target file for the staging sandbox behind tests/servers/faulty_proxy.py (with the
    proxy's fault flags), plus target-file keys: (target file, the proxy's root URL)."""
    sandbox, target, _ = staged
    command = [sys.executable, str(FAULTY_PROXY), "--upstream", sandbox.root_url, *proxy]
    with announced_child(command, _PROXY_BANNER, "/healthz") as (root, _, _):
        text = target.read_text().replace(sandbox.base_url, root + "/v1")
        extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
        faulty = tmp_path / "faulty.toml"
        faulty.write_text(text.replace("token_env =", extra + "token_env =", 1))
        yield faulty, root


def proxied(root: str) -> int:
    """How many API requests the faulty proxy received."""
    served: int = httpx.get(root + "/healthz", timeout=5).json()["served"]
    return served


def run_statuses(sandbox: RunningSandbox) -> dict[str, str]:
    """Every seeded run's status, but the completable ones': a session may complete those (the
    one thing it never puts back), so they are not among the runs that must be as they were."""
    rows = httpx.get(sandbox.root_url + "/_control/runs").json()
    return {row["id"]: row["status"] for row in rows if not row["id"].endswith(COMPLETABLE_SUFFIX)}


COMPLETABLE_SUFFIX = "CM01"  # the default seed's completable run
