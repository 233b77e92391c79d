"""The default session's cost before and after a change: `fieldproof run` (the built-in sandbox,
the default profile) from this working tree and from another revision, interleaved in one run.

    python bench/default_session.py --against 7b10735 [--rounds 3] [--extra "--resources all"]

The other revision is checked out into a temporary git worktree and run with this venv's Python
(its own package on PYTHONPATH): the same interpreter and libraries, only the code differs.
Rounds alternate (old, new, new, old, ...), so a machine that gets busier slows both alike. Prints
per side the wall times, the requests sent and the verdict, and the ratio new/old of the medians.
`--extra` adds options to the new side only (say, to price the opt-in resources).

A benchmark, not a test: exit 0 after printing whatever the times; exit 1 when a run did not end
in PASS (exit 0) or timed out (the numbers would mean nothing). Bounded: each run at most
--timeout seconds, at most --rounds rounds per side.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code_root: Path, reports: Path, extra: list[str], timeout: float) -> tuple[float, int, int]:
    """(wall seconds, exit code, requests) of one default session run from `code_root`."""
    env = {**os.environ, "PYTHONPATH": str(code_root), "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fieldproof", "run", "--reports", str(reports), *extra],
                          cwd=code_root, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    summary = reports / "summary.json"
    requests = json.loads(summary.read_text()).get("requests", -1) if summary.exists() else -1
    if done.returncode != 0:
        print(f"{code_root}: exit {done.returncode}\n" + "\n".join(done.stdout.splitlines()[-20:]), file=sys.stderr)
    return wall, done.returncode, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="the revision to compare with (say, the commit before a change)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--extra", default="", help="options for the new side only")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, int, int]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="fp-bench-") as tmp:
        old_root = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_root), args.against],
                       check=True, capture_output=True)
        try:
            order = [("old", "new"), ("new", "old")]
            for round_no in range(args.rounds):
                for side in order[round_no % 2]:
                    root = old_root if side == "old" else ROOT
                    extra = shlex.split(args.extra) if side == "new" else []
                    reports = Path(tmp) / f"{side}-{round_no}"
                    try:
                        results[side].append(_run(root, reports, extra, args.timeout))
                    except subprocess.TimeoutExpired:
                        print(f"{side}: a run took over {args.timeout:g} s", file=sys.stderr)
                        return 1
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_root)], capture_output=True)
    for side, runs in results.items():
        walls = ", ".join(f"{wall:.1f}" for wall, _, _ in runs)
        print(f"{side:>3}: wall s [{walls}], median {statistics.median(w for w, _, _ in runs):.1f}; "
              f"requests {[r for _, _, r in runs]}; exits {[c for _, c, _ in runs]}")
    ratio = statistics.median(w for w, _, _ in results["new"]) / statistics.median(w for w, _, _ in results["old"])
    print(f"new/old wall (medians): {ratio:.2f}" + (f"  (new side with {args.extra})" if args.extra else ""))
    return 0 if all(code == 0 for runs in results.values() for _, code, _ in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
