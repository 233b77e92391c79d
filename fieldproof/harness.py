"""What the suites work with, and the one object a part keeps in pytest's `config.stash`.

A session (one `fieldproof run`) runs its suites in one or more parts, each a pytest session
(fieldproof.session). A part's settings (`PartSettings`: target file, sandbox control URL,
profile, work folder, request budget, deadline, ...) reach its processes by one channel: a
JSON file the session writes and names in FIELDPROOF_PART (xdist workers inherit it). Tokens
never go in that file: they come through the environment only, as the target file names them.

Each process of a part keeps one `ProcessState` (the settings, the target, and the `Limits` it
sends within: budget, pacer, liveness) in `config.stash[STATE]`, built by `build_state`. Parts
that run in one process (the session's, without xdist) are handed the limits the parts before
them spent from, explicitly, by the session. Results go back only as records (fieldproof.records)
in the part's work folder.

The suites import this module (and the library), never each other; the probes more than one
suite runs live in fieldproof.probes. "Run" in this package means a fielding run, the API's
resource.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from fieldproof.client.limits import Budget, Liveness, Pacer
from fieldproof.client.recording import ApiClient, Credentials
from fieldproof.document import ContractDocument
from fieldproof.errors import DeadlineReached, RoleMissing, TargetFault, TargetStoppedAnswering
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import Auth
from fieldproof.fielding_runs import FileRuns, SandboxRuns, ready_or_raise, restore_run
from fieldproof.profiles import FIRST_PASS, Profile, profile_for
from fieldproof.recorder import Judged, Recorder
from fieldproof.records import CreatedRecord, DeletedRecord, FirstPassRecord, process_file, write_records
from fieldproof.resource_restore import DELETE_REQUESTS
from fieldproof.resources import JudgedResource, judged_resources
from fieldproof.rules import EXCHANGE_RULES, SequenceJudge, judge_exchange
from fieldproof.sandbox.control_client import SandboxControl
from fieldproof.target import RunRef, Target, load_target

if TYPE_CHECKING:
    from fieldproof.progress import ProgressWriter

T = TypeVar("T")
# Findings never fail an example, so there is nothing to shrink; a harness problem stops the
# test at once (SuiteStopped), never replayed against a target that has moved on.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)

# Names the part's settings file in a part's processes (the one channel for settings; see above).
PART_ENV = "FIELDPROOF_PART"


@dataclass(frozen=True)
class PartSettings:
    """What one part (a pytest session of a `fieldproof run` session) needs to know."""

    target_file: str
    work_dir: str  # the session's own folder for the processes' records and locks
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
    part: str = ""  # which of the session's parts, in its processes' file names
    suites: tuple[str, ...] = ()  # the suites the user chose (none: all); the first pass's as-is tests come from any
    seed: int | None = None  # --seed; None: hypothesis derandomized
    resource_kinds: tuple[str, ...] = ()  # the kinds besides fielding runs the locking oracles judge (--resources)

    @classmethod
    def load(cls, path: str) -> PartSettings:
        values = json.loads(Path(path).read_text())
        return cls(**{**values, "suites": tuple(values.get("suites", ())),
                      "resource_kinds": tuple(values.get("resource_kinds", ()))})

    @classmethod
    def from_environment(cls) -> PartSettings | None:
        """The settings of the part this process serves (None outside `fieldproof run`)."""
        path = os.environ.get(PART_ENV)
        return cls.load(path) if path else None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @property
    def is_sandbox(self) -> bool:
        return self.control_url is not None

    @property
    def sized_profile(self) -> Profile:
        """The profile at its size for this part's target: the sandbox's, or a target file's."""
        return profile_for(self.profile, sandbox=self.is_sandbox)

    def chose(self, suite: str) -> bool:
        return not self.suites or suite in self.suites


@dataclass(frozen=True)
class Limits:
    """What a process sends within: one request budget, one learned rate, one liveness (the
    target stopped answering, the deadline passed). A session whose parts run in one process
    hands the same limits to each (fieldproof.session), so that they spend one budget, keep the
    rate learned, and a later part does not send to a target that stopped answering."""

    budget: Budget
    pacer: Pacer
    liveness: Liveness

    @classmethod
    def for_part(cls, settings: PartSettings, target: Target) -> Limits:
        """A process's share of the session's limits (each xdist worker takes one)."""
        total = settings.budget if settings.budget is not None else target.max_requests
        per_worker = max(1, total // max(1, settings.workers))
        # kept back for putting runs back if the budget runs out mid-test: a GET and a write,
        # for each of the (at most two) runs a test holds; and for deleting the resource a test
        # created, where it may create one
        creating = any(kind in target.create_delete for kind in settings.resource_kinds)
        reserve = 0 if settings.control_url else 4 + (DELETE_REQUESTS if creating else 0)
        budget = Budget(per_worker, reserve=reserve, spent_message=settings.budget_note)
        pacer = Pacer(target.max_rps / settings.workers if target.max_rps else None)
        return cls(budget, pacer, Liveness(settings.deadline))

    def why_nothing_more_is_sent(self) -> str | None:
        """Why nothing more can be sent within these limits (the target stopped answering, the
        deadline passed, the budget is spent), so that a later part need not start; None if
        something can."""
        try:
            self.liveness.raise_if_stopped()
        except (DeadlineReached, TargetStoppedAnswering) as exc:
            return str(exc)
        return self.budget.spent_message if self.budget.is_spent() else None


# A first-pass test run as it is: its test function and the parameters it is called with.
AsIs = tuple[Callable[..., None], dict[str, Any]]


@dataclass
class ProcessState:
    """Everything one process of a part keeps, in `config.stash[STATE]` (see the module's doc)."""

    settings: PartSettings
    target: Target
    limits: Limits
    harness: Harness | None = None  # the `fp` fixture's, once a test asked for it
    progress: ProgressWriter | None = None
    as_is: dict[str, list[AsIs]] = field(default_factory=dict)  # first-pass step: the marked tests it runs

    @property
    def records_file(self) -> Path:
        """This process's records file: the part and the xdist worker (or "main") in its name."""
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return process_file(Path(self.settings.work_dir), f"{self.settings.part}{worker}")


STATE = pytest.StashKey[ProcessState]()


def build_state(settings: PartSettings, limits: Limits | None = None) -> ProcessState:
    """The one place a process's state is built: the target read from its file, and the limits
    given (those of the session's earlier parts in this process) or this process's share."""
    target = load_target(settings.target_file)
    return ProcessState(settings, target, limits if limits is not None else Limits.for_part(settings, target))


def first_pass_runs_on(params: dict[str, Any], target: Target, sandbox: bool) -> bool:
    """Whether the first pass sends a test it runs as it is on this target: the credential and
    the run it needs are there (if not, neither the first pass nor its suite sends it; the suite
    says why)."""
    auth = params.get("auth")  # another account's token is the target file's to give; an expired one only the sandbox mints
    if auth is Auth.FOREIGN and target.foreign_token is None or auth is Auth.EXPIRED and not sandbox:
        return False
    role = params.get("role")
    return sandbox or role is None or bool(target.runs_of(role))


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

    def __init__(self, state: ProcessState) -> None:
        part = state.settings
        self.state = state
        self.settings = part
        self.target: Target = state.target
        self.profile: Profile = part.sized_profile
        self.control = SandboxControl(part.control_url.removesuffix("/_control")) if part.control_url else None
        credentials = Credentials(self.target.token, self.target.foreign_token)
        if self.control is not None:
            credentials.expired = self.control.token(self.target.account_id, expired=True)
        self.document = ContractDocument.load(part.contract_file)
        self.recorder = Recorder(self.target.secrets)
        limits = state.limits
        # what earlier parts in this process already reported of the shared liveness
        self._liveness_before = limits.liveness.unanswered, limits.liveness.waited_429_s
        self.client = ApiClient(
            self.target,
            budget=limits.budget,
            on_exchange=self.recorder.record,
            credentials=credentials,
            pacer=limits.pacer,
            documented=self.document.documented,
            liveness=limits.liveness,
        )
        self.history_override: int | None = None  # the first pass's history size
        # the resources besides fielding runs this session judges: the target's, of the kinds chosen
        self.resources: tuple[JudgedResource, ...] = judged_resources(self.document, self.target, part.resource_kinds)
        work = Path(part.work_dir)
        self.runs: SandboxRuns | FileRuns = (
            SandboxRuns(self.control, self.target.account_id)
            if self.control is not None
            else FileRuns(self.target, self.client, work / "locks")
        )

    def record_lifecycle(self, record: CreatedRecord | DeletedRecord) -> None:
        """A resource a test created, or deleted again, written at once: what the session deletes
        at its end if the test could not."""
        write_records(self.state.records_file, [record], self.target.secrets)

    @property
    def is_sandbox(self) -> bool:
        return self.control is not None

    @property
    def unanswered(self) -> int:
        """Requests sent in this part that got no answer."""
        return self.client.liveness.unanswered - self._liveness_before[0]

    @property
    def waited_429_s(self) -> float:
        """Seconds this part spent waiting out 429s."""
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
        if snapshot.status_code != 200 or snapshot.run_status is None or snapshot.etag is None:
            answered = f"{doing}: GET answered {snapshot.status_code} without a run's status and ETag"
            if snapshot.status_code == 200 or snapshot.status_code >= 500:  # a finding of its own (run_body_documented, ...)
                raise TargetFault(f"the target did not show the run ({answered})")
            raise SetUpFailed(answered)
        return snapshot

    @property
    def phases(self) -> list[Phase]:
        """Hypothesis phases for the suites' own settings: no shrinking (see SuiteStopped)."""
        return list(PHASES)

    def judge(self, check: SequenceJudge) -> Judged:
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

    def run_as_is(self, step: str) -> None:
        """The tests marked `first_pass(step)` that this target can run, each called as its suite
        calls it (the plugin gathered them at collection; their suites leave them out)."""
        for test, params in self.state.as_is.get(step, []):
            test(self, **params)

    def note_first_pass(self, step: str, rules: tuple[str, ...], outcome: str, cost: int) -> None:
        """What a first-pass step did (done, skipped, stopped), the rules it exercises and the
        requests it costs on a target file, for the summary."""
        write_records(self.state.records_file, [FirstPassRecord(step, rules, outcome, cost)])

    def close(self) -> None:
        self.client.close()
        if self.control is not None:
            self.control.close()


def _breaks_a_rule(exchange: Exchange) -> bool:
    """Whether a rule on its status found an exchange wrong (judged again: rules are pure): an
    expectation rule, or documented_status. What it said of itself (a missing header) does not
    make a status the harness did not expect the target's fault."""
    return any(found and (EXCHANGE_RULES[name].expectation or name == "documented_status")
               for name, found in judge_exchange(exchange).items())
