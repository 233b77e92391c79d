"""Sandbox throughput against a bare Starlette endpoint on the same uvicorn, in one run.

Run it from the repository root with the project's venv active:

    python bench/sandbox_throughput.py
    python bench/sandbox_throughput.py --seconds 2 --connections 8 --rounds 3 --json out.json

About a minute with the defaults (5 rounds of 1.5 s, 8 connections, 1 and 2 workers).

What it measures, with 1 and then 2 uvicorn workers:

* bare GET     a minimal Starlette app (one GET route, a run-sized JSON body and an ETag header)
               served by uvicorn with the sandbox's own options and start-up, in a child
               process; its listening socket is made as `uvicorn.run(app, host, port)` makes
               it (`--bare-socket sandbox`: with the sandbox's own `bind()` instead);
* sandbox GET  `GET …/fielding-runs/{id}` on `fieldproof sandbox --control --no-seed`;
* cycle        `POST …/resume` then `POST …/pause`, each with the ETag the previous 204 gave.

Both servers of a worker count run side by side and the measurements are interleaved in
rounds (order alternating), each round bounded by time and by a request count; the best
round of each is reported with the spread. Ratios are against the bare GET of the same
worker count: GET ratio = sandbox GET/s / bare GET/s (goal >= 60 %); write ratio =
2 x cycles/s / bare GET/s, i.e. write requests per second (goal >= 30 %).

The client is one thread of raw HTTP/1.1 keep-alive sockets on `selectors`, one request in
flight per connection; each connection reads and writes its own run, so a 412 is a bug.
With several workers the connections are spread evenly over them (each asks /healthz for its
worker's pid first); left alone, one worker often accepts them all. Client, server and other
CPU use are printed, so that a client-bound or disturbed measurement can be seen.

It is a benchmark, not a test: it never judges timings. Exit 0 after printing; exit 1 if
any response had an unexpected status (the numbers are then not valid) or a server did not
start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from procstat import machine_busy_s, tree_cpu_s  # bench/procstat.py, beside this script

HOST = "127.0.0.1"
API_VERSION = "2025-12-18"
MAX_REQUESTS = 500_000  # per measurement: a safety bound next to the time limit
IO_TIMEOUT_S = 10.0  # no response for this long on any busy connection: the server is stuck
WARMUP_S = 0.4
UVICORN_KW = dict(log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
GET_GOAL, WRITE_GOAL = 0.60, 0.30

# --------------------------------------------------------------------------------------------
# the bare endpoint (imported by uvicorn workers as `sandbox_throughput:bare_app`)

_BARE_BODY = {
    "id": "01JZ8Q7W3K5M2N4P6R8T0V2X4Y",
    "status": "paused",
    "version": 1,
    "start_fielding_at": "2026-01-01T00:00:00.000Z",
    "end_fielding_at": "2026-02-01T00:00:00.000Z",
    "last_changed_at": "2026-01-01T00:00:00.000Z",
    "last_changed_by": "00000000-0000-0000-0000-000000000000",
    "account_id": "101",
    "project_id": "01JZ8Q7W3K5M2N4P6R8T0V2X4Z",
    "target_group_id": "01JZ8Q7W3K5M2N4P6R8T0V2X50",
}
BARE_PATH = "/run"


def _make_bare_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def run(request: Request) -> JSONResponse:
        return JSONResponse(_BARE_BODY, headers={"ETag": 'W/"1"'})

    async def health(request: Request) -> JSONResponse:  # as the sandbox's: which worker answers
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    return Starlette(routes=[Route(BARE_PATH, run, methods=["GET"]), Route("/healthz", health, methods=["GET"])])


def __getattr__(name: str):  # lazily, so importing this module for its helpers stays cheap
    if name == "bare_app":
        app = globals()["bare_app"] = _make_bare_app()
        return app
    raise AttributeError(name)


def tcp_socket(host: str, port: int) -> socket.socket:
    """A listening socket as asyncio's `create_server(host, port)` makes it: proto IPPROTO_TCP.

    asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP, and an
    accepted socket inherits the listening socket's proto; `socket.socket(AF_INET)` has proto 0.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def sandbox_bind_skips_nodelay() -> bool:
    """True if the sandbox's own `bind()` makes sockets whose connections keep Nagle on:
    proto 0 (asyncio skips TCP_NODELAY) and no TCP_NODELAY on the listener to inherit."""
    from fieldproof.sandbox.server import bind

    sock = bind(HOST, 0)
    try:
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        return sock.proto != socket.IPPROTO_TCP and not nodelay
    finally:
        sock.close()


def serve_bare(workers: int, socket_kind: str) -> None:
    """Child process: the bare app on uvicorn, started as `server.py` starts the sandbox.

    socket_kind "tcp": a socket as uvicorn's single-process `uvicorn.run(app, host, port)` gets
    it (TCP_NODELAY on connections); "sandbox": the sandbox's own `bind()`, to compare like
    for like down to the socket.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from fieldproof.sandbox.server import bind

    sock = tcp_socket(HOST, 0) if socket_kind == "tcp" else bind(HOST, 0)
    print(f"bare starlette: http://{HOST}:{sock.getsockname()[1]}", flush=True)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(_make_bare_app(), **UVICORN_KW))
        server.run(sockets=[sock])
        return
    bench_dir = str(Path(__file__).resolve().parent)
    if bench_dir not in sys.path:
        sys.path.insert(0, bench_dir)  # spawned workers inherit sys.path
    config = uvicorn.Config("sandbox_throughput:bare_app", workers=workers, **UVICORN_KW)
    Multiprocess(config, sockets=[sock]).run()


@contextmanager
def bare_process(
    workers: int, socket_kind: str, timeout_s: float = 20.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    from fieldproof.sandbox.process import announced_child

    command = [
        sys.executable, str(Path(__file__).resolve()),
        "--serve-bare", "--workers", str(workers), "--bare-socket", socket_kind,
    ]
    with announced_child(command, re.compile(r"^bare starlette: (\S+)"), BARE_PATH, timeout_s) as (url, process, _):
        yield url, process


# --------------------------------------------------------------------------------------------
# the load generator: raw HTTP/1.1 keep-alive sockets on one selector


@dataclass
class RunState:
    """One run that one connection owns; its ETag carries across measurements."""

    path: str  # the run's API path, with /v1
    etag: str


@dataclass
class Failure:
    what: str
    count: int = 0


class Conn:
    __slots__ = ("sock", "buf", "kind", "run", "get_req", "write_head", "phase", "waiting", "alive")

    def __init__(self, port: int, kind: str, get_path: str, token: str, run: RunState | None) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.kind = kind
        self.run = run
        common = f"Host: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\nCint-API-Version: {API_VERSION}\r\n"
        self.get_req = f"GET {get_path} HTTP/1.1\r\n{common}\r\n".encode()
        self.write_head = (f"{common}Content-Length: 0\r\nIf-Match: ").encode()
        self.phase = 0  # cycle: 0 = resume next, 1 = pause next
        self.waiting = False  # a request is in flight
        self.alive = True

    def send_next(self) -> None:
        self.waiting = True
        if self.kind == "get":
            self.sock.sendall(self.get_req)
            return
        assert self.run is not None
        action = "resume" if self.phase == 0 else "pause"
        self.sock.sendall(
            f"POST {self.run.path}/{action} HTTP/1.1\r\n".encode()
            + self.write_head
            + self.run.etag.encode()
            + b"\r\n\r\n"
        )

    def worker_pid(self, port: int) -> int:
        """Which server process holds this connection (its /healthz says), before any load."""
        self.sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode())
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("server closed the connection during /healthz")
            self.buf += data
            response = self.take_response(keep_body=True)
            if response is not None:
                status, _, body = response
                if status != 200:
                    raise RuntimeError(f"/healthz answered {status}")
                return int(json.loads(body)["pid"])

    def close(self) -> None:
        self.sock.close()

    def take_response(self, keep_body: bool = False) -> tuple[int, str | None, bytes] | None:
        """One whole response from the buffer, as (status, etag, body if asked), or None if not
        all of it is here yet."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).split(b"\r\n")
        status = int(head[0][9:12])
        length, etag = 0, None
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"etag":
                etag = value.strip().decode("latin-1")
            elif name == b"transfer-encoding":
                chunked = True
        if chunked:
            raise RuntimeError("chunked response: not expected from these endpoints")
        if status in (204, 304) or status < 200:
            length = 0
        total = end + 4 + length
        if len(self.buf) < total:
            return None
        body = bytes(self.buf[end + 4 : total]) if keep_body else b""
        del self.buf[:total]
        return status, etag, body


@dataclass
class Measurement:
    requests: int
    cycles: int
    seconds: float
    client_cpu_s: float
    server_cpu_s: float | None
    machine_busy_s: float | None  # all CPUs, all processes
    connections_per_worker: list[int]

    @property
    def other_cpu_s(self) -> float | None:
        """CPU that neither this client nor the measured server used: other work on the machine."""
        if self.machine_busy_s is None or self.server_cpu_s is None:
            return None
        return max(0.0, self.machine_busy_s - self.server_cpu_s - self.client_cpu_s)

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.seconds


def connect_balanced(
    port: int, kind: str, get_path: str, token: str, runs: list[RunState], workers: int
) -> tuple[list[Conn], list[int]]:
    """One connection per run, spread evenly over the server's worker processes.

    Workers share one listening socket, and whichever wakes first accepts: left alone, all
    connections of a burst often land on one worker and a 2-worker figure swings between one
    and two cores' worth. So each new connection asks /healthz which worker holds it and is
    kept only while that worker has less than its share (bounded tries; the spread is reported).
    """
    quota = -(-len(runs) // workers)
    held: dict[int, int] = {}
    conns: list[Conn] = []
    spare: list[Conn] = []  # refused ones stay open until the end, so the next accept may go elsewhere
    tries = 0
    try:
        while len(conns) < len(runs):
            conn = Conn(port, kind, get_path or runs[len(conns)].path, token, runs[len(conns)])
            pid = conn.worker_pid(port) if workers > 1 else 0
            tries += 1
            if held.get(pid, 0) < quota or tries > 20 * len(runs):
                held[pid] = held.get(pid, 0) + 1
                conns.append(conn)
            else:
                spare.append(conn)
                if len(spare) >= 64:  # do not pile up connections; start over on a fresh accept
                    for extra in spare:
                        extra.close()
                    spare.clear()
    except BaseException:
        for conn in conns:
            conn.close()
        raise
    finally:
        for extra in spare:
            extra.close()
    return conns, sorted(held.values(), reverse=True)


def load(
    port: int,
    kind: str,
    get_path: str,
    token: str,
    runs: list[RunState],
    seconds: float,
    failures: dict[str, Failure],
    server_pid: int | None = None,
    label: str = "",
    workers: int = 1,
) -> Measurement:
    """Drive one connection per run for `seconds` (or MAX_REQUESTS), then finish in-flight work.

    kind "get": GET get_path (or the run's own path) and expect 200 with an ETag.
    kind "cycle": resume then pause the connection's own run, each expecting 204 and a new ETag.
    A connection that gets anything else is recorded in `failures` and dropped.
    """
    conns, spread = connect_balanced(port, kind, get_path, token, runs, workers)
    selector = selectors.DefaultSelector()
    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)

    def fail(conn: Conn, what: str) -> None:
        key = f"{label}: {what}"
        failures.setdefault(key, Failure(key)).count += 1
        conn.alive = False
        selector.unregister(conn.sock)
        conn.sock.close()

    requests = cycles = 0
    server_cpu0 = tree_cpu_s(server_pid) if server_pid else None
    machine0 = machine_busy_s()
    cpu0 = time.process_time()
    t0 = time.monotonic()
    deadline = t0 + seconds
    for conn in conns:
        conn.send_next()
    busy = len(conns)
    counting = True
    while busy:
        events = selector.select(IO_TIMEOUT_S)
        if not events:
            for conn in conns:
                if conn.alive and conn.waiting:
                    fail(conn, f"no response in {IO_TIMEOUT_S:.0f} s")
            break
        now = time.monotonic()
        if counting and (now >= deadline or requests >= MAX_REQUESTS):
            counting = False
            elapsed = now - t0
            cpu_used = time.process_time() - cpu0
            machine1 = machine_busy_s()
            server_cpu1 = tree_cpu_s(server_pid) if server_pid else None
        for key, _ in events:
            conn: Conn = key.data
            try:
                data = conn.sock.recv(65536)
            except OSError as exc:
                fail(conn, f"socket error {exc.__class__.__name__}")
                busy -= 1
                continue
            if not data:
                fail(conn, "server closed the connection")
                busy -= 1
                continue
            conn.buf += data
            response = conn.take_response()
            if response is None:
                continue
            status, etag, _ = response
            conn.waiting = False
            send_more = counting
            if kind == "get":
                if status != 200 or etag is None:
                    fail(conn, f"GET answered {status}" if status != 200 else "GET 200 without ETag")
                    busy -= 1
                    continue
                if counting:
                    requests += 1
            else:
                action = "resume" if conn.phase == 0 else "pause"
                if status != 204 or etag is None:
                    fail(conn, f"{action} answered {status}" if status != 204 else f"{action} 204 without ETag")
                    busy -= 1
                    continue
                conn.run.etag = etag
                if counting:
                    requests += 1
                if conn.phase == 0:
                    conn.phase = 1
                    send_more = True  # always finish the cycle: the run must end paused
                else:
                    conn.phase = 0
                    if counting:
                        cycles += 1
            if send_more:
                conn.send_next()
            else:
                busy -= 1
    if counting:  # every connection failed before the deadline
        elapsed = time.monotonic() - t0
        cpu_used = time.process_time() - cpu0
        machine1 = machine_busy_s()
        server_cpu1 = tree_cpu_s(server_pid) if server_pid else None
    for conn in conns:
        if conn.alive:
            selector.unregister(conn.sock)
            conn.sock.close()
    selector.close()
    server_cpu = None if server_cpu0 is None or server_cpu1 is None else server_cpu1 - server_cpu0
    machine = None if machine0 is None or machine1 is None else machine1 - machine0
    return Measurement(requests, cycles, max(elapsed, 1e-9), cpu_used, server_cpu, machine, spread)


# --------------------------------------------------------------------------------------------
# the run


@dataclass
class Series:
    config: str  # "bare" or "sandbox"
    kind: str  # "get" or "cycle"
    workers: int
    rounds: list[Measurement] = field(default_factory=list)

    def rate(self, m: Measurement) -> float:
        return m.cycles_per_s if self.kind == "cycle" else m.req_per_s

    @property
    def best(self) -> Measurement:
        return max(self.rounds, key=self.rate)

    @property
    def best_rate(self) -> float:
        return self.rate(self.best) if self.rounds else 0.0

    @property
    def spread(self) -> tuple[float, float]:
        rates = [self.rate(m) for m in self.rounds] or [0.0]
        return min(rates), max(rates)


def _setup_sandbox(root_url: str, connections: int) -> tuple[str, list[RunState]]:
    import httpx

    from fieldproof.sandbox.app import API_PREFIX, RUN_PATH

    with httpx.Client(timeout=10.0) as client:
        response = client.post(f"{root_url}/_control/tokens", json={"account_id": "101"})
        response.raise_for_status()
        token = response.json()["token"]
        runs = []
        for _ in range(connections):
            response = client.post(f"{root_url}/_control/runs", json={"role": "resumable"})
            if response.status_code != 201:
                raise RuntimeError(f"control API: creating a run answered {response.status_code}: {response.text}")
            run = response.json()
            path = API_PREFIX + RUN_PATH.format(
                account_id=run["account_id"],
                project_id=run["project_id"],
                target_group_id=run["target_group_id"],
                fielding_run_id=run["id"],
            )
            runs.append(RunState(path, f'W/"{run["version"]}"'))
    return token, runs


def _port(url: str) -> int:
    return int(re.match(r"http://[^:/]+:(\d+)", url).group(1))


def measure_workers(workers: int, args: argparse.Namespace, failures: dict[str, Failure]) -> list[Series]:
    from fieldproof.sandbox.process import sandbox_process

    bare_get = Series("bare", "get", workers)
    sandbox_get = Series("sandbox", "get", workers)
    sandbox_cycle = Series("sandbox", "cycle", workers)
    with ExitStack() as stack:
        bare_url, bare_proc = stack.enter_context(bare_process(workers, args.bare_socket))
        sandbox = stack.enter_context(
            sandbox_process(["--workers", str(workers), "--control", "--no-seed"])
        )
        token, runs = _setup_sandbox(sandbox.root_url, args.connections)
        bare_runs = [RunState(BARE_PATH, 'W/"1"') for _ in range(args.connections)]
        bare_port, sandbox_port = _port(bare_url), _port(sandbox.base_url)
        sandbox_pid = sandbox.process.pid if sandbox.process else None
        jobs = [
            (bare_get, lambda s, lbl: load(bare_port, "get", BARE_PATH, token, bare_runs, s, failures, bare_proc.pid, lbl, workers)),
            (sandbox_get, lambda s, lbl: load(sandbox_port, "get", "", token, runs, s, failures, sandbox_pid, lbl, workers)),
            (sandbox_cycle, lambda s, lbl: load(sandbox_port, "cycle", "", token, runs, s, failures, sandbox_pid, lbl, workers)),
        ]
        for series, job in jobs:  # warm up: imports, caches, SQLite pages, worker accept balance
            job(WARMUP_S, f"warm-up {series.config} {series.kind} w{workers}")
        for round_no in range(args.rounds):
            order = jobs if round_no % 2 == 0 else jobs[::-1]
            for series, job in order:
                label = f"{series.config} {series.kind} w{workers} round {round_no + 1}"
                series.rounds.append(job(args.seconds, label))
                m = series.rounds[-1]
                print(
                    f"  {label}: {series.rate(m):8.0f}/s  connections per worker {m.connections_per_worker}",
                    file=sys.stderr,
                    flush=True,
                )
    return [bare_get, sandbox_get, sandbox_cycle]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def report(all_series: list[Series], args: argparse.Namespace, failures: dict[str, Failure]) -> dict[str, Any]:
    import starlette
    import uvicorn

    def mod(name: str) -> bool:
        try:
            __import__(name)
            return True
        except ImportError:
            return False

    http_impl = "httptools" if mod("httptools") else "h11"
    loop_impl = "uvloop" if mod("uvloop") else "asyncio"
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), uvicorn {uvicorn.__version__} "
        f"(http auto -> {http_impl}, loop auto -> {loop_impl}), starlette {starlette.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{args.connections} keep-alive connections, one request in flight each; {args.rounds} rounds x "
        f"{args.seconds:g} s per measurement, interleaved; best round shown (min-max of rounds)"
    )
    print(
        "CPU columns: share of one core in the best round; client = this process, "
        "others = the rest of the machine (noise)\n"
    )
    print(
        f"{'config':<8}{'workers':>8}  {'GET req/s':>22}  {'cycles/s':>22}  "
        f"{'server CPU':>10}  {'client CPU':>10}  {'others':>6}"
    )
    by_key = {(s.config, s.kind, s.workers): s for s in all_series}
    workers_list = sorted({s.workers for s in all_series})
    unbalanced = False
    for series in all_series:
        m = series.best
        low, high = series.spread
        rate = f"{series.best_rate:>8.0f} ({low:>5.0f}-{high:>5.0f})"
        get_cell, cycle_cell = (rate, f"{'-':>22}") if series.kind == "get" else (f"{'-':>22}", rate)
        server = None if m.server_cpu_s is None else m.server_cpu_s / m.seconds
        other = None if m.other_cpu_s is None else m.other_cpu_s / m.seconds
        print(
            f"{series.config:<8}{series.workers:>8}  {get_cell}  {cycle_cell}  "
            f"{_pct(server):>10}  {_pct(m.client_cpu_s / m.seconds):>10}  {_pct(other):>6}"
        )
        unbalanced |= any(
            max(r.connections_per_worker) - min(r.connections_per_worker) > 1
            or len(r.connections_per_worker) < min(series.workers, args.connections)
            for r in series.rounds
        )
    if unbalanced:
        print("note: some rounds could not spread their connections evenly over the workers")
    print("\nratios, sandbox / bare GET of the same worker count:")
    print(f"{'workers':>7}  {'GET req/s':>10} {'goal':>7}       {'write req/s (2 x cycles/s)':>27} {'goal':>7}")
    ratios = {}
    for workers in workers_list:
        bare = by_key[("bare", "get", workers)].best_rate
        get_ratio = by_key[("sandbox", "get", workers)].best_rate / bare if bare else 0.0
        write_ratio = 2 * by_key[("sandbox", "cycle", workers)].best_rate / bare if bare else 0.0
        ratios[workers] = {"get": get_ratio, "write": write_ratio}
        get_verdict = "met" if get_ratio >= GET_GOAL else "below"
        write_verdict = "met" if write_ratio >= WRITE_GOAL else "below"
        print(
            f"{workers:>7}  {100 * get_ratio:>9.0f}% {'>= 60%':>7} {get_verdict:<5} "
            f"{100 * write_ratio:>27.0f}% {'>= 30%':>7} {write_verdict}"
        )
    if args.bare_socket == "tcp" and sandbox_bind_skips_nodelay():
        print(
            "\nnote: fieldproof.sandbox.server.bind() makes its listening socket with proto 0, so asyncio\n"
            "does not set TCP_NODELAY on the sandbox's connections: a response with a body (headers and\n"
            "body are two writes) waits for the client's delayed ACK, ~40 ms per keep-alive request.\n"
            "The bare server here uses proto IPPROTO_TCP, as uvicorn.run(app, host, port) does; run with\n"
            "--bare-socket sandbox to give it the sandbox's bind() instead."
        )
    if failures:
        print("\nUNEXPECTED RESPONSES (the numbers above are not valid):")
        for failure in failures.values():
            print(f"  {failure.count} x {failure.what}")
    return {
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "starlette": starlette.__version__,
        "http": http_impl,
        "loop": loop_impl,
        "cpu_count": os.cpu_count(),
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "series": [
            {
                "config": s.config,
                "kind": s.kind,
                "workers": s.workers,
                "best_per_s": s.best_rate,
                "rounds": [{**asdict(m), "per_s": s.rate(m)} for m in s.rounds],
            }
            for s in all_series
        ],
        "sandbox_bind_skips_nodelay": sandbox_bind_skips_nodelay(),
        "bare_socket": args.bare_socket,
        "ratios": {
            str(w): {"get": r["get"], "get_goal": GET_GOAL, "write": r["write"], "write_goal": WRITE_GOAL}
            for w, r in ratios.items()
        },
        "failures": {f.what: f.count for f in failures.values()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one measured round (default 1.5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measurement (default 5)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    parser.add_argument(
        "--bare-socket",
        choices=("tcp", "sandbox"),
        default="tcp",
        help="listening socket of the bare server: tcp = as uvicorn.run(app, host, port) makes it "
        "(default); sandbox = the sandbox's own bind()",
    )
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            serve_bare(args.workers[0], args.bare_socket)
        except KeyboardInterrupt:
            pass
        return 0
    if not (0.1 <= args.seconds <= 30) or not (1 <= args.connections <= 256) or not (1 <= args.rounds <= 20):
        parser.error("--seconds must be 0.1-30, --connections 1-256, --rounds 1-20")
    # the sandbox child would read these; the benchmark measures the defaults
    for name in [n for n in os.environ if n.startswith("FIELDPROOF_SANDBOX_")]:
        print(f"ignoring {name} for the benchmark", file=sys.stderr)
        del os.environ[name]
    failures: dict[str, Failure] = {}
    all_series: list[Series] = []
    started = time.monotonic()
    try:
        for workers in args.workers:
            print(f"measuring with {workers} worker(s)...", file=sys.stderr, flush=True)
            all_series += measure_workers(workers, args, failures)
    except Exception as exc:  # a server that did not start, a control API that refused
        print(f"benchmark failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    numbers = report(all_series, args, failures)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
