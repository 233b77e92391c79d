"""How often one default `fieldproof run` catches the sandbox's check-then-act race, as a
function of the race window (the time between the server's decision and its unconditional write).

    python bench/race_window.py [--runs 20] [--windows 0.5,1,2,5] [--profile default] [--json PATH]

Each run is a real `fieldproof run --fail-fast` against `fieldproof sandbox --fault
check_then_act_race --race-window-ms W`. Goal: at least 99 % of default runs catch it at 1 ms.
Bounded: --runs per window, each run capped at 300 s. Prints rates, never asserts.
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


def one_run(window_ms: float, profile: str, reports: Path) -> tuple[bool, float, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_SANDBOX_")}
    env.update({"FIELDPROOF_SANDBOX_FAULT": "check_then_act_race", "FIELDPROOF_SANDBOX_RACE_WINDOW_MS": str(window_ms)})
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "fieldproof", "run", "--profile", profile, "--fail-fast", "--reports", str(reports)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.monotonic() - started
    summary = load_summary(reports / "summary.json")
    return summary.verdict == VIOLATION, seconds, [rule.name for rule in summary.rules if rule.violations]


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
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    windows = [float(w) for w in args.windows.split(",")]
    results: dict[float, dict] = {}
    print(f"{args.runs} `fieldproof run --profile {args.profile} --fail-fast` per window, 2 CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as temp:
        for window in windows:
            hits, times, by = 0, [], Counter()
            for n in range(args.runs):
                caught, seconds, rules = one_run(window, args.profile, Path(temp) / f"w{window}-{n}")
                hits += caught
                times.append(seconds)
                by.update(rules)
            results[window] = {"runs": args.runs, "caught": hits, "rate": hits / args.runs,
                               "rate_low_95": wilson_low(hits, args.runs), "median_run_s": sorted(times)[len(times) // 2],
                               "rules": dict(by)}  # fmt: skip
            r = results[window]
            print(f"window {window:>4} ms: caught {hits}/{args.runs} ({r['rate']:.0%}, at least {r['rate_low_95']:.0%} "
                  f"at 95 %), median run {r['median_run_s']:.1f} s, by {dict(by.most_common(3))}", flush=True)  # fmt: skip
    goal = results.get(GOAL_WINDOW_MS)
    if goal:
        state = "met" if goal["rate"] >= GOAL_RATE else "below"
        print(f"goal: >= {GOAL_RATE:.0%} of default runs catch the race at {GOAL_WINDOW_MS} ms: {goal['rate']:.0%} "
              f"({state}; {args.runs} runs can only show a rate of at least {goal['rate_low_95']:.0%} with 95 % confidence)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
