"""Path properties: unknown and malformed ids are refused (400/404), never 5xx, and no run
is touched, not even the one whose other ids the request borrowed; a method the contract does
not declare is not a success and changes nothing."""

from __future__ import annotations

from typing import Any

from fieldproof import contract
from fieldproof.plugin import Harness
from fieldproof.strategies import malformed_ids, other_ulid, unknown_run_ids


def test_malformed_ids_are_refused_and_touch_nothing(fp: Harness) -> None:
    with fp.run("resumable") as run:

        def example(ids: dict[str, Any]) -> None:
            fp.client.get(run, **ids)
            fp.client.write("resume", run, **ids)

        fp.explore(malformed_ids(nul=fp.is_sandbox), example)


def test_unknown_runs_are_404_and_touch_nothing(fp: Harness) -> None:
    with fp.run("resumable") as run:

        def example(run_id: str) -> None:
            fp.client.get(run, fielding_run_id=run_id)
            fp.client.write("resume", run, fielding_run_id=run_id)

        fp.explore(unknown_run_ids(), example)


def test_a_run_is_named_by_its_whole_path(fp: Harness) -> None:
    """The run's own id under another project or target group is not that run: refused, never
    served nor written. Each is sent a GET and a resume with the run's current tag, so that a
    server that finds a run by its id alone serves the one and writes the other; besides ids no
    run has, the scope of another run the target has (a project and target group that exist)."""
    with fp.run("resumable") as run:
        scopes: list[dict[str, Any]] = [{"project_id": other_ulid(run.project_id)},
                                        {"target_group_id": other_ulid(run.target_group_id)}]  # fmt: skip
        other = fp.other_run(run)
        if other is not None and (other.project_id, other.target_group_id) != (run.project_id, run.target_group_id):
            scopes.append({"project_id": other.project_id, "target_group_id": other.target_group_id})
        for ids in scopes:
            fp.client.get(run, **ids)
            fp.client.write("resume", run, **ids)


def test_undeclared_methods_are_refused_and_change_nothing(fp: Harness) -> None:
    probe_undeclared_methods(fp, (None, *contract.WRITES), contract.SAFE_UNDECLARED_METHODS)


def probe_undeclared_methods(fp: Harness, actions: tuple[str | None, ...], methods: tuple[str, ...]) -> None:
    """Only safe methods, and only where the contract document declares none (a provider's
    document may declare more than the four operations, such as the vendor's PUT)."""
    with fp.run("resumable") as run:
        for action in actions:
            declared = fp.document.declared_methods(contract.RUN_PATH + (f"/{action}" if action else ""))
            for method in methods:
                if method not in declared:
                    fp.client.probe(method, run, action)
