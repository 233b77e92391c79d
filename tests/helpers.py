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
                   reports: str = "reports") -> subprocess.CompletedProcess[str]:  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "fieldproof", "run", "--reports", str(tmp_path / reports), *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=tmp_path,
    )  # fmt: skip


def summary(tmp_path: Path, reports: str = "reports") -> dict[str, Any]:
    return json.loads((tmp_path / reports / "summary.json").read_text())


def rules_by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in data["rules"]}


def env_file(target: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(str(target) + ".env").read_text().split())


@contextmanager
def staging(tmp_path: Path, *args: str) -> Iterator[tuple[RunningSandbox, Path, dict[str, str]]]:
    """A seeded sandbox standing in for a staging deployment: (sandbox, target file, tokens)."""
    target = tmp_path / "staging.toml"
    with sandbox_process(["--control", "--write-target", str(target), *args]) as sandbox:
        yield sandbox, target, env_file(target)


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
