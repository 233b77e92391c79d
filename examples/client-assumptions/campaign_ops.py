"""A client team's own code: resuming campaigns' fielding runs from their scheduler.

This is the code under test in this example; it talks to the Demand API with httpx through
fieldproof's reference client.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldproof.client import FieldingRun, FieldingRunsClient, InvalidState, PreconditionFailed


@dataclass
class Outcome:
    run_id: str
    resumed: bool
    reason: str


def resume_all(client: FieldingRunsClient, runs: list[FieldingRun]) -> list[Outcome]:
    """Resume every paused run we were given; report the ones that cannot be resumed.

    Our assumptions, which test_assumptions.py checks against the simulated API:
    - a run whose goal or end date is reached answers 422, and retrying would not help;
    - a run changed by someone else meanwhile answers 412: we re-read it and try once more;
    - a rate limit is waited out, not reported as a failure.
    """
    outcomes = []
    for run in runs:
        try:
            client.resume(run, refresh_on_conflict=True)
        except InvalidState:
            outcomes.append(Outcome(run.id, False, "the run cannot be resumed (goal or end date reached)"))
        except PreconditionFailed:
            outcomes.append(Outcome(run.id, False, "the run kept changing under us"))
        else:
            outcomes.append(Outcome(run.id, True, "resumed"))
    return outcomes
