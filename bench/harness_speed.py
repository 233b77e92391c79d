"""Harness speed: the default profile's wall time and requests/s next to a bare httpx loop's.

Run it from the repository root with the project's venv active:

    python bench/harness_speed.py
    python bench/harness_speed.py --rounds 3 --json out.json

About 40 s with the defaults (2 rounds); the whole script stays under ~3 minutes whatever
happens: every loop is bounded by time and by count, every harness run by a timeout, and no
round is started once the script's time budget would be overrun.

What it measures, interleaved in rounds (bare, harness w1, bare, harness w2, ..., bare):

* harness      `python -m fieldproof run --profile default --reports TMP --workers N` as a
               child process (it starts its own sandbox), N = 1 and 2. Its wall clock is timed
               here; `TMP/summary.json` gives `requests` (API requests the harness sent and
               recorded), `duration_s` (the whole run, sandbox start included) and `suites_s`
               (the part inside pytest). Requests/s are given both ways: over the wall clock
               (what a user waits for) and over suites_s (the harness itself, without process
               and sandbox start-up). It must exit 0, else the measurement is not valid.
* bare GET     one `httpx.Client` on one keep-alive connection, GET of one run, again and
               again, on `fieldproof sandbox --control --no-seed` (one worker, as the harness's
               own sandbox); every answer must be 200.
* bare mixed   the same client doing what the harness mostly does: GET (the run and its ETag),
               resume with If-Match that ETag, GET, pause with that ETag, GET, ...; every GET
               must be 200 and every write 204.

Both bare loops are bounded by time (--bare-seconds) and by a request count. The ratio goal
is judged against the bare MIXED loop (headline); the GET-only loop is a reference (its
requests are cheaper for the server than the harness's writes). Ratios use the best round
of each side; the median is printed next to it.

Goals (from the issue): the default profile under 60 s of wall time; harness requests/s at
least 50 % of the bare loop's. Both are printed with "met" or "below". Loopback only.

It is a benchmark, not a test: it never judges timings by its exit code. Exit 0 after
printing; exit 1 if a harness run did not exit 0 (the tail of its output is printed), timed
out, or a bare request got an unexpected status (the numbers are then not valid).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fieldproof.contract import DEFAULT_API_VERSION as API_VERSION
from fieldproof.contract import run_path
from fieldproof.report.summary import load_summary

PROFILE = "default"
WALL_GOAL_S = 60.0  # the default profile's wall time
RATIO_GOAL = 0.50  # harness req/s over bare req/s
WORKER_COUNTS = (1, 2)
BARE_MAX_REQUESTS = 100_000  # per bare measurement: a safety bound next to the time limit
WARMUP_S = 0.3
HARNESS_TIMEOUT_S = 75.0  # one harness run; over the 60 s goal already, so a timeout is a clear "below"
SCRIPT_BUDGET_S = 170.0  # no new round starts if it could end after this
TAIL_LINES = 40


class BenchmarkInvalid(RuntimeError):
    """A measurement that cannot be trusted: say why and exit 1."""


# --------------------------------------------------------------------------------------------
# CPU time from /proc (Linux; None elsewhere)

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu_s(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _children_cpu_s() -> float:
    """CPU of waited-for descendants (the harness run and the sandbox it started and waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# the bare loops


@dataclass
class BareRound:
    kind: str  # "get" or "mixed"
    requests: int
    seconds: float
    client_cpu_s: float
    server_cpu_s: float | None

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


class BareLoop:
    """One httpx.Client, one run of its own on the sandbox, one request at a time."""

    def __init__(self, root_url: str, base_url: str, server_pid: int | None) -> None:
        import httpx

        self.server_pid = server_pid
        with httpx.Client(timeout=10.0) as control:
            response = control.post(f"{root_url}/_control/tokens", json={"account_id": "101"})
            if response.status_code >= 300:
                raise BenchmarkInvalid(f"control API: minting a token answered {response.status_code}: {response.text}")
            token = response.json()["token"]
            response = control.post(f"{root_url}/_control/runs", json={"role": "resumable"})
            if response.status_code != 201:
                raise BenchmarkInvalid(f"control API: creating a run answered {response.status_code}: {response.text}")
            run = response.json()
        self.url = base_url + run_path(run["account_id"], run["project_id"], run["target_group_id"], run["id"])
        self.client = httpx.Client(
            timeout=10.0,
            headers={"Authorization": f"Bearer {token}", "Cint-API-Version": API_VERSION},
        )

    def close(self) -> None:
        self.client.close()

    def _get(self) -> str:
        response = self.client.get(self.url)
        etag = response.headers.get("etag")
        if response.status_code != 200 or etag is None:
            what = f"answered {response.status_code}" if response.status_code != 200 else "200 without ETag"
            raise BenchmarkInvalid(f"bare loop: GET {what}: {response.text[:200]}")
        return etag

    def _write(self, action: str, etag: str) -> None:
        response = self.client.post(f"{self.url}/{action}", headers={"If-Match": etag})
        if response.status_code != 204:
            raise BenchmarkInvalid(
                f"bare loop: {action} with If-Match {etag} answered {response.status_code}: {response.text[:200]}"
            )

    def measure(self, kind: str, seconds: float) -> BareRound:
        server0 = _process_cpu_s(self.server_pid) if self.server_pid else None
        cpu0 = time.process_time()
        t0 = time.monotonic()
        deadline = t0 + seconds
        requests = 0
        if kind == "get":
            while requests < BARE_MAX_REQUESTS and time.monotonic() < deadline:
                self._get()
                requests += 1
        else:
            # whole cycles only, so the run is paused again at the end of every measurement
            while requests < BARE_MAX_REQUESTS and time.monotonic() < deadline:
                self._write("resume", self._get())
                self._write("pause", self._get())
                requests += 4
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        server1 = _process_cpu_s(self.server_pid) if self.server_pid else None
        server = None if server0 is None or server1 is None else server1 - server0
        return BareRound(kind, requests, max(elapsed, 1e-9), cpu, server)


# --------------------------------------------------------------------------------------------
# the harness


@dataclass
class HarnessRound:
    workers: int
    wall_s: float  # timed here, process start to exit
    duration_s: float  # summary.json: the whole run inside `fieldproof run`, sandbox start included
    suites_s: float  # summary.json: the part inside pytest
    requests: int
    tests: dict[str, int]
    cpu_s: float  # CPU of the run and its sandbox, all processes

    @property
    def per_s_wall(self) -> float:
        return self.requests / self.wall_s

    @property
    def per_s_suites(self) -> float:
        return self.requests / self.suites_s if self.suites_s else 0.0


def _stop_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Stop a harness run we started (its own session): SIGINT first, as Ctrl-C would, then kill."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_harness(workers: int, reports: Path, timeout_s: float) -> HarnessRound:
    command = [
        sys.executable, "-m", "fieldproof", "run",
        "--profile", PROFILE, "--reports", str(reports), "--workers", str(workers),
    ]
    log_path = reports.with_suffix(".log")
    cpu0 = _children_cpu_s()
    with log_path.open("w") as log:
        t0 = time.monotonic()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(process)
        wall = time.monotonic() - t0
    cpu = _children_cpu_s() - cpu0

    def tail() -> str:
        lines = log_path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        return "\n".join("    " + line for line in lines)

    label = f"`{' '.join(command[1:])}`"
    if code is None:
        raise BenchmarkInvalid(f"{label} did not end within {timeout_s:.0f} s (stopped); its output ended:\n{tail()}")
    if code != 0:
        raise BenchmarkInvalid(f"{label} exited {code}; its output ended:\n{tail()}")
    try:
        summary = load_summary(reports / "summary.json")
    except (OSError, ValueError) as exc:
        raise BenchmarkInvalid(f"{label}: cannot read {reports / 'summary.json'}: {exc}") from None
    tests = {"passed": summary.tests.passed, "failed": summary.tests.failed, "skipped": summary.tests.skipped}
    return HarnessRound(workers, wall, summary.duration_s, summary.suites_s, summary.requests, tests, cpu)


# --------------------------------------------------------------------------------------------
# the run


@dataclass
class Results:
    bare: dict[str, list[BareRound]] = field(default_factory=lambda: {"mixed": [], "get": []})
    harness: dict[int, list[HarnessRound]] = field(default_factory=lambda: {w: [] for w in WORKER_COUNTS})
    skipped_rounds: int = 0


def _bare_round(loop: BareLoop, results: Results, seconds: float, flip: bool, label: str) -> None:
    kinds = ("mixed", "get") if not flip else ("get", "mixed")
    for kind in kinds:
        m = loop.measure(kind, seconds)
        results.bare[kind].append(m)
        print(f"  bare {kind:<5} {label}: {m.per_s:7.0f} req/s ({m.requests} requests)", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, work: Path, started: float) -> Results:
    from fieldproof.errors import SandboxError
    from fieldproof.sandbox.process import sandbox_process

    results = Results()
    with ExitStack() as stack:
        try:
            sandbox = stack.enter_context(sandbox_process(["--control", "--no-seed"]))
        except SandboxError as exc:
            raise BenchmarkInvalid(f"the sandbox for the bare loop did not start: {exc}") from None
        loop = BareLoop(sandbox.root_url, sandbox.base_url, sandbox.process.pid if sandbox.process else None)
        stack.callback(loop.close)
        loop.measure("mixed", WARMUP_S)  # imports, connection, SQLite pages
        loop.measure("get", WARMUP_S)
        bare_cost = 2 * args.bare_seconds + 1
        expected_harness_s = {w: 15.0 for w in WORKER_COUNTS}  # until a first run says otherwise
        step = 0
        for round_no in range(1, args.rounds + 1):
            round_cost = sum(bare_cost + expected_harness_s[w] for w in WORKER_COUNTS) + bare_cost
            if time.monotonic() - started + round_cost > SCRIPT_BUDGET_S and round_no > 1:
                results.skipped_rounds = args.rounds - round_no + 1
                print(f"  time budget: skipping rounds {round_no}-{args.rounds}", file=sys.stderr)
                break
            for workers in WORKER_COUNTS:
                _bare_round(loop, results, args.bare_seconds, step % 2 == 1, f"round {round_no}")
                step += 1
                remaining = SCRIPT_BUDGET_S - (time.monotonic() - started) - bare_cost
                timeout = max(10.0, min(HARNESS_TIMEOUT_S, remaining))
                reports = work / f"w{workers}-round{round_no}"
                h = run_harness(workers, reports, timeout)
                results.harness[workers].append(h)
                expected_harness_s[workers] = max(h.wall_s, 1.0)
                print(
                    f"  harness w{workers} round {round_no}: wall {h.wall_s:5.1f} s, {h.requests} requests, "
                    f"{h.per_s_wall:5.0f} req/s whole run, {h.per_s_suites:5.0f} req/s in suites",
                    file=sys.stderr,
                    flush=True,
                )
        _bare_round(loop, results, args.bare_seconds, step % 2 == 1, "last")
    return results


def _best_median(values: list[float]) -> tuple[float, float]:
    return (max(values), statistics.median(values)) if values else (0.0, 0.0)


def _verdict(ok: bool) -> str:
    return "met" if ok else "below"


def report(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), httpx {httpx.__version__}, "
        f"{os.cpu_count()} CPUs; profile {PROFILE!r}; {len(results.harness[1])} round(s), "
        f"bare loops {args.bare_seconds:g} s each, interleaved"
    )
    print(
        "the harness starts its own sandbox (1 worker); the bare loops use one "
        "`sandbox --control --no-seed` (1 worker)\n"
    )

    print("bare httpx loop (one client, one connection, one request in flight):")
    print(f"  {'loop':<34}{'best req/s':>11}{'median':>9}{'rounds':>8}{'client CPU':>12}{'server CPU':>12}")
    bare_rates: dict[str, tuple[float, float]] = {}
    for kind, title in (("mixed", "mixed GET/resume/GET/pause (ratio)"), ("get", "GET only (reference)")):
        rounds = results.bare[kind]
        best, median = _best_median([m.per_s for m in rounds])
        bare_rates[kind] = (best, median)
        top = max(rounds, key=lambda m: m.per_s)
        server = "-" if top.server_cpu_s is None else f"{100 * top.server_cpu_s / top.seconds:.0f}%"
        print(
            f"  {title:<34}{best:>11.0f}{median:>9.0f}{len(rounds):>8}"
            f"{100 * top.client_cpu_s / top.seconds:>11.0f}%{server:>12}"
        )
    print("  (CPU: share of one core in the best round; client = this process, server = the sandbox)\n")

    print(f"harness `fieldproof run --profile {PROFILE}` (best round; median in brackets):")
    print(
        f"  {'workers':>7}{'wall s':>15}{'duration_s':>11}{'suites_s':>9}{'requests':>9}"
        f"{'req/s whole':>18}{'req/s suites':>18}{'CPU s':>7}"
    )
    verdicts: dict[str, Any] = {}
    bare_mixed, bare_get = bare_rates["mixed"][0], bare_rates["get"][0]
    for workers, rounds in results.harness.items():
        if not rounds:
            continue
        best_wall = min(rounds, key=lambda h: h.wall_s)
        wall_med = statistics.median(h.wall_s for h in rounds)
        whole_best, whole_med = _best_median([h.per_s_wall for h in rounds])
        suites_best, suites_med = _best_median([h.per_s_suites for h in rounds])
        print(
            f"  {workers:>7}{best_wall.wall_s:>7.1f} ({wall_med:>5.1f}){best_wall.duration_s:>11.1f}"
            f"{best_wall.suites_s:>9.1f}{best_wall.requests:>9}"
            f"{whole_best:>8.0f} ({whole_med:>6.0f}){suites_best:>8.0f} ({suites_med:>6.0f}){best_wall.cpu_s:>7.1f}"
        )
        verdicts[str(workers)] = {
            "wall_s": best_wall.wall_s,
            "wall_goal_s": WALL_GOAL_S,
            "wall_met": best_wall.wall_s < WALL_GOAL_S,
            "ratio_whole_vs_mixed": whole_best / bare_mixed if bare_mixed else 0.0,
            "ratio_suites_vs_mixed": suites_best / bare_mixed if bare_mixed else 0.0,
            "ratio_whole_vs_get": whole_best / bare_get if bare_get else 0.0,
            "ratio_suites_vs_get": suites_best / bare_get if bare_get else 0.0,
            "ratio_goal": RATIO_GOAL,
        }
    tests = next((r[0].tests for r in results.harness.values() if r), {})
    print(f"  tests per run: {tests}; `requests` counts recorded API requests (control API and preflight not counted)")
    print("  CPU s: user+sys of the run and its sandbox together\n")

    print("goals (ratios: harness best / bare MIXED best = headline; vs bare GET-only in brackets, reference):")
    print(f"  {'workers':>7}  {'wall < 60 s':<18}  {'req/s whole run >= 50%':<24}  {'req/s in suites >= 50%'}")
    def ratio_cell(v: dict[str, Any], way: str) -> str:
        headline, reference = v[f"ratio_{way}_vs_mixed"], v[f"ratio_{way}_vs_get"]
        return f"{100 * headline:.0f}% ({100 * reference:.0f}%) {_verdict(headline >= RATIO_GOAL)}"

    for workers, v in verdicts.items():
        wall = f"{v['wall_s']:.1f} s {_verdict(v['wall_met'])}"
        print(f"  {workers:>7}  {wall:<18}  {ratio_cell(v, 'whole'):<24}  {ratio_cell(v, 'suites')}")
    if results.skipped_rounds:
        print(f"note: {results.skipped_rounds} round(s) skipped to stay within the time budget")
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "profile": PROFILE,
        "rounds": args.rounds,
        "bare_seconds": args.bare_seconds,
        "bare": {
            kind: {"best_per_s": bare_rates[kind][0], "median_per_s": bare_rates[kind][1],
                   "rounds": [{**asdict(m), "per_s": m.per_s} for m in rounds]}
            for kind, rounds in results.bare.items()
        },
        "harness": {
            str(workers): [{**asdict(h), "per_s_wall": h.per_s_wall, "per_s_suites": h.per_s_suites} for h in rounds]
            for workers, rounds in results.harness.items()
        },
        "goals": verdicts,
        "skipped_rounds": results.skipped_rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=2,
        help="harness runs per worker count, interleaved with the bare loops (default 2)",
    )
    parser.add_argument(
        "--bare-seconds", type=float, default=3.0, help="length of one bare loop measurement (default 3)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 5) or not (0.5 <= args.bare_seconds <= 10):
        parser.error("--rounds must be 1-5, --bare-seconds 0.5-10")
    # the sandboxes (ours and the harness's) would read these; the benchmark measures the defaults
    for name in [n for n in os.environ if n.startswith("FIELDPROOF_SANDBOX_") or n == "FIELDPROOF_SEED"]:
        print(f"ignoring {name} for the benchmark", file=sys.stderr)
        del os.environ[name]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fieldproof-harness-speed-") as tmp:
        try:
            results = measure(args, Path(tmp), started)
        except BenchmarkInvalid as exc:
            print(f"benchmark invalid: {exc}", file=sys.stderr)
            return 1
    numbers = report(results, args)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
