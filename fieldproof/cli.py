"""The `fieldproof` command: run the contract suites, prove the oracles, or serve the sandbox.

A user's mistake raises a fieldproof.errors.FieldproofError; `main` is the one place that prints
its line and returns its exit code (fieldproof.errors.ExitCode, with what each means).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from fieldproof import __version__, suites
from fieldproof.errors import ExitCode, FieldproofError, UsageError, exit_codes_help
from fieldproof.files import TolerantOutput
from fieldproof.sandbox.settings import load_settings, setting_fields


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _finite(text: str) -> float:
    """A number flag: a float, and never nan or an infinity (float() takes both)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text[:40]!r}")
    return value


def _at_most(maximum: int) -> Callable[[str], int]:
    """A count flag that starts processes or users: a whole number no larger than `maximum`
    (the command checks the least it needs)."""

    def count(text: str) -> int:
        digits = text.strip()
        if not (digits.removeprefix("-").isascii() and digits.removeprefix("-").isdigit()):
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text[:40]!r}")
        if len(digits) > 18 or not 1 <= int(digits) <= maximum:  # int() refuses thousands of digits
            raise argparse.ArgumentTypeError(f"must be from 1 to {maximum}, got {text[:40]}")
        return int(digits)

    return count


def _given(what: str) -> Callable[[str], str]:
    """A file or folder flag: an empty value would quietly mean the working folder."""

    def validated(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"is empty; give {what}")
        return text

    return validated


_FILE, _FOLDER = _given("a file's path"), _given("a folder")
_TARGET = _given("a target file's path, or leave --target out for the built-in sandbox")


def _names(what: str, choices: Callable[[], Sequence[str]]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list flag (--suites, --faults): at least one name; leaving the flag
    out, not an empty list, means all."""

    def split(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        if not names:
            raise argparse.ArgumentTypeError(f"names no {what}; give one or more of {', '.join(choices())}, "
                                             "separated by commas, or leave the flag out for all")
        return names

    return split


def _fault_names() -> list[str]:
    from fieldproof.sandbox.faults import FAULT_MODES

    return list(FAULT_MODES)


def _resource_kinds() -> list[str]:
    """The resource kinds of our own contract document (another document given by --contract may
    have others: the session checks the names against the one in use)."""
    from fieldproof.document import ContractDocument

    return list(ContractDocument.load().kinds)


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings", "also from FIELDPROOF_SANDBOX_<NAME> env vars or a --config TOML file"
    )
    for f in setting_fields():
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata["help"]
        choices = f.metadata.get("choices")
        if f.default not in (None, False):
            help_text += f" (default {f.default})"
        kind = str(f.type)
        if kind.startswith("bool"):
            parser_action: dict[str, Any] = {"action": "store_const", "const": True}
        elif choices:
            parser_action = {"metavar": "{" + ",".join(choices) + "}"}
        else:
            parser_action = {"metavar": "N" if kind[:3] in ("int", "flo") else "VALUE"}
        group.add_argument(flag, dest=f.name, default=None, help=help_text, **parser_action)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fieldproof", description=__doc__.splitlines()[0], epilog=exit_codes_help(),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fieldproof {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run the contract suites against a target (default: the built-in sandbox)",
        description="Run the contract suites against a target and write the reports.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--target", metavar="FILE", type=_TARGET, help="target file (TOML); default: start the built-in sandbox")
    run.add_argument("--profile", default="default", choices=["quick", "default", "thorough"],
                     help="how hard to try (default: default)")
    run.add_argument("--workers", default="1", metavar="N|auto",
                     help="pytest-xdist workers; auto: one per CPU (default: 1)")
    run.add_argument("--reports", default="reports", metavar="DIR", type=_FOLDER, help="where reports go (default: reports)")
    run.add_argument("--seed", type=int, default=None, metavar="N", help="hypothesis seed, to vary or reproduce a session")
    run.add_argument("--suites", default=None, metavar="NAME,…", type=_names("suite", suites.names),
                     help=f"run only these suites ({', '.join(suites.names())}); default: all")
    run.add_argument("--contract", metavar="FILE", type=_FILE,
                     help="judge by this OpenAPI document (e.g. the vendor's whole Demand API); the four fielding-run "
                          "operations are found by method and path; its other conditional writes are sent only to the "
                          "resources --resources opts into")
    run.add_argument("--fault", metavar="NAME,…", type=_names("fault mode", _fault_names),
                     help="run the built-in sandbox with these fault modes, deliberate bugs the suites must find "
                          "(`fieldproof sandbox --fault list` says what each does): " + ", ".join(_fault_names()))
    run.add_argument("--resources", default=None, metavar="KIND,…|all", type=_names("resource kind", _resource_kinds),
                     help="also judge the conditional writes of these resource kinds (" + ", ".join(_resource_kinds())
                          + "), or all: on a target file, of those its [[resources]] list (default: all it lists); on "
                          "the built-in sandbox, of its seeded ones (default: none). fielding-runs adds the run's update, "
                          "launch-now and relaunch; pause, resume and complete are always judged")
    run.add_argument("--baseline", metavar="FILE", type=_FILE, help="accepted findings (TOML [[accept]] entries): reported, not failing")
    run.add_argument("--baseline-update", metavar="FILE", type=_FILE, help="write a baseline accepting this session's findings")

    run.add_argument("--wait-for-lock", type=_finite, default=0.0, metavar="SECONDS",
                     help="wait this long for another session on the same target to end (default: refuse at once)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failing test")
    run.add_argument("--quiet", action="store_true",
                     help="no progress line (on a terminal a live one; without one, a line every 10 s)")
    run.add_argument("--history-size", type=int, default=None, metavar="N",
                     help="operations in the concurrent history checked for linearizability "
                          "(default: 1000 with the default profile on the sandbox; off on a target file)")

    selfcheck = commands.add_parser(
        "selfcheck",
        help="prove the oracles: run the harness against the clean sandbox and every fault mode",
        description="Run the harness against the clean sandbox (also with latency and a tight rate "
        "limit) and against each fault mode; print which modes were caught, by which rule and how "
        "fast, the mutation score and the false alarms. Exit 0 only with every mode caught and no "
        "false alarm.",
    )
    selfcheck.add_argument("--profile", default="default", choices=["quick", "default", "thorough"])
    selfcheck.add_argument("--reports", default="reports", metavar="DIR", type=_FOLDER, help="selfcheck.json goes here")
    selfcheck.add_argument("--faults", default=None, metavar="NAME,…", type=_names("fault mode", _fault_names),
                           help="only these fault modes (default: all)")
    selfcheck.add_argument("--jobs", type=_at_most(16), default=1, metavar="N",
                           help="sessions at a time, each with its own sandbox (default 1)")

    swarm = commands.add_parser(
        "swarm",
        help="judge the contract under load from many processes and hosts, on Locust",
        description="Load from Locust users that drive the harness's recording client: every exchange judged by the "
        "rules, race rounds across workers, the merged history checked. Exit codes as `fieldproof run`.",
    )
    swarm.add_argument("--target", metavar="FILE", type=_TARGET, help="target file (TOML); default: start the built-in sandbox")
    swarm.add_argument("--users", type=_at_most(10_000), default=20, metavar="N", help="Locust users in all (default 20)")
    swarm.add_argument("--spawn-rate", type=_finite, default=10.0, metavar="R", help="users started per second (default 10)")
    swarm.add_argument("--duration", default="30s", metavar="TIME", help="how long the load lasts: 60s, 5m (default 30s)")
    swarm.add_argument("--processes", type=_at_most(64), default=2, metavar="P", help="worker processes on this host (default 2)")
    swarm.add_argument("--reports", default="reports", metavar="DIR", type=_FOLDER, help="where reports go (default: reports)")
    swarm.add_argument("--sandbox-workers", type=_at_most(16), default=2, metavar="N",
                       help="the built-in sandbox's server processes, so that writes race across them too (default 2)")
    swarm.add_argument("--master", action="store_true", help="run the master only; workers join from other hosts")
    swarm.add_argument("--expect-workers", type=int, default=1, metavar="K", help="with --master: workers to wait for")
    swarm.add_argument("--worker", action="store_true", help="run workers for a master on another host")
    swarm.add_argument("--master-host", metavar="HOST", help="with --worker: the host running `fieldproof swarm --master`")
    swarm.add_argument("--master-port", type=int, default=5557, metavar="PORT", help="the master's port (default 5557)")
    swarm.add_argument("--bind-host", default="127.0.0.1", metavar="HOST",
                       help="with --master: where to listen for workers (another host's workers: 0.0.0.0; default 127.0.0.1)")
    swarm.add_argument("--wait-for-lock", type=_finite, default=0.0, metavar="SECONDS",
                       help="wait this long for another session on the same target to end")
    swarm.add_argument("--contract", metavar="FILE", type=_FILE, help="judge by this OpenAPI document")

    replay = commands.add_parser(
        "replay",
        help="send a finding group's requests again, preconditions re-created, and say whether it reproduces",
        description="Send a finding group of a session's reports again (a race: its rounds of concurrent writes), its "
        "preconditions re-created, and judge it by the same rule: 'reproduced' (exit 1) or 'not reproduced' (exit 0).",
    )
    replay.add_argument("reports", metavar="REPORTS_DIR", type=_FOLDER, help="the reports folder of a `fieldproof run`")
    replay.add_argument("group", metavar="GROUP", nargs="?", default=None,
                        help="the group's id, its signature, or its place in the list from 1 (default: the first, "
                             "the most severe)")
    replay.add_argument("--target", metavar="FILE", type=_TARGET,
                        help="target file (TOML); default: a built-in sandbox like the session's, or its target file")

    lint = commands.add_parser(
        "lint",
        help="report what a contract document leaves out about its conditional requests",
        description="Read an OpenAPI document and report every conditional write (an If-Match header) that documents "
        "no 412, no 428 where If-Match is required, no ETag on its success, or If-Match as optional, and every read of "
        "such a resource without an ETag. Exit 1 when it finds any, 0 when none; nothing is sent.",
    )
    lint.add_argument("--contract", metavar="FILE", type=_FILE,
                      help="the OpenAPI document (YAML or JSON; default: fieldproof's own contract document)")
    lint.add_argument("--sarif", metavar="FILE", type=_FILE, help="also write the findings as SARIF, located at each operation's line")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the built-in sandbox API in the foreground",
        description="Serve the sandbox: a stateful implementation of the documented contract.",
    )
    sandbox.add_argument("--config", metavar="FILE", type=_FILE, help="TOML file of settings")
    sandbox.add_argument(
        "--seed", metavar="FILE", type=_FILE, help="seed TOML to load (default: the built-in seed, new databases only)"
    )
    sandbox.add_argument("--no-seed", action="store_true", help="start with no runs")
    sandbox.add_argument(
        "--write-target", metavar="FILE", type=_FILE, help="write a target file for the seeded runs, tokens in FILE.env"
    )
    _add_setting_flags(sandbox)
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", parser_class=_Parser)
    token = sandbox_commands.add_parser(
        "token", help="print a bearer token the sandbox accepts", description="Print a sandbox token."
    )
    token.add_argument("--account", default="101", help="account id the token is for (default 101)")
    token.add_argument("--expired", action="store_true", help="a token that has already expired (403)")
    token.add_argument("--ttl", type=int, default=None, metavar="SECONDS", help="lifetime (default 86400)")
    return parser


def _sandbox(args: argparse.Namespace) -> int:
    from fieldproof.sandbox.auth import issue_token
    from fieldproof.sandbox.server import serve

    overrides = {f.name: getattr(args, f.name, None) for f in setting_fields()}
    if args.sandbox_command == "token":
        if not args.account.isdigit():
            raise UsageError(f"--account must be digits, got {args.account!r}")
        overrides["token_ttl_s"] = args.ttl
        settings = load_settings(args.config, overrides=overrides)
        print(issue_token(settings.jwt_secret, args.account, settings.token_ttl_s, args.expired))
        return ExitCode.OK
    if overrides.get("fault") == "list":
        from fieldproof.sandbox.faults import FAULT_MODES

        width = max(map(len, FAULT_MODES))
        for mode in FAULT_MODES.values():
            print(f"{mode.name:<{width}} {mode.family:<9} {mode.description}")
        return ExitCode.OK
    if args.seed and args.no_seed:
        raise UsageError("--seed and --no-seed contradict each other; give one")
    settings = load_settings(args.config, overrides=overrides)
    serve(settings, seed_file=args.seed, no_seed=args.no_seed, target_file=args.write_target)
    return ExitCode.OK


def _fault_environment(faults: tuple[str, ...]) -> dict[str, str]:
    """The built-in sandbox's settings for `--fault`: the modes (over FIELDPROOF_SANDBOX_FAULT),
    and what a mode needs before it can show at all (a race window, a rate limit) where the
    environment does not set it."""
    from fieldproof.sandbox.faults import FAULT_MODES
    from fieldproof.sandbox.settings import ENV_PREFIX
    from fieldproof.selfcheck import FAULT_NEEDS

    unknown = [name for name in faults if name not in FAULT_MODES]
    if unknown:
        raise UsageError(f"--fault: unknown fault mode {unknown[0]!r}; the fault modes are {', '.join(FAULT_MODES)}")
    needs = {name: value for fault in faults for name, value in FAULT_NEEDS.get(fault, {}).items() if name not in os.environ}
    return {**needs, ENV_PREFIX + "FAULT": ",".join(dict.fromkeys(faults))}


def _run(args: argparse.Namespace) -> int:
    from fieldproof.session import SessionOptions, run_session

    suites = args.suites or ()
    if args.history_size is not None and args.history_size < 0:
        raise UsageError("--history-size must be 0 (off) or more")
    if args.fault and args.target:
        raise UsageError("--fault makes the built-in sandbox faulty and --target names another server; give one")
    options = SessionOptions(args.target, args.profile, args.workers, args.reports, args.seed, suites, args.fail_fast,
                         args.history_size, args.contract, args.baseline, args.baseline_update,
                         args.wait_for_lock, args.quiet, _fault_environment(args.fault) if args.fault else {},
                         args.resources)
    return run_session(options)


def _swarm(args: argparse.Namespace) -> int:
    from fieldproof.swarm.command import SwarmOptions, swarm

    return swarm(SwarmOptions(args.target, args.users, args.spawn_rate, args.duration, args.processes, args.reports,
                              args.sandbox_workers, args.master, args.expect_workers, args.worker, args.master_host,
                              args.master_port, args.bind_host, args.wait_for_lock, args.contract))


def _selfcheck(args: argparse.Namespace) -> int:
    from fieldproof.selfcheck import selfcheck

    return selfcheck(args.profile, args.reports, args.faults or (), jobs=args.jobs)


def _replay(args: argparse.Namespace) -> int:
    from fieldproof.replay import replay

    return replay(args.reports, args.group, args.target, sys.stdout)


def _lint(args: argparse.Namespace) -> int:
    from fieldproof.lint import run_lint

    return run_lint(args.contract, args.sarif, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    for name in ("stdout", "stderr"):  # a reader that leaves (| head) ends what it sees, not the command
        stream = getattr(sys, name)
        if not isinstance(stream, TolerantOutput):
            setattr(sys, name, TolerantOutput(stream))
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return ExitCode.USAGE
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "run":
            return _run(args)
        if args.command == "selfcheck":
            return _selfcheck(args)
        if args.command == "swarm":
            return _swarm(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "lint":
            return _lint(args)
    except FieldproofError as exc:
        print(f"fieldproof: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception:  # a bug of ours, not the user's and not a finding: never exit 1 for it
        traceback.print_exc()
        print("fieldproof: internal error (the traceback above is a bug in fieldproof, please report it); "
              "no verdict was reached", file=sys.stderr)
        return ExitCode.INCONCLUSIVE
    raise AssertionError(f"unhandled command {args.command}")


def entry() -> NoReturn:
    """The `fieldproof` command itself: `main`, then out at once. Every report is written and
    closed by then, and what a normal exit would add is the interpreter freeing every module
    (pytest, hypothesis and schemathesis among them), work no one waits for that each session
    would pay for nothing. The exit handlers (logging, file locks) still run; a thread still
    working (none should be) gets the normal exit, which waits for it."""
    code = main()
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone (| head): nothing left to tell
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    entry()
