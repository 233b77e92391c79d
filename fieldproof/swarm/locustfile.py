"""What Locust loads: the swarm's user class, and the part this process plays, wired to Locust's
events. `fieldproof swarm` starts Locust with this file and a SwarmConfig in the environment;
only Locust imports it (importing Locust patches a process for gevent).

- Every worker process drives the harness's own recording client, so every exchange under load
  is judged by the same rules as in `fieldproof run`, and shows in Locust's statistics as
  `operation status` (a finding is a failure there). users.py.
- The master measures each worker's clock (a ping), hands out the shares of `max_requests` and
  `max_rps`, and runs race rounds: "resume run X with tag E at time T", every worker firing its
  share of racers at T, the round judged across all workers (one_winner_among_concurrent_writes).
  master.py.
- Each worker ships its findings and its history (call and return times, answers) in Locust's
  periodic reports and in a final flush the master waits for (Locust's own last report can be
  lost on quit); the master merges the histories per fielding run on its own clock, widened by
  each clock's uncertainty, and checks them (history_linearizable).

Importing this file reads nothing: Locust imports it before it knows which part the process
plays (and, with --processes, before it forks the workers). The config, the target file and
the contract document are read in Locust's init event, in each process.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, Runner, WorkerRunner

from fieldproof.swarm.config import SwarmSetup
from fieldproof.swarm.master import Master
from fieldproof.swarm.users import FieldproofUser, Worker

__all__ = ["FieldproofUser"]


class SwarmProcess:
    """The part this Locust process plays, built in Locust's init event: a worker (its users and
    its answers to the master) or the master."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.master: Master | None = None

    def listen(self, events: Events) -> None:
        events.init.add_listener(self.on_init)
        # Locust fires quitting in reverse order: listening before the runner exists, this runs
        # after the runner's own listener has quit and taken its workers' last reports
        events.quitting.add_listener(self.on_quitting)

    def on_init(self, environment: Environment, runner: Runner | None, **kwargs: Any) -> None:
        if isinstance(runner, WorkerRunner):
            self.worker = Worker(SwarmSetup.load(), environment, runner)
            self.worker.attach()
        elif isinstance(runner, MasterRunner):
            self.master = Master(SwarmSetup.load(), environment, runner)
            self.master.attach()

    def on_quitting(self, environment: Environment, **kwargs: Any) -> None:
        if self.master is not None:
            self.master.on_quitting(environment)


SwarmProcess().listen(events)
