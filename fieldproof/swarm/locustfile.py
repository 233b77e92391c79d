"""Inside Locust's processes: the users of `fieldproof swarm`, the master's race rounds, and the
merge of what every worker judged. Loaded by Locust only (importing Locust patches a process
for gevent); `fieldproof swarm` starts Locust with this file and a SwarmConfig in the
environment.

- Every worker process drives the harness's own recording client, so every exchange under load
  is judged by the same rules as in `fieldproof run`, and shows in Locust's statistics as
  `operation status` (a finding is a failure there).
- The master measures each worker's clock (a ping), hands out the shares of `max_requests` and
  `max_rps`, and runs race rounds: "resume run X with tag E at time T", every worker firing its
  share of racers at T, the round judged across all workers (one_winner_among_concurrent_writes).
- Each worker ships its findings and its history (call and return times, answers) in Locust's
  periodic reports and in a final flush the master waits for (Locust's own last report can be
  lost on quit); the master merges the histories per fielding run on its own clock, widened by
  each clock's uncertainty, and checks them (history_linearizable).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import User, between, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from fieldproof import rules
from fieldproof.client.recording import ApiClient, BrokenResponse, Budget, Credentials, Liveness
from fieldproof.document import ContractDocument
from fieldproof.errors import (
    BudgetExhausted,
    DeadlineReached,
    FieldproofError,
    TargetStoppedAnswering,
    TargetUnreachable,
)
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch
from fieldproof.linearizability import Entry
from fieldproof.model import Observation, RunState
from fieldproof.progress import SWARM_PROGRESS
from fieldproof.recorder import Recorder
from fieldproof.records import (
    NoteRecord,
    ProblemKind,
    ProblemRecord,
    Record,
    TotalsRecord,
    WorkerStatus,
    from_line,
    problem_of,
    process_file,
    to_line,
    write_records,
    write_status,
)
from fieldproof.swarm.config import SwarmConfig
from fieldproof.swarm.history import ClockOffset, merge, to_record
from fieldproof.target import RunRef, load_target

logging.getLogger("httpx").setLevel(logging.WARNING)
log = logging.getLogger("fieldproof.swarm")

CONFIG = SwarmConfig.from_env()
TARGET = load_target(CONFIG.target_file)
DOCUMENT = ContractDocument.load(CONFIG.contract_file)
RESUMABLE = TARGET.runs_of("resumable")
RACE_RUN = RESUMABLE[-1] if len(RESUMABLE) > 1 else None  # its own run: users never write to it
USER_RUNS = RESUMABLE[:-1] if RACE_RUN is not None else RESUMABLE
STOPPING = (BudgetExhausted, DeadlineReached, TargetStoppedAnswering)
TAGS_KEPT = 5  # the tags a user remembers per run: the freshest, and some stale ones
RACE_LEAD_S = 0.5  # how far ahead of now a round is set: time for the message to reach every worker
ROUND_PAUSE_S = 0.5
WAIT_S = 30.0  # the most the master waits for a round's results or a worker's final flush
MIN_ROUNDS = 1  # race rounds judged however short the duration (a slow start must not leave the rule unexercised)


class ContractFinding(Exception):
    """A finding, as Locust's statistics count a failure."""


class Node:
    """What one Locust process judged and recorded (worker or master)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.recorder = Recorder(TARGET.secrets)
        self.client: ApiClient | None = None
        self.history: list[list[object]] = []  # records not shipped yet
        self.kept: dict[str, int] = {}  # records per run, for the cap
        self.problems: dict[str, str] = {}  # a ProblemKind's value -> message, the first of each
        self.skew_s = 0.0  # tests only: how far this node's clock is off
        self.ready = Event()

    def configure(self, budget: int, max_rps: float | None) -> None:
        self.client = ApiClient(TARGET, budget=Budget(max(1, budget), spent_message=(
            f"the request budget is spent: this swarm node's share ({budget}) of max_requests = {TARGET.max_requests} "
            f"in {TARGET.source}")), on_exchange=self.observe, credentials=Credentials(TARGET.token, TARGET.foreign_token),
            max_rps=max_rps, documented=DOCUMENT.statuses, liveness=Liveness(CONFIG.deadline))  # fmt: skip
        self.ready.set()

    def now(self) -> float:
        return time.time() + self.skew_s

    def observe(self, exchange: Exchange) -> None:
        found = self.recorder.record(exchange)
        events.request.fire(request_type=exchange.method, name=f"{exchange.operation} {exchange.status}",
                            response_time=exchange.elapsed_s * 1000, response_length=len(exchange.body),
                            exception=ContractFinding(found[0].message) if found else None, context={})  # fmt: skip

    def log(self, run: RunRef, client: str, call: float, ret: float | None, exchange: Exchange | None,
            operation: str, if_match: str | None) -> None:  # fmt: skip
        """One operation of the history of `run` (no answer: `exchange` None)."""
        if self.kept.get(run.fielding_run_id, 0) >= CONFIG.history_cap:
            return
        self.kept[run.fielding_run_id] = self.kept.get(run.fielding_run_id, 0) + 1
        observed = rules.observation_of(exchange) if exchange is not None else Observation(operation, if_match, None)
        answered = ret if observed.status is not None else None
        self.history.append(to_record(run.fielding_run_id, Entry(client, call, answered, observed)))

    def stopped_by(self, exc: BaseException) -> None:
        problem = problem_of(exc)
        self.problems.setdefault(problem.kind.value, problem.message)

    def report(self) -> dict[str, Any]:
        """What was found and recorded since the last report (totals: all so far)."""
        history, self.history = self.history, []
        unanswered = self.client.liveness.unanswered if self.client is not None else 0
        return {"groups": [to_line(g.record(f"swarm/{self.name}")) for g in self.recorder.take_groups()],
                "history": history, "totals": to_line(self.recorder.totals(unanswered)), "problems": dict(self.problems)}  # fmt: skip


NODE = Node("worker")


# --- the users -------------------------------------------------------------------------------


class FieldproofUser(User):
    """Reads, resumes and pauses the target's resumable runs, each write with the tag this user
    holds (mostly the freshest it has seen, sometimes a stale one)."""

    wait_time = between(0.0, 0.02)

    def on_start(self) -> None:
        if not NODE.ready.wait(timeout=WAIT_S) or NODE.client is None or not USER_RUNS:
            raise StopUser()
        self.http = NODE.client.fork()
        self.label = f"u{random.getrandbits(24):06x}"
        self.tags: dict[str, list[str]] = {run.fielding_run_id: [] for run in USER_RUNS}

    def on_stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()

    @task(2)
    def read(self) -> None:
        self._send("get", random.choice(USER_RUNS))

    @task(1)
    def resume(self) -> None:
        self._send("resume", random.choice(USER_RUNS))

    @task(1)
    def pause(self) -> None:
        self._send("pause", random.choice(USER_RUNS))

    def _send(self, operation: str, run: RunRef) -> None:
        seen = self.tags[run.fielding_run_id]
        if operation != "get" and not seen:
            operation = "get"  # a tag to hold first
        tag = None if operation == "get" else (seen[-1] if random.random() < 0.8 else random.choice(seen))
        call = NODE.now()
        try:
            exchange = self.http.get(run) if operation == "get" else self.http.write(operation, run, tag, observe=False)
        except STOPPING as exc:
            NODE.stopped_by(exc)
            raise StopUser() from None
        except (TargetUnreachable, BrokenResponse):  # no answer (or none HTTP can read): it may or may not have acted
            NODE.log(run, self.label, call, None, None, operation, tag)
            return
        NODE.log(run, self.label, call, NODE.now(), exchange, operation, tag)
        etag = exchange.header("etag")
        if exchange.status in (200, 204) and etag:
            seen.append(etag)
            del seen[:-TAGS_KEPT]


# --- the workers' side of the coordination ---------------------------------------------------


def _on_ping(environment: Any, msg: Any, **kwargs: Any) -> None:
    environment.runner.send_message("fieldproof_pong", {"sent": msg.data["sent"], "worker_time": NODE.now()})


def _on_config(environment: Any, msg: Any, **kwargs: Any) -> None:
    NODE.name = msg.data["name"]
    NODE.skew_s = msg.data.get("skew_s", 0.0)
    NODE.configure(msg.data["budget"], msg.data["max_rps"])


def _on_race(environment: Any, msg: Any, **kwargs: Any) -> None:
    """Fire this worker's share of a round's resumes at the time the master set (on this clock)."""
    data = msg.data
    run = RunRef("resumable", *(data["ids"][name] for name in ("account_id", "project_id", "target_group_id", "fielding_run_id")))
    results: list[dict[str, Any]] = []
    if NODE.client is None:
        return

    def racer(n: int) -> None:
        assert NODE.client is not None
        with NODE.client.fork() as http:
            label = f"race{n}"
            try:
                warm = NODE.now()
                seen = http.get(run)  # the connection is open before the round's moment
                NODE.log(run, label, warm, NODE.now(), seen, "get", None)
                gevent.sleep(max(0.0, data["at"] - NODE.now()))
                call = NODE.now()
                exchange = http.write("resume", run, data["tag"], tag=IfMatch.RACE, observe=False)
            except STOPPING as exc:
                NODE.stopped_by(exc)
                return
            except (TargetUnreachable, BrokenResponse):
                NODE.log(run, label, call, None, None, "resume", data["tag"])
                return
            NODE.log(run, label, call, NODE.now(), exchange, "resume", data["tag"])
            exchange.sender = f"{NODE.name}/{label}"
            results.append(exchange.to_dict())

    gevent.joinall([gevent.spawn(racer, n) for n in range(CONFIG.racers_per_worker)], timeout=WAIT_S)
    environment.runner.send_message("fieldproof_race_result", {"round": data["round"], "results": results})


def _on_flush(environment: Any, msg: Any, **kwargs: Any) -> None:
    environment.runner.stop()  # stops the users; this worker's test_stop then sends its final report


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    data["fieldproof"] = NODE.report()


# --- the master ------------------------------------------------------------------------------


class Master:
    def __init__(self) -> None:
        self.node = Node("master")
        self.clocks: dict[str, ClockOffset] = {}
        self.names: dict[str, str] = {}  # client id -> worker name
        self.shipped: dict[str, dict[str, Any]] = {}  # worker name -> groups, history, totals, problems
        self.finals: set[str] = set()
        self.results: dict[int, list[dict[str, Any]]] = {}
        self.answered: dict[int, set[str]] = {}
        self.initial: dict[str, RunState] = {}
        self.rounds = 0
        self.rounds_judged = 0
        self.rounds_won_once = 0
        self.set_up = Event()  # start() is done: the clocks are measured and the rounds have begun
        self.started = time.time()
        self.stopping = False
        self.written = False
        self.greenlets: list[gevent.Greenlet] = []

    def ship(self, client_id: str, data: dict[str, Any] | None) -> None:
        if not data:
            return
        into = self.shipped.setdefault(self.names.get(client_id, client_id), {"groups": [], "history": [], "totals": None, "problems": {}})
        into["groups"] += data["groups"]
        into["history"] += data["history"]
        into["totals"] = data["totals"]
        into["problems"].update(data["problems"])
        self.write_progress()

    def write_progress(self) -> None:
        """Requests and findings so far, every node's, for the progress lines of `fieldproof swarm`."""
        totals = [record for shipped in self.shipped.values() if shipped["totals"]
                  for record in [from_line(shipped["totals"])] if isinstance(record, TotalsRecord)]  # fmt: skip
        severities = Counter(self.node.recorder.severities)
        for record in totals:
            severities.update(record.severities)
        requests = self.node.recorder.requests + sum(record.requests for record in totals)
        write_status(Path(str(CONFIG.work_dir)) / SWARM_PROGRESS, WorkerStatus(requests=requests, findings=severities))

    def start(self, runner: MasterRunner) -> None:
        try:
            self._start(runner)
        finally:
            self.set_up.set()

    def _start(self, runner: MasterRunner) -> None:
        workers = sorted(client.id for client in runner.clients.all)
        self.names = {client_id: f"w{n}" for n, client_id in enumerate(workers)}
        budget = CONFIG.budget or 10**7
        mine = min(max(30, budget // 10), budget // 2)  # the master's share: race rounds' GETs and pauses
        share = max(1, (budget - mine) // max(1, len(workers)))
        rps = CONFIG.max_rps / (len(workers) + 1) if CONFIG.max_rps else None
        self.node.configure(mine, rps)
        skew = CONFIG.clock_skew
        for n, client_id in enumerate(workers):  # before the pings: a worker's clock is what it is by then
            runner.send_message("fieldproof_config", {"name": self.names[client_id], "budget": share, "max_rps": rps,
                                                      "skew_s": skew[1] if skew and skew[0] == n else 0.0},
                                client_id=client_id)  # fmt: skip
        for _ in range(3):  # the ping with the shortest round trip gives the tightest bound
            runner.send_message("fieldproof_ping", {"sent": time.time()})
            gevent.sleep(0.05)
        deadline = time.monotonic() + 5
        while len(self.clocks) < len(workers) and time.monotonic() < deadline:
            gevent.sleep(0.02)
        assert self.node.client is not None
        for run in RESUMABLE:  # where every history starts
            seen = self.node.client.snapshot(run)
            if seen.status is not None and seen.etag is not None:
                self.initial[run.fielding_run_id] = RunState(seen.status, seen.etag)
        if RACE_RUN is not None and workers:
            self.greenlets.append(gevent.spawn(self.race_rounds, runner, workers))

    def race_rounds(self, runner: MasterRunner, workers: list[str]) -> None:
        assert RACE_RUN is not None and self.node.client is not None
        http = self.node.client
        try:
            while not self.stopping:
                before = self._snapshot(http, RACE_RUN)
                if before.status != "paused" or before.etag is None:
                    self._pause_back(http, before)
                    gevent.sleep(ROUND_PAUSE_S)
                    continue
                self.rounds += 1
                number, at = self.rounds, time.time() + RACE_LEAD_S
                self.answered[number] = set()
                for client_id in workers:
                    clock = self.clocks.get(client_id, ClockOffset(0.0, 0.0))
                    runner.send_message("fieldproof_race", {"round": number, "ids": RACE_RUN.ids(), "tag": before.etag,
                                                            "at": at + clock.offset_s}, client_id=client_id)  # fmt: skip
                limit = time.monotonic() + WAIT_S
                while len(self.answered[number]) < len(workers) and time.monotonic() < limit:
                    gevent.sleep(0.02)
                after = http.get(RACE_RUN)
                self.node.log(RACE_RUN, "master", time.time(), time.time(), after, "get", None)
                judged = self.node.recorder.judge(rules.OneWinner(before))
                writes = [Exchange.from_dict(result) for result in self.results.pop(number, [])]
                for write in writes:
                    judged.observe(write)
                judged.observe(after)
                found = judged.finish()
                self.rounds_judged += 1
                self.rounds_won_once += found == []
                self._pause_back(http, Snapshot.of(after))
                gevent.sleep(ROUND_PAUSE_S)
        except STOPPING as exc:
            self.node.stopped_by(exc)
        except FieldproofError as exc:
            self.node.stopped_by(exc)

    def _snapshot(self, http: ApiClient, run: RunRef) -> Snapshot:
        call = time.time()
        exchange = http.get(run)
        self.node.log(run, "master", call, time.time(), exchange, "get", None)
        return Snapshot.of(exchange)

    def _pause_back(self, http: ApiClient, seen: Snapshot) -> None:
        assert RACE_RUN is not None
        if seen.status == "live" and seen.etag is not None:
            call = time.time()
            exchange = http.write("pause", RACE_RUN, seen.etag, observe=False)
            self.node.log(RACE_RUN, "master", call, time.time(), exchange, "pause", seen.etag)

    def finish(self, runner: MasterRunner) -> None:
        """Ask every worker for its final report, wait for them, then judge and write it all."""
        if self.written:
            return
        # the master's test_stop comes while the workers still run: a round they can still join
        self.set_up.wait(WAIT_S)
        limit = time.monotonic() + WAIT_S
        while (self.rounds_judged < MIN_ROUNDS and any(not g.dead for g in self.greenlets)
               and time.monotonic() < limit):  # fmt: skip
            gevent.sleep(0.05)
        self.stopping = True
        gevent.joinall(self.greenlets, timeout=WAIT_S)
        expected = {self.names.get(client.id, client.id) for client in runner.clients.all}
        runner.send_message("fieldproof_flush")
        limit = time.monotonic() + WAIT_S
        while not expected <= self.finals and time.monotonic() < limit:
            gevent.sleep(0.05)
        self.write(expected - self.finals)
        self.written = True

    def write(self, missing: set[str]) -> None:
        work = Path(str(CONFIG.work_dir))
        for name, shipped in self.shipped.items():
            records = [from_line(line) for line in [*shipped["groups"], *([shipped["totals"]] if shipped["totals"] else [])]]
            records += [_problem_record(kind, message, name) for kind, message in shipped["problems"].items()]
            write_records(process_file(work, name), records, TARGET.secrets)
        histories = merge({**{name: s["history"] for name, s in self.shipped.items()}, "master": self.node.history},
                          {**{self.names[c]: clock for c, clock in self.clocks.items() if c in self.names},
                           "master": ClockOffset(0.0, 0.0)})  # fmt: skip
        self.node.history = []
        verdicts = {}
        for run_id, operations in histories.items():
            initial = self.initial.get(run_id)
            if initial is None:
                continue
            check = self.node.recorder.judge(rules.LinearizableHistory(initial))
            for operation in operations:
                check.observe(operation)
            result = check.finish()
            verdicts[run_id] = {"operations": len(operations), "clients": len({op.client for op in operations}),
                                "workers": sorted({op.client.split("/", 1)[0] for op in operations}),
                                "verdict": "inconclusive" if result is None else "violated" if result else "linearizable"}  # fmt: skip
        report = self.node.report()
        records = [from_line(line) for line in [*report["groups"], report["totals"]]]
        records += self.node.recorder.take_evidence("swarm/master")
        records += [_problem_record(kind, message, "master") for kind, message in report["problems"].items()]
        records += [ProblemRecord(ProblemKind.INCONCLUSIVE, "its final report never arrived", f"swarm/{name}") for name in sorted(missing)]
        write_records(process_file(work, "master"), records, TARGET.secrets)
        calls = sorted(op.call for operations in histories.values() for op in operations)
        per_second: dict[int, int] = {}
        for call in calls:  # from the histories: when each request was sent, on the master's clock
            second = int(call - calls[0])
            per_second[second] = per_second.get(second, 0) + 1
        self.swarm = {"workers": sorted(self.names.values()), "rounds": self.rounds, "rounds_won_once": self.rounds_won_once,
                      "clocks": {self.names.get(c, c): [clock.offset_s, clock.bound_s] for c, clock in self.clocks.items()},
                      "histories": verdicts, "missing_finals": sorted(missing),
                      "requests_per_s": [per_second.get(n, 0) for n in range(max(per_second, default=-1) + 1)]}  # fmt: skip

    def write_stats(self, runner: MasterRunner, users: int) -> None:
        """Locust's statistics, once its workers' last reports are in (at quitting)."""
        entries = []
        for (name, method), entry in sorted(runner.stats.entries.items()):
            entries.append({"name": name, "method": method, "requests": entry.num_requests, "failures": entry.num_failures,
                            **{f"p{int(p * 100)}_ms": entry.get_response_time_percentile(p) for p in (0.5, 0.95, 0.99)},
                            "max_ms": entry.max_response_time})  # fmt: skip
        swarm = {**getattr(self, "swarm", {}), "users": users, "duration_s": round(time.time() - self.started, 2),
                 "latency": entries}  # fmt: skip
        (Path(str(CONFIG.work_dir)) / "swarm.json").write_text(json.dumps(swarm, indent=1))


MASTER = Master()


def _problem_record(kind: str, message: str, node: str) -> Record:
    """What stopped a node's users. A spent budget is how a swarm on a live target ends its load
    (a note), not a failure to reach a verdict; anything else is a problem of the run."""
    if kind == ProblemKind.BUDGET_EXHAUSTED.value:
        return NoteRecord(f"{node}: the load ended when its share of the budget was spent ({message})")
    return ProblemRecord(ProblemKind(kind), message, f"swarm/{node}")


def _guarded(listener: Any) -> Any:
    """A listener whose failure is reported as inconclusive, never a traceback that Locust
    turns into an unexplained exit code."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return listener(*args, **kwargs)
        except Exception as exc:  # a harness error: reported, not raised into Locust
            log.exception("fieldproof swarm listener %s failed", listener.__name__)
            NODE.problems.setdefault(ProblemKind.INCONCLUSIVE.value, f"{type(exc).__name__}: {exc}")
            MASTER.node.problems.setdefault(ProblemKind.INCONCLUSIVE.value, f"{type(exc).__name__}: {exc}")
            return None

    return run


def _on_pong(environment: Any, msg: Any, **kwargs: Any) -> None:
    clock = ClockOffset.measure(msg.data["sent"], msg.data["worker_time"], time.time())
    best = MASTER.clocks.get(msg.node_id)
    if best is None or clock.bound_s < best.bound_s:
        MASTER.clocks[msg.node_id] = clock


def _on_race_result(environment: Any, msg: Any, **kwargs: Any) -> None:
    MASTER.results.setdefault(msg.data["round"], []).extend(msg.data["results"])
    MASTER.answered.setdefault(msg.data["round"], set()).add(msg.node_id)


def _on_final(environment: Any, msg: Any, **kwargs: Any) -> None:
    MASTER.ship(msg.node_id, msg.data)
    MASTER.finals.add(MASTER.names.get(msg.node_id, msg.node_id))


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    MASTER.ship(client_id, data.get("fieldproof"))


@events.init.add_listener
def _on_init(environment: Any, runner: Any, **kwargs: Any) -> None:
    if isinstance(runner, WorkerRunner):
        runner.register_message("fieldproof_ping", _guarded(_on_ping))
        runner.register_message("fieldproof_config", _guarded(_on_config))
        runner.register_message("fieldproof_race", _guarded(_on_race), concurrent=True)
        runner.register_message("fieldproof_flush", _guarded(_on_flush))
    elif isinstance(runner, MasterRunner):
        runner.register_message("fieldproof_pong", _guarded(_on_pong))
        runner.register_message("fieldproof_race_result", _guarded(_on_race_result))
        runner.register_message("fieldproof_final", _guarded(_on_final))


@events.test_start.add_listener
def _on_test_start(environment: Any, **kwargs: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        _guarded(MASTER.start)(environment.runner)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **kwargs: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message("fieldproof_final", NODE.report())
    elif isinstance(runner, MasterRunner):
        _guarded(MASTER.finish)(runner)


@events.quitting.add_listener
def _on_quitting(environment: Any, **kwargs: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        users = getattr(environment.parsed_options, "num_users", 0) or 0
        _guarded(MASTER.write_stats)(environment.runner, users)
