"""`fieldproof selfcheck`: the harness's own detection power, measured.

The whole harness runs against the clean sandbox (plain, with latency and jitter, and with a
tight rate limit: no finding allowed there) and against the sandbox with each fault mode (at
least one finding required). The mutation score is the share of fault modes caught.
Every session is a `fieldproof run` child process, so each has its own sandbox and import state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from fieldproof.contract import OPEN_QUESTIONS
from fieldproof.errors import SelfcheckError
from fieldproof.report.summary import load_summary
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.sandbox.settings import ENV_PREFIX


def answers(pick: int) -> dict[str, str]:
    """Every open question answered by its choice number `pick` (or its last, if it has fewer)."""
    return {ENV_PREFIX + q.name.upper(): q.choices[min(pick, len(q.choices) - 1)] for q in OPEN_QUESTIONS.values()}


CLEAN_TARGETS: dict[str, dict[str, str]] = {
    "clean": {},
    "clean+latency": {"FIELDPROOF_SANDBOX_LATENCY_MS": "5", "FIELDPROOF_SANDBOX_JITTER_MS": "10"},
    "clean+rate-limit": {"FIELDPROOF_SANDBOX_RATE_LIMIT_BURST": "40", "FIELDPROOF_SANDBOX_RATE_LIMIT_REFILL": "150"},
    # a correct server may answer each open question otherwise: with these two, every answer
    # the contract allows is tried by some clean target
    "clean+second-answers": answers(1),
    "clean+third-answers": answers(2),
}
# settings a fault mode needs before it can show at all; the race gets a window no machine's
# load can hide from 8 racers (how small a window is still caught is bench/race_window.py's)
FAULT_NEEDS: dict[str, dict[str, str]] = {
    **{mode: CLEAN_TARGETS["clean+rate-limit"] for mode in ("no_retry_after_on_429", "no_traceparent_on_429",
                                                              "retry_after_http_date")},
    **{mode: {"FIELDPROOF_SANDBOX_RACE_WINDOW_MS": "25"} for mode in ("check_then_act_race", "pause_check_then_act",
                                                                               "lock_per_operation", "resource_lost_update")},
}
# The fault modes of the generic locking oracles, with the rule expected to catch each. They
# break only the Demand API's other resources, which a session judges when it opts in: their
# sessions, and the clean target's (so that a false alarm there is counted), run with
# `--resources all`.
RESOURCE_FAULTS: dict[str, str] = {
    "resource_ignores_if_match": "conditional_write_stale_tag_refused",
    "resource_lost_update": "conditional_writes_one_winner",
    "delete_ignores_tag": "conditional_write_stale_tag_refused",
    "resource_etag_unchanged": "conditional_write_issues_new_etag",
}
RUN_TIMEOUT_S = 600
NAME_WIDTH = max(map(len, [*CLEAN_TARGETS, *FAULT_MODES]))  # one column for every target's name


@dataclass
class Outcome:
    target: str
    expected: str  # "clean" | "fault"
    verdict: str  # pass | violation | inconclusive | error (no summary)
    exit_code: int
    seconds: float
    rules: list[str] = field(default_factory=list)  # the rules that found something
    findings: int = 0
    seconds_to_detection: float | None = None
    problem: str | None = None

    @property
    def killed(self) -> bool:
        return self.verdict == "violation"


def _run_one(name: str, env: dict[str, str], profile: str, reports: Path, fail_fast: bool) -> Outcome:
    out_dir = reports / "selfcheck" / name
    command = [sys.executable, "-m", "fieldproof", "run", "--profile", profile, "--reports", str(out_dir)]
    if name in RESOURCE_FAULTS or name == "clean":
        command += ["--resources", "all"]
    if fail_fast:
        command.append("--fail-fast")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_SANDBOX_")}
    started = time.monotonic()
    try:
        result = subprocess.run(command, env={**base_env, **env}, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Outcome(name, "fault" if fail_fast else "clean", "error", -1, RUN_TIMEOUT_S, problem="timed out")
    seconds = time.monotonic() - started
    expected = "fault" if fail_fast else "clean"
    try:
        summary = load_summary(out_dir / "summary.json")
    except (OSError, ValueError):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return Outcome(name, expected, "error", result.returncode, seconds, problem=tail[0])
    violated = [rule for rule in summary.rules if rule.failing]
    times = [group.first_at for rule in violated for group in rule.groups if group.first_at]
    return Outcome(
        target=name,
        expected=expected,
        verdict=summary.verdict,
        exit_code=result.returncode,
        seconds=seconds,
        rules=[rule.name for rule in violated],
        findings=sum(rule.failing for rule in violated),
        seconds_to_detection=round(min(times) - summary.started_at, 2) if times and summary.started_at else None,
        problem=summary.problems[0].message if summary.problems else None,
    )


def selfcheck(profile: str, reports: str | Path, faults: tuple[str, ...] = (), out: TextIO = sys.stdout, jobs: int = 1) -> int:
    """Every clean target and fault mode, `jobs` sessions at a time (each its own sandbox),
    reported in order."""
    unknown = [name for name in faults if name not in FAULT_MODES]
    if unknown:
        raise SelfcheckError(f"unknown fault mode {unknown[0]!r}; `fieldproof sandbox --fault list` lists them")
    reports = Path(reports)
    modes = faults or tuple(FAULT_MODES)
    sessions = [(name, env, False) for name, env in CLEAN_TARGETS.items()]
    sessions += [(mode, {**FAULT_NEEDS.get(mode, {}), "FIELDPROOF_SANDBOX_FAULT": mode}, True) for mode in modes]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = pool.map(lambda one: _run_one(one[0], one[1], profile, reports, fail_fast=one[2]), sessions)
        outcomes = [_report(outcome, out) for outcome in done]
    clean = [o for o in outcomes if o.expected == "clean"]
    faulty = [o for o in outcomes if o.expected == "fault"]
    killed = [o for o in faulty if o.killed]
    false_alarms = sum(o.findings for o in clean)
    score = len(killed) / len(faulty) if faulty else 1.0
    errors = [o for o in outcomes if o.verdict in ("error", "inconclusive") or (o.expected == "clean" and o.verdict != "pass")]
    print(f"mutation score: {len(killed)}/{len(faulty)} fault modes caught ({score:.0%})", file=out)
    print(f"false alarms on the clean sandbox: {false_alarms} (in {len(clean)} sessions)", file=out)
    survived = [o.target for o in faulty if not o.killed]
    if survived:
        print(f"survived: {', '.join(survived)}", file=out)
    (reports).mkdir(parents=True, exist_ok=True)
    (reports / "selfcheck.json").write_text(json.dumps({
        "profile": profile,
        "mutation_score": score,
        "killed": len(killed),
        "modes": len(faulty),
        "false_alarms": false_alarms,
        "outcomes": [asdict(o) for o in outcomes],
    }, indent=2))
    print(f"written: {reports / 'selfcheck.json'}", file=out)
    return 0 if score == 1.0 and false_alarms == 0 and not errors else 1


def _report(outcome: Outcome, out: TextIO) -> Outcome:
    if outcome.expected == "clean":
        state = "clean: no false alarm" if outcome.verdict == "pass" else f"FALSE ALARM ({outcome.verdict})"
    else:
        state = "killed" if outcome.killed else "SURVIVED"
    by = ", ".join(outcome.rules[:3]) + (" …" if len(outcome.rules) > 3 else "") if outcome.rules else "-"
    detect = f"{outcome.seconds_to_detection:.1f} s" if outcome.seconds_to_detection is not None else "-"
    print(f"{outcome.target:<{NAME_WIDTH}} {state:<22} by {by:<60} detected after {detect:>7}  ({outcome.seconds:.1f} s session)",
          file=out, flush=True)
    if outcome.problem and outcome.verdict not in ("pass", "violation"):
        print(f"    problem: {outcome.problem[:200]}", file=out)
    return outcome
