"""The master's side of the swarm: it measures each worker's clock (a ping), hands out the shares
of `max_requests` and `max_rps`, runs the race rounds, and at the end merges what every node
judged and shipped, checks the merged histories, and writes the session's records and Locust's
statistics."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import MasterRunner

from fieldproof import rules
from fieldproof.client.recording import ApiClient
from fieldproof.errors import FieldproofError
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.model import RunState
from fieldproof.progress import SWARM_PROGRESS
from fieldproof.records import (
    NoteRecord,
    ProblemKind,
    ProblemRecord,
    Record,
    TotalsRecord,
    WorkerStatus,
    from_line,
    process_file,
    write_records,
    write_status,
)
from fieldproof.swarm.config import SwarmSetup
from fieldproof.swarm.history import ClockOffset, merge
from fieldproof.swarm.node import WAIT_S, Node
from fieldproof.target import RunRef

RACE_LEAD_S = 0.5  # how far ahead of now a round is set: time for the message to reach every worker
ROUND_PAUSE_S = 0.5
MIN_ROUNDS = 1  # race rounds judged however short the duration (a slow start must not leave the rule unexercised)


class Master:
    """The master process: the workers' clocks and shares, the race rounds, and at the end the
    merge of what every node judged, written as the session's records and Locust's statistics."""

    def __init__(self, setup: SwarmSetup, environment: Environment, runner: MasterRunner) -> None:
        self.setup = setup
        self.environment, self.runner = environment, runner
        self.node = Node("master", setup, environment.events)
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
        self.swarm: dict[str, Any] = {}  # the swarm section of the summary, once written

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
                  for record in [from_line(shipped["totals"])] if isinstance(record, TotalsRecord)]
        severities = Counter(self.node.recorder.severities)
        for record in totals:
            severities.update(record.severities)
        requests = self.node.recorder.requests + sum(record.requests for record in totals)
        write_status(Path(str(self.setup.config.work_dir)) / SWARM_PROGRESS, WorkerStatus(requests=requests, findings=severities))

    def start(self, runner: MasterRunner) -> None:
        try:
            self._start(runner)
        finally:
            self.set_up.set()

    def _start(self, runner: MasterRunner) -> None:
        workers = sorted(client.id for client in runner.clients.all)
        self.names = {client_id: f"w{n}" for n, client_id in enumerate(workers)}
        budget = self.setup.config.budget or 10**7
        mine = min(max(30, budget // 10), budget // 2)  # the master's share: race rounds' GETs and pauses
        share = max(1, (budget - mine) // max(1, len(workers)))
        rps = self.setup.config.max_rps / (len(workers) + 1) if self.setup.config.max_rps else None
        self.node.configure(mine, rps)
        skew = self.setup.config.clock_skew
        for n, client_id in enumerate(workers):  # before the pings: a worker's clock is what it is by then
            runner.send_message("fieldproof_config", {"name": self.names[client_id], "budget": share, "max_rps": rps,
                                                      "skew_s": skew[1] if skew and skew[0] == n else 0.0},
                                client_id=client_id)
        for _ in range(3):  # the ping with the shortest round trip gives the tightest bound
            runner.send_message("fieldproof_ping", {"sent": time.time()})
            gevent.sleep(0.05)
        deadline = time.monotonic() + 5
        while len(self.clocks) < len(workers) and time.monotonic() < deadline:
            gevent.sleep(0.02)
        assert self.node.client is not None
        for run in self.setup.resumable:  # where every history starts
            seen = self.node.client.snapshot(run)
            if seen.run_status is not None and seen.etag is not None:
                self.initial[run.fielding_run_id] = RunState(seen.run_status, seen.etag)
        if self.setup.race_run is not None and workers:
            self.greenlets.append(gevent.spawn(self.race_rounds, runner, workers))

    def race_rounds(self, runner: MasterRunner, workers: list[str]) -> None:
        race_run = self.setup.race_run
        assert race_run is not None and self.node.client is not None
        http = self.node.client
        try:
            while not self.stopping:
                before = self._snapshot(http, race_run)
                if before.run_status != "paused" or before.etag is None:
                    self._pause_back(http, before)
                    gevent.sleep(ROUND_PAUSE_S)
                    continue
                self.rounds += 1
                number, at = self.rounds, time.time() + RACE_LEAD_S
                self.answered[number] = set()
                for client_id in workers:
                    clock = self.clocks.get(client_id, ClockOffset(0.0, 0.0))
                    runner.send_message("fieldproof_race", {"round": number, "ids": race_run.ids(), "tag": before.etag,
                                                            "at": at + clock.offset_s}, client_id=client_id)
                limit = time.monotonic() + WAIT_S
                while len(self.answered[number]) < len(workers) and time.monotonic() < limit:
                    gevent.sleep(0.02)
                after = self._get(http, race_run)
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
        except FieldproofError as exc:  # a reason to stop sending (the budget, the deadline, no answers) among them
            self.node.stopped_by(exc)

    def _get(self, http: ApiClient, run: RunRef) -> Exchange:
        """A GET of `run`, in its history from when it was sent to when it was answered."""
        call = time.time()
        exchange = http.get(run)
        self.node.log(run, "master", call, time.time(), exchange, "get", None)
        return exchange

    def _snapshot(self, http: ApiClient, run: RunRef) -> Snapshot:
        return Snapshot.of(self._get(http, run))

    def _pause_back(self, http: ApiClient, seen: Snapshot) -> None:
        race_run = self.setup.race_run
        assert race_run is not None
        if seen.run_status == "live" and seen.etag is not None:
            call = time.time()
            exchange = http.write("pause", race_run, seen.etag, observe=False)
            self.node.log(race_run, "master", call, time.time(), exchange, "pause", seen.etag)

    def finish(self, runner: MasterRunner) -> None:
        """Ask every worker for its final report, wait for them, then judge and write it all."""
        if self.written:
            return
        # the master's test_stop comes while the workers still run: a round they can still join
        self.set_up.wait(WAIT_S)
        limit = time.monotonic() + WAIT_S
        while (self.rounds_judged < MIN_ROUNDS and any(not g.dead for g in self.greenlets)
               and time.monotonic() < limit):
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
        work = Path(str(self.setup.config.work_dir))
        for name, shipped in self.shipped.items():
            records = [from_line(line) for line in [*shipped["groups"], *([shipped["totals"]] if shipped["totals"] else [])]]
            records += [_problem_record(kind, message, name) for kind, message in shipped["problems"].items()]
            write_records(process_file(work, name), records, self.setup.target.secrets)
        histories = merge({**{name: s["history"] for name, s in self.shipped.items()}, "master": self.node.history},
                          {**{self.names[c]: clock for c, clock in self.clocks.items() if c in self.names},
                           "master": ClockOffset(0.0, 0.0)})
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
                                "verdict": "inconclusive" if result is None else "violated" if result else "linearizable"}
        report = self.node.report()
        records = [from_line(line) for line in [*report["groups"], report["totals"]]]
        records += self.node.recorder.take_evidence("swarm/master")
        records += [_problem_record(kind, message, "master") for kind, message in report["problems"].items()]
        records += [ProblemRecord(ProblemKind.INCONCLUSIVE, "its final report never arrived", f"swarm/{name}") for name in sorted(missing)]
        write_records(process_file(work, "master"), records, self.setup.target.secrets)
        calls = sorted(op.call for operations in histories.values() for op in operations)
        per_second: dict[int, int] = {}
        for call in calls:  # from the histories: when each request was sent, on the master's clock
            second = int(call - calls[0])
            per_second[second] = per_second.get(second, 0) + 1
        self.swarm = {"workers": sorted(self.names.values()), "rounds": self.rounds, "rounds_won_once": self.rounds_won_once,
                      "clocks": {self.names.get(c, c): [clock.offset_s, clock.bound_s] for c, clock in self.clocks.items()},
                      "histories": verdicts, "missing_finals": sorted(missing),
                      "requests_per_s": [per_second.get(n, 0) for n in range(max(per_second, default=-1) + 1)]}

    def write_stats(self, runner: MasterRunner, users: int) -> None:
        """Locust's statistics, once its workers' last reports are in (at quitting)."""
        entries = []
        for (name, method), entry in sorted(runner.stats.entries.items()):
            entries.append({"name": name, "method": method, "requests": entry.num_requests, "failures": entry.num_failures,
                            **{f"p{int(p * 100)}_ms": entry.get_response_time_percentile(p) for p in (0.5, 0.95, 0.99)},
                            "max_ms": entry.max_response_time})
        swarm = {**self.swarm, "users": users, "duration_s": round(time.time() - self.started, 2),
                 "latency": entries}
        (Path(str(self.setup.config.work_dir)) / "swarm.json").write_text(json.dumps(swarm, indent=1))

    # --- wired to Locust ---------------------------------------------------------------------

    def attach(self) -> None:
        """Listen to the workers' messages and reports, and to the start and stop of the test
        (quitting is the locustfile's to wire: it must come after the runner's own)."""
        guarded, events = self.node.guarded, self.environment.events
        self.runner.register_message("fieldproof_pong", guarded(self.on_pong))
        self.runner.register_message("fieldproof_race_result", guarded(self.on_race_result))
        self.runner.register_message("fieldproof_final", guarded(self.on_final))
        events.worker_report.add_listener(self.on_worker_report)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)

    def on_pong(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        clock = ClockOffset.measure(msg.data["sent"], msg.data["worker_time"], time.time())
        best = self.clocks.get(msg.node_id)
        if best is None or clock.bound_s < best.bound_s:
            self.clocks[msg.node_id] = clock

    def on_race_result(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self.results.setdefault(msg.data["round"], []).extend(msg.data["results"])
        self.answered.setdefault(msg.data["round"], set()).add(msg.node_id)

    def on_final(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self.ship(msg.node_id, msg.data)
        self.finals.add(self.names.get(msg.node_id, msg.node_id))

    def on_worker_report(self, client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
        self.ship(client_id, data.get("fieldproof"))

    def on_test_start(self, environment: Environment, **kwargs: Any) -> None:
        self.node.guarded(self.start)(self.runner)

    def on_test_stop(self, environment: Environment, **kwargs: Any) -> None:
        self.node.guarded(self.finish)(self.runner)

    def on_quitting(self, environment: Environment, **kwargs: Any) -> None:
        users = getattr(environment.parsed_options, "num_users", 0) or 0
        self.node.guarded(self.write_stats)(self.runner, users)


def _problem_record(kind: str, message: str, node: str) -> Record:
    """What stopped a node's users. A spent budget is how a swarm on a live target ends its load
    (a note), not a failure to reach a verdict; anything else is a problem of the session."""
    if kind == ProblemKind.BUDGET_EXHAUSTED.value:
        return NoteRecord(f"{node}: the load ended when its share of the budget was spent ({message})")
    return ProblemRecord(ProblemKind(kind), message, f"swarm/{node}")
