"""Business rules: a run whose goal or end date is reached, or that is completed or live, is
not resumed by its current tag nor by If-Match: *, and stays as it was."""

from __future__ import annotations

import pytest

from fieldproof.harness import Harness


# both documented rules in the first pass: a server may get either wrong
@pytest.mark.first_pass("business_rules", role="goal_reached")
@pytest.mark.first_pass("business_rules", role="end_date_passed")
@pytest.mark.parametrize("role", ["goal_reached", "end_date_passed", "completed", "live"])
def test_resume_is_refused_by_the_runs_state(fp: Harness, role: str) -> None:
    with fp.run(role) as run:
        refused = fp.client.write("resume", run)
        # If-Match: * names no tag: whatever a server makes of it, it must not get past the state
        fp.client.write("resume", run, "*", before=refused.after)
