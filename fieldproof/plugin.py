"""The pytest plugin behind `fieldproof run`: options, the harness fixture, findings hooks.

A session (one `fieldproof run`) writes its settings file (JSON: target file, sandbox control
URL, profile, work folder, request budget, deadline) and starts pytest with
`--fieldproof-session FILE`; tokens come through the environment only. Each pytest process
(xdist worker) builds its own client and writes its findings and totals to
`<work folder>/<worker>.jsonl`, which the report merges. The work folder is the session's own (a
temporary one): no other session ever reads or deletes it. "Run" in this package means a
fielding run, the API's resource.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fieldproof import suites
from fieldproof.client.limits import Budget, Liveness, Pacer
from fieldproof.client.recording import ApiClient, Credentials
from fieldproof.document import ContractDocument
from fieldproof.errors import (
    DeadlineReached,
    RoleMissing,
    TargetStoppedAnswering,
)
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.fielding_runs import FileRuns, SandboxRuns, TargetFault, ready_or_raise, restore_run
from fieldproof.interrupts import stop_once
from fieldproof.profiles import FIRST_PASS, Profile, profile_for
from fieldproof.progress import ProgressWriter, cases_counted
from fieldproof.recorder import (
    FindingGroup,
    Judged,
    Recorder,
    format_groups,
)
from fieldproof.records import FirstPassRecord, Record, WorkerStatus, problem_of, process_file, write_records
from fieldproof.rules import EXCHANGE_RULES, SequenceCheck, judge_exchange
from fieldproof.sandbox.control_client import SandboxControl
from fieldproof.target import RunRef, Target, load_target

T = TypeVar("T")
# Findings never fail an example, so there is nothing to shrink; a harness problem stops the
# test at once (SuiteStopped), never replayed against a target that has moved on.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)



@dataclass(frozen=True)
class SessionSettings:
    target_file: str
    work_dir: str  # this session's own folder for the workers' lines and locks
    profile: str = "default"
    control_url: str | None = None
    budget: int | None = None  # None: the target's max_requests
    budget_note: str | None = None  # how the budget was split, in the terms the user wrote
    workers: int = 1
    rate_limit_probe: bool = False
    history_ops: int | None = None  # None: the profile's on the sandbox, none on a file target
    contract_file: str | None = None  # a provider's own OpenAPI document; None: ours
    deadline: float | None = None  # time.time() after which no request is sent (max_duration_s)
    progress: bool = True  # each process writes its progress for the controller's line
    part: str = ""  # which of the session's pytest sessions, in its processes' file names

    @classmethod
    def load(cls, path: str) -> SessionSettings:
        return cls(**json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))

    @property
    def sized_profile(self) -> Profile:
        """The profile at its size for this session's target: the sandbox's, or a target file's."""
        return profile_for(self.profile, sandbox=self.control_url is not None)


# What one process carries from one pytest session to the next, by session work folder: a
# session that runs its suites in more than one (fieldproof.session._parts) spends one budget,
# keeps the rate it learned, and stops sending to a target that stopped answering, instead of
# starting all three again.
@dataclass(frozen=True)
class _Carried:
    budget: Budget
    pacer: Pacer
    liveness: Liveness


_carried: dict[str, _Carried] = {}


def _carried_for(session: SessionSettings, target: Target) -> _Carried:
    if session.work_dir not in _carried:
        total = session.budget if session.budget is not None else target.max_requests
        per_worker = max(1, total // max(1, session.workers))
        # kept back for putting runs back if the budget runs out mid-test: a GET and a write,
        # for each of the (at most two) runs a test holds
        budget = Budget(per_worker, reserve=0 if session.control_url else 4, spent_message=session.budget_note)
        pacer = Pacer(target.max_rps / session.workers if target.max_rps else None)
        _carried[session.work_dir] = _Carried(budget, pacer, Liveness(session.deadline))
    return _carried[session.work_dir]


def why_nothing_more_is_sent(work_dir: str) -> str | None:
    """Why this process's earlier pytest sessions left nothing to send with (the target stopped
    answering, the deadline passed, the budget is spent), so that a later one need not start;
    None if they did not, or there were none."""
    carried = _carried.get(work_dir)
    if carried is None:
        return None
    try:
        carried.liveness.check()
    except (DeadlineReached, TargetStoppedAnswering) as exc:
        return str(exc)
    return carried.budget.spent_message if carried.budget.is_spent() else None


class SetUpFailed(RuntimeError):
    """A suite could not arrange what it needs (not a finding about the target)."""


class SuiteStopped(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A harness problem inside hypothesis, carried out at once.

    Hypothesis re-raises a skip without shrinking or replaying the example, so a target whose
    state has moved on is never asked to repeat a failure; the plugin reports the real cause.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"stopped: {type(cause).__name__}: {cause}")
        self.cause = cause


class Harness:
    """What a suite works with: the target, a recording client, runs to use, the profile."""

    def __init__(self, session: SessionSettings) -> None:
        self.settings = session
        self.target: Target = current_target() if current_session() is session else load_target(session.target_file)
        self.profile: Profile = session.sized_profile
        self.control = SandboxControl(session.control_url.removesuffix("/_control")) if session.control_url else None
        credentials = Credentials(self.target.token, self.target.foreign_token)
        if self.control is not None:
            credentials.expired = self.control.token(self.target.account_id, expired=True)
        self.document = ContractDocument.load(session.contract_file)
        self.recorder = Recorder(self.target.secrets)
        carried = _carried_for(session, self.target)
        # what earlier pytest sessions of this process already reported of the shared liveness
        self._liveness_before = carried.liveness.unanswered, carried.liveness.waited_429_s
        self.client = ApiClient(
            self.target,
            budget=carried.budget,
            on_exchange=self.recorder.record,
            credentials=credentials,
            pacer=carried.pacer,
            documented=self.document.statuses,
            liveness=carried.liveness,
        )
        self.history_override: int | None = None  # the first pass's history size
        work = Path(session.work_dir)
        self.runs: SandboxRuns | FileRuns = (
            SandboxRuns(self.control, self.target.account_id)
            if self.control is not None
            else FileRuns(self.target, self.client, work / "locks")
        )

    @property
    def is_sandbox(self) -> bool:
        return self.control is not None

    @property
    def unanswered(self) -> int:
        """Requests sent in this pytest session that got no answer."""
        return self.client.liveness.unanswered - self._liveness_before[0]

    @property
    def waited_429_s(self) -> float:
        """Seconds this pytest session spent waiting out 429s."""
        return self.client.liveness.waited_429_s - self._liveness_before[1]

    def at_first_pass_size(self) -> Harness:
        """This harness (the same client, recorder and runs) at the first pass's size: one
        example per property, one round, a 16-operation history even on a target file."""
        small = copy.copy(self)
        small.profile = dataclasses.replace(FIRST_PASS, rate_probe_requests=self.profile.rate_probe_requests)
        small.history_override = FIRST_PASS.history_ops
        return small

    @property
    def history_ops(self) -> int:
        if self.history_override is not None:
            return self.history_override
        if self.settings.history_ops is not None:
            return self.settings.history_ops
        return self.profile.history_ops if self.is_sandbox else 0

    @property
    def rounds(self) -> int:
        return self.profile.rounds_sandbox if self.is_sandbox else self.profile.rounds_file

    @contextmanager
    def run(self, role: str) -> Iterator[RunRef]:
        """A run of the role for this test (skipped, saying why, if the target has none)."""
        try:
            with self.runs.use(role) as run:
                yield run
        except RoleMissing as exc:
            pytest.skip(str(exc))

    def fresh(self, run: RunRef) -> RunRef:
        """A run of `run`'s role as its role says it is, for a new sequence of requests: a new
        one on the sandbox; on a target file the same one, put back in its role's state."""
        if self.control is not None:
            return self.control.new_run(run.role, self.target.account_id)
        ready_or_raise(restore_run(self.client.restoring(), run), f"a new sequence could not start from its role ({run.role})")
        return run

    def other_run(self, run: RunRef) -> RunRef | None:
        """Another run of the account, to read only: a new one on the sandbox, another listed one
        on a target file (None if it lists no other)."""
        if self.control is not None:
            return self.control.new_run("live", self.target.account_id)
        return next((r for r in self.target.runs if r.fielding_run_id != run.fielding_run_id), None)

    def other_run_tag(self, run: RunRef) -> str | None:
        """The current ETag of some other run (read only), for 'another run's tag' cases."""
        other = self.other_run(run)
        return self.client.snapshot(other).etag if other is not None else None

    def require(self, exchange: Exchange, status: int, doing: str) -> Exchange:
        """A set-up step must have worked before a test goes on to judge what follows it: an
        unexpected status stops the test as a harness problem, not a verdict (e.g. a 429 that
        outlasted the wait). Whatever the rules found about the step is kept either way."""
        if exchange.status != status:
            answered = f"{doing}: {exchange.method} {exchange.operation} answered {exchange.status}, needed {status}"
            if _breaks_a_rule(exchange):  # the target's fault, a finding already: never blamed on the harness
                raise TargetFault(f"the target refused a step the contract says must work ({answered})")
            raise SetUpFailed(answered)
        return exchange

    def require_state(self, snapshot: Snapshot, doing: str) -> Snapshot:
        """A GET that must show the run (200, a status and an ETag) before a test can go on."""
        if snapshot.status_code != 200 or snapshot.status is None or snapshot.etag is None:
            answered = f"{doing}: GET answered {snapshot.status_code} without a run's status and ETag"
            if snapshot.status_code == 200 or snapshot.status_code >= 500:  # a finding of its own (run_body_documented, ...)
                raise TargetFault(f"the target did not show the run ({answered})")
            raise SetUpFailed(answered)
        return snapshot

    @property
    def phases(self) -> list[Phase]:
        """Hypothesis phases for the suites' own settings: no shrinking (see SuiteStopped)."""
        return list(PHASES)

    def judge(self, check: SequenceCheck) -> Judged:
        """A sequence check (from fieldproof.rules) to feed; its findings are kept with the test's."""
        return self.recorder.judge(check)

    @contextmanager
    def stopping(self) -> Iterator[None]:
        """Inside hypothesis: any harness problem stops the test at once (see SuiteStopped)."""
        try:
            yield
        except SuiteStopped:
            raise
        except Exception as exc:
            raise SuiteStopped(exc) from exc

    def explore(self, strategy: st.SearchStrategy[T], body: Callable[[T], None]) -> None:
        """Run `body` for the examples hypothesis draws. Findings never stop it; a harness
        problem stops it at once, without shrinking or replaying against the target."""

        @settings(max_examples=self.profile.examples)
        @given(strategy)
        def property_(value: T) -> None:
            with self.stopping():
                body(value)

        property_()

    def note_first_pass(self, step: str, rules: tuple[str, ...], outcome: str, cost: int) -> None:
        """What a first-pass step did (done, skipped, stopped), the rules it exercises and the
        requests it costs on a target file, for the summary."""
        config = _current.get("config")
        if config is not None:
            write_records(_worker_file(config), [FirstPassRecord(step, rules, outcome, cost)])

    def close(self) -> None:
        self.client.close()
        if self.control is not None:
            self.control.close()


def _breaks_a_rule(exchange: Exchange) -> bool:
    """Whether a rule on its status found an exchange wrong (judged again: rules are pure): an
    expectation rule, or documented_status. What it said of itself (a missing header) does not
    make a status the harness did not expect the target's fault."""
    return any(found and (EXCHANGE_RULES[name].expectation or name == "documented_status")
               for name, found in judge_exchange(exchange).items())  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fieldproof-session", metavar="FILE", help="session settings written by `fieldproof run`")


def _worker_file(config: pytest.Config) -> Path:
    session: SessionSettings = config._fieldproof_session  # type: ignore[attr-defined]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return process_file(Path(session.work_dir), f"{session.part}{worker}")


_current: dict[str, Any] = {}


def current_session() -> SessionSettings | None:
    """The session this pytest process serves (None outside `fieldproof run`), for suites that
    must know their target when their module is imported (schemathesis binds then)."""
    return _current.get("session")


def current_target() -> Target:
    if "target" not in _current:
        _current["target"] = load_target(_current["session"].target_file)
    target: Target = _current["target"]
    return target


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--fieldproof-session")
    if not path:
        return
    session = SessionSettings.load(path)
    _current["config"] = config
    if hasattr(config, "workerinput"):  # an xdist worker: the first signal stops it as Ctrl-C does, once
        stop_once()
    _current["session"] = session
    _current.pop("target", None)  # read again: this pytest session may serve another target file
    config._fieldproof_session = session  # type: ignore[attr-defined]
    config._fieldproof_harness = None  # type: ignore[attr-defined]
    settings.register_profile(
        "fieldproof",
        max_examples=session.sized_profile.examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=os.environ.get("FIELDPROOF_SEED") is None,
        phases=PHASES,
    )
    settings.load_profile("fieldproof")
    if session.progress:
        writer = ProgressWriter(_worker_file(config).with_suffix(".progress.json"), lambda: _progress(config))
        config._fieldproof_progress = writer  # type: ignore[attr-defined]
        writer.start()


def _progress(config: pytest.Config) -> WorkerStatus:
    harness: Harness | None = getattr(config, "_fieldproof_harness", None)
    if harness is None:
        return WorkerStatus(cases=cases_counted())
    return WorkerStatus(requests=harness.recorder.requests + harness.unanswered, findings=dict(harness.recorder.severities),
                        waiting_until=harness.client.liveness.waiting_until, cases=cases_counted())  # fmt: skip


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fieldproof-session"):
        return
    items.sort(key=lambda item: suites.rank(item.nodeid.partition("::")[0]))  # stable: in-module order kept
    if any(Path(item.nodeid.partition("::")[0]).stem == "test_first_pass" for item in items):
        twice = [item for item in items if _run_as_is_by_the_first_pass(item)]
        if twice:  # what the first pass sends as it is, a suite does not send again
            config.hook.pytest_deselected(items=twice)
            items[:] = [item for item in items if item not in twice]


def _run_as_is_by_the_first_pass(item: pytest.Item) -> bool:
    session, target = current_session(), current_target()
    sandbox = session is not None and session.control_url is not None
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(entry.matches(item.nodeid, params) and entry.runs_on(target, sandbox) for entry in suites.AS_IS)


def pytest_unconfigure(config: pytest.Config) -> None:
    writer = getattr(config, "_fieldproof_progress", None)
    if writer is not None:
        writer.stop()


@pytest.fixture(scope="session")
def fp(request: pytest.FixtureRequest) -> Iterator[Harness]:
    session = getattr(request.config, "_fieldproof_session", None)
    if session is None:
        pytest.skip("fieldproof suites run through `fieldproof run` (no --fieldproof-session given)")
    harness = Harness(session)
    request.config._fieldproof_harness = harness  # type: ignore[attr-defined]
    yield harness
    harness.close()


class ContractViolation(AssertionError):
    """Raised at a test's end when the rules found something during it; carries the groups."""

    def __init__(self, groups: list[FindingGroup]) -> None:
        super().__init__(format_groups(groups))
        self.groups = groups


class Stopped(Exception):
    """A test stopped by a harness problem (from SuiteStopped): reported as what it was."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


_GROUPS = pytest.StashKey[list[FindingGroup]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test fails at its end when the rules found anything during it (never before: a
    finding does not stop it); a harness problem that stopped it fails it as that problem."""
    harness: Harness | None = getattr(item.config, "_fieldproof_harness", None)
    try:
        result = yield
    except SuiteStopped as stopped:
        raise Stopped(stopped.cause) from None
    finally:
        if harness is not None:
            item.stash[_GROUPS] = harness.recorder.take_groups()
    groups = item.stash.get(_GROUPS, [])
    if groups:
        raise ContractViolation(groups)
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    yield
    harness: Harness | None = getattr(item.config, "_fieldproof_harness", None)
    if harness is None:
        return
    groups = item.stash.get(_GROUPS, []) if call.when == "call" else []
    records: list[Record] = [group.record(item.nodeid) for group in groups]
    if call.when == "call":
        records += harness.recorder.take_evidence(item.nodeid)
    error = call.excinfo.value if call.excinfo else None  # in a fixture's set-up or teardown too
    if error is not None and not isinstance(error, (ContractViolation, pytest.skip.Exception)):
        if isinstance(error, (SuiteStopped, Stopped)):
            error = error.cause
        records.append(problem_of(error, item.nodeid))
    write_records(_worker_file(item.config), records, harness.target.secrets)


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness: Harness | None = getattr(session.config, "_fieldproof_harness", None)
    if harness is not None:
        totals = harness.recorder.totals(harness.unanswered, harness.waited_429_s, harness.client.pacer.learned_rps)
        write_records(_worker_file(session.config), [totals])
