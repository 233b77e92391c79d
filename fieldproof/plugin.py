"""The pytest plugin behind `fieldproof run`: options, the harness fixture, findings hooks.

`fieldproof run` writes a run file (JSON: target file, sandbox control URL, profile, reports
dir, request budget) and starts pytest with `--fieldproof-run FILE`; tokens come through the
environment only. Each pytest process (xdist worker) builds its own client and writes its
findings and totals to `<reports>/.fieldproof/<worker>.jsonl`, which the report merges.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, settings

from fieldproof.client.recording import ApiClient, Budget, BudgetExhausted, Credentials, SandboxControl, TargetUnreachable
from fieldproof.profiles import PROFILES, Profile
from fieldproof.recorder import ContractViolation, Recorder, append_lines, format_findings
from fieldproof.runs import FileRuns, RoleMissing, SandboxRuns
from fieldproof.target import RunRef, Target, load_target

WORK_DIR = ".fieldproof"


@dataclass(frozen=True)
class RunSettings:
    target_file: str
    reports_dir: str
    profile: str = "default"
    control_url: str | None = None
    budget: int | None = None  # None: the target's max_requests
    workers: int = 1
    rate_limit_probe: bool = False
    history_ops: int | None = None  # None: the profile's on the sandbox, none on a file target

    @classmethod
    def load(cls, path: str) -> RunSettings:
        return cls(**json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))


class SetUpFailed(RuntimeError):
    """A suite could not arrange what it needs (not a finding about the target)."""


class Harness:
    """What a suite works with: the target, a recording client, runs to use, the profile."""

    def __init__(self, run: RunSettings) -> None:
        self.settings = run
        self.target: Target = current_target() if current_run() is run else load_target(run.target_file)
        self.profile: Profile = PROFILES[run.profile]
        self.control = SandboxControl(run.control_url.removesuffix("/_control")) if run.control_url else None
        credentials = Credentials(self.target.token, self.target.foreign_token)
        if self.control is not None:
            credentials.expired = self.control.token(self.target.account_id, expired=True)
        self.recorder = Recorder(tuple(t for t in (credentials.main, credentials.foreign, credentials.expired) if t))
        total = run.budget if run.budget is not None else self.target.max_requests
        per_worker = max(1, total // max(1, run.workers))
        max_rps = self.target.max_rps / run.workers if self.target.max_rps else None
        self.client = ApiClient(
            self.target,
            # kept back for putting runs back if the budget runs out mid-test: a GET and a
            # write, for each of the (at most two) runs a test holds
            budget=Budget(per_worker, reserve=0 if run.control_url else 4),
            on_exchange=self.recorder.record,
            credentials=credentials,
            max_rps=max_rps,
        )
        work = Path(run.reports_dir) / WORK_DIR
        self.runs: SandboxRuns | FileRuns = (
            SandboxRuns(self.control, self.target.account_id)
            if self.control is not None
            else FileRuns(self.target, self.client, work / "locks")
        )

    @property
    def is_sandbox(self) -> bool:
        return self.control is not None

    @property
    def history_ops(self) -> int:
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

    def other_run_tag(self, run: RunRef) -> str | None:
        """The current ETag of some other run (read only), for 'another run's tag' cases."""
        if self.control is not None:
            other = self.control.new_run("live", self.target.account_id)
        else:
            other = next((r for r in self.target.runs if r.fielding_run_id != run.fielding_run_id), None)
        return self.client.snapshot(other).etag if other is not None else None

    def check(self) -> None:
        self.recorder.check()

    def require(self, exchange: Any, status: int, doing: str) -> Any:
        """A set-up step must have worked before a test goes on to judge what follows it.

        A rule's finding about the step is raised first; otherwise an unexpected status stops the
        test as a harness problem (not a verdict): e.g. a 429 that outlasted the wait.
        """
        self.check()
        if exchange.status != status:
            raise SetUpFailed(f"{doing}: {exchange.method} {exchange.operation} answered {exchange.status}, needed {status}")
        return exchange

    def judge(self, rule: Any, *args: Any) -> None:
        """Apply a sequence rule (from fieldproof.rules) and raise if it found anything."""
        self.recorder.judge_sequence(rule, *args)
        self.check()

    def close(self) -> None:
        self.client.close()
        if self.control is not None:
            self.control.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fieldproof-run", metavar="FILE", help="run file written by `fieldproof run`")


def _worker_file(config: pytest.Config) -> Path:
    run: RunSettings = config._fieldproof_run  # type: ignore[attr-defined]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return Path(run.reports_dir) / WORK_DIR / f"{worker}.jsonl"


_current: dict[str, Any] = {}


def current_run() -> RunSettings | None:
    """The run this pytest process serves (None outside `fieldproof run`), for suites that must
    know their target when their module is imported (schemathesis binds then)."""
    return _current.get("run")


def current_target() -> Target:
    if "target" not in _current:
        _current["target"] = load_target(_current["run"].target_file)
    return _current["target"]


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--fieldproof-run")
    if not path:
        return
    run = RunSettings.load(path)
    _current["run"] = run
    config._fieldproof_run = run  # type: ignore[attr-defined]
    config._fieldproof_harness = None  # type: ignore[attr-defined]
    settings.register_profile(
        "fieldproof",
        max_examples=PROFILES[run.profile].examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=os.environ.get("FIELDPROOF_SEED") is None,
    )
    settings.load_profile("fieldproof")


@pytest.fixture(scope="session")
def fp(request: pytest.FixtureRequest) -> Iterator[Harness]:
    run = getattr(request.config, "_fieldproof_run", None)
    if run is None:
        pytest.skip("fieldproof suites run through `fieldproof run` (no --fieldproof-run given)")
    harness = Harness(run)
    request.config._fieldproof_harness = harness  # type: ignore[attr-defined]
    yield harness
    harness.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    harness: Harness | None = getattr(item.config, "_fieldproof_harness", None)
    if harness is None or call.when != "call":
        return
    report = outcome.get_result()
    findings = harness.recorder.take_pending()
    lines = []
    error = call.excinfo.value if call.excinfo else None
    if isinstance(error, ContractViolation):
        findings = error.findings + findings
    elif isinstance(error, BudgetExhausted):
        lines.append(json.dumps({"type": "budget_exhausted", "test": item.nodeid, "message": str(error)}))
    elif isinstance(error, TargetUnreachable):
        lines.append(json.dumps({"type": "unreachable", "test": item.nodeid, "message": str(error)}))
    elif error is not None and not isinstance(error, pytest.skip.Exception):
        lines.append(json.dumps({"type": "error", "test": item.nodeid, "message": f"{type(error).__name__}: {error}"}))
    lines += [harness.recorder.finding_line(f, item.nodeid) for f in findings]
    if findings and report.passed:
        report.outcome = "failed"
        report.longrepr = format_findings(findings)
    append_lines(_worker_file(item.config), lines)


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness: Harness | None = getattr(session.config, "_fieldproof_harness", None)
    if harness is not None:
        append_lines(_worker_file(session.config), [harness.recorder.totals_line()])
