"""How often one default `fieldproof run` catches the sandbox's check-then-act races, as a
function of the race window (the time between the server's decision and its unconditional write).

    python bench/race_window.py [--runs 20] [--windows 0.5,1,2,5] [--profile default]
                                [--faults check_then_act_race,pause_check_then_act] [--json PATH]

Each run is a real `fieldproof run --fail-fast` against `fieldproof sandbox --fault F
--race-window-ms W`, for each timing-bound fault F: every write racy (check_then_act_race), or
pause only, with resume locked (pause_check_then_act). Goal: at least 99 % of default runs catch
each at 1 ms. Bounded: --runs per window and fault, each run capped at 300 s. Prints rates,
never asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from fieldproof.report.summary import VIOLATION, load_summary

GOAL_WINDOW_MS, GOAL_RATE = 1.0, 0.99


RACE_FAULTS = ("check_then_act_race", "pause_check_then_act")


def one_run(fault: str, window_ms: float, profile: str, reports: Path) -> tuple[bool, float, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_SANDBOX_")}
    env.update({"FIELDPROOF_SANDBOX_FAULT": fault, "FIELDPROOF_SANDBOX_RACE_WINDOW_MS": str(window_ms)})
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "fieldproof", "run", "--profile", profile, "--fail-fast", "--reports", str(reports)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    seconds = time.monotonic() - started
    summary = load_summary(reports / "summary.json")
    return summary.verdict == VIOLATION, seconds, [rule.name for rule in summary.rules if rule.failing]


def wilson_low(hits: int, n: int, z: float = 1.96) -> float:
    """Lower end of the 95 % Wilson interval: what the rate is at least, given n runs."""
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per window (default 20)")
    parser.add_argument("--windows", default="0.5,1,2,5", help="race windows in ms")
    parser.add_argument("--profile", default="default", choices=["quick", "default", "thorough"])
    parser.add_argument("--faults", default=",".join(RACE_FAULTS), help="the timing-bound fault modes to try")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    windows = [float(w) for w in args.windows.split(",")]
    faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in faults if f not in RACE_FAULTS]
    if unknown:
        parser.error(f"--faults: {unknown[0]!r} is no timing-bound fault mode; choose from {', '.join(RACE_FAULTS)}")
    results: dict[str, dict[float, dict]] = {}
    print(f"{args.runs} `fieldproof run --profile {args.profile} --fail-fast` per window and fault, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as temp:
        for fault in faults:
            results[fault] = {}
            for window in windows:
                hits, times, by = 0, [], Counter()
                for n in range(args.runs):
                    caught, seconds, rules = one_run(fault, window, args.profile, Path(temp) / f"{fault}-w{window}-{n}")
                    hits += caught
                    times.append(seconds)
                    by.update(rules)
                r = results[fault][window] = {
                    "runs": args.runs, "caught": hits, "rate": hits / args.runs, "rate_low_95": wilson_low(hits, args.runs),
                    "median_run_s": sorted(times)[len(times) // 2], "rules": dict(by),
                }
                print(f"{fault} window {window:>4} ms: caught {hits}/{args.runs} ({r['rate']:.0%}, at least "
                      f"{r['rate_low_95']:.0%} at 95 %), median run {r['median_run_s']:.1f} s, by {dict(by.most_common(3))}",
                      flush=True)
    for fault, by_window in results.items():
        goal = by_window.get(GOAL_WINDOW_MS)
        if goal:
            state = "met" if goal["rate"] >= GOAL_RATE else "below"
            print(f"goal for {fault}: >= {GOAL_RATE:.0%} of default runs catch the race at {GOAL_WINDOW_MS} ms: "
                  f"{goal['rate']:.0%} ({state}; {args.runs} runs can only show a rate of at least "
                  f"{goal['rate_low_95']:.0%} with 95 % confidence)")
    if args.json:
        Path(args.json).write_text(json.dumps({f: {str(k): v for k, v in w.items()} for f, w in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
