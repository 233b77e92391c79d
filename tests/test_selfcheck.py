"""`fieldproof selfcheck`: fault modes are caught, the clean sandbox gives no false alarm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def selfcheck(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldproof", "selfcheck", "--reports", str(tmp_path), *args],
        capture_output=True, text=True, timeout=900,
    )


def test_selected_fault_modes_are_caught_and_the_clean_sandbox_is_quiet(tmp_path: Path) -> None:
    # modes caught whatever the machine's load; the timing-bound race is bench/race_window.py's
    # and CI's full selfcheck's to measure
    result = selfcheck(tmp_path, "--profile", "quick", "--faults", "no_etag_on_204,ignore_if_match,refusal_changes_run", "--jobs", "2")
    assert result.returncode == 0, result.stdout
    report = json.loads((tmp_path / "selfcheck.json").read_text())
    assert (report["killed"], report["modes"], report["false_alarms"]) == (3, 3, 0)
    by_target = {o["target"]: o for o in report["outcomes"]}
    assert {"clean", "clean+latency", "clean+rate-limit", "clean+second-answers", "clean+third-answers"} <= set(by_target)
    assert "etag_on_success" in by_target["no_etag_on_204"]["rules"]
    # a stale tag wins: judged where it is sent alone, or (the first pass races first, and a fault
    # mode stops at its first finding) a write that lost a race of several kinds still changing the run
    assert {"stale_tag_refused", "one_winner_among_concurrent_writes"} & set(by_target["ignore_if_match"]["rules"])
    assert by_target["no_etag_on_204"]["seconds_to_detection"] is not None
    assert "mutation score: 3/3" in result.stdout


def test_an_unknown_fault_mode_is_exit_2(tmp_path: Path) -> None:
    result = selfcheck(tmp_path, "--faults", "no_such_mode")
    assert result.returncode == 2 and "unknown fault mode 'no_such_mode'" in result.stderr
