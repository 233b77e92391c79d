"""Spec-driven fuzzing: schemathesis over the contract document in use (examples, coverage and
fuzzing phases, then stateful sequences through the ETag -> If-Match links), sent through the
harness's client so that budget, Retry-After and recording hold as for every other suite.

Its responses are judged twice over: by our rules as every exchange is (the same functions,
also registered as schemathesis checks for `st run` users), and by schemathesis' own checks,
less what an open question of the contract allows. A probe with a method the contract does not
declare is judged only as "not a success, and nothing changed" (undeclared_method_refused).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings
from schemathesis.core import NOT_SET

from fieldproof import contract, fuzz
from fieldproof.document import ContractDocument
from fieldproof.exchange import Exchange
from fieldproof.harness import Harness, PartSettings
from fieldproof.headers import HeaderSyntaxError, parse_etag
from fieldproof.progress import count_case
from fieldproof.target import RunRef, load_target

# schemathesis makes a test per operation as this module is imported, from a schema that must
# know the part's document, target and size by then: before any fixture, so the part's settings
# are read here, from the file the part names (as the plugin reads them), not from pytest.
_part = PartSettings.from_environment()
if _part is None:
    pytest.skip("the schemathesis suite runs through `fieldproof run`", allow_module_level=True)
_target = load_target(_part.target_file)
_profile = _part.sized_profile
schema = fuzz.load_schema(
    ContractDocument.load(_part.contract_file),
    base_url=_target.base_url,
    max_examples=_profile.fuzz_examples,
    with_complete=_part.is_sandbox,  # the sandbox's runs are fresh; a live target's are not
)


@schema.auth()
class TargetToken:
    """The target's main token, on every generated case."""

    def get(self, case: Any, ctx: Any) -> str:
        return _target.token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _aim(fp: Harness, case: Any, run: RunRef) -> str | None:
    """Point most cases at a real run or at least at our account (the rest keep their generated
    ids), send the target's API version where a valid or well-formed one was generated, and give
    some valid or well-formed If-Match values the run's current tag, so that writes can also
    succeed. A document may allow any text in these headers (the vendor's does): a value it
    calls valid is then no version the API knows and no tag it issued. Values generated to be
    invalid, malformed or missing stay as they are: they are the negative cases. Returns the
    run's tag just before, where it looked."""
    aim = fuzz.pick(case, "ids") % 6
    if not fp.is_sandbox:
        aim = max(aim, 1)  # a live target: never another account's ids, only the runs it lists
    negative = fuzz.invalid_parameters(case)  # a negative case's invalid ids stay as generated
    if aim >= 3:  # half: the real run
        case.path_parameters = {**case.path_parameters, **{k: v for k, v in run.ids().items() if k not in negative}}
    elif aim >= 1 and "account_id" not in negative:  # a third: our account, generated ids (unknown runs: 404)
        case.path_parameters = {**case.path_parameters, "account_id": run.account_id}
    # the rest (sandbox only) keep every generated id, another account's included (403)
    _real_version(fp, case)
    tag = (case.headers or {}).get("If-Match")
    if isinstance(tag, str) and fuzz.pick(case, "tag") % 2:
        try:
            parse_etag(tag)
        except HeaderSyntaxError:
            if not fuzz.valid_headers(case):
                return None  # a deliberately malformed one stays malformed
        current = fp.client.snapshot(run).etag
        if current is not None:
            case.headers["If-Match"] = current
        return current
    return None


def _real_version(fp: Harness, case: Any) -> None:
    """The target's API version in place of a valid or well-formed generated one."""
    version = (case.headers or {}).get("Cint-API-Version")
    if isinstance(version, str) and (fuzz.valid_headers(case) or re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", version)):
        case.headers["Cint-API-Version"] = fp.target.api_version


def _validate(fp: Harness, case: Any, exchange: Exchange, response: Any, **kwargs: Any) -> None:
    """schemathesis' checks on the response, and on any 429 the client waited out before it.
    Our rules already judged these exchanges when they were recorded, so they are left out."""
    if exchange.operation == contract.OTHER:
        return  # an undeclared method: judged only by undeclared_method_refused
    ours = list(fuzz.register_checks().values())
    for seen in [*exchange.rate_limited, exchange]:
        try:
            case.validate_response(seen.raw if seen is not exchange else response, excluded_checks=ours, **kwargs)
            fp.recorder.record_failures("schemathesis", seen, [])
        except* AssertionError as group:
            failures = [kept for failure in group.exceptions if not fuzz.explained(seen, failure, case)
                        for kept in fuzz.external_failures(failure)]
            fp.recorder.record_failures("schemathesis", seen, failures)


@dataclass
class Held:
    """The run a test's examples share (held, on a target file, for the whole test)."""

    run: RunRef


@pytest.fixture
def held(fp: Harness) -> Iterator[Held]:
    with fp.run("resumable") as run:
        yield Held(run)


@schema.parametrize()
def test_the_contract_document_holds(case: Any, fp: Harness, held: Held) -> None:
    count_case()
    if not fuzz.may_send(fp.document, case):
        return  # an unsafe probe, or one of the provider's own operations: never sent
    with fp.stopping():
        current = _aim(fp, case, held.run)
        exchange, response = fuzz.send_case(fp.client, case, held.run, current)
        _validate(fp, case, exchange, response)
        if exchange.operation in contract.WRITES and 200 <= exchange.status < 300:
            held.run = fp.fresh(held.run)  # the next example starts from the role's state again


def test_stateful_sequences_through_the_links(fp: Harness) -> None:
    """GET's ETag feeds pause/resume/complete through the links, on one real run.

    Schemathesis picks each next step by the answers so far, and hypothesis checks that a
    prefix it has seen draws the same again: every scenario therefore starts from the run in
    its role's state (a new run on the sandbox), so that the same requests get the same
    answers, and no scenario depends on what an earlier one left behind."""
    import schemathesis

    with fp.run("resumable") as held:

        class ThroughHarness(schema.as_state_machine()):  # type: ignore[misc]
            fielding_run: RunRef = held

            def setup(self) -> None:
                with fp.stopping():
                    self.fielding_run = fp.fresh(held)

            def call(self, case: Any, **kwargs: Any) -> Any:
                case.path_parameters = {**case.path_parameters, **self.fielding_run.ids()}
                case.body = NOT_SET  # the operations take no body, and none is sent: none is judged either
                _real_version(fp, case)
                count_case()
                with fp.stopping():
                    self._last = fuzz.send_case(fp.client, case, self.fielding_run)
                return schemathesis.Response.from_any(self._last[1])

            def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
                with fp.stopping():
                    _validate(fp, case, self._last[0], response, recorder=self.recorder)

        # nothing to shrink: findings never fail a step, and a harness problem stops at once
        ThroughHarness.run(
            settings=settings(max_examples=_profile.stateful_examples, stateful_step_count=6, deadline=None,
                              database=None, phases=fp.phases)
        )
