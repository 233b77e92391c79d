"""`fieldproof swarm`: set up as `fieldproof run` does (the locks, the sandbox or the target
file, a look at every listed run), run Locust as a child process with the swarm's locustfile,
then put the runs back, write the same reports with a swarm section, and exit with the codes of
`fieldproof run`.

On one machine Locust runs a master and `--processes` workers; across hosts this command runs
the master (`--master --expect-workers K`) and `fieldproof swarm --worker --master-host H` runs
workers elsewhere, each with the target file and its tokens of its own.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fieldproof.document import ContractDocument
from fieldproof.errors import ExitCode, SwarmError, TargetError
from fieldproof.interrupts import Interrupts
from fieldproof.progress import SwarmProgress
from fieldproof.records import ProblemKind, ProblemRecord, process_file, write_records
from fieldproof.report.summary import TestOutcomes
from fieldproof.session import Session, SessionOptions, exit_code, finish, set_up
from fieldproof.swarm.config import SwarmConfig
from fieldproof.target import load_target

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
_DURATION = re.compile(r"([0-9]+)(s|m|h)?")
STOP_GRACE_S = 120  # how long Locust may take past its duration to flush, judge and quit


@dataclass(frozen=True)
class SwarmOptions:
    target: str | None = None
    users: int = 20
    spawn_rate: float = 10.0
    duration: str = "30s"
    processes: int = 2
    reports: str = "reports"
    sandbox_workers: int = 2
    master: bool = False
    expect_workers: int = 1
    worker: bool = False
    master_host: str | None = None
    master_port: int = 5557
    bind_host: str = "127.0.0.1"  # where the master listens for workers (another host: 0.0.0.0)
    wait_for_lock_s: float = 0.0
    contract: str | None = None


def seconds(duration: str) -> int:
    match = _DURATION.fullmatch(duration.strip())
    if match is None or int(match.group(1)) < 1:
        raise SwarmError(f"--duration must be a time such as 60s, 5m or 1h, got {duration!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def _validate(options: SwarmOptions) -> None:
    if options.master and options.worker:
        raise SwarmError("--master and --worker contradict each other; give one")
    if options.worker and not options.master_host:
        raise SwarmError("--worker needs --master-host HOST (the host running `fieldproof swarm --master`)")
    if options.worker and not options.target:
        raise SwarmError("--worker needs --target FILE (the same target file as the master's, with its tokens)")
    for name in ("users", "processes", "sandbox_workers", "expect_workers"):
        if getattr(options, name) < 1:
            raise SwarmError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(options, name)}")
    if options.spawn_rate <= 0:
        raise SwarmError(f"--spawn-rate must be more than 0, got {options.spawn_rate:g}")
    if not 0 < options.master_port < 65536:
        raise SwarmError(f"--master-port must be a port number, got {options.master_port}")
    seconds(options.duration)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _require_locust() -> None:
    """Locust is an extra: without it nothing of the swarm can run, so nothing is started."""
    try:
        found = importlib.util.find_spec("locust") is not None
    except (ImportError, ValueError):  # an import hook that refuses it; a module left half-imported
        found = False
    if not found:
        raise SwarmError('`fieldproof swarm` runs on Locust, which is not installed: pip install "fieldproof[swarm]"')


def swarm(options: SwarmOptions, out: TextIO = sys.stdout) -> int:
    _require_locust()
    _validate(options)
    if options.worker:
        return _worker(options)
    document = ContractDocument.load(options.contract)
    session_options = SessionOptions(target=options.target, reports=options.reports, wait_for_lock_s=options.wait_for_lock_s,
                             contract=options.contract)
    with Interrupts() as interrupts, ExitStack() as stack:
        try:
            session = set_up(session_options, 1, document, None, stack, out,
                              sandbox_args=("--workers", str(options.sandbox_workers)))
        except KeyboardInterrupt:
            print(f"fieldproof: {interrupts.name} before the swarm started; no run was changed", file=sys.stderr)
            return interrupts.exit_code or ExitCode.INTERRUPTED
        tests = _run_locust(session, options, interrupts, document, out)
        summary = finish(session, interrupts, out, tests=tests)
    return exit_code(summary, interrupts.exit_code)


def _config(session: Session, options: SwarmOptions, document: ContractDocument) -> SwarmConfig:
    target = session.target
    budget = None if session.is_sandbox else target.max_requests - session.requests_outside - session.restore_cost
    return SwarmConfig(
        target_file=str(session.target_file),
        work_dir=str(session.work),
        control_url=session.control_url,
        budget=budget,
        max_rps=target.max_rps,
        deadline=session.started_at + min(target.max_duration_s, seconds(options.duration) + STOP_GRACE_S),
        clock_skew=_skew_from_env(),
        contract_file=str(document.path) if options.contract else None,
    )


def _skew_from_env() -> tuple[int, float] | None:
    """Tests only: FIELDPROOF_SWARM_CLOCK_SKEW=INDEX:SECONDS puts one worker's clock off."""
    raw = os.environ.get("FIELDPROOF_SWARM_CLOCK_SKEW")
    if not raw:
        return None
    index, _, skew = raw.partition(":")
    return int(index), float(skew)


def _locust_command(options: SwarmOptions, port: int, stop_timeout: float) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(options.users),
               "-r", f"{options.spawn_rate:g}", "-t", options.duration, "--stop-timeout", f"{stop_timeout:g}",
               "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    if options.master:
        return command + ["--master", "--expect-workers", str(options.expect_workers), "--master-bind-host",
                          options.bind_host, "--master-bind-port", str(port), "--expect-workers-max-wait", "120"]
    return command + ["--processes", str(options.processes), "--master-bind-host", "127.0.0.1",
                      "--master-bind-port", str(port), "--master-port", str(port)]


def _run_locust(session: Session, options: SwarmOptions, interrupts: Interrupts, document: ContractDocument,
                out: TextIO) -> TestOutcomes:
    """Locust as a child; its master writes what every worker judged into the session's work
    folder. A signal is passed on to it, and it is given the time to flush and judge."""
    config = _config(session, options, document)
    port = options.master_port if options.master else _free_port()
    log = session.work / "locust.log"
    with log.open("w") as output:
        process = subprocess.Popen(_locust_command(options, port, max(5.0, session.target.timeout_s)), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env={**os.environ, **config.to_env()})
        assert process.stdout is not None
        progress = SwarmProgress(process.stdout, output, session.work, config.budget, out)  # Locust's statistics and the findings
        progress.start()
        limit = seconds(options.duration) + STOP_GRACE_S + (120 if options.master else 0)
        try:
            process.wait(timeout=limit)
        except KeyboardInterrupt:  # a signal: Locust stops as on its own duration, flushing
            process.terminate()
            _wait_or_kill(process)
        except subprocess.TimeoutExpired:
            process.terminate()
            _wait_or_kill(process)
        progress.join(10)
    if process_file(session.work, "master").exists():
        return TestOutcomes(passed=1)
    tail = " / ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) or "no output"
    if not interrupts.stopped:
        message = f"Locust ended without results (exit {process.returncode}): {tail}"
        write_records(process_file(session.work, "master"), [ProblemRecord(ProblemKind.INCONCLUSIVE, message, "swarm")],
                      session.target.secrets)
    return TestOutcomes(failed=1, failures=["swarm"])


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_GRACE_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        process.kill()
        process.wait(timeout=10)


def _worker(options: SwarmOptions) -> int:
    """A worker for a master on another host: the same target file and tokens, nothing else."""
    assert options.target is not None and options.master_host is not None
    try:
        load_target(options.target)  # a bad file or a missing token: one line here, not a traceback there
    except TargetError as exc:
        raise SwarmError(str(exc)) from None
    # the limits (budget, max_rps) are the master's to hand out
    config = SwarmConfig(target_file=str(Path(options.target).resolve()), contract_file=options.contract)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", options.master_host,
               "--master-port", str(options.master_port), "--loglevel", "WARNING"]
    if options.processes > 1:
        command += ["--processes", str(options.processes)]
    with Interrupts() as interrupts:
        process = subprocess.Popen(command, env={**os.environ, **config.to_env()})
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()
            _wait_or_kill(process)
    return interrupts.exit_code or (ExitCode.OK if process.returncode == 0 else ExitCode.INCONCLUSIVE)
