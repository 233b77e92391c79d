"""Kit speed: calls per second through the offline kit against the sandbox over HTTP, in one run.

Run it from the repository root with the project's venv active:

    python bench/kit_speed.py
    python bench/kit_speed.py --rounds 5 --seconds 0.8 --json out.json

About 50 s with the defaults (4 rounds of 1 s per measurement); the whole script stays under
~60 s: every loop is bounded by time and by a call count, and no round is started once the
script's time budget would be overrun.

The same client code drives every side: one `httpx.Client` (Authorization and
Cint-API-Version as default headers), one call at a time, in two mixes:

* GET     `GET {run}` again and again; every answer must be 200 with an ETag;
* cycle   `GET {run}` (take its ETag) -> `POST {run}/resume` with If-Match that ETag ->
          `POST {run}/pause` with the ETag of the resume's 204; 3 calls per cycle, whole cycles
          only, so the run is paused again after every measurement; every write must be 204
          with an ETag.

The sides:

* kit          inside `mock_api("https://api.cint.com/v1")` (respx hands each call to the
               sandbox's ASGI app in this process), calls to `api.add_run(status="paused").url`;
               a fresh `mock_api` for every measurement (respx patches httpx for the whole
               process, so the sandbox measurements must run outside it);
* sandbox      `fieldproof sandbox --control --no-seed` (one worker) as a child process, on
               loopback; a token and a resumable run from its control API;
* floor        a respx route that answers a fixed `httpx.Response` (200 with a run-sized JSON
               body and an ETag for GET, 204 with an ETag for POST), mocked as the kit mocks
               (respx's default httpcore mocker): no app at all, the most a kit built as this
               one is could reach with this client;
* floor httpx  the same with `respx.mock(using="httpx")` (respx's other mocker, which replaces
               the client's transport instead of httpcore's pool): the most any respx-based
               kit could reach;
* client only  a reference: the same calls on an `httpx.Client(transport=httpx.MockTransport)`
               that answers fixed responses: httpx's own cost per call, without respx.

Measurements are interleaved in rounds (order reversed every other round); the best round of
each side is reported with the median, with this process's CPU, the sandbox's CPU and the
time this process spent in the garbage collector, per call. Ratios are calls/s against the
sandbox's, per mix; the goal (from the issue) is kit >= 5x sandbox, printed with "met" or
"below". The floors' ratios say whether 5x is reachable at all with httpx + respx on this
machine.

Then one kit GET loop is profiled (cProfile) and its time per call is split into layers
(httpx client, respx, event-loop hop, the kit's ASGI conversion, the sandbox app's middleware,
routing, gates, store and JSON), scaled to the unprofiled time per call; a few layers are also
timed alone without the profiler. `--profile-top N` also prints the profile's top N functions
by cumulative time.

It is a benchmark, not a test: it never judges timings by its exit code. Exit 0 after
printing; exit 1 if any call got an unexpected answer (the numbers are then not valid) or
the sandbox did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import respx
from procstat import machine_busy_s, tree_cpu_s  # bench/procstat.py, beside this script

API_VERSION = "2025-12-18"
KIT_BASE_URL = "https://api.cint.com/v1"
GOAL = 5.0  # kit calls/s over sandbox calls/s
MIXES = ("get", "cycle")
SIDES = ("kit", "sandbox", "floor", "floor_httpx", "client")
MAX_CALLS = 200_000  # per measurement: a safety bound next to the time limit
WARMUP_CALLS = 30  # before every measurement, untimed: a fresh kit's loop, JWT cache, caches
WARMUP_S = 0.3  # once per side and mix before the first round
SCRIPT_BUDGET_S = 58.0  # no new round starts if it and the profile could end after this
PROFILE_RESERVE_S = 6.0  # the profile and the layers timed alone, with the sandbox's stop
PROFILE_CALLS, PROFILE_MAX_S = 2000, 4.0
ALONE_CALLS, ALONE_REPEATS = 1000, 5


class BadAnswer(RuntimeError):
    """A call got an answer the mix does not expect: the numbers are not valid."""


# --------------------------------------------------------------------------------------------
# the client code, the same for every side


def new_client(token: str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}", "Cint-API-Version": API_VERSION}
    return httpx.Client(timeout=10.0, headers=headers, transport=transport)


def get_etag(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    etag = response.headers.get("etag")
    if response.status_code != 200 or etag is None:
        what = f"answered {response.status_code}" if response.status_code != 200 else "200 without ETag"
        raise BadAnswer(f"GET {url} {what}: {response.text[:200]}")
    return etag


def write(client: httpx.Client, url: str, action: str, etag: str) -> str:
    response = client.post(f"{url}/{action}", headers={"If-Match": etag})
    new_etag = response.headers.get("etag")
    if response.status_code != 204 or new_etag is None:
        what = f"answered {response.status_code}" if response.status_code != 204 else "204 without ETag"
        raise BadAnswer(f"POST {url}/{action} with If-Match {etag} {what}: {response.text[:200]}")
    return new_etag


def drive(client: httpx.Client, url: str, mix: str, seconds: float, max_calls: int) -> tuple[int, float]:
    """Calls until `seconds` or `max_calls` have passed; (calls, elapsed seconds)."""
    calls = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    if mix == "get":
        while calls < max_calls and time.perf_counter() < deadline:
            get_etag(client, url)
            calls += 1
    else:
        while calls < max_calls and time.perf_counter() < deadline:
            etag = get_etag(client, url)
            write(client, url, "pause", write(client, url, "resume", etag))
            calls += 3
    return calls, max(time.perf_counter() - t0, 1e-9)


# --------------------------------------------------------------------------------------------
# time spent in the garbage collector


class GcTimer:
    """Seconds the cyclic garbage collector ran while active (gc.callbacks), with collections
    per generation. The kit keeps every call (its own `calls`, respx's records), so the older
    generations it makes the collector scan grow with the calls made."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.collections[info["generation"]] += 1

    @contextmanager
    def active(self) -> Iterator[GcTimer]:
        gc.callbacks.append(self._callback)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._callback)


# --------------------------------------------------------------------------------------------
# the sides


@dataclass
class Round:
    side: str
    mix: str
    calls: int
    seconds: float
    client_cpu_s: float
    server_cpu_s: float | None  # the sandbox's process, for the sandbox side
    gc_s: float  # this process's garbage collections during the measurement
    gc_collections: list[int]  # per generation
    machine_busy_s: float | None  # all CPUs, all processes

    @property
    def other_cpu_s(self) -> float | None:
        """CPU neither this process nor the sandbox used: other work on the machine (noise)."""
        if self.machine_busy_s is None:
            return None
        return max(0.0, self.machine_busy_s - self.client_cpu_s - (self.server_cpu_s or 0.0))

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def us_per_call(self) -> float:
        return 1e6 * self.seconds / self.calls if self.calls else 0.0


def _fixed_get_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json", "ETag": 'W/"1"'})


def _fixed_write_response() -> httpx.Response:
    return httpx.Response(204, headers={"ETag": 'W/"2"'})


class Sides:
    """Everything the measurements need: the sandbox, its run, and one client per side."""

    def __init__(self, stack: ExitStack) -> None:
        from fieldproof.sandbox.app import RUN_PATH, run_body
        from fieldproof.sandbox.process import sandbox_process
        from fieldproof.sandbox.store import Run

        self.sandbox = stack.enter_context(sandbox_process(["--control", "--no-seed"]))
        self.sandbox_pid = self.sandbox.process.pid if self.sandbox.process else None
        with httpx.Client(timeout=10.0) as control:
            response = control.post(f"{self.sandbox.root_url}/_control/tokens", json={"account_id": "101"})
            if response.status_code != 200:
                raise BadAnswer(f"control API: a token answered {response.status_code}: {response.text[:200]}")
            token = response.json()["token"]
            response = control.post(f"{self.sandbox.root_url}/_control/runs", json={"role": "resumable"})
            if response.status_code != 201:
                raise BadAnswer(f"control API: creating a run answered {response.status_code}: {response.text[:200]}")
            run = response.json()
        path = RUN_PATH.format(account_id=run["account_id"], project_id=run["project_id"],
                               target_group_id=run["target_group_id"], fielding_run_id=run["id"])
        self.sandbox_url = self.sandbox.base_url + path
        # the floor and client-only sides answer at a kit-like URL (same length, same parsing)
        self.fixed_url = KIT_BASE_URL + path
        self.body = json.dumps(run_body(Run(**run), "lower"), separators=(",", ":")).encode()

        def fixed(request: httpx.Request) -> httpx.Response:
            return _fixed_get_response(self.body) if request.method == "GET" else _fixed_write_response()

        self.clients = {
            "kit": stack.enter_context(new_client("set per measurement")),
            "sandbox": stack.enter_context(new_client(token)),
            "floor": stack.enter_context(new_client(token)),
            "floor_httpx": stack.enter_context(new_client(token)),
            "client": stack.enter_context(new_client(token, httpx.MockTransport(fixed))),
        }

    @contextmanager
    def target(self, side: str) -> Iterator[str]:
        """The URL to call, with the side's interception (if any) active around the calls."""
        from fieldproof.testing.kit import mock_api

        if side == "kit":
            with mock_api(KIT_BASE_URL) as api:
                run = api.add_run(status="paused")
                self.clients["kit"].headers["Authorization"] = f"Bearer {api.token}"
                yield run.url
        elif side in ("floor", "floor_httpx"):
            using = "httpx" if side == "floor_httpx" else "httpcore"
            with respx.mock(base_url=KIT_BASE_URL, assert_all_called=False, using=using) as router:
                router.get().mock(return_value=_fixed_get_response(self.body))
                router.post().mock(return_value=_fixed_write_response())
                yield self.fixed_url
        elif side == "sandbox":
            yield self.sandbox_url
        else:
            yield self.fixed_url

    def measure(self, side: str, mix: str, seconds: float) -> Round:
        client = self.clients[side]
        with self.target(side) as url:
            drive(client, url, mix, 10.0, WARMUP_CALLS)
            server0 = tree_cpu_s(self.sandbox_pid) if side == "sandbox" else None
            machine0 = machine_busy_s()
            cpu0 = time.process_time()
            with GcTimer().active() as gc_timer:
                calls, elapsed = drive(client, url, mix, seconds, MAX_CALLS)
            cpu = time.process_time() - cpu0
            machine1 = machine_busy_s()
            server1 = tree_cpu_s(self.sandbox_pid) if side == "sandbox" else None
        server = None if server0 is None or server1 is None else server1 - server0
        machine = None if machine0 is None or machine1 is None else machine1 - machine0
        return Round(side, mix, calls, elapsed, cpu, server, gc_timer.seconds, gc_timer.collections, machine)


# --------------------------------------------------------------------------------------------
# the profile of one kit GET loop

# (layer, marker function whose cumulative time includes the layer and everything below it)
_MARKERS = {
    "call": ("httpx/_client.py", "get"),
    "respx": ("respx/mocks.py", "mock"),
    "handle": ("fieldproof/testing/kit.py", "handle"),
    "serve": ("fieldproof/testing/kit.py", "_serve"),
    "trace": ("fieldproof/sandbox/trace.py", "__call__"),
    "starlette": ("starlette/applications.py", "__call__"),
    "router": ("starlette/routing.py", "__call__"),
    "endpoint": ("fieldproof/sandbox/app.py", "get_run"),
    "authorize": ("fieldproof/sandbox/app.py", "_authorize"),
    "locate": ("fieldproof/sandbox/app.py", "_locate"),
    "json": ("starlette/responses.py", "__init__"),  # JSONResponse.__init__: render (json.dumps) + headers
    "argspec": ("inspect.py", "getfullargspec"),
    "urlparse": ("httpx/_urlparse.py", "urlparse"),
}

_LAYERS = [
    # (key, label, how: (minuend marker, subtrahend markers))
    ("httpx", "httpx client (build request, URL, cookies, read response)", ("call", ["respx"])),
    ("respx", "respx (httpcore->httpx request, route match, side effect, records)", ("respx", ["handle"])),
    ("hop", "event-loop hop (run_until_complete)", ("handle", ["serve"])),
    ("convert", "kit ASGI conversion (scope, receive/send, httpx.Response)", ("serve", ["trace"])),
    ("trace", "sandbox TraceContext wrapper", ("trace", ["starlette"])),
    ("middleware", "Starlette middleware (ServerError, Exception)", ("starlette", ["router"])),
    ("routing", "Starlette routing, Request, response send", ("router", ["endpoint"])),
    ("authorize", "endpoint: gates (_authorize: token, version, ids)", ("authorize", [])),
    ("locate", "endpoint: store read (_locate, SQLite)", ("locate", [])),
    ("json", "endpoint: JSONResponse (json.dumps, headers)", ("json", [])),
    ("endpoint_rest", "endpoint: the rest of get_run", ("endpoint", ["authorize", "locate", "json"])),
]


def _marker_times(stats: pstats.Stats) -> tuple[dict[str, float], dict[str, int]]:
    """Cumulative seconds and primitive calls of each marker: of the matching functions, the
    one with the most cumulative time."""
    found: dict[str, tuple[float, int]] = {}
    for (filename, _, name), (primitive, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        path = filename.replace(os.sep, "/")
        for key, (suffix, func) in _MARKERS.items():
            if name == func and path.endswith(suffix) and cumtime > found.get(key, (-1.0, 0))[0]:
                found[key] = (cumtime, primitive)
    return {k: v[0] for k, v in found.items()}, {k: v[1] for k, v in found.items()}


@dataclass
class Profile:
    calls: int
    profiled_us_per_call: float
    layers_us_profiled: dict[str, float]
    markers_us_profiled: dict[str, float]
    markers_calls_per_call: dict[str, float]
    alone_us: dict[str, float] = field(default_factory=dict)
    top: str = ""


def _alone(client: httpx.Client, body: bytes) -> dict[str, float]:
    """A few layers timed alone, without the profiler: µs per call, the best of a few short
    loops; the loops of the different layers take turns (a burst of other work on the machine
    then spoils one loop of each, not all loops of one), the calls the kit and respx record are
    dropped before each loop, and the garbage collector is off (the rounds report its time)."""
    from fieldproof.testing.kit import MockApi

    api = MockApi(KIT_BASE_URL)
    loop = asyncio.new_event_loop()
    try:
        run = api.add_run(status="paused")
        client.headers["Authorization"] = f"Bearer {api.token}"
        request = client.build_request("GET", run.url)

        def drive_directly(coroutine: Any) -> Any:
            """Run a coroutine that never suspends, without an event loop."""
            try:
                coroutine.send(None)
            except StopIteration as done:
                return done.value
            coroutine.close()
            raise RuntimeError("the app suspended")

        # the scope, receive and send the kit makes, captured on this instance for the app alone
        app, captured = api._app, {}

        async def capture(scope: Any, receive: Any, send: Any) -> None:
            captured.update(scope=scope, send=send)
            await app(scope, receive, send)

        async def no_body() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def nothing() -> None:
            return None

        headers = {"Content-Type": "application/json", "ETag": 'W/"1"'}

        def fixed(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers=headers)

        @contextmanager
        def mounted(side_effect: Callable[[httpx.Request], httpx.Response], using: str) -> Iterator[None]:
            with respx.mock(base_url=KIT_BASE_URL, assert_all_called=False, using=using) as router:
                router.route().mock(side_effect=side_effect)
                yield

        items: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
            # (key, the call, the context it needs, calls per loop)
            ("serve_direct", lambda: drive_directly(api._serve(request)), nullcontext, ALONE_CALLS),
            ("app_direct", lambda: drive_directly(app(dict(captured["scope"]), no_body, captured["send"])),
             nullcontext, ALONE_CALLS),
            ("serve_loop", lambda: loop.run_until_complete(api._serve(request)), nullcontext, ALONE_CALLS),
            ("loop_empty", lambda: loop.run_until_complete(nothing()), nullcontext, ALONE_CALLS),
            ("respx_side_effect_call", lambda: get_etag(client, run.url), lambda: mounted(fixed, "httpcore"),
             ALONE_CALLS),
            ("kit_handler_using_httpx", lambda: get_etag(client, run.url), lambda: mounted(api.handle, "httpx"),
             ALONE_CALLS),
            ("urlparse", lambda: httpx.URL(run.url), nullcontext, 5 * ALONE_CALLS),
        ]
        api._app = capture
        try:
            drive_directly(api._serve(request))
        except RuntimeError:  # it awaits something real: no figures without a loop
            items = [item for item in items if item[0] not in ("serve_direct", "app_direct")]
        finally:
            api._app = app
        best: dict[str, float] = {}
        gc.collect()
        gc.disable()  # a collection lands on whichever loop runs at the time; GC is reported apart
        try:
            for _ in range(ALONE_REPEATS):
                for key, call, context, calls in items:
                    with context():
                        api.calls.clear()
                        t0 = time.perf_counter()
                        for _ in range(calls):
                            call()
                        elapsed = time.perf_counter() - t0
                    best[key] = min(best.get(key, float("inf")), 1e6 * elapsed / calls)
        finally:
            gc.enable()
        return best
    finally:
        loop.close()
        api.store.close()


def profile_kit_get(client: httpx.Client, body: bytes, top: int) -> Profile:
    from fieldproof.testing.kit import mock_api

    profiler = cProfile.Profile()
    with mock_api(KIT_BASE_URL) as api:
        run = api.add_run(status="paused")
        client.headers["Authorization"] = f"Bearer {api.token}"
        drive(client, run.url, "get", 10.0, 300)
        api.calls.clear()
        # without the collector: its pauses would land on whichever layer runs at the time;
        # the measured rounds report the time it takes on its own
        gc.collect()
        gc.disable()
        try:
            profiler.enable()
            calls, elapsed = drive(client, run.url, "get", PROFILE_MAX_S, PROFILE_CALLS)
            profiler.disable()
        finally:
            gc.enable()
    stats = pstats.Stats(profiler)
    cumulative, counts = _marker_times(stats)
    markers = {k: 1e6 * v / calls for k, v in cumulative.items()}
    layers = {}
    for key, _, (minuend, subtrahends) in _LAYERS:
        layers[key] = max(0.0, markers.get(minuend, 0.0) - sum(markers.get(s, 0.0) for s in subtrahends))
    text = ""
    if top:
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(top)
        text = buffer.getvalue()
    per_call = {k: v / calls for k, v in counts.items()}
    profile = Profile(calls, 1e6 * elapsed / calls, layers, markers, per_call, top=text)
    profile.alone_us = _alone(client, body)
    return profile


# --------------------------------------------------------------------------------------------
# the run


@dataclass
class Results:
    rounds: dict[str, dict[str, list[Round]]] = field(
        default_factory=lambda: {mix: {side: [] for side in SIDES} for mix in MIXES}
    )
    skipped_rounds: int = 0
    profile: Profile | None = None


def measure(args: argparse.Namespace, started: float) -> Results:
    results = Results()
    with ExitStack() as stack:
        sides = Sides(stack)
        for mix in MIXES:  # warm-up: imports, connections, SQLite pages, caches
            for side in SIDES:
                sides.measure(side, mix, WARMUP_S)
        round_cost = len(MIXES) * len(SIDES) * (args.seconds + 0.05)
        for round_no in range(1, args.rounds + 1):
            if time.monotonic() - started + round_cost + PROFILE_RESERVE_S > SCRIPT_BUDGET_S and round_no > 1:
                results.skipped_rounds = args.rounds - round_no + 1
                print(f"  time budget: skipping rounds {round_no}-{args.rounds}", file=sys.stderr)
                break
            flip = round_no % 2 == 0
            for mix in MIXES[::-1] if flip else MIXES:
                for side in SIDES[::-1] if flip else SIDES:
                    m = sides.measure(side, mix, args.seconds)
                    results.rounds[mix][side].append(m)
                    print(
                        f"  round {round_no} {mix:<5} {side:<7}: {m.per_s:7.0f} calls/s ({m.calls} calls)",
                        file=sys.stderr,
                        flush=True,
                    )
        results.profile = profile_kit_get(sides.clients["kit"], sides.body, args.profile_top)
    return results


def _best_median(rounds: list[Round]) -> tuple[float, float]:
    values = [m.per_s for m in rounds]
    return (max(values), statistics.median(values)) if values else (0.0, 0.0)


def _verdict(ok: bool) -> str:
    return "met" if ok else "below"


_TITLES = {
    "kit": "kit (mock_api, in process)",
    "sandbox": "sandbox (HTTP, loopback)",
    "floor": "floor (respx, fixed response)",
    "floor_httpx": "floor (respx using=httpx)",
    "client": "client only (MockTransport)",
}


def report(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    import starlette

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), httpx {httpx.__version__}, "
        f"respx {respx.__version__}, starlette {starlette.__version__}, {os.cpu_count()} CPUs; "
        f"{len(results.rounds['get']['kit'])} rounds x {args.seconds:g} s per measurement, interleaved"
    )
    print("one httpx.Client per side, one call at a time; the sandbox is `sandbox --control --no-seed`, 1 worker\n")

    rates: dict[str, dict[str, tuple[float, float]]] = {}
    busiest = 0.0
    for mix in MIXES:
        title = "GET only" if mix == "get" else "cycle: GET -> resume (If-Match) -> pause (If-Match), 3 calls"
        print(f"{title}:")
        print(
            f"  {'side':<31}{'best calls/s':>13}{'median':>9}{'µs/call':>9}"
            f"{'client CPU µs':>15}{'server CPU µs':>15}{'GC µs':>7}{'others':>8}"
        )
        rates[mix] = {}
        for side in SIDES:
            rounds = results.rounds[mix][side]
            if not rounds:
                continue
            best, median = _best_median(rounds)
            rates[mix][side] = (best, median)
            top = max(rounds, key=lambda m: m.per_s)
            server = "-" if top.server_cpu_s is None else f"{1e6 * top.server_cpu_s / top.calls:.0f}"
            other = top.other_cpu_s
            others = "-" if other is None else f"{100 * other / top.seconds:.0f}%"
            busiest = max(busiest, 0.0 if other is None else other / top.seconds)
            print(
                f"  {_TITLES[side]:<31}{best:>13.0f}{median:>9.0f}{top.us_per_call:>9.0f}"
                f"{1e6 * top.client_cpu_s / top.calls:>15.0f}{server:>15}{1e6 * top.gc_s / top.calls:>7.0f}{others:>8}"
            )
        print()
    print("  (per call, in the best round: client = this process's CPU, server = the sandbox process's CPU,")
    print("   counted in clock ticks, so coarse; GC = this process's time in the garbage collector;")
    print(f"   others = CPU other processes used meanwhile, share of one core, of {os.cpu_count()})")
    cpus = os.cpu_count() or 1
    if busiest > max(0.25, cpus - 1.25):  # one call at a time needs about one free core
        print(
            f"  note: other work used up to {100 * busiest:.0f}% of a core (of {cpus}) during best rounds: the\n"
            "  machine was busy, the rates may be low and noisy (the interleaved ratios suffer less)"
        )
    print()

    print(f"ratios against the sandbox (calls/s, best rounds; medians in brackets); goal: kit >= {GOAL:g}x")
    print(f"  {'mix':<7}{'kit / sandbox':<26}{'floor / sandbox':<19}{'floor httpx / sandbox':<23}{'client only / sandbox'}")
    goals: dict[str, Any] = {}
    for mix in MIXES:
        r = rates[mix]
        sandbox_best, sandbox_median = r.get("sandbox", (0.0, 0.0))

        def ratio(side: str) -> tuple[float, float]:
            best, median = r.get(side, (0.0, 0.0))
            return (best / sandbox_best if sandbox_best else 0.0, median / sandbox_median if sandbox_median else 0.0)

        kit, floor, floor_httpx, client = ratio("kit"), ratio("floor"), ratio("floor_httpx"), ratio("client")
        goals[mix] = {
            "kit_ratio": kit[0], "kit_ratio_median": kit[1], "goal": GOAL, "met": kit[0] >= GOAL,
            "floor_ratio": floor[0], "floor_ratio_median": floor[1], "floor_reaches_goal": floor[0] >= GOAL,
            "floor_httpx_ratio": floor_httpx[0], "floor_httpx_ratio_median": floor_httpx[1],
            "floor_httpx_reaches_goal": floor_httpx[0] >= GOAL,
            "client_only_ratio": client[0], "client_only_ratio_median": client[1],
        }
        kit_cell = f"{kit[0]:.2f}x ({kit[1]:.2f}x) {_verdict(kit[0] >= GOAL)}"
        print(
            f"  {mix:<7}{kit_cell:<26}{f'{floor[0]:.2f}x ({floor[1]:.2f}x)':<19}"
            f"{f'{floor_httpx[0]:.2f}x ({floor_httpx[1]:.2f}x)':<23}{client[0]:.2f}x ({client[1]:.2f}x)"
        )

    def reaches(key: str) -> str:
        return "yes" if all(g[key] for g in goals.values()) else "no"

    reachable = all(g["floor_reaches_goal"] for g in goals.values())
    print(
        f"  does a floor (a fixed response, no app) reach {GOAL:g}x in both mixes?  respx as the kit mounts it: "
        f"{reaches('floor_reaches_goal')};  respx using=httpx: {reaches('floor_httpx_reaches_goal')}"
    )
    if not reachable:
        print("  (the kit pays at least the floor's cost per call before the app runs at all)")
    if results.skipped_rounds:
        print(f"note: {results.skipped_rounds} round(s) skipped to stay within the time budget")

    profile = results.profile
    profile_json: dict[str, Any] | None = None
    if profile is not None:
        kit_rounds = results.rounds["get"]["kit"]
        kit_top = max(kit_rounds, key=lambda m: m.per_s) if kit_rounds else None
        unprofiled = kit_top.us_per_call if kit_top else 0.0
        gc_us = 1e6 * kit_top.gc_s / kit_top.calls if kit_top and kit_top.calls else 0.0
        total = profile.markers_us_profiled.get("call", 0.0) or sum(profile.layers_us_profiled.values())
        scale = (unprofiled - gc_us) / total if total else 0.0
        print(
            f"\nwhere a kit GET's time goes: cProfile of {profile.calls} calls ({profile.profiled_us_per_call:.0f} µs/call "
            f"profiled, collector off), shares scaled to the best round's {unprofiled:.0f} µs/call less its "
            f"{gc_us:.0f} µs/call of GC:"
        )
        print(f"  {'layer':<70}{'share':>7}{'µs/call':>9}")
        for key, label, _ in _LAYERS:
            us = profile.layers_us_profiled[key]
            share = us / total if total else 0.0
            print(f"  {label:<70}{100 * share:>6.0f}%{us * scale:>9.0f}")
        covered = sum(profile.layers_us_profiled.values())
        rest = max(0.0, total - covered)
        print(f"  {'(not attributed)':<70}{100 * rest / total if total else 0:>6.0f}%{rest * scale:>9.0f}")
        if kit_top:
            print(
                f"  {'garbage collection (measured in the best round, not profiled)':<77}{gc_us:>9.0f}"
                f"   collections per generation {kit_top.gc_collections}, {kit_top.calls} calls"
            )
        markers, counts = profile.markers_us_profiled, profile.markers_calls_per_call
        print(
            f"  across layers (µs/call, profiled and scaled): httpx urlparse x{counts.get('urlparse', 0):.0f} a call "
            f"(the client's, respx's request copy) {markers.get('urlparse', 0.0) * scale:.0f}; "
            f"inspect.getfullargspec x{counts.get('argspec', 0):.0f} (respx, each side-effect call) "
            f"{markers.get('argspec', 0.0) * scale:.0f}"
        )
        alone = profile.alone_us
        if alone:
            print(f"  timed alone, without the profiler and the collector (best of {ALONE_REPEATS} loops, µs/call):")
            lines = [
                ("serve_direct", "the kit's _serve (conversion + app), coroutine driven without a loop"),
                ("app_direct", "the sandbox app alone (TraceContext + Starlette + endpoint), driven directly"),
                ("serve_loop", "the kit's _serve through loop.run_until_complete (as the kit does)"),
                ("loop_empty", "run_until_complete of an empty coroutine (the hop alone)"),
                ("respx_side_effect_call", "client GET via a respx side effect returning a fixed response"),
                ("kit_handler_using_httpx", "client GET via the kit's handler behind respx using='httpx'"),
                ("urlparse", "httpx.URL(run url), once"),
            ]
            for key, label in lines:
                if key in alone:
                    print(f"    {label:<84}{alone[key]:>6.0f}")
            floor_best = rates["get"].get("floor", (0.0, 0.0))[0]
            client_best = rates["get"].get("client", (0.0, 0.0))[0]
            if floor_best and client_best:
                floor_httpx_best = rates["get"].get("floor_httpx", (0.0, 0.0))[0]
                print(
                    f"    from the table: client only {1e6 / client_best:.0f}, floor {1e6 / floor_best:.0f}, "
                    f"floor using=httpx {1e6 / floor_httpx_best if floor_httpx_best else 0:.0f}, "
                    f"kit {unprofiled:.0f} µs/call"
                )
                sandbox_best = rates["get"].get("sandbox", (0.0, 0.0))[0]
                if sandbox_best and "app_direct" in alone:
                    bound = 1e6 / client_best + alone["app_direct"]
                    print(
                        f"    bound: this client alone + the app alone = {bound:.0f} µs/call, i.e. at most "
                        f"{1e6 / bound / sandbox_best:.1f}x the sandbox's GET with a free bridge between them "
                        f"({GOAL:g}x needs <= {1e6 / sandbox_best / GOAL:.0f} µs/call)"
                    )
        if profile.top:
            print(f"\ntop {args.profile_top} functions by cumulative time (kit GET loop):\n{profile.top}")
        profile_json = {**asdict(profile), "unprofiled_us_per_call": unprofiled, "gc_us_per_call": gc_us}
        profile_json.pop("top", None)

    return {
        "python": platform.python_version(),
        "httpx": httpx.__version__,
        "respx": respx.__version__,
        "cpu_count": os.cpu_count(),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "rates": {
            mix: {side: {"best_per_s": b, "median_per_s": m} for side, (b, m) in r.items()} for mix, r in rates.items()
        },
        "measurements": {
            mix: {side: [{**asdict(m), "per_s": m.per_s} for m in rounds] for side, rounds in by_side.items()}
            for mix, by_side in results.rounds.items()
        },
        "goals": goals,
        "floor_reaches_goal": reachable,
        "profile": profile_json,
        "skipped_rounds": results.skipped_rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measurement (default 1)")
    parser.add_argument(
        "--profile-top", type=int, default=0, metavar="N",
        help="also print the kit GET profile's top N functions by cumulative time",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 8) or not (0.2 <= args.seconds <= 3) or not (0 <= args.profile_top <= 200):
        parser.error("--rounds must be 1-8, --seconds 0.2-3, --profile-top 0-200")
    # the sandbox and the kit would read these; the benchmark measures the defaults
    for name in [n for n in os.environ if n.startswith("FIELDPROOF_SANDBOX_") or n == "FIELDPROOF_SEED"]:
        print(f"ignoring {name} for the benchmark", file=sys.stderr)
        del os.environ[name]
    from fieldproof.errors import SandboxError

    started = time.monotonic()
    try:
        results = measure(args, started)
    except BadAnswer as exc:
        print(f"benchmark invalid: unexpected answer: {exc}", file=sys.stderr)
        return 1
    except SandboxError as exc:
        print(f"benchmark invalid: the sandbox did not start: {exc}", file=sys.stderr)
        return 1
    numbers = report(results, args)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
