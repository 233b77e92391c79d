"""A lifecycle model: several simulated clients, each holding the ETags it has seen, interleave
GET, pause, resume (and complete, on the sandbox's own runs) with fresh and stale tags; every
answer is checked against the contract's model of a run (fieldproof/model.py). A finding shows
the requests of its sequence as a script; the exploration goes on after it (the model picks up
the run again from a GET), and nothing is ever replayed against a target that has moved on."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from fieldproof import rules
from fieldproof.exchange import Exchange
from fieldproof.model import RunState
from fieldproof.plugin import Harness
from fieldproof.target import RunRef

CLIENTS = ("a", "b", "c")


def test_clients_interleaving_fresh_and_stale_tags_follow_the_model(fp: Harness) -> None:
    actions = ["pause", "resume"] + (["complete"] if fp.is_sandbox else [])  # complete cannot be undone

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.seen: dict[str, list[str]] = {client: [] for client in CLIENTS}
            self.model: Any = None
            self.run: RunRef | None = None
            self._context: Any = None

        @initialize()
        def start(self) -> None:
            with fp.stopping():
                self._context = fp.run("resumable")
                self.run = self._context.__enter__()
                first = fp.client.snapshot(self.run)
                fp.require_state(first, "the run's first GET")
                assert first.etag is not None and first.status is not None
                self.model = fp.judge(rules.LifecycleModel(RunState(first.status, first.etag)))
                for client in CLIENTS:
                    self.seen[client].append(first.etag)

        def teardown(self) -> None:
            if self._context is not None:
                self._context.__exit__(None, None, None)

        def _judge(self, client: str, exchange: Exchange) -> None:
            self.model.observe(exchange)
            tag = exchange.header("etag")
            if exchange.status in (200, 204) and tag:
                self.seen[client].append(tag)
            if self.model.check.lost:  # after a finding: a GET shows the model the run again
                assert self.run is not None
                self.model.observe(fp.client.get(self.run))

        @rule(client=st.sampled_from(CLIENTS))
        def get(self, client: str) -> None:
            assert self.run is not None
            with fp.stopping():
                self._judge(client, fp.client.get(self.run))

        @rule(client=st.sampled_from(CLIENTS), action=st.sampled_from(actions), freshest=st.booleans(), back=st.integers(1, 3))
        def write(self, client: str, action: str, freshest: bool, back: int) -> None:
            assert self.run is not None
            tags = self.seen[client]
            tag = tags[-1] if freshest else tags[-min(back + 1, len(tags))]
            with fp.stopping():
                self._judge(client, fp.client.write(action, self.run, tag, observe=False))

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(max_examples=max(1, fp.profile.examples // 2), stateful_step_count=12, deadline=None,
                          database=None, phases=fp.phases),  # fmt: skip
    )
