"""Path properties: unknown and malformed ids are refused (400/404), never 5xx, and no run
is touched, not even the one whose other ids the request borrowed; a method the contract does
not declare is not a success and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from fieldproof import contract
from fieldproof.harness import Harness
from fieldproof.probes import probe_undeclared_methods, unknown_runs_are_404
from fieldproof.strategies import malformed_ids, other_ulid
from fieldproof.target import RunRef


def test_malformed_ids_are_refused_and_touch_nothing(fp: Harness) -> None:
    with fp.run("resumable") as run:

        def example(ids: dict[str, Any]) -> None:
            fp.client.get(run, **ids)
            fp.client.write("resume", run, **ids)

        fp.explore(malformed_ids(nul=fp.is_sandbox), example)


def test_unknown_runs_are_404_and_touch_nothing(fp: Harness) -> None:
    unknown_runs_are_404(fp)


@pytest.mark.first_pass("whole_path")
def test_a_run_is_named_by_its_whole_path(fp: Harness) -> None:
    """Only the run's whole path names it: its id under another project, target group or
    account, a run id one character off, is not that run: refused, never served nor written.
    Each is sent a GET and a resume with the run's current tag, so that a server that finds a
    run by its id alone (or by a prefix of it) serves the one and writes the other. (An account
    id spelt "+101" is left alone: the docs say how a client sends it, and integer parsers that
    read it as 101 serve the account's own run rightly.)"""
    with fp.run("resumable") as run:
        look = fp.client.snapshot(run)
        for ids in near_misses(fp, run):
            fp.client.get(run, **ids)
            fp.client.write("resume", run, look.etag, observe=False, before=look, **ids)


def near_misses(fp: Harness, run: RunRef) -> list[dict[str, Any]]:
    """Paths that are not the run's, each as the ids that differ from its own."""
    scopes: list[dict[str, Any]] = [{"project_id": other_ulid(run.project_id)},
                                    {"target_group_id": other_ulid(run.target_group_id)},
                                    {"account_id": str(int(run.account_id) + 1)}]
    other = fp.other_run(run)
    if other is not None and (other.project_id, other.target_group_id) != (run.project_id, run.target_group_id):
        scopes.append({"project_id": other.project_id, "target_group_id": other.target_group_id})
    run_id = run.fielding_run_id
    if contract.ULID.fullmatch(run_id):  # ids of another shape may run in sequence: a near miss could be a run
        listed = {r.fielding_run_id for r in fp.target.runs}
        nears = (other_ulid(run_id, 18), other_ulid(run_id, 2), run_id + "0", run_id[:-1])  # same head, same tail, longer, shorter
        scopes += [{"fielding_run_id": near} for near in nears if near not in listed]
    return scopes


def test_undeclared_methods_are_refused_and_change_nothing(fp: Harness) -> None:
    probe_undeclared_methods(fp, (None, *contract.WRITES), contract.SAFE_UNDECLARED_METHODS)
