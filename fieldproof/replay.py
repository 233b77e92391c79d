"""`fieldproof replay REPORTS_DIR [GROUP] [--target FILE]`: send a finding group's requests
again, with their preconditions re-created, and judge them by the group's rule.

The group comes from REPORTS_DIR/summary.json (GROUP: its id, as reproduce.group_id gives it,
its signature, or its place in the list, failing and most severe first; none: the first). The
target is a built-in sandbox started with the session's settings (its faults among them), or
the target file given (by default, on a session against a target file, that file again).

- a group of an exchange rule: each example's request, on a run of the same role brought to
  the status it had, with the run's current tag where the example carried its then current one,
  a stale tag made stale again, and every other header as it was sent;
- a race: up to RACE_ROUNDS rounds of the same writes with one ETag, released together, each
  judged as the concurrency suite judges one.

It prints what it sent and "reproduced" (exit 1) or "not reproduced" (exit 0). Requests and
time are bounded (REPLAY_REQUESTS, REPLAY_SECONDS); on a target file every run used is put
back in its role's state.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from fieldproof import contract, rules
from fieldproof.client.limits import Budget, Liveness
from fieldproof.client.recording import ApiClient, Credentials
from fieldproof.errors import ExitCode, FieldproofError, UsageError
from fieldproof.exchange import REDACTED, Exchange, Snapshot
from fieldproof.facts import PROVENANCES, Auth, IfMatch
from fieldproof.fielding_runs import FileRuns, SandboxRuns
from fieldproof.report.summary import FindingGroup, Summary, load_summary
from fieldproof.reproduce import RACE_RULE, group_id, kept_ids, race_of, replayable
from fieldproof.rules import Finding
from fieldproof.sandbox.control_client import SandboxControl
from fieldproof.sandbox.settings import SERVING, SandboxSettings
from fieldproof.target import SANDBOX_SOURCE, RunRef, Target, load_target

REPLAY_REQUESTS = 400  # a replay's requests, at most
REPLAY_SECONDS = 120.0  # and its time
RACE_ROUNDS = 5  # a race is timing: rounds tried before "not reproduced"
_SET_UP = {"paused": "pause", "live": "resume"}  # the write that brings a run to a status


@dataclass
class Replayed:
    """What a replay found: the group's rule's findings (empty: the defect did not show) and
    what it sent, as lines for the person."""

    findings: list[Finding] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def replay(reports: str, wanted: str | None, target_file: str | None, out: TextIO) -> int:
    """The command: ExitCode.FINDING when the group's defect showed again, OK when it did not."""
    summary = _load(Path(reports))
    group = pick(summary, wanted, Path(reports))
    if not replayable(group.rule):
        raise UsageError(f"a {group.rule} group is not replayed (replay re-runs exchange rules and races); its "
                         f"reproduction is in {Path(reports) / 'summary.md'}")
    examples = [e for e in group.examples if e.get("exchange")]
    if not examples:
        raise UsageError(f"group {group_id(group.rule, group.signature)} keeps no request to replay")
    with _replay_target(summary, target_file) as (target, control, described):
        print(f"replaying [{group.rule}] {group.signature} (group {group_id(group.rule, group.signature)}) on {described}",
              file=out, flush=True)
        replayed = _replay_group(target, control, group, examples, summary.evidence, out)
    if not replayed.findings:
        print("not reproduced: the rule held on every request above", file=out)
        return ExitCode.OK
    first = replayed.findings[0]
    same = first.signature == group.signature
    print(f"reproduced{'' if same else f' (as {first.signature})'}: {first.message}", file=out)
    return ExitCode.FINDING


def _load(reports: Path) -> Summary:
    path = reports / "summary.json"
    if not path.is_file():
        raise UsageError(f"{path} does not exist; give the reports folder of a `fieldproof run` (its --reports)")
    try:
        return load_summary(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} cannot be read as a fieldproof summary ({str(exc)[:200]}); run the session again") from None


def ordered(summary: Summary) -> list[FindingGroup]:
    """The finding groups as replay numbers them: as every report lists them (FindingGroup.rank)."""
    return summary.groups


def pick(summary: Summary, wanted: str | None, reports: Path) -> FindingGroup:
    """The group `wanted` names (its id, its signature or its place from 1), or the first."""
    groups = ordered(summary)
    if not groups:
        raise UsageError(f"{reports / 'summary.json'} has no finding group: nothing to replay")
    if wanted is None:
        return groups[0]
    wanted = wanted.strip()
    by_id = [g for g in groups if group_id(g.rule, g.signature) == wanted.lower()]
    by_signature = [g for g in groups if wanted in (g.signature, f"{g.rule}: {g.signature}")]
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(groups):
        return groups[int(wanted) - 1]
    found = by_id or by_signature
    if len(found) == 1:
        return found[0]
    shown = ", ".join(f"{group_id(g.rule, g.signature)} ({g.signature})" for g in groups[:3])
    more = f" and {len(groups) - 3} more" if len(groups) > 3 else ""
    why = f"{len(found)} groups have signature {wanted!r}; give its id" if found else f"no finding group {wanted[:80]!r}"
    raise UsageError(f"{why} in {reports / 'summary.json'}; give a group's id ({shown}{more}) or its place from 1 to {len(groups)}")


@contextlib.contextmanager
def _replay_target(summary: Summary, target_file: str | None) -> Iterator[tuple[Target, SandboxControl | None, str]]:
    """(the target, its control API on the built-in sandbox, how to name it)."""
    if target_file is not None or summary.target.get("source") != SANDBOX_SOURCE:
        path = target_file or str(summary.target.get("source") or "")
        if not path or not Path(path).is_file():
            raise UsageError(f"the session ran against the target file {path!r}, which is not there; give --target FILE")
        from fieldproof.locks import target_lock

        target = load_target(path)
        with target_lock(target):
            yield target, None, f"the target in {path}"
        return
    from fieldproof.sandbox.process import sandbox_process

    recorded = summary.target.get("sandbox")
    flags = _sandbox_args(recorded or {})
    with tempfile.TemporaryDirectory(prefix="fieldproof-replay-") as work:
        written = Path(work) / "sandbox-target.toml"
        with sandbox_process(["--control", "--write-target", str(written), *flags]) as sandbox:
            env = dict(line.split("=", 1) for line in Path(str(written) + ".env").read_text().splitlines() if "=" in line)
            target = load_target(written, env={**os.environ, **env})
            control = SandboxControl(sandbox.root_url)
            shown = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in (recorded or {}).items())
            described = (f"a built-in sandbox like the session's ({shown or 'clean'})" if recorded is not None else
                         "a clean built-in sandbox (this summary does not record the session's sandbox settings)")
            try:
                yield target, control, described
            finally:
                control.close()


def _sandbox_args(recorded: Mapping[str, str]) -> list[str]:
    """Flags for every behaviour setting, as recorded or else its default: the replay's sandbox
    behaves as the session's did, whatever FIELDPROOF_SANDBOX_* variables this shell holds."""
    default = SandboxSettings()
    args = []
    for f in fields(SandboxSettings):
        if f.name not in SERVING:
            args += ["--" + f.name.replace("_", "-"), recorded.get(f.name, str(getattr(default, f.name)))]
    return args


def _replay_group(target: Target, control: SandboxControl | None, group: FindingGroup, examples: Sequence[Mapping[str, Any]],
                  evidence: Sequence[Mapping[str, Any]], out: TextIO) -> Replayed:
    credentials = Credentials(target.token, target.foreign_token, _expired_token(examples))
    budget = Budget(REPLAY_REQUESTS, spent_message=f"the replay's {REPLAY_REQUESTS} requests are spent")
    liveness = Liveness(time.time() + REPLAY_SECONDS)
    with ApiClient(target, budget=budget, credentials=credentials, liveness=liveness) as client, \
            tempfile.TemporaryDirectory(prefix="fieldproof-replay-") as locks:
        runs = SandboxRuns(control, target.account_id) if control is not None else FileRuns(target, client, Path(locks))
        if group.rule == RACE_RULE:
            mine = [e for e in evidence if e.get("rule") == RACE_RULE and e.get("test") in group.tests]
            return _replay_race(client, runs, examples[0], mine, out)
        replayed = Replayed()
        for example in examples:
            with runs.use(_role(example["exchange"])) as run:
                exchange = _resend(client, run, example["exchange"])
            found = rules.EXCHANGE_RULES[group.rule].judge(exchange) or []
            tag = exchange.request_header("if-match")
            print(f"  {exchange.method} {exchange.operation}{f' If-Match {tag}' if tag is not None else ''} -> {exchange.status}"
                  f"{': ' + found[0].defect if found else ''}", file=out, flush=True)
            replayed.findings += found
            if found:
                break
        return replayed


def _expired_token(examples: Sequence[Mapping[str, Any]]) -> str | None:
    """An expired token an example sent (it is no secret: it opens nothing), so that the facts
    of the request sent again say expired, not malformed."""
    for example in examples:
        exchange = example["exchange"]
        if (exchange.get("facts") or {}).get("auth") == Auth.EXPIRED.value:
            value = _header(exchange, "authorization") or ""
            return value.partition(" ")[2] or None
    return None


def _role(exchange: Mapping[str, Any]) -> str:
    role = (exchange.get("facts") or {}).get("role")
    return role if role in contract.ROLES else "resumable"


def _header(exchange: Mapping[str, Any], name: str) -> str | None:
    return next((v for k, v in exchange["request_headers"].items() if k.lower() == name), None)


def _set_up(client: ApiClient, run: RunRef, status: str | None) -> Snapshot:
    """The run brought to `status` (paused or live; any other is left as it is), looked at."""
    look = client.snapshot(run)
    action = _SET_UP.get(status or "")
    if action is not None and look.run_status in _SET_UP and look.run_status != status:
        set_up = client.write(action, run, look.etag, observe=False, before=look)
        if set_up.status != 204:
            raise FieldproofError(f"could not {action} {run.fielding_run_id} to re-create the finding's precondition "
                                  f"(answered {set_up.status}); no verdict", ExitCode.INCONCLUSIVE)
        look = client.snapshot(run)
    return look


def _made_stale(client: ApiClient, run: RunRef, look: Snapshot) -> tuple[str | None, Snapshot]:
    """The tag the run had one write ago, and the run now, at the status it has in `look`: it is
    brought to the other status first, then back with one write (the previous version's tag is
    the stalest a server may still mistake for current). (None, look): the run's status cannot
    be changed there and back."""
    status = look.run_status or ""
    other = {"paused": "live", "live": "paused"}.get(status)
    if other is None:
        return None, look
    away = _set_up(client, run, other)
    back = client.write(_SET_UP[status], run, away.etag, observe=False, before=away)
    if back.status != 204:
        return None, client.snapshot(run)
    return away.etag, client.snapshot(run)


def _resend(client: ApiClient, run: RunRef, recorded: Mapping[str, Any]) -> Exchange:
    """The recorded request sent again on `run`, its preconditions re-created: the run at the
    status it had, the tag it carried made what it was (current, stale) on the run now."""
    facts = recorded.get("facts") or {}
    url = str(recorded["url"])
    ids = kept_ids(url, facts)
    path, question, query = url.partition("?")
    last = path.rstrip("/").rsplit("/", 1)[-1]
    action = last if last in contract.WRITES else None
    operation, method = str(recorded["operation"]), str(recorded["method"])
    writes = method == "POST" or operation != "get"
    look = _set_up(client, run, ((recorded.get("before") or {}).get("status"))) if writes else None
    headers: dict[str, str | None] = {"Cint-API-Version": None, "traceparent": None}  # as recorded: absent if it was
    credential = {Auth.MAIN.value: client.credentials.main, Auth.FOREIGN.value: client.credentials.foreign}.get(facts.get("auth", ""))
    for name, value in recorded["request_headers"].items():
        # a redacted token is the credential the request stood for, on the replay's target
        headers[name] = value.replace(REDACTED, credential) if credential and REDACTED in value else value
    kind = IfMatch(facts["if_match"]) if facts.get("if_match") in {k.value for k in IfMatch} else None
    sent = next((name for name in headers if name.lower() == "if-match"), None)
    if sent is not None and look is not None and headers[sent] is not None:
        headers[sent], look = _tag_now(client, run, look, kind, str(headers[sent]), recorded)
    exchange = client.send(operation, method, client.url(run, action, **ids) + question + query,
                           run=run, ids=ids, auth=Auth.NONE, headers=headers,
                           provenance=kind if kind in PROVENANCES else None,
                           current=look.etag if look is not None else None, record=False)
    exchange.before = look
    if look is not None:
        exchange.after = client.snapshot(run)
    return exchange


def _tag_now(client: ApiClient, run: RunRef, look: Snapshot, kind: IfMatch | None, sent: str,
             recorded: Mapping[str, Any]) -> tuple[str, Snapshot]:
    """The If-Match to send now, and the run's look before it: the run's current tag where the
    recorded one was current then, a stale one made stale again, any other as it was sent."""
    then = (recorded.get("before") or {}).get("etag")
    now = look.etag
    if now is None:
        return sent, look
    if kind in (IfMatch.CURRENT, IfMatch.RACE):
        return now, look
    if kind is IfMatch.STRONG_SPELLING_OF_CURRENT:
        return now.removeprefix("W/"), look
    if kind is IfMatch.LIST_WITH_CURRENT:
        return (sent.replace(then, now, 1) if then and then in sent else f"{sent}, {now}"), look
    if kind is IfMatch.STALE:
        stale, look = _made_stale(client, run, look)
        return stale or sent, look
    return sent, look


def _replay_race(client: ApiClient, runs: SandboxRuns | FileRuns, example: Mapping[str, Any],
                 evidence: Sequence[Mapping[str, Any]], out: TextIO) -> Replayed:
    """Rounds of the race of `example` until its rule finds it (at most RACE_ROUNDS)."""
    race = race_of(example, evidence)
    if "complete" in race.kinds and isinstance(runs, FileRuns) and race.role != "completable":
        raise UsageError("this race completes a run, which cannot be undone: replay it on the built-in sandbox "
                         "(leave --target out)")
    replayed = Replayed()
    racers = [client.fork() for _ in race.kinds]
    barrier = threading.Barrier(len(racers))
    try:
        with ThreadPoolExecutor(max_workers=len(racers)) as pool:
            for n in range(1, RACE_ROUNDS + 1):
                with runs.use(race.role) as run:
                    for racer in racers:
                        racer.snapshot(run)  # each connection open before the release
                    before = _set_up(client, run, race.start)
                    check = rules.OneWinner(before, resumable=contract.ROLES[run.role].resumable)

                    def write(racer: ApiClient, kind: str, run: RunRef = run, tag: str | None = before.etag) -> Exchange:
                        barrier.wait(timeout=30)
                        return racer.write(kind, run, tag, tag=IfMatch.RACE, observe=False)

                    futures = [pool.submit(write, racer, kind) for racer, kind in zip(racers, race.kinds, strict=True)]
                    answers = [future.result(timeout=60) for future in futures]
                    for exchange in answers:
                        check.observe(exchange)
                    check.observe(client.get(run))
                    found = check.finish() or []
                print(f"  round {n}: {len(answers)} writes with If-Match {before.etag} on a {before.run_status} run answered "
                      f"{[e.status for e in answers]}{': ' + found[0].defect if found else ''}", file=out, flush=True)
                if found:
                    replayed.findings += found
                    break
    finally:
        barrier.abort()
        for racer in racers:
            racer.close()
    return replayed
