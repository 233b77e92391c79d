"""The harness's client of the sandbox's control API (control.py): fresh runs and extra tokens.

Apart from the control app itself, so that talking to a sandbox needs httpx only, never the
server's starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from fieldproof.errors import TargetUnreachable
from fieldproof.target import RunRef


class SandboxControl:
    """The built-in sandbox's control API: fresh runs and extra tokens (sandbox targets only)."""

    def __init__(self, root_url: str, timeout_s: float = 10.0) -> None:
        self.root_url = root_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.root_url}/_control/{path}", json=body)
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"sandbox control API at {self.root_url}: {exc}") from None
        if response.status_code >= 300:
            raise RuntimeError(f"sandbox control API refused {path}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def new_run(self, role: str, account_id: str) -> RunRef:
        run = self._post("runs", {"role": role, "account_id": account_id})
        return RunRef(role, run["account_id"], run["project_id"], run["target_group_id"], run["id"])

    def token(self, account_id: str, expired: bool = False) -> str:
        token: str = self._post("tokens", {"account_id": account_id, "expired": expired})["token"]
        return token
