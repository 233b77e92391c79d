"""Path properties: unknown and malformed ids are refused (400/404), never 5xx, and no run
is touched, not even the one whose other ids the request borrowed."""

from __future__ import annotations

from hypothesis import given

from fieldproof.plugin import Harness
from fieldproof.strategies import malformed_ids, unknown_run_ids


def test_malformed_ids_are_refused_and_touch_nothing(fp: Harness) -> None:
    with fp.run("resumable") as run:

        @given(malformed_ids())
        def property_(case: tuple[str, dict[str, str]]) -> None:
            kind, ids = case
            fp.client.get(run, context={"path_kind": kind}, **ids)
            fp.client.write("resume", run, context={"path_kind": kind}, **ids)
            fp.check()

        property_()


def test_unknown_runs_are_404_and_touch_nothing(fp: Harness) -> None:
    with fp.run("resumable") as run:

        @given(unknown_run_ids())
        def property_(run_id: str) -> None:
            fp.client.get(run, context={"path_kind": "unknown_run"}, fielding_run_id=run_id)
            fp.client.write("resume", run, context={"path_kind": "unknown_run"}, fielding_run_id=run_id)
            fp.check()

        property_()
