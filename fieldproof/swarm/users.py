"""A worker's side of the swarm: the Locust users that drive the harness's own recording client,
and the master's messages a worker answers (the clock ping, its configuration, a race round's
resumes, the final flush)."""

from __future__ import annotations

import random
from typing import Any, ClassVar

import gevent
from locust import User, between, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from fieldproof.facts import IfMatch
from fieldproof.swarm.config import SwarmSetup
from fieldproof.swarm.node import STOPPING, WAIT_S, Node
from fieldproof.target import RunRef

TAGS_KEPT = 5  # the tags a user remembers per run: the freshest, and some stale ones


class Worker:
    """One worker process: its node, and its answers to the master's messages."""

    def __init__(self, setup: SwarmSetup, environment: Environment, runner: WorkerRunner) -> None:
        self.setup = setup
        self.environment, self.runner = environment, runner
        self.node = Node("worker", setup, environment.events)

    def attach(self) -> None:
        """Answer the master's messages, and hand this worker to its users."""
        FieldproofUser.worker = self
        guarded, events = self.node.guarded, self.environment.events
        self.runner.register_message("fieldproof_ping", guarded(self.on_ping))
        self.runner.register_message("fieldproof_config", guarded(self.on_config))
        self.runner.register_message("fieldproof_race", guarded(self.on_race), concurrent=True)
        self.runner.register_message("fieldproof_flush", guarded(self.on_flush))
        events.report_to_master.add_listener(self.on_report_to_master)
        events.test_stop.add_listener(self.on_test_stop)

    def on_ping(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self.runner.send_message("fieldproof_pong", {"sent": msg.data["sent"], "worker_time": self.node.now()})

    def on_config(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self.node.name = msg.data["name"]
        self.node.skew_s = msg.data.get("skew_s", 0.0)
        self.node.configure(msg.data["budget"], msg.data["max_rps"])

    def on_race(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        """Fire this worker's share of a round's resumes at the time the master set (on this clock)."""
        node, data = self.node, msg.data
        run = RunRef("resumable", *(data["ids"][name] for name in ("account_id", "project_id", "target_group_id", "fielding_run_id")))
        results: list[dict[str, Any]] = []
        if node.client is None:
            return

        def racer(n: int) -> None:
            assert node.client is not None
            with node.client.fork() as http:
                label = f"race{n}"
                try:
                    # the connection is open before the round's moment (no answer: this racer never writes)
                    if node.attempt(run, label, "get", None, lambda: http.get(run)) is None:
                        return
                    gevent.sleep(max(0.0, data["at"] - node.now()))
                    exchange = node.attempt(run, label, "resume", data["tag"],
                                            lambda: http.write("resume", run, data["tag"], tag=IfMatch.RACE, observe=False))
                except STOPPING as exc:
                    node.stopped_by(exc)
                    return
                if exchange is None:
                    return
                exchange.sender = f"{node.name}/{label}"
                results.append(exchange.to_dict())

        gevent.joinall([gevent.spawn(racer, n) for n in range(self.setup.config.racers_per_worker)], timeout=WAIT_S)
        self.runner.send_message("fieldproof_race_result", {"round": data["round"], "results": results})

    def on_flush(self, environment: Environment, msg: Any, **kwargs: Any) -> None:
        self.runner.stop()  # stops the users; this worker's test_stop then sends its final report

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
        data["fieldproof"] = self.node.report()

    def on_test_stop(self, environment: Environment, **kwargs: Any) -> None:
        self.runner.send_message("fieldproof_final", self.node.report())


class FieldproofUser(User):
    """Reads, resumes and pauses the target's resumable runs, each write with the tag this user
    holds (mostly the freshest it has seen, sometimes a stale one)."""

    # this process's worker, handed over in Locust's init event (Locust makes the users itself)
    worker: ClassVar[Worker | None] = None
    wait_time = between(0.0, 0.02)

    def on_start(self) -> None:
        worker = self.worker
        if worker is None or not worker.node.ready.wait(timeout=WAIT_S) or worker.node.client is None or not worker.setup.user_runs:
            raise StopUser()
        self.node = worker.node
        self.runs = worker.setup.user_runs
        self.http = worker.node.client.fork()
        self.label = f"u{random.getrandbits(24):06x}"
        self.tags: dict[str, list[str]] = {run.fielding_run_id: [] for run in self.runs}

    def on_stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()

    @task(2)
    def read(self) -> None:
        self._send("get", random.choice(self.runs))

    @task(1)
    def resume(self) -> None:
        self._send("resume", random.choice(self.runs))

    @task(1)
    def pause(self) -> None:
        self._send("pause", random.choice(self.runs))

    def _send(self, operation: str, run: RunRef) -> None:
        seen = self.tags[run.fielding_run_id]
        if operation != "get" and not seen:
            operation = "get"  # a tag to hold first
        tag = None if operation == "get" else (seen[-1] if random.random() < 0.8 else random.choice(seen))
        try:
            exchange = self.node.attempt(run, self.label, operation, tag, lambda: self.http.get(run) if operation == "get"
                                         else self.http.write(operation, run, tag, observe=False))
        except STOPPING as exc:
            self.node.stopped_by(exc)
            raise StopUser() from None
        if exchange is None:
            return
        etag = exchange.header("etag")
        if exchange.status in (200, 204) and etag:
            seen.append(etag)
            del seen[:-TAGS_KEPT]
