"""`fieldproof run`: start the target (or read its file), check it answers, run the suites
under pytest (+ xdist), put the runs back, write the reports and decide the exit code
(fieldproof.errors.ExitCode says what each means; `exit_code()` below picks one).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator, TextIO

import pytest

from fieldproof import suites
from fieldproof.baseline import load_baseline, write_baseline
from fieldproof.client.recording import ApiClient, Budget, BudgetExhausted, TargetUnreachable
from fieldproof.document import ContractDocument
from fieldproof.errors import ExitCode, FieldproofError
from fieldproof.exchange import redact_text
from fieldproof.plugin import WORK_DIR, RunSettings
from fieldproof.profiles import PROFILES
from fieldproof.report import TestOutcomes, build_summary, render_console, render_html, render_markdown
from fieldproof.report.summary import INCONCLUSIVE, VIOLATION, Summary
from fieldproof.runs import restore_run
from fieldproof.sandbox.process import SandboxDidNotStart, sandbox_process
from fieldproof.target import Target, TargetError, load_target

SUITES_DIR = Path(suites.__file__).resolve().parent


class RunAborted(FieldproofError):
    """`fieldproof run` cannot go on; the message says why and what to do."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message, code)

    @property
    def code(self) -> ExitCode:
        return self.exit_code


@dataclass(frozen=True)
class RunOptions:
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
    baseline_update: str | None = None  # write a baseline accepting this run's findings


class _Outcomes:
    """A pytest plugin on the controller: counts outcomes and keeps skip reasons."""

    def __init__(self) -> None:
        self.outcomes = TestOutcomes()
        self.interrupted = False

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a suite that cannot even be collected is no pass
            self.outcomes.failed += 1
            self.outcomes.errors.append({"test": report.nodeid, "message": str(report.longrepr)[-2000:]})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.passed:
                self.outcomes.passed += 1
            elif report.skipped:
                self.outcomes.skipped += 1
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                self.outcomes.skips.append({"test": report.nodeid, "reason": reason.removeprefix("Skipped: ")})
            else:
                self.outcomes.failed += 1
                self.outcomes.failures.append(report.nodeid)
        elif report.when == "teardown" and report.failed:
            self.outcomes.failed += 1
            self.outcomes.failures.append(report.nodeid)


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


def _preflight(target: Target, budget: Budget) -> None:
    """One GET of a listed run: is the target there, and does it take the main token?"""
    with ApiClient(target, budget=budget) as client:
        run = target.runs[0]
        try:
            exchange = client.get(run)
        except TargetUnreachable as exc:
            raise RunAborted(ExitCode.UNREACHABLE, f"cannot reach the target: {exc}; check base_url and the network") from None
        if exchange.status in (401, 403):
            raise RunAborted(
                ExitCode.UNREACHABLE,
                f"{target.base_url} rejects the token in {target.token_env} ({exchange.status}); "
                f"give a valid token of account {target.account_id}",
            )
        if exchange.status == 404:
            raise RunAborted(
                ExitCode.USAGE,
                f"{target.base_url} answers 404 for run {run.fielding_run_id} ({run.role}); "
                "check the ids in the target file",
            )


def _restore(target: Target, budget: Budget) -> list[str]:
    """Put every listed run back in its role's state (after the run, also after a failure)."""
    notes = []
    with ApiClient(target, budget=budget) as client:
        for run in target.runs:
            try:
                note = restore_run(client, run).note
            except (TargetUnreachable, BudgetExhausted) as exc:
                note = f"could not restore {run.fielding_run_id}: {exc}"
            if note:
                notes.append(note)
    return notes


def _redact_reports(reports: Path, secrets: tuple[str, ...]) -> None:
    """Defence in depth: no token may survive in any report file, whatever wrote it."""
    for path in reports.rglob("*"):
        if path.is_file() and path.suffix in (".xml", ".json", ".jsonl", ".md", ".html"):
            text = path.read_text(errors="replace")
            cleaned = redact_text(text, secrets)
            if cleaned != text:
                path.write_text(cleaned)


def run(options: RunOptions, out: TextIO = sys.stdout) -> int:
    if options.profile not in PROFILES:
        raise RunAborted(ExitCode.USAGE, f"--profile must be one of {', '.join(PROFILES)}, got {options.profile!r}")
    suite_paths = _suite_paths(options.suites)  # a misspelt suite fails before anything starts
    workers = _worker_count(options.workers)
    document = ContractDocument.load(options.contract)  # a bad document: exit 2 before any request
    baseline = load_baseline(options.baseline) if options.baseline else None
    reports = Path(options.reports)
    try:
        reports.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(reports / WORK_DIR, ignore_errors=True)
        (reports / WORK_DIR).mkdir()
    except OSError as exc:
        raise RunAborted(ExitCode.USAGE, f"cannot write reports to {reports}: {exc.strerror}; choose another --reports") from None
    started, started_at = time.monotonic(), time.time()
    with ExitStack() as stack:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fieldproof-run-")))
        control_url = None
        rate_limit_probe = False
        if options.target is None:
            target_file = temp / "sandbox-target.toml"
            try:
                sandbox = stack.enter_context(sandbox_process(["--control", "--write-target", str(target_file)]))
            except SandboxDidNotStart as exc:
                raise RunAborted(ExitCode.USAGE, f"the built-in sandbox did not start: {exc}") from None
            stack.enter_context(_environment(_read_env_file(Path(str(target_file) + ".env"))))
            control_url = sandbox.root_url
            rate_limit_probe = float(os.environ.get("FIELDPROOF_SANDBOX_RATE_LIMIT_BURST", "0") or 0) > 0
        else:
            target_file = Path(options.target)
        try:
            target = load_target(target_file)
        except TargetError as exc:
            raise RunAborted(ExitCode.USAGE, str(exc)) from None
        is_sandbox = control_url is not None
        total = 10**7 if is_sandbox else target.max_requests
        reserve = 1 + 3 * len(target.runs)  # preflight, and a GET + pause/resume + GET per run to restore
        if total <= reserve + 10:
            raise RunAborted(ExitCode.USAGE, f"max_requests = {total} is too small for this target file; allow at least {reserve + 100}")
        _preflight(target, Budget(1))
        run_file = temp / "run.json"
        RunSettings(
            target_file=str(target_file),
            reports_dir=str(reports.resolve()),
            profile=options.profile,
            control_url=control_url,
            budget=total - reserve,
            workers=workers,
            rate_limit_probe=rate_limit_probe or target.rate_limit_probe,
            history_ops=options.history_size,
            contract_file=str(document.path) if options.contract else None,
        ).save(run_file)
        args = [
            *suite_paths, "-c", str(SUITES_DIR / "pytest.ini"), "--rootdir", str(SUITES_DIR),
            "-p", "fieldproof.plugin", "--fieldproof-run", str(run_file),
            "--junitxml", str(reports / "junit.xml"), "-q", "--no-header", "-rfE", "--tb=no",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        ]  # fmt: skip
        # Load only the plugins the suites use: autoloading every installed one costs ~0.3 s a
        # process (more under xdist, where each worker pays it), and a user's plugins stay out.
        args += ["-p", "_hypothesis_pytestplugin", "-p", "schemathesis.pytest.plugin"]
        if workers > 1:
            args += ["-p", "xdist.plugin", "-n", str(workers)]
        env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        if options.seed is not None:
            env["FIELDPROOF_SEED"] = str(options.seed)
        if options.seed is not None:
            args += ["--hypothesis-seed", str(options.seed)]
        if options.fail_fast:
            args += ["--exitfirst"]
        collector = _Outcomes()
        notes: list[str] = []
        suites_started = time.monotonic()
        try:
            with _environment(env):
                pytest.main(args, plugins=[collector])
        finally:
            suites_s = time.monotonic() - suites_started
            if not is_sandbox:
                notes = _restore(target, Budget(reserve))
        summary = build_summary(
            reports / WORK_DIR,
            target={"base_url": target.base_url, "source": "built-in sandbox" if is_sandbox else target.source},
            profile=options.profile,
            duration_s=time.monotonic() - started,
            tests=collector.outcomes,
            notes=notes,
            suites_s=suites_s,
            started_at=started_at,
            documented=document.statuses,
            baseline=baseline,
        )
        (reports / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
        (reports / "summary.md").write_text(render_markdown(summary))
        (reports / "report.html").write_text(render_html(summary))
        _redact_reports(reports, target.secrets)
        print(redact_text(render_console(summary), target.secrets), file=out)
        print(f"reports: {reports}/ (junit.xml, report.html, summary.json, summary.md)", file=out)
        if options.baseline_update:
            written = write_baseline(options.baseline_update, [(g.rule, g.signature) for g in summary.groups], baseline, date.today())
            print(f"baseline written: {options.baseline_update} ({written} entries; give each a reason)", file=out)
    return exit_code(summary, collector.interrupted)


def exit_code(summary: Summary, interrupted: bool = False) -> ExitCode:
    """The one place a run's exit code is decided (fieldproof.errors lists what each means)."""
    if interrupted:
        return ExitCode.INTERRUPTED
    if summary.verdict == VIOLATION:
        return ExitCode.FINDING
    kinds = {problem["kind"] for problem in summary.problems}
    if "unreachable" in kinds:
        return ExitCode.UNREACHABLE
    if "budget_exhausted" in kinds:
        return ExitCode.USAGE
    if summary.verdict == INCONCLUSIVE:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def available_suites() -> list[str]:
    return sorted(path.stem.removeprefix("test_") for path in SUITES_DIR.glob("test_*.py"))


def _suite_paths(names: tuple[str, ...]) -> list[str]:
    if not names:
        return [str(SUITES_DIR)]
    unknown = [name for name in names if name not in available_suites()]
    if unknown:
        raise RunAborted(ExitCode.USAGE, f"unknown suite {unknown[0]!r}; choose from {', '.join(available_suites())}")
    return [str(SUITES_DIR / f"test_{name}.py") for name in names]


def _worker_count(value: str) -> int:
    if value == "auto":
        return max(1, min(os.cpu_count() or 1, 4))
    if not value.isdigit() or int(value) < 1:
        raise RunAborted(ExitCode.USAGE, f"--workers must be a positive number or 'auto', got {value!r}")
    return int(value)
