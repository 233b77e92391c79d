"""Swarm scale: judged exchanges per second with 1 and 2 Locust worker processes, next to a
plain Locust HttpUser sending the same mix of requests unjudged, in one run.

    python bench/swarm_scale.py [--users 20] [--seconds 15] [--json out.json]

One sandbox (`fieldproof sandbox --workers 2`, a target file written for its seeded runs) serves
every measurement, in this order: plain x1, swarm x1, plain x2, swarm x2 (x = worker processes).

* swarm  `python -m fieldproof swarm --target FILE --processes P` (every exchange judged by the
         rules, recorded for the history, shown in Locust's statistics; race rounds running);
         judged exchanges/s = the requests its report counts / the load's duration.
* plain  `locust -f bench/plain_locustfile.py --processes P --headless` (HttpUser, the same
         GET 2 : resume 1 : pause 1 mix on the same runs, nothing judged); requests/s from its
         --csv statistics.

Goals (from the issue), printed with "met" or "below": the swarm at least 50 % of the plain
rate (with 1 and with 2 processes), and 2 processes at least 1.6 x one. It is a benchmark, not
a test: exit 0 after printing, 1 only if a measurement failed (a non-zero exit of a child). A
2-core machine runs the sandbox and the load generators on the same cores: the numbers say
what this machine allows, not what the swarm could do elsewhere. Loopback only; every child
has a timeout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import env_file  # noqa: E402

from fieldproof.sandbox.process import sandbox_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def swarm_rate(target: Path, env: dict[str, str], processes: int, users: int, seconds: int, work: Path) -> float:
    reports = work / f"swarm-{processes}"
    result = subprocess.run([sys.executable, "-m", "fieldproof", "swarm", "--target", str(target), "--processes", str(processes),
                             "--users", str(users), "--spawn-rate", str(users), "--duration", f"{seconds}s",
                             "--reports", str(reports)], env={**os.environ, **env, "FIELDPROOF_STATE_DIR": str(work / "state")},
                            capture_output=True, text=True, timeout=seconds + 300)
    if result.returncode not in (0,):
        raise SystemExit(f"swarm x{processes} exited {result.returncode}: {result.stdout[-1500:]}")
    swarm = json.loads((reports / "summary.json").read_text())["swarm"]
    return sum(entry["requests"] for entry in swarm["latency"]) / seconds


def plain_rate(target: Path, env: dict[str, str], processes: int, users: int, seconds: int, work: Path) -> float:
    prefix = work / f"plain-{processes}"
    result = subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "plain_locustfile.py"), "--headless",
                             "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--processes", str(processes),
                             "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
                            env={**os.environ, **env, "FIELDPROOF_BENCH_TARGET": str(target)}, capture_output=True, text=True,
                            timeout=seconds + 120)
    if result.returncode != 0:
        raise SystemExit(f"plain x{processes} exited {result.returncode}: {result.stderr[-1500:]}")
    with open(f"{prefix}_stats.csv") as rows:
        total = next(row for row in csv.DictReader(rows) if row["Name"] == "Aggregated")
    return int(total["Request Count"]) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarm-scale-") as tmp:
        work = Path(tmp)
        target = work / "target.toml"
        with sandbox_process(["--control", "--workers", "2", "--write-target", str(target)]):
            env = env_file(target)
            # a budget no measurement reaches: the load is bounded by --seconds instead
            target.write_text(target.read_text().replace("token_env =", "max_requests = 10000000\ntoken_env =", 1))
            rates = {}
            for processes in (1, 2):
                rates[f"plain x{processes}"] = plain_rate(target, env, processes, args.users, args.seconds, work)
                rates[f"swarm x{processes}"] = swarm_rate(target, env, processes, args.users, args.seconds, work)
    for name, rate in rates.items():
        print(f"{name:<10} {rate:8.1f} requests/s")
    judged = {p: rates[f"swarm x{p}"] / rates[f"plain x{p}"] for p in (1, 2)}
    scale = rates["swarm x2"] / rates["swarm x1"]
    for p in (1, 2):
        print(f"judged vs plain, {p} process{'es' if p > 1 else ''}: {judged[p]:.0%} (goal >= 50 %: {'met' if judged[p] >= 0.5 else 'below'})")
    print(f"swarm, 2 processes vs 1: {scale:.2f}x (goal >= 1.6x: {'met' if scale >= 1.6 else 'below'})")
    print(f"plain, 2 processes vs 1: {rates['plain x2'] / rates['plain x1']:.2f}x (the same machine's ceiling, for comparison)")
    print(f"(this machine: {os.cpu_count()} CPUs, shared by the sandbox and the load)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rates": rates, "judged_vs_plain": judged, "two_vs_one": scale}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
