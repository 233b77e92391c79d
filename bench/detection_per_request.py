"""What a verdict costs in requests: the detection curve of `fieldproof run` on a rate-limited
target file, per request budget and profile, measured in one run.

    python bench/detection_per_request.py [--profiles default] [--caps 100,200,300,500,default]
        [--modes all] [--burst 100] [--rate 50] [--jobs 2] [--json PATH]

For each profile and each cap (`max_requests` in the target file; `default` leaves the target
file's own), every fault mode of `fieldproof sandbox --fault list` and every clean target (the
sandbox as it is, and with every open question answered the second and the third way) is a
fresh `fieldproof sandbox --control --write-target` with a token-bucket rate limit (--burst,
--rate per second), and one `fieldproof run --target` against it. Prints per cap: the mutation
score (fault modes whose run exits 1), the false alarms (clean targets whose run does not exit
0; an exit 2 there, a rule never exercised, is counted apart), the requests and 429s, the wall
time and the rate limit's floor for the requests sent: (requests - burst) / rate.

Then, alone on the machine (the matrix runs --jobs at once), the default profile's clean run:
its wall time against that floor. Goals: with max_requests = 300, every fault mode found and
no false alarm; the default profile on a 50/s target within 10 % of the floor and under 20 s.
Bounded: each run at most 300 s. Prints ratios, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from fieldproof.report.summary import load_summary
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.sandbox.process import sandbox_process
from fieldproof.selfcheck import FAULT_NEEDS, answers

RUN_TIMEOUT_S = 300
# what a target file cannot show: the expired token only the built-in sandbox mints
NOT_ON_A_TARGET_FILE = {
    "expired_token_served": "needs an expired token, which only the built-in sandbox mints",
    "complete_no_version_bump": "needs a complete, which is never sent to a target file's runs (it cannot be undone)",
    "lock_per_operation": "needs a complete raced beside a pause (two writes that both change a live run), and complete "
                          "is never sent to a target file's runs",
}
GOAL_CAP, GOAL_FLOOR_RATIO, GOAL_WALL_S = 300, 1.10, 20.0


def _flags(env: dict[str, str]) -> list[str]:
    """FIELDPROOF_SANDBOX_X_Y=v settings as `--x-y v` flags (each child gets its own)."""
    return [part for key, value in env.items()
            for part in ("--" + key.removeprefix("FIELDPROOF_SANDBOX_").lower().replace("_", "-"), value)]


def targets(modes: list[str]) -> dict[str, tuple[str, list[str]]]:
    """name: (clean | fault, the sandbox's flags)"""
    chosen: dict[str, tuple[str, list[str]]] = {
        "clean": ("clean", []),
        "clean+second-answers": ("clean", _flags(answers(1))),
        "clean+third-answers": ("clean", _flags(answers(2))),
    }
    for mode in modes:
        needs = {k: v for k, v in FAULT_NEEDS.get(mode, {}).items() if "RATE_LIMIT" not in k}
        chosen[mode] = ("fault", ["--fault", mode, *_flags(needs)])
    return chosen


@dataclass
class Run:
    target: str
    expected: str
    profile: str
    cap: str
    exit_code: int
    requests: int
    rate_limited: int  # 429s seen
    wall_s: float
    floor_s: float
    rules: list[str]

    @property
    def caught(self) -> bool:
        return self.exit_code == 1


def one_run(name: str, expected: str, flags: list[str], profile: str, cap: str, burst: int, rate: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="fp-detect-") as tmp_dir:
        tmp = Path(tmp_dir)
        target = tmp / "target.toml"
        limit = ["--rate-limit-burst", str(burst), "--rate-limit-refill", str(rate)]
        with sandbox_process(["--control", "--write-target", str(target), *limit, *flags]):
            text = re.sub(r"(?m)^max_requests.*\n", "", target.read_text())
            if cap != "default":
                text = text.replace("token_env =", f"max_requests = {cap}\ntoken_env =", 1)
            target.write_text(text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
            env.update(line.split("=", 1) for line in Path(str(target) + ".env").read_text().split())
            env["FIELDPROOF_STATE_DIR"] = str(tmp / "state")
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "fieldproof", "run", "--target", str(target), "--profile", profile,
                 "--quiet", "--reports", str(tmp / "reports")],
                env=env, cwd=tmp, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            )
            wall = time.monotonic() - started
        try:
            summary = load_summary(tmp / "reports" / "summary.json")
        except (OSError, ValueError, KeyError):
            return Run(name, expected, profile, cap, done.returncode, 0, 0, wall, 0.0, [])
        limited = sum(cell.observed for cell in summary.coverage if cell.status == 429)
        floor = max(0, summary.requests - burst) / rate
        rules = [rule.name for rule in summary.rules if rule.failing]
        return Run(name, expected, profile, cap, done.returncode, summary.requests, limited, wall, floor, rules)


def _cap_line(cap: str, runs: list[Run]) -> str:
    faults = [r for r in runs if r.expected == "fault"]
    clean = [r for r in runs if r.expected == "clean"]
    found = sum(r.caught for r in faults)
    alarms = sum(r.exit_code not in (0, 2) for r in clean)
    unexercised = sum(r.exit_code == 2 for r in clean)
    requests = statistics.mean(r.requests for r in runs)
    walls = [r.wall_s for r in runs]
    return (f"{cap:>8}  {found:>3}/{len(faults):<3} {100 * found / max(1, len(faults)):5.1f} %  "
            f"{alarms:>2}/{len(clean):<2} {unexercised:>6}  {requests:8.0f}  {statistics.mean(r.rate_limited for r in runs):6.1f}  "
            f"{statistics.median(walls):7.1f}  {statistics.mean(r.floor_s for r in runs):7.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="default", help="comma-separated: quick, default, thorough")
    parser.add_argument("--caps", default="100,200,300,500,default", help="max_requests values; default: the target file's")
    parser.add_argument("--modes", default="all", help="comma-separated fault modes (default: all)")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second the limit refills")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once in the matrix")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    modes = list(FAULT_MODES) if args.modes == "all" else args.modes.split(",")
    for mode in [m for m in modes if m in NOT_ON_A_TARGET_FILE]:
        print(f"left out: {mode}: {NOT_ON_A_TARGET_FILE[mode]} (fieldproof selfcheck covers it)")
        modes.remove(mode)
    chosen = targets(modes)
    caps = args.caps.split(",")
    runs: list[Run] = []
    began = time.monotonic()
    print(f"rate limit: burst {args.burst}, {args.rate:g}/s; {len(modes)} fault modes, {len(chosen) - len(modes)} clean targets")
    for profile in args.profiles.split(","):
        jobs = [(name, kind, flags, profile, cap) for cap in caps for name, (kind, flags) in chosen.items()]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            batch = list(pool.map(lambda job: one_run(*job, args.burst, args.rate), jobs))
        runs += batch
        print(f"\nprofile {profile}")
        print("     cap  found       score  alarms exit-2  requests    429s  wall s  floor s")
        for cap in caps:
            at_cap = [r for r in batch if r.cap == cap]
            print(_cap_line(cap, at_cap))
            missed = [r.target for r in at_cap if r.expected == "fault" and not r.caught]
            alarms = [f"{r.target} (exit {r.exit_code}: {', '.join(r.rules) or 'no rule'})"
                      for r in at_cap if r.expected == "clean" and r.exit_code != 0]
            if missed:
                print(f"          missed: {', '.join(missed)}")
            if alarms:
                print(f"          clean targets not passing: {'; '.join(alarms)}")
    alone = one_run("clean", "clean", [], "default", "default", args.burst, args.rate)
    at_goal = [r for r in runs if r.cap == str(GOAL_CAP)]
    print(f"\ndefault profile alone, clean: {alone.requests} requests, {alone.rate_limited} 429s, wall {alone.wall_s:.1f} s, "
          f"floor {alone.floor_s:.1f} s: wall/floor {alone.wall_s / max(alone.floor_s, 1e-9):.2f} "
          f"(goal <= {GOAL_FLOOR_RATIO:.2f}, wall < {GOAL_WALL_S:g} s)")
    if at_goal:
        found = sum(r.caught for r in at_goal if r.expected == "fault")
        faults = sum(r.expected == "fault" for r in at_goal)
        alarms = sum(r.exit_code != 0 for r in at_goal if r.expected == "clean")
        print(f"max_requests = {GOAL_CAP}: {found}/{faults} fault modes found, {alarms} clean targets not passing "
              f"(goal: all found, none)")
    print(f"bench wall time {time.monotonic() - began:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": [asdict(r) for r in runs], "alone": asdict(alone)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
