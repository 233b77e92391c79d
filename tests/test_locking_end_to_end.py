"""The locking suite end to end against the sandbox's whole Demand API (`--resources all`): the
clean sandbox passes with every locking rule judging something, and each of the sandbox's
resource fault modes fails the session (exit 1) by the rule it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldproof.rules.locking import LOCKING_RULES
from fieldproof.selfcheck import RESOURCE_FAULTS
from tests.helpers import fieldproof_run, rules_by_name, summary

# each resource fault mode of the sandbox, and the rule it breaks (the selfcheck's table)
CAUGHT_BY = RESOURCE_FAULTS
SESSION = ("--profile", "quick", "--resources", "all", "--suites", "locking")


def test_the_clean_sandbox_passes_with_every_locking_rule_judging(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, *SESSION)
    assert result.returncode == 0, result.stdout[-3000:]
    rows = rules_by_name(summary(tmp_path))
    assert {name: rows[name]["checks"] > 0 and not rows[name]["violations"] for name in LOCKING_RULES} == dict.fromkeys(
        LOCKING_RULES, True)


@pytest.mark.parametrize("fault", list(CAUGHT_BY))
def test_a_resource_fault_is_caught_by_the_rule_it_breaks(tmp_path: Path, fault: str) -> None:
    result = fieldproof_run(tmp_path, *SESSION, env={"FIELDPROOF_SANDBOX_FAULT": fault})
    assert result.returncode == 1, result.stdout[-3000:]
    rows = rules_by_name(summary(tmp_path))
    assert rows[CAUGHT_BY[fault]]["violations"], {name: row["violations"] for name, row in rows.items() if row["violations"]}
