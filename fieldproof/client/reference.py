"""A small reference client for the fielding-run endpoints: the worked example of a client
that does what the documented contract asks of it.

- It carries the ETag: every write sends the tag of the run it was given, and returns the run
  with the tag the 204 answered, ready for the next write.
- It honours Retry-After: a 429 is waited out (bounded) and sent again; never retried at once.
- On 412 it refreshes its tag and tries once more only when the caller asks for it
  (`refresh_on_conflict=True`): whether a write still makes sense after someone else's is the
  caller's call, not the client's.
- It never retries a 422 (the run's state forbids the write; retrying cannot help), nor a 500
  on a write (the write may or may not have happened).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from fieldproof.contract import DEFAULT_API_VERSION, run_path
from fieldproof.headers import retry_after_seconds

_AFTER_WRITE = {"pause": "paused", "resume": "live", "complete": "completed"}


@dataclass(frozen=True)
class FieldingRun:
    """A fielding run as last seen, with the ETag to send on the next write."""

    account_id: str
    project_id: str
    target_group_id: str
    id: str
    status: str | None = None
    version: int | None = None
    etag: str | None = None
    body: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return run_path(self.account_id, self.project_id, self.target_group_id, self.id)


class ApiError(Exception):
    """A documented error answer; `code` is the error object's `object`."""

    def __init__(self, status: int, code: str | None, detail: str | None) -> None:
        super().__init__(f"{status} {code or ''}: {detail or ''}".strip())
        self.status, self.code, self.detail = status, code, detail


class BadRequest(ApiError): ...


class Unauthorized(ApiError): ...


class Forbidden(ApiError): ...


class NotFound(ApiError): ...


class PreconditionFailed(ApiError):
    """412: the run changed since its ETag was read."""


class InvalidState(ApiError):
    """422: the run's state (status, completes goal, end date) forbids the write."""


class RateLimited(ApiError):
    """429 that outlasted the client's patience (`max_wait_s`)."""


class ServerError(ApiError): ...


_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
    412: PreconditionFailed, 422: InvalidState, 429: RateLimited,
}


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    kind = _ERRORS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
    return kind(response.status_code, body.get("object"), body.get("detail") or body.get("details"))


class FieldingRunsClient:
    """`FieldingRunsClient(base_url, token)`; `run = client.get(account, project, group, id)`;
    `run = client.resume(run)`; `run = client.pause(run)`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        http: httpx.Client | None = None,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._http = http or httpx.Client(timeout=30)
        self._headers = {"Authorization": f"Bearer {token}", "Cint-API-Version": api_version}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FieldingRunsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """One request; a 429 is waited out by its Retry-After, up to max_wait_s in all."""
        waited = 0.0
        while True:
            response = self._http.request(method, self.base_url + path, headers={**self._headers, **(headers or {})})
            if response.status_code != 429:
                return response
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            delay = 1.0 if delay is None else delay
            if waited + delay > self.max_wait_s:
                raise _error(response)
            self._sleep(delay)
            waited += delay

    def get(self, account_id: str, project_id: str, target_group_id: str, run_id: str) -> FieldingRun:
        return self.refresh(FieldingRun(str(account_id), project_id, target_group_id, run_id))

    def refresh(self, run: FieldingRun) -> FieldingRun:
        response = self._send("GET", run.path)
        if response.status_code != 200:
            raise _error(response)
        body = response.json()
        status = body.get("status")
        return replace(
            run,
            status=status.lower() if isinstance(status, str) else None,
            version=body.get("version"),
            etag=response.headers.get("ETag"),
            body=body,
        )

    def _write(self, action: str, run: FieldingRun, refresh_on_conflict: bool) -> FieldingRun:
        if run.etag is None:
            run = self.refresh(run)
        response = self._send("POST", f"{run.path}/{action}", {"If-Match": run.etag or ""})
        if response.status_code == 412 and refresh_on_conflict:
            run = self.refresh(run)
            response = self._send("POST", f"{run.path}/{action}", {"If-Match": run.etag or ""})
        if response.status_code != 204:
            raise _error(response)
        # the new version number is not in a 204; the ETag is all the next write needs
        return replace(run, status=_AFTER_WRITE[action], etag=response.headers.get("ETag"), version=None, body=None)

    def resume(self, run: FieldingRun, *, refresh_on_conflict: bool = False) -> FieldingRun:
        """Resume a paused run; returns it with the new ETag. 412: PreconditionFailed (unless
        refresh_on_conflict); 422: InvalidState (goal or end date reached, or not paused)."""
        return self._write("resume", run, refresh_on_conflict)

    def pause(self, run: FieldingRun, *, refresh_on_conflict: bool = False) -> FieldingRun:
        return self._write("pause", run, refresh_on_conflict)

    def complete(self, run: FieldingRun, *, refresh_on_conflict: bool = False) -> FieldingRun:
        return self._write("complete", run, refresh_on_conflict)
