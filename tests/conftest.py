"""Fixtures for the project's own tests: a sandbox over real HTTP and a small API helper."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from fieldproof.sandbox.process import RunningSandbox, sandbox_process

API_VERSION = "2025-12-18"


class Api:
    """Requests against one sandbox, with the documented headers filled in unless overridden."""

    def __init__(self, sandbox: RunningSandbox, client: httpx.Client) -> None:
        self.sandbox = sandbox
        self.client = client
        self.token = self.mint_token()

    def mint_token(self, account_id: str = "101", expired: bool = False) -> str:
        response = self.client.post(
            self.sandbox.root_url + "/_control/tokens",
            json={"account_id": account_id, "expired": expired},
        )
        response.raise_for_status()
        return response.json()["token"]

    def new_run(self, **spec: Any) -> dict[str, Any]:
        """A fresh run (its own id) in the state the spec asks for, via the control API."""
        response = self.client.post(self.sandbox.root_url + "/_control/runs", json=spec)
        assert response.status_code == 201, response.text
        return response.json()

    def raw_row(self, run: dict[str, Any]) -> dict[str, Any]:
        response = self.client.get(self.sandbox.root_url + f"/_control/runs/{run['id']}")
        response.raise_for_status()
        return response.json()

    def url(self, run: dict[str, Any], action: str | None = None, **ids: str) -> str:
        parts = {
            "account_id": run["account_id"],
            "project_id": run["project_id"],
            "target_group_id": run["target_group_id"],
            "fielding_run_id": run["id"],
            **ids,
        }
        url = (
            f"{self.sandbox.base_url}/demand/accounts/{parts['account_id']}/projects/{parts['project_id']}"
            f"/target-groups/{parts['target_group_id']}/fielding-runs/{parts['fielding_run_id']}"
        )
        return f"{url}/{action}" if action else url

    def headers(self, token: str | None = "default", **extra: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token if token == 'default' else token}",
                   "Cint-API-Version": API_VERSION}
        if token is None:
            del headers["Authorization"]
        for name, value in extra.items():
            name = name.replace("_", "-")
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        return headers

    def get(self, run: dict[str, Any], token: str | None = "default", **headers: str | None) -> httpx.Response:
        return self.client.get(self.url(run), headers=self.headers(token, **headers))

    def write(
        self,
        run: dict[str, Any],
        action: str = "resume",
        if_match: str | None = "current",
        token: str | None = "default",
        **headers: str | None,
    ) -> httpx.Response:
        if if_match == "current":
            if_match = self.get(run).headers["ETag"]
        return self.client.post(
            self.url(run, action), headers=self.headers(token, If_Match=if_match, **headers)
        )


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with sandbox_process(["--control", "--no-seed"]) as running:
        yield running


@pytest.fixture(scope="session")
def api(sandbox: RunningSandbox) -> Iterator[Api]:
    with httpx.Client(timeout=10) as client:
        yield Api(sandbox, client)


@pytest.fixture
def sandbox_with(tmp_path):
    """Start a sandbox in a thread with some settings changed; yields an Api for it."""
    from contextlib import ExitStack

    from fieldproof.sandbox.process import sandbox_thread
    from fieldproof.sandbox.settings import load_settings

    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(timeout=10))

        def start(**overrides: Any) -> Api:
            settings = load_settings(
                env={}, overrides={"db": str(tmp_path / f"{len(overrides)}-{id(overrides)}.db"),
                                   "control": True, **overrides}
            )
            return Api(stack.enter_context(sandbox_thread(settings)), client)

        yield start
