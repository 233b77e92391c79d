"""The locking suite end to end against the sandbox's whole Demand API (`--resources all`): the
clean sandbox passes with every locking rule judging something, and each of the sandbox's
resource fault modes fails the session (exit 1) by the rule it breaks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fieldproof import cli
from tests.helpers import fieldproof_run, rules_by_name, summary

LOCKING_RULES = ("conditional_write_current_tag_succeeds", "conditional_write_issues_new_etag",
                 "conditional_write_stale_tag_refused", "conditional_write_missing_if_match_refused",
                 "conditional_write_if_match_star_and_lists", "conditional_writes_one_winner",
                 "resource_history_linearizable")
# each resource fault mode of the sandbox, and the rule it breaks
CAUGHT_BY = {
    "resource_ignores_if_match": "conditional_write_stale_tag_refused",
    "resource_lost_update": "conditional_writes_one_winner",
    "delete_ignores_tag": "conditional_write_stale_tag_refused",
    "resource_etag_unchanged": "conditional_write_issues_new_etag",
}
SESSION = ("--profile", "quick", "--resources", "all", "--suites", "locking")



def _run_takes_resources() -> bool:
    subcommands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "--resources" in subcommands.choices["run"].format_help()


pytestmark = pytest.mark.skipif(not _run_takes_resources(),
                                reason="not run: needs `fieldproof run --resources` (the session's package, branch wp-session)")


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
