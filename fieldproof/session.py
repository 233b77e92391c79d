"""`fieldproof run`: one session against one target, in three steps.

1. `set_up`: check every flag and file, take the locks (one session per target, one writer per
   reports folder), start the sandbox or read the target file, check the target answers and put
   back any run an earlier session left changed (saying so), and read each judged resource
   (`--resources`, the target file's [[resources]]) once, to put it back at the end.
2. `_run_suites`: the suites under pytest (+ xdist), within the request budget and deadline;
   schemathesis in a part (a pytest session) of its own after the others (`_parts` says why).
3. `finish`: put every listed run and judged resource back (and delete what a test created and
   did not), write the reports, and `exit_code()` picks the code
   (fieldproof.errors.ExitCode says what each means).

However the session ends (a finding, a harness error, SIGINT, SIGTERM, SIGHUP, the budget or
the deadline), steps 3's restore and reports run; a signal makes the verdict "interrupted".
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

import pytest

from fieldproof import suites
from fieldproof.baseline import Baseline, load_baseline, write_baseline
from fieldproof.client.limits import Budget, Liveness
from fieldproof.client.recording import ApiClient
from fieldproof.document import ContractDocument
from fieldproof.errors import (
    BaselineError,
    BrokenResponse,
    BudgetExhausted,
    DeadlineReached,
    ExitCode,
    SandboxError,
    TargetError,
    TargetUnreachable,
    TokenRejected,
    UsageError,
)
from fieldproof.exchange import Snapshot, redact_text
from fieldproof.fielding_runs import restore_run
from fieldproof.files import validate_reports_folder, write_file
from fieldproof.harness import PART_ENV, Limits, PartSettings, build_state
from fieldproof.interrupts import Interrupts, RestoreAborted
from fieldproof.locks import reports_lock, target_lock, validate_wait
from fieldproof.plugin import GivenState
from fieldproof.profiles import PROFILES
from fieldproof.progress import Progress
from fieldproof.records import TestRecord, left_created, process_file, read_records, write_records
from fieldproof.report import (
    TestOutcomes,
    build_summary,
    render_console,
    render_html,
    render_markdown,
)
from fieldproof.report.junit import render_junit
from fieldproof.report.sarif import render_sarif
from fieldproof.report.summary import (
    PASS,
    VIOLATION,
    Summary,
)
from fieldproof.resource_restore import (
    DELETE_REQUESTS,
    RESTORE_REQUESTS,
    Kept,
    created_ref,
    delete_created,
    judged_kinds,
    put_of,
    restore_resource,
    validate_choice,
    validate_target_resources,
)
from fieldproof.resources import JudgedResource, judged_resources, look
from fieldproof.sandbox.settings import load_settings
from fieldproof.target import SANDBOX_SOURCE, Target, load_target
from fieldproof.userdirs import fieldproof_folder

SANDBOX_BUDGET = 10**7  # the built-in sandbox is ours: no budget to speak of
RESTORE_SHARE = 0.25  # of max_duration_s, at most, kept for putting the runs back


@dataclass(frozen=True)
class SessionOptions:
    target: str | None = None
    profile: str = "default"
    workers: str = "1"
    reports: str = "reports"
    seed: int | None = None
    suites: tuple[str, ...] = ()  # names of fieldproof/suites/test_<name>.py; empty: all
    fail_fast: bool = False  # stop at the first failing test
    history_size: int | None = None  # linearizability history; None: the profile's (sandbox only)
    contract: str | None = None  # a provider's own OpenAPI document; None: ours
    baseline: str | None = None  # accepted findings (fieldproof.baseline)
    baseline_update: str | None = None  # write a baseline accepting this session's findings
    wait_for_lock_s: float = 0.0  # how long to wait for another session on the same target
    quiet: bool = False  # no progress line
    sandbox_env: dict[str, str] = field(default_factory=dict)  # FIELDPROOF_SANDBOX_* over the environment's (--fault)
    resources: tuple[str, ...] | None = None  # --resources: kinds besides fielding runs, or ("all",); None: the flag left out


@dataclass
class Session:
    """One `fieldproof run`: what was set up, and what happened."""

    options: SessionOptions
    workers: int
    document: ContractDocument
    baseline: Baseline | None
    reports: Path
    work: Path  # this session's own folder (workers' lines, locks)
    target_file: Path
    target: Target
    control_url: str | None  # the built-in sandbox's control API; None on a target file
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    notes: list[str] = field(default_factory=list)
    requests_outside: int = 0  # requests sent outside pytest (checking, putting back)
    suites_s: float = 0.0
    resource_kinds: tuple[str, ...] = ()  # the kinds besides fielding runs judged (resource_restore.judged_kinds)
    kept: list[Kept] = field(default_factory=list)  # what the first read showed of each judged resource with a PUT

    @property
    def is_sandbox(self) -> bool:
        return self.control_url is not None

    @property
    def judged(self) -> tuple[JudgedResource, ...]:
        return judged_resources(self.document, self.target, self.resource_kinds)

    @property
    def restore_cost(self) -> int:
        """Requests kept to put every listed run back (a GET and a pause or resume each), every
        judged resource (a GET, the PUT back, a GET to verify), and what a test of each process
        may have created and not yet deleted, of each kind it may create (a GET, a DELETE, a GET)."""
        resources = sum(1 for judged in self.judged if put_of(judged.kind) is not None)
        creating = sum(1 for kind in self.resource_kinds if kind in self.target.create_delete)
        return 2 * len(self.target.runs) + RESTORE_REQUESTS * resources + DELETE_REQUESTS * creating * self.workers

    @property
    def restore_reserve_s(self) -> float:
        """Seconds kept at the end of max_duration_s for putting every listed run back: enough
        for each of its requests to take timeout_s and wait its turn under max_rps, but never
        more than RESTORE_SHARE of max_duration_s (a run not put back in time is put back first
        by the next session, and said so)."""
        if self.is_sandbox:
            return 0.0
        pace = 1.0 / self.target.max_rps if self.target.max_rps else 0.0
        return min(self.restore_cost * (self.target.timeout_s + pace), self.target.max_duration_s * RESTORE_SHARE)

    @property
    def suites_deadline(self) -> float:
        """When the suites stop sending (time.time()): max_duration_s less the restore's reserve."""
        return self.started_at + self.target.max_duration_s - self.restore_reserve_s


class _Outcomes:
    """A pytest plugin on the controlling process (every worker's reports reach it): each test's
    outcome goes to the session's records, as the workers' findings do; only the counts for the
    progress line are kept here, over every part the suites run in."""

    def __init__(self, records_file: Path, secrets: tuple[str, ...]) -> None:
        self.records_file, self.secrets = records_file, secrets
        self.done = self.failed = 0
        self.total = 0  # tests collected, in every part so far
        self._before = 0  # ... before this one

    def progress(self) -> tuple[int, int]:
        """(tests done, tests collected so far)."""
        return self.done, self.total

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._before = self.total

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = max(self.total, self._before + len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.total = max(self.total, self._before + len(ids))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.failed += 1
            self._write(TestRecord(report.nodeid, "uncollected", message=str(report.longrepr)[-2000:]))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.done += 1
            if report.passed:
                self._write(TestRecord(report.nodeid, "passed", report.duration))
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                self._write(TestRecord(report.nodeid, "skipped", report.duration, reason.removeprefix("Skipped: ")))
            else:
                self.failed += 1
                self._write(TestRecord(report.nodeid, "failed", report.duration, str(report.longrepr)[-4000:]))
        elif report.when == "teardown" and report.failed:
            self.failed += 1
            self._write(TestRecord(report.nodeid, "failed", report.duration, str(report.longrepr)[-4000:], teardown=True))

    def _write(self, record: TestRecord) -> None:
        write_records(self.records_file, [record], self.secrets)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_session(options: SessionOptions, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # as it is now: a default bound at import may have been closed since
    workers, document, baseline = _validate_options(options)  # every flag and file, before any request
    with Interrupts() as interrupts, ExitStack() as stack:
        try:
            session = set_up(options, workers, document, baseline, stack, out)
        except KeyboardInterrupt:  # before the suites: nothing to put back, nothing to report
            print(f"fieldproof: {interrupts.name} before the suites started; no run was changed", file=sys.stderr)
            return interrupts.exit_code or ExitCode.INTERRUPTED
        _run_suites(session, interrupts)
        summary = finish(session, interrupts, out)
    return exit_code(summary, interrupts.exit_code)


def _validate_options(options: SessionOptions) -> tuple[int, ContractDocument, Baseline | None]:
    if options.profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}, got {options.profile!r}")
    _suite_paths(options.suites)  # a misspelt suite fails before anything starts
    validate_wait(options.wait_for_lock_s)
    workers = _worker_count(options.workers)
    document = ContractDocument.load(options.contract)
    validate_choice(document, options.resources)
    baseline = load_baseline(options.baseline) if options.baseline else None
    return workers, document, baseline


def set_up(options: SessionOptions, workers: int, document: ContractDocument, baseline: Baseline | None,
            stack: ExitStack, out: TextIO, sandbox_args: tuple[str, ...] = ()) -> Session:
    reports = Path(options.reports)
    validate_reports_folder(reports)
    stack.enter_context(reports_lock(reports.resolve(), options.wait_for_lock_s))
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fieldproof-session-")))
    control_url = None
    if options.target is None:
        from fieldproof.sandbox.process import sandbox_process  # a file target's session never loads the server

        target_file = work / "sandbox-target.toml"
        stack.enter_context(_environment(options.sandbox_env))  # for the sandbox, and what the session reads of it
        try:
            sandbox = stack.enter_context(sandbox_process(["--control", "--write-target", str(target_file), *sandbox_args]))
        except SandboxError as exc:
            raise SandboxError(f"the built-in sandbox did not start: {exc}") from None
        stack.enter_context(_environment(_read_env_file(Path(str(target_file) + ".env"))))
        control_url = sandbox.root_url
    else:
        target_file = Path(options.target)
    target = load_target(target_file)
    session = Session(options, workers, document, baseline, reports, work, target_file, target, control_url)
    if not session.is_sandbox:  # the user's file: all of it; the sandbox's own: only what the session judges
        validate_target_resources(document, target)
    session.resource_kinds = judged_kinds(document, target, options.resources, session.is_sandbox)
    if session.is_sandbox:
        validate_target_resources(document, target, only=session.resource_kinds)
    stack.enter_context(target_lock(target, options.wait_for_lock_s))
    if not session.is_sandbox and target.max_requests < session.restore_cost * 2 + 20:
        listed = f"{len(target.runs)} runs" + (f" and {len(session.judged)} resources" if session.judged else "")
        raise TargetError(f"max_requests = {target.max_requests} in {target.source} is too small for "
                          f"{listed}; allow at least {session.restore_cost * 2 + 100}")
    _validate_time(session, out)
    _ready_the_runs(session, out)
    _read_the_resources(session)
    return session


def _validate_time(session: Session, out: TextIO) -> None:
    """Before the first request: does max_duration_s leave the suites time, once the restore's
    reserve is kept, and at max_rps enough of it for the first pass over every rule? Says what
    the time is split into, so that a session that ends at its deadline surprises no one."""
    if session.is_sandbox:
        return
    target, reserve = session.target, session.restore_reserve_s
    suites_s = target.max_duration_s - reserve
    runs = f"{len(target.runs)} run{'s' if len(target.runs) != 1 else ''}"
    line = (f"max_duration_s = {target.max_duration_s:g} s: the suites stop after {suites_s:g} s, keeping {reserve:g} s "
            f"to put {runs} back ({session.restore_cost} requests, each within timeout_s = {target.timeout_s:g} s)")
    if target.max_rps:
        from fieldproof.suites.test_first_pass import STEPS  # what the first pass costs on a target file

        first_pass = sum(cost for _, _, cost in STEPS.values())
        fits = int(suites_s * target.max_rps)
        if fits < first_pass:
            enough = math.ceil(first_pass / target.max_rps + reserve)
            raise TargetError(f"at max_rps = {target.max_rps:g} the suites can send about {fits} requests in the {suites_s:g} s "
                              f"max_duration_s = {target.max_duration_s:g} leaves them, and the first pass over every rule "
                              f"needs about {first_pass}: raise max_duration_s to at least {enough} or max_rps to at least "
                              f"{math.ceil(first_pass / suites_s * 100) / 100:g} in {target.source}")
        line += f"; at max_rps = {target.max_rps:g}, about {fits} requests fit"
    print(f"fieldproof: {line}", file=out)


def _ready_the_runs(session: Session, out: TextIO) -> None:
    """Is the target there, does it take the main token, and is every listed run as its role
    says? A run an earlier session left changed is put back first, and the report says so."""
    target = session.target
    budget = Budget(session.restore_cost if not session.is_sandbox else 1)
    with ApiClient(target, budget=budget) as client:
        for run in target.runs[: None if not session.is_sandbox else 1]:
            try:
                exchange = client.get(run)
            except TargetUnreachable as exc:
                hint = ("its TLS certificate is not trusted: name the CA that issued it in ca_file in the target file"
                        if "CERTIFICATE_VERIFY_FAILED" in str(exc) else "check base_url and the network")
                raise TargetUnreachable(f"cannot reach the target: {exc}; {hint}") from None
            except BrokenResponse as exc:  # the target's fault: the suites meet it again and judge it
                session.notes.append(f"before the suites: the target's answer broke HTTP ({exc})")
                continue
            if exchange.status in (401, 403):
                raise TokenRejected(f"{target.base_url} rejects the token in {target.token_env} "
                                    f"({exchange.status}); give a valid token of account {target.account_id}")
            if exchange.status == 404:
                raise TargetError(f"{target.base_url} answers 404 for run {run.fielding_run_id} ({run.role}); "
                                  "check the ids in the target file")
            if session.is_sandbox:
                continue
            try:
                restored = restore_run(client, run, Snapshot.of(exchange))
            except BrokenResponse as exc:
                session.notes.append(f"before the suites: the target's answer broke HTTP ({exc})")
                continue
            if restored.file_is_wrong:
                raise TargetError(f"{restored.note}; fix the run or its role in {target.source}")
            if restored.note:  # put back (an earlier session left it changed), used up, or the target's fault
                note = f"before the suites: {restored.note}" + (" (an earlier session left it changed)" if restored.ok else "")
                session.notes.append(note)
                print(f"fieldproof: {note}", file=out)
    session.requests_outside += budget.spent


def _read_the_resources(session: Session) -> None:
    """Read each judged resource with a PUT once, before any test may write it: what the restore
    writes back at the end. A resource the target does not have is the target file's mistake."""
    restorable = [judged for judged in session.judged if put_of(judged.kind) is not None]
    if not restorable:
        return
    target, budget = session.target, Budget(len(restorable))
    try:
        with ApiClient(target, budget=budget) as client:
            for judged in restorable:
                seen = look(client, judged, record=False)
                if seen.status_code in (401, 403):
                    raise TokenRejected(f"{target.base_url} rejects the token in {target.token_env} for {judged.label} "
                                        f"({seen.status_code}); give a token of account {target.account_id} that may read it")
                if seen.status_code == 404:
                    raise TargetError(f"{target.base_url} answers 404 for {judged.label}; fix its ids in {target.source}, "
                                      f"or leave its kind out of --resources")
                if seen.status_code != 200 or seen.etag is None:
                    session.notes.append(f"before the suites: {judged.label} could not be read as it is (GET answered "
                                         f"{seen.status_code}{'' if seen.etag else ' without an ETag'}); it will not be put back")
                session.kept.append(Kept(judged, seen))
    except BrokenResponse as exc:
        session.notes.append(f"before the suites: the target's answer broke HTTP ({exc}); the resources not read will not be put back")
    finally:
        session.requests_outside += budget.spent


def _run_suites(session: Session, interrupts: Interrupts) -> None:
    options, target = session.options, session.target
    total = SANDBOX_BUDGET if session.is_sandbox else target.max_requests - session.requests_outside - session.restore_cost
    per_worker = max(1, total // session.workers)
    split = f"{session.workers} worker{'s' if session.workers > 1 else ''} x {per_worker}"
    settings = PartSettings(
        target_file=str(session.target_file),
        work_dir=str(session.work),
        profile=options.profile,
        control_url=session.control_url,
        budget=total,
        budget_note=(f"the request budget is spent: max_requests = {target.max_requests} in {target.source}, of which "
                     f"{total} for the suites ({split}) and {target.max_requests - total} for checking and putting the "
                     "runs back"),
        workers=session.workers,
        rate_limit_probe=target.rate_limit_probe or (session.is_sandbox and _sandbox_rate_limited()),
        history_ops=options.history_size,
        contract_file=str(session.document.path) if options.contract else None,
        deadline=session.suites_deadline,
        progress=not options.quiet,
        seed=options.seed,
        resource_kinds=session.resource_kinds,
    )
    # pytest's and hypothesis' own settings; the part's go in its settings file (PART_ENV names it)
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(hypothesis_cache_dir() or Path(session.work) / "hypothesis")
    collector = _Outcomes(process_file(session.work, "controller"), target.secrets)
    progress = None
    if not options.quiet:  # the progress line instead of pytest's dots
        progress = Progress(session.work, collector.progress, None if session.is_sandbox else total, sys.stdout)
        progress.start()
    started = time.monotonic()
    # the parts run in this process (without xdist) spend one budget, keep one learned rate and
    # one liveness: each is handed them (an xdist worker takes its own share of the settings')
    limits: Limits | None = None
    try:
        with _environment(env):
            parts = _parts(options.suites, session.workers)
            for index, (part, names) in enumerate(parts):
                if interrupts.stopped or (options.fail_fast and collector.failed):
                    break
                if limits is not None and (reason := limits.why_nothing_more_is_sent()):
                    session.notes.append(f"{', '.join(names)} did not run: {reason}")
                    break
                part_settings = dataclasses.replace(settings, part=part, suites=names)
                settings_file = session.work / f"{part}part.json"
                part_settings.save(settings_file)
                if progress is not None:  # the parts after this one: their tests are not collected yet
                    progress.later = tuple(name for _, later in parts[index + 1 :] for name in later)
                plugins: list[object] = [collector, *([progress] if progress else [])]
                if session.workers == 1:
                    state = build_state(part_settings, limits)
                    limits = state.limits
                    plugins.append(GivenState(state))
                with _environment({PART_ENV: str(settings_file)}):
                    pytest.main(_pytest_args(session, names), plugins=plugins)
    except KeyboardInterrupt:  # a signal outside pytest's own handling of it
        pass
    finally:
        session.suites_s = time.monotonic() - started
        if progress is not None:
            progress.stop()


def _parts(names: tuple[str, ...], workers: int) -> list[tuple[str, tuple[str, ...]]]:
    """The parts (pytest sessions) the suites run in, in order: (part, suite names; none: all).

    schemathesis' collection builds every operation's test, examples and coverage cases
    included, before the first request; on a rate-limited target that time is lost (its bucket
    is full, and stays full). In a part of its own after the other suites, the bucket refills
    meanwhile and the pacer spends what it refilled. The parts run in this process and are
    handed one budget, one learned rate and one liveness (harness.Limits). Under xdist each part
    would start its workers and learn the rate again: one part then."""
    chosen = [name for name in suites.names() if not names or name in names]
    if workers > 1 or "schemathesis" not in chosen or chosen == ["schemathesis"]:
        return [("", names)]
    return [("", tuple(name for name in chosen if name != "schemathesis")), ("schemathesis-", ("schemathesis",))]


def _pytest_args(session: Session, names: tuple[str, ...]) -> list[str]:
    options = session.options
    args = [
        *_collected_paths(names), "-c", str(suites.FOLDER / "pytest.ini"), "--rootdir", str(suites.FOLDER),
        "-p", "fieldproof.plugin", "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]
    # Load only the plugins the suites use: autoloading every installed one costs each process
    # (each xdist worker too) time before its first request, and a user's plugins stay out.
    args += ["-p", "_hypothesis_pytestplugin"]
    if not names or "schemathesis" in names:
        args += ["-p", "schemathesis.pytest.plugin"]  # slow to import: only where it is used
    if session.workers > 1:
        args += ["-p", "xdist.plugin", "-n", str(session.workers)]
    if options.seed is not None:
        args += ["--hypothesis-seed", str(options.seed)]
    if options.fail_fast:
        args += ["--exitfirst"]
    if options.quiet:
        args += ["-q", "--no-header", "-rN", "--tb=no"]  # pytest's own terse dots; the report tells what failed
    else:
        args += ["-p", "no:terminal"]
    return args


def hypothesis_cache_dir() -> Path | None:
    """Where hypothesis keeps its Unicode tables between sessions ($XDG_CACHE_HOME/fieldproof/
    hypothesis): computing them delays a session's first request, and its storage would
    otherwise be a .hypothesis folder in the user's working directory. Nothing of a target is
    kept there: the suites' example databases are off. None: no home to keep it in (a user
    without one); the session's own work folder then serves."""
    folder = fieldproof_folder("XDG_CACHE_HOME", ".cache")
    return folder / "hypothesis" if folder is not None else None


def _sandbox_rate_limited() -> bool:
    return float(os.environ.get("FIELDPROOF_SANDBOX_RATE_LIMIT_BURST", "0") or 0) > 0


def finish(session: Session, interrupts: Interrupts, out: TextIO, tests: TestOutcomes | None = None) -> Summary:
    """Put every listed run back, then write every report, whatever ended the suites. `tests`:
    the outcomes when no pytest ran (the swarm's); else the records say them."""
    with interrupts.restoring():
        if not session.is_sandbox:
            session.notes += _restore(session)
        if session.kept or session.resource_kinds:  # said in the notes: the summary and the console
            session.notes += _restore_resources(session)
    if interrupts.stopped:
        session.notes.append(f"interrupted by {interrupts.name}: the reports cover only the tests that ran")
    # how the sandbox answered, as it was started (from the same environment): a reproduction starts one like it
    sandbox = load_settings().record() if session.is_sandbox else None
    if sandbox and "fault" in sandbox:
        changed = "".join(f", {name} = {value}" for name, value in sandbox.items() if name != "fault")
        session.notes.append(f"the built-in sandbox ran with fault modes {sandbox['fault']}{changed}")
    summary = build_summary(
        session.work,
        target={"base_url": session.target.base_url, "source": SANDBOX_SOURCE if session.is_sandbox else session.target.source,
                "max_requests": None if session.is_sandbox else session.target.max_requests,
                "token_env": session.target.token_env, "sandbox": sandbox, "seed": session.options.seed},
        profile=session.options.profile,
        duration_s=time.monotonic() - session.started,
        tests=tests,
        notes=session.notes,
        suites_s=session.suites_s,
        started_at=session.started_at,
        documented=session.document.documented,
        baseline=session.baseline,
        interrupted=interrupts.stopped,
        requests_outside=session.requests_outside,
        contract_location=session.document.location(),
        reports=shlex.quote(str(session.reports)),
    )
    summary.decide(exit_code(summary, interrupts.exit_code))
    secrets = session.target.secrets
    unwritten = _write_reports(session.reports, summary, secrets)
    print(redact_text(render_console(summary), secrets), file=out)
    written = [name for name in REPORT_FILES if str(session.reports / name) not in unwritten]
    if written:
        print(f"reports: {session.reports}/ ({', '.join(written)})", file=out)
    failed = []  # what could not be written: said in one line each, and the verdict's exit code kept
    if unwritten:
        paths_for: dict[str, list[str]] = {}
        for path, why in unwritten.items():
            paths_for.setdefault(why, []).append(path)
        failed.append("could not write " + "; ".join(f"{', '.join(paths)}: {why}" for why, paths in paths_for.items()))
    if session.options.baseline_update:
        try:
            count = write_baseline(session.options.baseline_update, [(g.rule, g.signature) for g in summary.groups],
                                   session.baseline, date.today())
            print(f"baseline written: {session.options.baseline_update} ({count} entries; give each a reason)", file=out)
        except BaselineError as exc:
            failed.append(str(exc))
    for line in failed:
        print(f"fieldproof: error: {line}; the verdict stands: {summary.outcome.word} (exit {summary.exit_code})", file=sys.stderr)
    return summary


REPORT_FILES: dict[str, Callable[[Summary], str]] = {
    "junit.xml": render_junit,
    "fieldproof.sarif": render_sarif,
    "report.html": render_html,
    "summary.json": lambda summary: json.dumps(summary.to_dict(), indent=2),
    "summary.md": render_markdown,
}


def _write_reports(folder: Path, summary: Summary, secrets: tuple[str, ...]) -> dict[str, str]:
    """Every report file, redacted as it is rendered (no token in any spelling reaches the disk),
    each written whole or not at all (fieldproof.files); one that cannot be written does not stop
    the others. Returns those not written: {path: why}."""
    unwritten = {}
    for name, render in REPORT_FILES.items():
        path = folder / name
        try:
            write_file(path, redact_text(render(summary), secrets))
        except OSError as exc:
            unwritten[str(path)] = exc.strerror or str(exc)
    return unwritten


def _restore(session: Session) -> list[str]:
    """Put every listed run back in its role's state, within the budget kept for it."""
    notes, target, budget = [], session.target, Budget(session.restore_cost)
    done: list[str] = []
    # its own reserve, from when it starts: never cut short by suites that overran theirs
    liveness = Liveness(max(time.time(), session.suites_deadline) + session.restore_reserve_s)
    try:
        with ApiClient(target, budget=budget, liveness=liveness) as client:
            for run in target.runs:
                try:
                    note = restore_run(client, run).note
                except (TargetUnreachable, BudgetExhausted, DeadlineReached, BrokenResponse) as exc:
                    note = f"could not put {run.fielding_run_id} back ({exc}); the next session puts it back first"
                if note:
                    notes.append(note)
                done.append(run.fielding_run_id)
    except RestoreAborted:
        left = [run.fielding_run_id for run in target.runs if run.fielding_run_id not in done]
        notes.append(f"putting the runs back was aborted by a third signal; these may be left changed: {', '.join(left)} "
                     "(the next session puts them back first)")
    session.requests_outside += budget.spent
    return notes


def _restore_resources(session: Session) -> list[str]:
    """Put every judged resource back as the first read showed it, and delete what a test
    created and did not delete, within the budget and time kept for it."""
    notes, target = [], session.target
    created = [record for record in left_created(read_records(session.work)) if record.kind in session.document.kinds]
    budget = Budget(RESTORE_REQUESTS * len(session.kept) + DELETE_REQUESTS * len(created))
    liveness = Liveness(max(time.time(), session.suites_deadline) + session.restore_reserve_s)
    # each listed resource to put back, then each created one to delete
    jobs: list[Kept | JudgedResource] = [*session.kept, *(
        JudgedResource(session.document.kinds[record.kind], created_ref(record.kind, target.account_id, record.ids))
        for record in created)]
    done: list[str] = []
    try:
        with ApiClient(target, budget=budget, liveness=liveness) as client:
            for job in jobs:
                label = job.judged.label if isinstance(job, Kept) else job.label
                try:
                    note = (restore_resource(client, job) if isinstance(job, Kept) else delete_created(client, job)).note
                except (TargetUnreachable, BudgetExhausted, DeadlineReached, BrokenResponse) as exc:
                    note = f"could not put {label} back ({exc}); check it by hand"
                if note:
                    notes.append(note)
                done.append(label)
    except RestoreAborted:
        left = [label for label in (job.judged.label if isinstance(job, Kept) else job.label for job in jobs) if label not in done]
        notes.append(f"putting the resources back was aborted by a third signal; these may be left changed: {', '.join(left)} "
                     "(check them by hand)")
    session.requests_outside += budget.spent
    return notes


def exit_code(summary: Summary, signalled: ExitCode | None = None) -> ExitCode:
    """The one place a session's exit code is decided (fieldproof.errors lists what each means);
    `Summary.decide` makes the verdict every output shows the one this code stands for
    (report.summary.VERDICTS). Deciding again on a decided summary gives the same code."""
    if signalled is not None:
        return signalled
    if summary.verdict == VIOLATION:
        return ExitCode.FINDING
    codes = {problem.kind.exit_code for problem in summary.problems}
    for code in (ExitCode.UNREACHABLE, ExitCode.USAGE):  # what the user must see to first: the target down, the limits
        if code in codes:
            return code
    if summary.verdict != PASS:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def _collected_paths(names: tuple[str, ...]) -> list[str]:
    """What a part collects: its suites, and with the first pass every other suite but
    schemathesis, whose tests marked `first_pass` it runs (the plugin leaves the rest out)."""
    if "first_pass" not in names:
        return _suite_paths(names)
    return _suite_paths(tuple(name for name in suites.names() if name in names or name != "schemathesis"))


def _suite_paths(names: tuple[str, ...]) -> list[str]:
    if not names:
        return [str(suites.FOLDER)]
    unknown = [name for name in names if name not in suites.names()]
    if unknown:
        raise UsageError(f"unknown suite {unknown[0]!r}; choose from {', '.join(suites.names())}")
    return [str(suites.FOLDER / f"test_{name}.py") for name in names]


MAX_WORKERS = 16  # each worker is a process with pytest, hypothesis and schemathesis loaded


def _worker_count(value: str) -> int:
    if value == "auto":
        return max(1, min(os.cpu_count() or 1, 4))
    if not (value.isascii() and value.isdigit() and len(value) < 6) or not 1 <= int(value) <= MAX_WORKERS:
        raise UsageError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, or 'auto' (one per CPU, "
                         f"at most 4), got {value[:20]!r}")
    return int(value)
