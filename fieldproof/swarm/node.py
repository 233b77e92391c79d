"""What one Locust process of a swarm judged and recorded, worker or master: its recording
client, its findings, and its share of the histories."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from gevent.event import Event
from locust.event import Events

from fieldproof import rules
from fieldproof.client.limits import Budget, Liveness
from fieldproof.client.recording import ApiClient, Credentials
from fieldproof.errors import BrokenResponse, BudgetExhausted, DeadlineReached, TargetStoppedAnswering, TargetUnreachable
from fieldproof.exchange import Exchange
from fieldproof.linearizability import Entry
from fieldproof.model import Observation
from fieldproof.recorder import Recorder
from fieldproof.records import ProblemKind, problem_of, to_line
from fieldproof.swarm.config import SwarmSetup
from fieldproof.swarm.history import to_record
from fieldproof.target import RunRef

log = logging.getLogger("fieldproof.swarm")

STOPPING = (BudgetExhausted, DeadlineReached, TargetStoppedAnswering)
WAIT_S = 30.0  # the most the master waits for a round's results or a worker's final flush (and a user for its node)


class ContractFinding(Exception):
    """A finding, as Locust's statistics count a failure."""


class Node:
    """What one Locust process judged and recorded (worker or master)."""

    def __init__(self, name: str, setup: SwarmSetup, events: Events) -> None:
        self.name = name
        self.setup = setup
        self.events = events  # Locust's: every exchange shows in its statistics
        self.recorder = Recorder(setup.target.secrets)
        self.client: ApiClient | None = None
        self.history: list[list[object]] = []  # records not shipped yet
        self.kept: dict[str, int] = {}  # records per run, for the cap
        self.problems: dict[str, str] = {}  # a ProblemKind's value -> message, the first of each
        self.skew_s = 0.0  # tests only: how far this node's clock is off
        self.ready = Event()

    def configure(self, budget: int, max_rps: float | None) -> None:
        target = self.setup.target
        self.client = ApiClient(target, budget=Budget(max(1, budget), spent_message=(
            f"the request budget is spent: this swarm node's share ({budget}) of max_requests = {target.max_requests} "
            f"in {target.source}")), on_exchange=self.observe, credentials=Credentials(target.token, target.foreign_token),
            max_rps=max_rps, documented=self.setup.document.statuses, liveness=Liveness(self.setup.config.deadline))
        self.ready.set()

    def now(self) -> float:
        return time.time() + self.skew_s

    def observe(self, exchange: Exchange) -> None:
        found = self.recorder.record(exchange)
        self.events.request.fire(request_type=exchange.method, name=f"{exchange.operation} {exchange.status}",
                                 response_time=exchange.elapsed_s * 1000, response_length=len(exchange.body),
                                 exception=ContractFinding(found[0].message) if found else None, context={})

    def log(self, run: RunRef, client: str, call: float, ret: float | None, exchange: Exchange | None,
            operation: str, if_match: str | None) -> None:
        """One operation of the history of `run` (no answer: `exchange` None)."""
        if self.kept.get(run.fielding_run_id, 0) >= self.setup.config.history_cap:
            return
        self.kept[run.fielding_run_id] = self.kept.get(run.fielding_run_id, 0) + 1
        observed = rules.observation_of(exchange) if exchange is not None else Observation(operation, if_match, None)
        answered = ret if observed.status is not None else None
        self.history.append(to_record(run.fielding_run_id, Entry(client, call, answered, observed)))

    def attempt(self, run: RunRef, client: str, operation: str, if_match: str | None,
                send: Callable[[], Exchange]) -> Exchange | None:
        """Send one request and log it in the history of `run`: its answer, or none (the request
        may or may not have acted; None is returned). A reason to stop sending is raised."""
        call = self.now()
        try:
            exchange = send()
        except (TargetUnreachable, BrokenResponse):  # no answer (or none HTTP can read)
            self.log(run, client, call, None, None, operation, if_match)
            return None
        self.log(run, client, call, self.now(), exchange, operation, if_match)
        return exchange

    def stopped_by(self, exc: BaseException) -> None:
        problem = problem_of(exc)
        self.problems.setdefault(problem.kind.value, problem.message)

    def report(self) -> dict[str, Any]:
        """What was found and recorded since the last report (totals: all so far)."""
        history, self.history = self.history, []
        unanswered = self.client.liveness.unanswered if self.client is not None else 0
        return {"groups": [to_line(found) for found in self.recorder.take_findings(f"swarm/{self.name}")],
                "history": history, "totals": to_line(self.recorder.totals(unanswered)), "problems": dict(self.problems)}

    def guarded(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """`listener`, its failure reported as inconclusive on this node, never a traceback that
        Locust turns into an unexplained exit code."""

        def listening(*args: Any, **kwargs: Any) -> Any:
            try:
                return listener(*args, **kwargs)
            except Exception as exc:  # a harness error: reported, not raised into Locust
                log.exception("fieldproof swarm listener %s failed", listener.__name__)
                self.problems.setdefault(ProblemKind.INCONCLUSIVE.value, f"{type(exc).__name__}: {exc}")
                return None

        return listening
