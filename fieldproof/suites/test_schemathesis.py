"""Spec-driven fuzzing: schemathesis over the whole contract document (examples, coverage and
fuzzing phases, then stateful sequences through the OpenAPI links), sent through the harness's
client so that budget, Retry-After and recording hold as for every other suite.

Its responses are judged twice over: by our rules as every exchange is (the same functions,
also registered as schemathesis checks for `st run` users), and by schemathesis' own checks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import Phase, settings

from fieldproof import fuzz
from fieldproof.headers import HeaderSyntaxError, parse_etag
from fieldproof.plugin import Harness, current_run, current_target
from fieldproof.profiles import PROFILES

_run = current_run()
if _run is None:
    pytest.skip("the schemathesis suite runs through `fieldproof run`", allow_module_level=True)
_target = current_target()
_profile = PROFILES[_run.profile]
schema = fuzz.load_schema(
    base_url=_target.base_url,
    max_examples=_profile.fuzz_examples,
    with_complete=_run.control_url is not None,  # the sandbox's runs are fresh; a live target's are not
)


@schema.auth()
class TargetToken:
    """The target's main token, on every generated case."""

    def get(self, case: Any, ctx: Any) -> str:
        return _target.token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _aim(fp: Harness, case: Any, run: Any) -> None:
    """Point most cases at a real run or at least at our account (the rest keep their generated
    ids), send the target's
    API version where a well-formed one was generated, and give some well-formed If-Match
    values the run's current tag, so that writes can also succeed. Malformed or missing values
    stay as generated: they are the negative cases."""
    aim = fuzz.pick(case, "ids") % 6
    if not fp.is_sandbox:
        aim = max(aim, 1)  # a live target: never another account's ids, only the runs it lists
    if aim >= 3:  # half: the real run
        case.path_parameters = {
            **case.path_parameters,
            "account_id": run.account_id,
            "project_id": run.project_id,
            "target_group_id": run.target_group_id,
            "fielding_run_id": run.fielding_run_id,
        }
    elif aim >= 1:  # a third: our account, generated ids (unknown runs: 404)
        case.path_parameters = {**case.path_parameters, "account_id": run.account_id}
    # the rest (sandbox only) keep every generated id, another account's included (403)
    version = (case.headers or {}).get("Cint-API-Version")
    if isinstance(version, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", version):
        case.headers["Cint-API-Version"] = fp.target.api_version  # well-formed: make it the real one
    tag = (case.headers or {}).get("If-Match")
    if isinstance(tag, str) and fuzz.pick(case, "tag") % 2:
        try:
            parse_etag(tag)
        except HeaderSyntaxError:
            return  # a deliberately malformed one stays malformed
        case.headers["If-Match"] = fp.client.snapshot(run).etag


def _validate(fp: Harness, case: Any, exchange: Any, response: Any, **kwargs: Any) -> None:
    """schemathesis' checks on the response, and on any 429 the client waited out before it.
    Our rules already judged these exchanges when they were recorded, so they are left out."""
    ours = list(fuzz.register_checks().values())
    for seen in [*exchange.rate_limited, exchange]:
        try:
            case.validate_response(seen.raw if seen is not exchange else response, excluded_checks=ours, **kwargs)
            fp.recorder.record_failures("schemathesis", seen, [])
        except* AssertionError as group:
            fp.recorder.record_failures("schemathesis", seen, group.exceptions)
    fp.check()


@schema.parametrize()
def test_the_contract_document_holds(case: Any, fp: Harness) -> None:
    with fp.run("resumable") as run:
        _aim(fp, case, run)
        exchange, response = fuzz.send_case(fp.client, case)
        _validate(fp, case, exchange, response)


def test_stateful_sequences_through_the_links(fp: Harness) -> None:
    """GET's ETag feeds pause/resume/complete through the OpenAPI links, on one real run."""
    import schemathesis

    with fp.run("resumable") as run:

        class ThroughHarness(schema.as_state_machine()):  # type: ignore[misc]
            def call(self, case: Any, **kwargs: Any) -> Any:
                case.path_parameters = {"account_id": run.account_id, "project_id": run.project_id,
                                        "target_group_id": run.target_group_id, "fielding_run_id": run.fielding_run_id}  # fmt: skip
                self._last = fuzz.send_case(fp.client, case)
                return schemathesis.Response.from_any(self._last[1])

            def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
                _validate(fp, case, self._last[0], response, recorder=self.recorder)

        # no shrinking here: a broken target makes every sequence fail, and shrinking schemathesis'
        # state machine then takes minutes; the lifecycle-model suite gives the shortest sequence
        ThroughHarness.run(
            settings=settings(max_examples=_profile.stateful_examples, stateful_step_count=6, deadline=None,
                              database=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
        )
