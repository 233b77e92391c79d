"""The sandbox's HTTP layer: thin Starlette routes over the store.

Each request passes the gates in `_authorize` (faults, token, rate limit, API version, path
ids, account), then the route turns the store's decision into the documented status. The state
machine and the optimistic lock live in `store.py`, never here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from fieldproof.contract import ACCOUNT_ID, RUN_PATH, ULID
from fieldproof.headers import HeaderSyntaxError, IfMatch, parse_if_match
from fieldproof.sandbox import control
from fieldproof.sandbox.auth import (
    Principal,
    TokenExpired,
    TokenVerifier,
    Unauthenticated,
    bearer_token,
    user_id_for,
)
from fieldproof.sandbox.faults import FAULT_MODES, Faults, FaultyResponses
from fieldproof.sandbox.limits import TokenBuckets
from fieldproof.sandbox.resources import KINDS, Kind, Resource, ResourceStore
from fieldproof.sandbox.resources import Decision as ResourceDecision
from fieldproof.sandbox.resources import Outcome as ResourceOutcome
from fieldproof.sandbox.settings import KNOWN_API_VERSIONS, SandboxSettings
from fieldproof.sandbox.store import (
    ANY_VERSION,
    Action,
    Change,
    Decision,
    Outcome,
    Policy,
    Precondition,
    Run,
    Store,
)
from fieldproof.sandbox.trace import TraceContext

API_PREFIX = "/v1"
CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "fielding-runs.openapi.yaml"
SETTINGS_ENV = "FIELDPROOF_SANDBOX_SETTINGS_JSON"

_VERSION_TAG = re.compile(r"0|[1-9][0-9]{0,17}")  # 0: only a wrapping version (a fault) gets there
# if_match_unquoted_or_case: a list member read carelessly (quotes, W/ and case dropped)
_CARELESS_TAG = re.compile(r'(?:[wW]/)?"?(0|[1-9][0-9]{0,17})"?')
STALE_READ_S = 1.0  # stale_get_cache: how long a cached GET is served
LOST_UPDATE_LIMIT_S = 1.0  # resource_lost_update: the longest a writer waits for the others' checks
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")


class ProblemAnswer(Exception):
    """Raised inside a handler: answer with this status and a problem+json body (not a user's
    error: the sandbox's way of refusing a request)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        invalid_params: list[dict[str, str]] | None = None,
    ) -> None:
        self.status, self.code, self.detail, self.invalid_params = status, code, detail, invalid_params


class TooManyRequests(Exception):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s


def _same_account(a: str, b: str) -> bool:
    """Account ids are integers sent as digits: 0101 is 101. Compared as text, so that a
    thousand-digit id is just another unknown account, not a conversion error."""
    return a.lstrip("0") == b.lstrip("0")


def etag_for(run: Run | Resource) -> str:
    return f'W/"{run.version}"'


def run_body(run: Run, status_case: str) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status.title() if status_case == "title" else run.status,
        "version": run.version,
        "start_fielding_at": run.start_fielding_at,
        "end_fielding_at": run.end_fielding_at,
        "last_changed_at": run.last_changed_at,
        "last_changed_by": run.last_changed_by,
        "account_id": run.account_id,
        "project_id": run.project_id,
        "target_group_id": run.target_group_id,
    }


def _error_response(exc: ProblemAnswer) -> JSONResponse:
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "object": exc.code, "detail": exc.detail}
    if exc.invalid_params:
        body["invalid_params"] = exc.invalid_params
    return JSONResponse(body, status_code=exc.status)


class LostUpdateWindow:
    """resource_lost_update's window between a PUT's check and its unconditional write. A writer
    that has checked waits, yielding to the event loop, at least --race-window-ms and until every
    PUT of the same resource that arrived meanwhile has made its check too (at most
    LOST_UPDATE_LIMIT_S). Writers sent together therefore all check the one version before any
    of them writes, however the event loop orders them: the race is won by counting, not by
    timing."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._open: dict[tuple[str, str, str], list[int]] = {}  # resource -> [arrived, checked]

    @asynccontextmanager
    async def entered(self, kind: Kind, params: dict[str, str]) -> AsyncIterator[LostUpdateSlot]:
        name = (kind.name, params.get("account_id", ""), kind.key(params))
        counts = self._open.setdefault(name, [0, 0])
        counts[0] += 1
        slot = LostUpdateSlot(self, counts)
        try:
            yield slot
        finally:
            counts[0] -= 1
            counts[1] -= slot.has_checked
            if counts == [0, 0]:
                self._open.pop(name, None)


class LostUpdateSlot:
    def __init__(self, window: LostUpdateWindow, counts: list[int]) -> None:
        self.window, self.counts, self.has_checked = window, counts, False

    def checked(self) -> None:
        if not self.has_checked:
            self.has_checked = True
            self.counts[1] += 1

    async def wait_for_the_others(self) -> None:
        self.checked()
        deadline = time.monotonic() + LOST_UPDATE_LIMIT_S
        await asyncio.sleep(self.window.window_s)
        while self.counts[1] < self.counts[0] and time.monotonic() < deadline:
            await asyncio.sleep(0)


class Sandbox:
    """The app's state: settings, stores, limiter and faults, built once per worker process."""

    def __init__(self, settings: SandboxSettings, store: Store, resources: ResourceStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self.resources = resources if resources is not None else ResourceStore(store.path, settings.faults)
        self.lost_update = LostUpdateWindow(settings.race_window_ms / 1000)
        self.limits = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_refill)
        self.faults = Faults(settings.latency_ms, settings.jitter_ms, settings.error_rate)
        self.verify = TokenVerifier(settings.jwt_secret, verify_expiry="expired_token_served" not in settings.faults)
        # per worker process (a fault's memory, not the store's), for the `app` modes that remember runs
        self.written: set[str] = set()  # etag_missing_after_write
        self.get_cache: dict[str, tuple[float, Run]] = {}  # stale_get_cache: id -> (when, run)

    async def _authorize(self, request: Request) -> Principal:
        """The gates every API request passes, in order, before its run is looked at."""
        await self.faults.delay()
        scripted = self.faults.next_scripted()
        if scripted is not None and scripted.answer == "429":
            raise TooManyRequests(scripted.retry_after_s)
        if scripted is not None and scripted.answer == "expired":
            raise ProblemAnswer(403, "authorization_error", "the token has expired")
        if self.faults.server_error() or (scripted is not None and scripted.answer == "500"):
            raise ProblemAnswer(500, "unexpected_internal_error", "injected fault: server error")
        faults = self.settings.faults
        reading = request.method == "GET"
        tokenless = "authorization" not in request.headers
        try:
            if tokenless and ("missing_token_served" in faults or reading and "get_without_token_served" in faults):
                principal = Principal(request.path_params["account_id"], user_id_for(request.path_params["account_id"]))
            else:
                token = bearer_token(request.headers.get("authorization"))
                retry_after = self.limits.take(token)
                if retry_after is not None:
                    raise TooManyRequests(retry_after)
                principal = self.verify(token)
        except Unauthenticated as exc:
            raise ProblemAnswer(403 if tokenless and "missing_token_403" in faults else 401, "authorization_error", str(exc)) from None
        except TokenExpired as exc:
            raise ProblemAnswer(403, "authorization_error", str(exc)) from None
        self._validate_api_version(request.headers.get("cint-api-version"))
        self._validate_path_ids(request.path_params)
        served_anyway = "foreign_account_served" in faults or reading and "get_foreign_token_served" in faults
        if not _same_account(request.path_params["account_id"], principal.account_id) and not served_anyway:
            raise self._foreign()
        return principal

    def _validate_api_version(self, value: str | None) -> None:
        if value is None and "version_header_missing_400" in self.settings.faults:
            raise ProblemAnswer(400, "bad_request_error", "the Cint-API-Version header is required")
        if value is None:
            raise ProblemAnswer(403, "required_header_missing", "the Cint-API-Version header is required")
        policy = self.settings.unknown_api_version
        if value in KNOWN_API_VERSIONS or policy == "accept":
            return
        known = ", ".join(KNOWN_API_VERSIONS)
        if policy == "403":
            raise ProblemAnswer(403, "authorization_error", f"unsupported Cint-API-Version; known: {known}")
        raise ProblemAnswer(
            400,
            "bad_request_error",
            f"unsupported Cint-API-Version; known: {known}",
            [{"name": "Cint-API-Version", "reason": "unsupported version"}],
        )

    def _validate_path_ids(self, params: dict[str, str]) -> None:
        answer = self.settings.malformed_id
        invalid = []
        if not ACCOUNT_ID.fullmatch(params["account_id"]):
            invalid.append({"name": "account_id", "reason": "must be an integer"})
        ulids = ("project_id", "target_group_id", *(("fielding_run_id",) if answer == "400-ulid-run-ids" else ()))
        for name in ulids:
            if name in params and not ULID.fullmatch(params[name]):
                invalid.append({"name": name, "reason": "must be a ULID (26 characters 0-9A-Z)"})
        if invalid and answer == "404":
            raise ProblemAnswer(404, "not_found_error", "no such fielding run" if "fielding_run_id" in params else "no such resource")
        if invalid:
            raise ProblemAnswer(400, "bad_request_error", "invalid path parameters", invalid)

    def _foreign(self) -> ProblemAnswer:
        if self.settings.foreign_account == "404":
            return ProblemAnswer(404, "not_found_error", "no such fielding run")
        return ProblemAnswer(403, "authorization_error", "the token's account may not access this resource")

    def _other_scope(self) -> ProblemAnswer:
        """A run's own id under another project or target group: not that run (other_scope)."""
        answer = self.settings.other_scope
        if answer == "400":
            return ProblemAnswer(400, "bad_request_error", "the fielding run is not in this project and target group")
        if answer == "403":
            return ProblemAnswer(403, "authorization_error", "the fielding run is not in this project and target group")
        return ProblemAnswer(404, "not_found_error", "no such fielding run")

    def _locate(self, params: dict[str, str]) -> Run:
        run = self.store.get(params["fielding_run_id"])
        if run is None:
            raise ProblemAnswer(404, "not_found_error", "no such fielding run")
        if (run.project_id, run.target_group_id) != (params["project_id"], params["target_group_id"]):
            raise self._other_scope()
        if not _same_account(run.account_id, params["account_id"]) and "foreign_account_served" not in self.settings.faults:
            raise self._foreign()
        return run

    def _locate_resource(self, kind: Kind, params: dict[str, str]) -> Resource:
        """The resource on this path; another account's refused as another account's run is."""
        key = kind.key(params)
        found = self.resources.get(kind.name, params["account_id"], key)
        if found is not None:
            return found
        owner = self.resources.owner(kind.name, key) if kind.ids else None
        if owner is not None and "foreign_account_served" in self.settings.faults:
            served = self.resources.get(kind.name, owner, key)
            assert served is not None
            return served
        if owner is not None:
            raise self._foreign()
        raise ProblemAnswer(404, "not_found_error", f"no such resource of kind {kind.name}")

    def _precondition(self, header: str | None) -> Precondition:
        """Map If-Match to the versions it names; the store decides if one is current."""
        if header is None:
            answer = self.settings.missing_if_match
            if answer == "400":
                raise ProblemAnswer(400, "bad_request_error", "the If-Match header is required",
                               [{"name": "If-Match", "reason": "missing"}])
            if answer == "428":
                raise ProblemAnswer(428, "precondition_required_error", "this write needs an If-Match header")
            return Precondition(frozenset())
        faults = self.settings.faults
        if "if_match_unquoted_or_case" in faults and header.strip(" \t") != "*":
            careless = (_CARELESS_TAG.fullmatch(member.strip(" \t")) for member in header.split(","))
            return Precondition(frozenset(int(m.group(1)) for m in careless if m))
        try:
            if_match: IfMatch = parse_if_match(header)
        except HeaderSyntaxError as exc:
            if self.settings.malformed_if_match == "412":
                return Precondition(frozenset())  # it names no version, so it matches none
            raise ProblemAnswer(
                400, "bad_request_error", str(exc), [{"name": "If-Match", "reason": "malformed"}]
            ) from None
        if if_match.any:
            if "if_match_star_forces" in faults:
                return Precondition(None, force=True)
            if self.settings.if_match_star == "400":
                raise ProblemAnswer(400, "bad_request_error", "If-Match: * is not supported")
            return ANY_VERSION if self.settings.if_match_star == "match" else Precondition(frozenset())
        if len(if_match.tags) > 1 and self.settings.if_match_list == "400":
            raise ProblemAnswer(400, "bad_request_error", "If-Match must hold exactly one entity tag",
                           [{"name": "If-Match", "reason": "a list"}])
        versions = {
            int(tag.opaque)
            for tag in if_match.tags
            if _VERSION_TAG.fullmatch(tag.opaque)
            and (tag.weak or self.settings.if_match_comparison == "weak")
        }
        return Precondition(frozenset(versions))

    # routes

    async def get_run(self, request: Request) -> Response:
        await self._authorize(request)
        run = self._locate(request.path_params)
        faults = self.settings.faults
        if "stale_get_cache" in faults:  # the bug: a cached copy for a second, writes or not
            cached = self.get_cache.get(run.id)
            if cached is not None and time.monotonic() - cached[0] < STALE_READ_S:
                run = cached[1]
            else:
                self.get_cache[run.id] = (time.monotonic(), run)
        headers = {} if "etag_missing_after_write" in faults and run.id in self.written else {"ETag": etag_for(run)}
        return JSONResponse(run_body(run, self.settings.status_case), headers=headers)

    async def write_run(self, request: Request, action: Action) -> Response:
        principal = await self._authorize(request)
        run = self._locate(request.path_params)
        precondition = self._precondition(request.headers.get("if-match"))
        if self.store.policy.race_window_s:  # the race fault blocks: keep the event loop free
            outcome = await run_in_threadpool(self.store.apply, run.id, action, precondition, principal.user_id)
        else:
            outcome = self.store.apply(run.id, action, precondition, actor=principal.user_id)
        if outcome.decision in (Decision.CHANGED, Decision.NO_OP):
            assert outcome.run is not None
            if outcome.decision is Decision.CHANGED and "etag_missing_after_write" in self.settings.faults:
                self.written.add(run.id)
            answered = run if "write_etag_pre_bump" in self.settings.faults else outcome.run
            return Response(status_code=204, headers={"ETag": etag_for(answered)})
        raise _refusal(outcome)

    async def change_run(self, request: Request, change: Change) -> Response:
        """The fielding run's update, launch-now and relaunch (the store decides)."""
        principal = await self._authorize(request)
        run = self._locate(request.path_params)
        precondition = self._precondition(request.headers.get("if-match"))
        dates = _dates(await _json_object(request)) if change is Change.UPDATE else None
        outcome = self.store.change(run.id, change, precondition, principal.user_id, dates)
        if outcome.decision is Decision.CHANGED:
            assert outcome.run is not None
            headers = {"ETag": etag_for(outcome.run)}
            if change is Change.LAUNCH_NOW:
                return JSONResponse(run_body(outcome.run, self.settings.status_case), headers=headers)
            return Response(status_code=202 if change is Change.UPDATE else 204, headers=headers)
        raise _refusal(outcome)

    async def get_resource(self, request: Request, kind: Kind) -> Response:
        await self._authorize(request)
        found = self._locate_resource(kind, request.path_params)
        return JSONResponse(found.representation(), headers={"ETag": etag_for(found)})

    async def put_resource(self, request: Request, kind: Kind) -> Response:
        if "resource_lost_update" not in self.settings.faults:
            return await self._put_resource(request, kind, None)
        async with self.lost_update.entered(kind, request.path_params) as slot:
            return await self._put_resource(request, kind, slot)

    async def _put_resource(self, request: Request, kind: Kind, slot: LostUpdateSlot | None) -> Response:
        await self._authorize(request)
        seen = self._locate_resource(kind, request.path_params)
        precondition = self._precondition(request.headers.get("if-match"))
        body = await _json_object(request)
        if slot is None:
            outcome = self.resources.write(kind.name, seen.account, seen.key, precondition, body)
        else:  # the resource_lost_update bug: check, let the other writers check, write unconditionally
            outcome = self.resources.decide(kind.name, seen.account, seen.key, precondition, body)
            slot.checked()
            if outcome.decision is ResourceDecision.CHANGED:
                assert outcome.resource is not None
                await slot.wait_for_the_others()
                if not self.resources.commit(outcome.seen_version, outcome.resource, conditional=False):
                    raise ProblemAnswer(404, "not_found_error", f"no such resource of kind {kind.name}")
        written = self._resource_outcome(kind, outcome)
        if kind.write_status == 204:
            return Response(status_code=204, headers={"ETag": etag_for(written)})
        return JSONResponse(written.representation(), status_code=kind.write_status, headers={"ETag": etag_for(written)})

    async def delete_resource(self, request: Request, kind: Kind) -> Response:
        await self._authorize(request)
        seen = self._locate_resource(kind, request.path_params)
        precondition = self._precondition(request.headers.get("if-match"))
        self._resource_outcome(kind, self.resources.delete(kind.name, seen.account, seen.key, precondition))
        return Response(status_code=204)

    async def create_resource(self, request: Request, kind: Kind) -> Response:
        await self._authorize(request)
        created = self.resources.create(kind.name, request.path_params["account_id"], await _json_object(request))
        return JSONResponse(created.representation(), status_code=201, headers={"ETag": etag_for(created)})

    @staticmethod
    def _resource_outcome(kind: Kind, outcome: ResourceOutcome) -> Resource:
        """The resource a write succeeded on, or the documented refusal."""
        if outcome.decision is ResourceDecision.NOT_FOUND:
            raise ProblemAnswer(404, "not_found_error", f"no such resource of kind {kind.name}")
        if outcome.decision is ResourceDecision.PRECONDITION_FAILED:
            raise ProblemAnswer(412, "precondition_failed_error", outcome.reason)
        assert outcome.resource is not None
        return outcome.resource

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def contract(self, request: Request) -> Response:
        return FileResponse(CONTRACT, media_type="application/yaml")


def _refusal(outcome: Outcome) -> ProblemAnswer:
    """The documented answer to a write of a run the store did not make."""
    if outcome.decision is Decision.NOT_FOUND:
        return ProblemAnswer(404, "not_found_error", "no such fielding run")
    if outcome.decision is Decision.PRECONDITION_FAILED:
        return ProblemAnswer(412, "precondition_failed_error", outcome.reason)
    if outcome.decision is Decision.BAD_REQUEST:
        return ProblemAnswer(400, "bad_request_error", outcome.reason)
    return ProblemAnswer(422, "invalid_state_error", outcome.reason)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's body, which must be a JSON object (any object: the vendor's schemas and
    ours differ, and the sandbox serves bodies made from either)."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ProblemAnswer(400, "bad_request_error", "the body must be a JSON object", [{"name": "body", "reason": "not a JSON object"}])
    return body


def _dates(body: dict[str, Any]) -> dict[str, str]:
    """An update's dates; other fields are left alone (they are not the run's to set)."""
    dates: dict[str, str] = {name: body[name] for name in ("start_fielding_at", "end_fielding_at") if name in body}
    wrong = [{"name": name, "reason": "must be an RFC 3339 date-time"} for name, value in dates.items()
             if not isinstance(value, str) or not _DATE_TIME.fullmatch(value)]
    if wrong:
        raise ProblemAnswer(400, "bad_request_error", "invalid dates", wrong)
    return dates


def _write_route(sandbox: Sandbox, action: Action) -> Route:
    async def endpoint(request: Request) -> Response:
        return await sandbox.write_run(request, action)

    return Route(f"{API_PREFIX}{RUN_PATH}/{action.value}", endpoint, methods=["POST"])


def _change_route(sandbox: Sandbox, change: Change) -> Route:
    async def endpoint(request: Request) -> Response:
        return await sandbox.change_run(request, change)

    if change is Change.UPDATE:
        return Route(f"{API_PREFIX}{RUN_PATH}", endpoint, methods=["PUT"])
    return Route(f"{API_PREFIX}{RUN_PATH}/{change.value}", endpoint, methods=["POST"])


def _resource_routes(sandbox: Sandbox, kind: Kind) -> list[Route]:
    """Every operation the contract document has on one resource kind."""

    def serving(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            response: Response = await handler(request, kind)
            return response

        return endpoint

    found = [Route(f"{API_PREFIX}{kind.path}", serving(sandbox.get_resource), methods=["GET"]),
             Route(f"{API_PREFIX}{kind.path}", serving(sandbox.put_resource), methods=["PUT"])]
    if kind.deletable:
        found.append(Route(f"{API_PREFIX}{kind.path}", serving(sandbox.delete_resource), methods=["DELETE"]))
    if kind.creatable:
        found.append(Route(f"{API_PREFIX}{kind.collection}", serving(sandbox.create_resource), methods=["POST"]))
    return found


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemAnswer)
    return _error_response(exc)


async def _too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    return JSONResponse(
        {
            "object": "too_many_requests_problem_details",
            "details": f"rate limit exceeded; retry in {exc.retry_after_s} s",
        },
        status_code=429,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


def _http_error(settings: SandboxSettings) -> Any:
    """Starlette's own 404 and 405 as documented error bodies; an undeclared method answered as
    the undeclared_method setting says (405 with Allow, 501, or 404)."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status, headers = exc.status_code, exc.headers
        if status == 405 and settings.undeclared_method != "405":
            status, headers = int(settings.undeclared_method), None
        code = {404: "not_found_error", 501: "not_implemented_error"}.get(status, "bad_request_error")
        response = _error_response(ProblemAnswer(status, code, str(exc.detail) if status == exc.status_code else "not supported"))
        if headers:
            response.headers.update(headers)
        return response

    return handler


def build_app(settings: SandboxSettings, store: Store | None = None, resources: ResourceStore | None = None) -> ASGIApp:
    return build(settings, store, resources)[1]


def build(settings: SandboxSettings, store: Store | None = None, resources: ResourceStore | None = None) -> tuple[Sandbox, ASGIApp]:
    """The Sandbox (state, scripts, faults) and the ASGI app that serves it."""
    if store is None:
        if settings.db is None:
            raise ValueError("the sandbox needs a database path (settings.db)")
        store = Store(settings.db, policy_for(settings))
    sandbox = Sandbox(settings, store, resources)
    routes = [
        Route("/healthz", sandbox.health, methods=["GET"]),
        Route("/openapi.yaml", sandbox.contract, methods=["GET"]),
        Route(f"{API_PREFIX}{RUN_PATH}", sandbox.get_run, methods=["GET"]),
        *(_write_route(sandbox, action) for action in Action),
        *(_change_route(sandbox, change) for change in Change),
        *(route for kind in KINDS.values() for route in _resource_routes(sandbox, kind)),
    ]
    counter = control.RequestCounter() if settings.control else None
    if counter is not None:
        routes += control.routes(sandbox, counter)
    app = Starlette(
        routes=routes,
        exception_handlers={
            ProblemAnswer: _api_error,
            TooManyRequests: _too_many,
            HTTPException: _http_error(settings),
        },
    )
    traced: ASGIApp = TraceContext(app) if counter is None else counter.wrap(TraceContext(app))
    http_faults = tuple(name for name in sorted(settings.faults) if FAULT_MODES[name].layer == "http")
    return sandbox, FaultyResponses(traced, http_faults) if http_faults else traced


RACE_FAULTS = frozenset({"check_then_act_race", "pause_check_then_act", "lock_per_operation"})  # they wait --race-window-ms
RESOURCE_FAULTS = frozenset({"resource_ignores_if_match", "resource_lost_update", "delete_ignores_tag", "resource_etag_unchanged"})


def policy_for(settings: SandboxSettings) -> Policy:
    store_faults = frozenset(name for name in settings.faults if FAULT_MODES[name].layer == "store") - RESOURCE_FAULTS
    return Policy(
        resume_live_is_noop=settings.resume_live == "204",
        pause_paused_is_noop=settings.pause_paused == "204",
        complete_paused=settings.complete_paused == "204",
        precondition_first=settings.gate_order == "412-first",
        faults=store_faults,
        race_window_s=settings.race_window_ms / 1000 if store_faults & RACE_FAULTS else 0.0,
    )


def app_from_env() -> ASGIApp:
    """The uvicorn factory for worker processes: settings come from the parent via env."""
    return build_app(SandboxSettings.from_json(os.environ[SETTINGS_ENV]))
