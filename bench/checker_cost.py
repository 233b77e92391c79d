"""Linearizability checker cost: time and peak memory of `analyse()` per history size, and the curve.

Run it from the repository root with the project's venv active:

    python bench/checker_cost.py
    python bench/checker_cost.py --sizes 10000,100000,1000000 --clients 64 --repeats 1
    python bench/checker_cost.py --against HEAD~3 --json out.json

`--against REV` also times the checker of another revision (fieldproof/linearizability.py, or the
fieldproof/linearizability/ package, as of REV, loaded as a module of its own on today's model) on
the same histories in the same run, interleaved with the working tree's (new, old, then old, new,
...: a busy machine slows both alike), and prints both and the ratio new/old per size and variant.
Both must agree on the verdict and the counterexample (else exit 1, as for a wrong verdict). Sizes
above `--before-max` are timed with the working tree only (an old checker may take minutes there).
`--clock cpu` times with the CPU time of this process instead of the wall clock: less noise from
other processes there.

Bounded whatever happens: every measurement repeats at most --repeats times and no repeat starts
once the size's time share is spent, no measurement starts after --budget seconds; `analyse()`
itself gives up after `max_states` configurations (an inconclusive result is printed, never a
hang).

The histories come from a simulated correct server and --clients concurrent clients (an event
simulation, one seed, deterministic): each client loops GET / pause / resume with the ETag it saw
last (so many writes race and lose with 412), a request takes effect at a random moment inside its
[call, return] interval (0.5-3 ms each way), 2 % of the answers are 429, 0.5 % of the requests time
out (no answer; the server acted on half of them). Two variants per size:

* correct    the history as recorded: linearizable (the checker must say so);
* violation  the same plus a lost update at the end: two overlapping writes with the final tag,
             both answered 204. `analyse()` then also searches the small counterexample
             (shortest failing prefix, latest start, greedy dropping), which is part of the cost.

--timeouts PERCENT changes the share of requests without an answer (the hard part for the
checker: each may or may not have taken effect, and after one did the model no longer knows
the tag, so proving a wrong history wrong tries many more orders).

Printed per size and variant: entries, result, best and median time of analyse() over the
repeats, configurations explored, searches run, peak memory allocated during one analyse()
(tracemalloc, measured in a separate run: tracing slows Python down; skipped with --no-memory), and
the growth from the size before: the empirical exponent log(t2/t1) / log(n2/n1) (1 = linear,
2 = quadratic).

Goal: 1,000,000 entries from 64 clients analysed in at most 10 s, conclusive both ways; printed
with "met" or "missed". It is a benchmark, not a test: it never judges timings by its exit code.
Exit 0 after printing; exit 1 if a result is wrong (a correct history found not linearizable, a
violation found linearizable): the numbers are then not valid.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldproof import linearizability  # noqa: E402
from fieldproof.contract import TRANSITIONS  # noqa: E402
from fieldproof.linearizability import DEFAULT_MAX_STATES, Entry, analyse  # noqa: E402
from fieldproof.model import Observation, RunState  # noqa: E402

SIZES = (100, 1_000, 10_000)
CLIENTS = 64
BEFORE_MAX = 100_000  # --against: larger sizes are timed with the working tree only
GOAL_OPS = 1_000_000
GOAL_S = 10.0
SIZE_BUDGET_S = 20.0  # no new repeat of one size/variant starts after this much time in it
SCRIPT_BUDGET_S = 240.0  # default --budget: no new measurement starts after this
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
P_429 = 0.02
P_TIMEOUT = 0.005


class BenchmarkInvalid(RuntimeError):
    """A wrong verdict: the numbers cannot be trusted."""


# --------------------------------------------------------------------------------------------
# a simulated correct server and its concurrent clients


class Server:
    """One fielding run as a correct server keeps it: status, version (the ETag), the resume gate."""

    def __init__(self) -> None:
        self.status = "paused"
        self.version = 1
        self.resumable = True

    @property
    def tag(self) -> str:
        return f'W/"{self.version}"'

    def state(self) -> RunState:
        return RunState(self.status, self.tag, self.resumable)

    def answer(
        self, operation: str, if_match: str | None, throttle: bool = False
    ) -> tuple[int, str | None, str | None]:
        """(status, ETag, body status) for one request, applied now (`throttle`: answer 429)."""
        if throttle:
            return 429, None, None
        if operation == "get":
            return 200, self.tag, self.status
        if if_match != self.tag:
            return 412, None, None
        sources, target = TRANSITIONS[operation].sources, TRANSITIONS[operation].to
        if self.status not in sources or (operation == "resume" and not self.resumable):
            return 422, None, None
        self.status = target
        self.version += 1
        return 204, self.tag, None


@dataclass
class _Client:
    name: str
    tag: str | None = None
    status: str | None = None


def simulate(
    n_ops: int, seed: int, clients: int = CLIENTS, p_timeout: float = P_TIMEOUT
) -> tuple[list[Entry], RunState, Server]:
    """A history of `n_ops` requests by `clients` concurrent clients against one correct server."""
    rng = random.Random(seed)
    server = Server()
    initial = server.state()
    people = [_Client(f"c{k}") for k in range(clients)]
    queue: list[tuple[float, int, str, int, Any]] = []
    seq = 0

    def push(t: float, kind: str, who: int, payload: Any = None) -> None:
        nonlocal seq
        heapq.heappush(queue, (t, seq, kind, who, payload))
        seq += 1

    for k in range(clients):
        push(1000.0 + rng.uniform(0, 0.002), "send", k)
    sent = 0
    history: list[Entry] = []
    while queue:
        t, _, kind, who, payload = heapq.heappop(queue)
        me = people[who]
        if kind == "send":
            if sent >= n_ops:
                continue
            sent += 1
            if me.tag is None or rng.random() < 0.45:
                operation, if_match = "get", None
            else:
                operation = {"live": "pause", "paused": "resume"}.get(me.status or "", "resume")
                if rng.random() < 0.05:
                    operation = rng.choice(("pause", "resume"))
                if_match = me.tag
            push(t + rng.uniform(0.0005, 0.003), "apply", who, (t, operation, if_match))
        elif kind == "apply":
            call, operation, if_match = payload
            if rng.random() < p_timeout:  # no answer: the server acted, or not
                if operation != "get" and rng.random() < 0.5:
                    server.answer(operation, if_match)
                history.append(Entry(me.name, call, None, Observation(operation, if_match, None)))
                push(t + 0.01, "send", who)
                continue
            status, etag, run_status = server.answer(operation, if_match, throttle=rng.random() < P_429)
            push(t + rng.uniform(0.0005, 0.003), "return", who, (call, operation, if_match, status, etag, run_status))
        else:
            call, operation, if_match, status, etag, run_status = payload
            history.append(Entry(me.name, call, t, Observation(operation, if_match, status, etag, run_status)))
            if status == 200:
                me.tag, me.status = etag, run_status
            elif status == 204:
                me.tag, me.status = etag, TRANSITIONS[operation].to
            push(t + rng.uniform(0, 0.002), "send", who)
    return history, initial, server


def with_lost_update(history: list[Entry], server: Server) -> list[Entry]:
    """The history plus two overlapping writes, after everything, with the final tag, both answered
    204: one update was lost (impossible even if a write without an answer left the tag unknown)."""
    last = max(op.ret for op in history if op.ret is not None)
    operation = "pause" if server.status == "live" else "resume"
    bad = [
        Entry(
            f"c{k}", last + 0.001 * (k + 1), last + 0.004, Observation(operation, server.tag, 204, f'W/"lost{k}"')
        )
        for k in range(2)
    ]
    return [*history, *bad]


# --------------------------------------------------------------------------------------------
# measuring


@dataclass
class Measurement:
    size: int
    variant: str
    operations: int
    verdict: str
    times_s: list[float]
    explored: int
    checks: int
    counterexample: int | None
    peak_mib: float | None = None
    baseline: Measurement | None = None  # --against: the other revision's, on the same history

    @property
    def best_s(self) -> float:
        return min(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)


@dataclass(frozen=True)
class Checker:
    """One revision's `check()`, and how it takes a history (its own `Entry` class)."""

    label: str
    module: types.ModuleType

    def history(self, history: list[Entry]) -> list[Any]:
        if self.module is linearizability:
            return history
        make = getattr(self.module, "Entry", None) or self.module.Operation
        return [make(op.client, op.call, op.ret, op.observation) for op in history]

    @property
    def analyse(self) -> Callable[..., Any]:
        return getattr(self.module, "analyse", None) or self.module.check  # type: ignore[no-any-return]


NEW = Checker("working tree", linearizability)


def load_revision(rev: str) -> Checker:
    """The checker as of `rev` (fieldproof/linearizability.py, or the package
    fieldproof/linearizability/), as a module of its own (on today's model)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    sha = git("rev-parse", "--short", rev).strip()
    name = f"_linearizability_at_{sha}"
    listed = git("ls-tree", "--name-only", sha, "fieldproof/linearizability.py", "fieldproof/linearizability/").split()
    if "fieldproof/linearizability.py" in listed:
        return Checker(sha, _load(name, f"git show {sha}:fieldproof/linearizability.py",
                                  git("show", f"{sha}:fieldproof/linearizability.py")))
    package = types.ModuleType(name)
    package.__path__ = []
    sys.modules[name] = package
    sources = {
        path.rsplit("/", 1)[1].removesuffix(".py"): git("show", f"{sha}:{path}").replace("fieldproof.linearizability", name)
        for path in listed
        if path.endswith(".py")
    }
    pending = [m for m in sources if m != "__init__"]
    while pending:  # each after the modules it imports: retried until none is left
        failed = []
        for module in pending:
            try:
                setattr(package, module, _load(f"{name}.{module}", f"git show {sha} ({module})", sources[module]))
            except ImportError:
                sys.modules.pop(f"{name}.{module}", None)
                failed.append(module)
        if len(failed) == len(pending):
            raise ImportError(f"cannot load the checker of {sha}: {failed}")
        pending = failed
    exec(compile(sources["__init__"], f"git show {sha} (__init__)", "exec"), package.__dict__)  # noqa: S102 - our own file
    return Checker(sha, package)


def _load(name: str, origin: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"<{origin}>"
    sys.modules[name] = module  # dataclasses look their module up there
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own file, from git
    return module


def _label(ok: bool | None) -> str:
    return {True: "linearizable", False: "not linearizable", None: "inconclusive"}[ok]


def _summary(verdict: Any) -> tuple[Any, ...]:
    """What two checkers must agree on: the verdict and the counterexample's operations."""
    ce = verdict.counterexample
    return verdict.ok, None if ce is None else [(op.client, op.call, op.ret, op.observation) for op in ce]


def measure(
    size: int, variant: str, seed: int, repeats: int, deadline: float, p_timeout: float, against: Checker | None = None,
    clock: Callable[[], float] = time.perf_counter, clients: int = CLIENTS, memory: bool = True,
) -> Measurement:
    history, initial, server = simulate(size, seed, clients=clients, p_timeout=p_timeout)
    if variant == "violation":
        history = with_lost_update(history, server)
    checkers = [NEW] if against is None else [NEW, against]
    inputs = {c.label: c.history(history) for c in checkers}
    times: dict[str, list[float]] = {c.label: [] for c in checkers}
    verdicts: dict[str, Any] = {}
    started = time.monotonic()
    for r in range(repeats):
        for c in checkers if r % 2 == 0 else checkers[::-1]:  # interleaved: new, old, old, new, ...
            gc.collect()
            t0 = clock()
            verdicts[c.label] = c.analyse(inputs[c.label], initial)
            times[c.label].append(clock() - t0)
        now = time.monotonic()
        if now - started > SIZE_BUDGET_S / 2 or now > deadline:
            break
    verdict = verdicts[NEW.label]
    wrong = verdict.ok is (variant != "correct")
    if wrong:  # inconclusive is a result (the checker gave up), not a wrong verdict
        raise BenchmarkInvalid(f"{variant} history of {size} operations: verdict {verdict.ok}\n" + verdict.explain())
    ce = len(verdict.counterexample) if verdict.counterexample is not None else None
    m = Measurement(size, variant, len(history), _label(verdict.ok), times[NEW.label], verdict.states_explored,
                    verdict.checks, ce)
    if against is not None:
        old = verdicts[against.label]
        if _summary(old) != _summary(verdict):
            raise BenchmarkInvalid(
                f"{variant} history of {size} operations: {against.label} says {_label(old.ok)} "
                f"(counterexample {_summary(old)[1]}), the working tree {m.verdict} ({_summary(verdict)[1]})"
            )
        old_ce = len(old.counterexample) if old.counterexample is not None else None
        m.baseline = Measurement(size, variant, len(history), _label(old.ok), times[against.label],
                                 old.states_explored, old.checks, old_ce)
    if memory and time.monotonic() < deadline:
        tracemalloc.start()
        analyse(history, initial)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        m.peak_mib = peak / 2**20
    return m


def _exponent(small: Measurement | None, big: Measurement) -> tuple[float, float] | None:
    """(time ratio, log(t2/t1) / log(n2/n1)) from the size before, or None."""
    if small is None or small.best_s <= 0 or big.operations <= small.operations:
        return None
    ratio = big.best_s / small.best_s
    return ratio, math.log(ratio) / math.log(big.operations / small.operations)


def report(results: list[Measurement], args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), {os.cpu_count()} CPUs; "
        f"{args.clients} simulated clients, seed {args.seed}, {args.timeouts:g} % timeouts, "
        f"max_states {DEFAULT_MAX_STATES:,}, "
        f"up to {args.repeats} repeats per measurement, {args.clock} clock\n"
    )
    print(f"  {'variant':<10}{'entries':>9}{'result':>18}{'best ms':>10}{'median ms':>10}{'reps':>5}"
          f"{'states':>10}{'searches':>9}{'c.ex.':>6}{'peak MiB':>9}{'x time':>8}{'exponent':>9}")
    rows: list[dict[str, Any]] = []
    by_variant: dict[str, Measurement] = {}
    for m in results:
        growth = _exponent(by_variant.get(m.variant), m)
        by_variant[m.variant] = m
        peak = "-" if m.peak_mib is None else f"{m.peak_mib:.2f}"
        ratio, exponent = ("-", "-") if growth is None else (f"{growth[0]:.1f}", f"{growth[1]:.2f}")
        ce = "-" if m.counterexample is None else str(m.counterexample)
        print(
            f"  {m.variant:<10}{m.operations:>9}{m.verdict:>18}{1000 * m.best_s:>10.1f}{1000 * m.median_s:>10.1f}"
            f"{len(m.times_s):>5}"
            f"{m.explored:>10}{m.checks:>9}{ce:>6}{peak:>9}{ratio:>8}{exponent:>9}"
        )
        rows.append({
            "size": m.size, "variant": m.variant, "operations": m.operations, "verdict": m.verdict,
            "best_s": m.best_s, "median_s": m.median_s, "times_s": m.times_s, "states_explored": m.explored,
            "searches": m.checks, "counterexample_ops": m.counterexample, "peak_mib": m.peak_mib,
            "time_ratio": None if growth is None else growth[0],
            "exponent": None if growth is None else growth[1],
        })
    print("  (states: configurations explored by all searches of one analyse(); searches: 1 + the re-checks of")
    print("   the counterexample search; c.ex.: entries in the counterexample; x time: the time over the size")
    print("   before's; exponent: log(t2/t1) / log(n2/n1) from the size before, 1.0 = linear, 2.0 = quadratic)\n")
    comparison = compare(results, args)
    goals: dict[str, Any] = {"ops": GOAL_OPS, "clients": CLIENTS, "goal_s": GOAL_S}
    for variant in ("correct", "violation"):
        m = next((m for m in results if m.size == GOAL_OPS and m.variant == variant), None)
        if m is None or args.clients != CLIENTS:
            print(f"goal ({variant}): {GOAL_OPS:,} entries from {CLIENTS} clients in at most {GOAL_S:.0f} s: not measured")
            continue
        met = m.best_s <= GOAL_S and m.verdict != "inconclusive"
        print(f"goal ({variant}): {GOAL_OPS:,} entries from {CLIENTS} clients in at most {GOAL_S:.0f} s, conclusive: "
              f"{m.best_s:.2f} s, {m.verdict}: {'met' if met else 'missed'}")
        goals[variant] = {"best_s": m.best_s, "result": m.verdict, "met": met}
    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "clients": args.clients,
        "seed": args.seed,
        "timeout_percent": args.timeouts,
        "max_states": DEFAULT_MAX_STATES,
        "clock": args.clock,
        "results": rows,
        "goal": goals,
        **({"against": comparison} if comparison else {}),
    }


def compare(results: list[Measurement], args: argparse.Namespace) -> dict[str, Any] | None:
    """--against: both revisions' times, and new/old (best of the repeats; median)."""
    pairs = [(m, m.baseline) for m in results if m.baseline is not None]
    if not pairs:
        return None
    label = args.against_label
    print(f"before/after in this run, interleaved: old = the checker of {label}, new = the working tree "
          f"(sizes above {args.before_max:,}: new only)")
    print(f"  {'variant':<10}{'entries':>9}{'reps':>5}{'old best ms':>13}{'new best ms':>13}{'new/old':>9}"
          f"{'old median':>12}{'new median':>12}{'new/old':>9}{'old states':>12}{'new states':>12}")
    rows = []
    for new, old in pairs:
        best, median = new.best_s / old.best_s, new.median_s / old.median_s
        print(f"  {new.variant:<10}{new.operations:>9}{len(new.times_s):>5}{1000 * old.best_s:>13.1f}"
              f"{1000 * new.best_s:>13.1f}{best:>9.3f}{1000 * old.median_s:>12.1f}{1000 * new.median_s:>12.1f}"
              f"{median:>9.3f}{old.explored:>12}{new.explored:>12}")
        rows.append({
            "size": new.size, "variant": new.variant, "operations": new.operations,
            "old_times_s": old.times_s, "new_times_s": new.times_s, "ratio_best": best, "ratio_median": median,
            "old_states_explored": old.explored, "new_states_explored": new.explored,
        })
    print("  (new/old < 1: the working tree is faster; the verdicts and counterexamples agree)\n")
    return {"revision": label, "results": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="analyse() runs per measurement (default 3, at most 30)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help=f"entries per history, comma-separated (default {','.join(map(str, SIZES))})")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"simulated concurrent clients (default {CLIENTS})")
    parser.add_argument("--before-max", type=int, default=BEFORE_MAX,
                        help=f"--against: larger sizes are timed with the working tree only (default {BEFORE_MAX:,})")
    parser.add_argument("--budget", type=float, default=SCRIPT_BUDGET_S,
                        help=f"seconds after which no measurement starts (default {SCRIPT_BUDGET_S:g})")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced run that measures peak memory")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed (default 7)")
    parser.add_argument("--timeouts", type=float, default=P_TIMEOUT * 100,
                        help=f"percent of requests without an answer (default {P_TIMEOUT * 100:g})")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    parser.add_argument("--against", metavar="REV",
                        help="also time the checker of this git revision, interleaved")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time of this process")
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 30:
        parser.error("--repeats must be 1-30")
    if not 0 <= args.timeouts <= 50:
        parser.error("--timeouts must be 0-50 (percent)")
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes {args.sizes}: expected whole numbers separated by commas, e.g. 10000,100000,1000000")
    if not sizes or sizes[0] < 1 or sizes[-1] > 10_000_000:
        parser.error("--sizes: each size must be 1-10,000,000")
    if not 1 <= args.clients <= 1000:
        parser.error("--clients must be 1-1000")

    against = None
    if args.against:
        try:
            against = load_revision(args.against)
        except subprocess.CalledProcessError as exc:
            parser.error(f"--against {args.against}: {exc.stderr.strip()}")
    args.against_label = against.label if against else None
    started = time.monotonic()
    deadline = started + args.budget
    results: list[Measurement] = []
    try:
        for variant in ("correct", "violation"):
            for size in sizes:
                if time.monotonic() > deadline:
                    print(f"  time budget: skipping {variant} {size}", file=sys.stderr)
                    continue
                baseline = against if size <= args.before_max else None
                m = measure(size, variant, args.seed, args.repeats, deadline, args.timeouts / 100, baseline, CLOCKS[args.clock],
                            args.clients, not args.no_memory)
                old = f" (old {m.baseline.best_s:.3f} s)" if m.baseline else ""
                print(f"  {variant} {size}: best {m.best_s:.3f} s{old}", file=sys.stderr, flush=True)
                results.append(m)
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
