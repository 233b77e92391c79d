"""The pytest plugin behind `fieldproof run`: only pytest's hooks and the `fp` fixture.

In each process of a part it builds the process's state (fieldproof.harness.build_state) into
`config.stash[STATE]`, from the part's settings file (FIELDPROOF_PART), or takes the state the
session hands it (`GivenState`, for a part that runs in the session's own process). It orders
the suites, gathers the tests the first pass runs as they are (`@pytest.mark.first_pass`),
fails a test at its end on what the rules found, and writes what each test found, its evidence
and any problem as records in the part's work folder, which the summary reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from fieldproof import suites
from fieldproof.harness import (
    PHASES,
    STATE,
    Harness,
    PartSettings,
    ProcessState,
    SuiteStopped,
    build_state,
    first_pass_runs_on,
)
from fieldproof.interrupts import stop_once
from fieldproof.progress import ProgressWriter, cases_counted, suite_of
from fieldproof.recorder import format_findings
from fieldproof.records import FindingsRecord, Record, WorkerStatus, problem_of, write_records

FIRST_PASS_MARKER = "first_pass"


class GivenState:
    """A part's state, handed over by the session that runs the part in its own process (so
    that it spends the limits of the parts before it): put in `config.stash` before the plugin
    would build one of its own."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[STATE] = self.state


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FIRST_PASS_MARKER}(step, **params): the first pass's step runs this test as it is (where the test's "
        "parameters include params), and its suite leaves it out",
    )
    if STATE not in config.stash:
        part = PartSettings.from_environment()
        if part is None:
            return
        config.stash[STATE] = build_state(part)
    state = config.stash[STATE]
    if hasattr(config, "workerinput"):  # an xdist worker: the first signal stops it as Ctrl-C does, once
        stop_once()
    settings.register_profile(
        "fieldproof",
        max_examples=state.settings.sized_profile.examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=state.settings.seed is None,
        phases=PHASES,
    )
    settings.load_profile("fieldproof")
    if state.settings.progress:
        state.progress = ProgressWriter(state.records_file.with_suffix(".progress.json"), lambda: _progress(state))
        state.progress.start()


def _progress(state: ProcessState) -> WorkerStatus:
    harness = state.harness
    if harness is None:
        return WorkerStatus(cases=cases_counted())
    return WorkerStatus(requests=harness.recorder.requests + harness.unanswered, findings=dict(harness.recorder.severities),
                        waiting_until=harness.client.liveness.waiting_until, cases=cases_counted())


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The suites in their order; the tests the first pass runs as they are (their marker says
    which step) gathered for it, and left out of their suites when it runs; the tests of suites
    the user did not choose, collected only for the first pass, left out without a word."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    items.sort(key=lambda item: suites.rank(item.nodeid.partition("::")[0]))  # stable: in-module order kept
    twice: list[pytest.Item] = []
    if any(suite_of(item.nodeid) == "first_pass" for item in items):
        for item in items:
            if isinstance(item, pytest.Function) and (step := _first_pass_step(item, state)) is not None:
                state.as_is.setdefault(step, []).append((item.function, _params(item)))
                twice.append(item)
    unchosen = [item for item in items if not state.settings.chose(suite_of(item.nodeid))]
    if twice:  # what the first pass sends as it is, a suite does not send again
        config.hook.pytest_deselected(items=[item for item in twice if item not in unchosen])
    items[:] = [item for item in items if item not in twice and item not in unchosen]


def _params(item: pytest.Function) -> dict[str, Any]:
    return dict(item.callspec.params) if hasattr(item, "callspec") else {}


def _first_pass_step(item: pytest.Function, state: ProcessState) -> str | None:
    """The first-pass step that runs this test as it is, if one does on this target."""
    params = _params(item)
    for marker in item.iter_markers(FIRST_PASS_MARKER):
        if all(params.get(name, object()) == value for name, value in marker.kwargs.items()):
            return str(marker.args[0]) if first_pass_runs_on(params, state.target, state.settings.is_sandbox) else None
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.progress is not None:
        state.progress.stop()


@pytest.fixture(scope="session")
def fp(request: pytest.FixtureRequest) -> Iterator[Harness]:
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.skip("fieldproof suites run through `fieldproof run` (no part settings given)")
    harness = Harness(state)
    state.harness = harness
    yield harness
    harness.close()


class ContractViolation(AssertionError):
    """Raised at a test's end when the rules found something during it; carries its findings."""

    def __init__(self, findings: list[FindingsRecord]) -> None:
        super().__init__(format_findings(findings))
        self.findings = findings


class Stopped(Exception):
    """A test stopped by a harness problem (from SuiteStopped): reported as what it was."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


_FINDINGS = pytest.StashKey[list[FindingsRecord]]()  # an item's, between its call and its report


def _harness(config: pytest.Config) -> Harness | None:
    state = config.stash.get(STATE, None)
    return state.harness if state is not None else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test fails at its end when the rules found anything during it (never before: a
    finding does not stop it); a harness problem that stopped it fails it as that problem."""
    harness = _harness(item.config)
    try:
        result = yield
    except SuiteStopped as stopped:
        raise Stopped(stopped.cause) from None
    finally:
        if harness is not None:
            item.stash[_FINDINGS] = harness.recorder.take_findings(item.nodeid)
    findings = item.stash.get(_FINDINGS, [])
    if findings:
        raise ContractViolation(findings)
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    yield
    state = item.config.stash.get(STATE, None)
    harness = _harness(item.config)
    if state is None or harness is None:
        return
    records: list[Record] = []
    if call.when == "call":
        found: list[FindingsRecord] = item.stash.get(_FINDINGS, [])
        records += found
        records += harness.recorder.take_evidence(item.nodeid)
    error = call.excinfo.value if call.excinfo else None  # in a fixture's set-up or teardown too
    if error is not None and not isinstance(error, (ContractViolation, pytest.skip.Exception)):
        if isinstance(error, (SuiteStopped, Stopped)):
            error = error.cause
        records.append(problem_of(error, item.nodeid))
    write_records(state.records_file, records, harness.target.secrets)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    harness = _harness(session.config)
    if state is not None and harness is not None:
        totals = harness.recorder.totals(harness.unanswered, harness.waited_429_s, harness.client.pacer.learned_rps)
        write_records(state.records_file, [totals])


