"""A lifecycle model: several simulated clients, each holding the ETags it has seen, interleave
GET, pause, resume (and complete, on the sandbox's own runs) with fresh and stale tags; every
answer is checked against the contract's model of a run (fieldproof/model.py). A failure is
shrunk by hypothesis to the shortest sequence and printed as a script of requests."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from hypothesis import settings

from fieldproof import rules
from fieldproof.model import RunState, step
from fieldproof.plugin import Harness
from fieldproof.target import RunRef

CLIENTS = ("a", "b", "c")


def test_clients_interleaving_fresh_and_stale_tags_follow_the_model(fp: Harness) -> None:
    actions = ["pause", "resume"] + (["complete"] if fp.is_sandbox else [])  # complete cannot be undone

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.seen: dict[str, list[str]] = {client: [] for client in CLIENTS}
            self.script: list[str] = []
            self.states: list[RunState] = []
            self.run: RunRef | None = None
            self._context = None

        @initialize()
        def start(self) -> None:
            self._context = fp.run("resumable")
            self.run = self._context.__enter__()
            first = fp.client.snapshot(self.run)
            fp.check()
            assert first.etag is not None and first.status is not None
            self.states = [RunState(first.status, first.etag)]
            for client in CLIENTS:
                self.seen[client].append(first.etag)

        def teardown(self) -> None:
            if self._context is not None:
                self._context.__exit__(None, None, None)

        def _judge(self, client: str, exchange) -> None:
            line = (f"client {client}: {exchange.method} {exchange.operation}"
                    f"{' If-Match ' + str(exchange.request_header('if-match')) if exchange.method == 'POST' else ''}"
                    f" -> {exchange.status} {exchange.header('etag') or ''}").rstrip()  # fmt: skip
            self.script.append(line)
            fp.recorder.judge_sequence(rules.lifecycle_model_allows, self.states, exchange, self.script)
            observed = rules.observation_of(exchange)
            self.states = [after for state in self.states for after in step(state, observed)] or self.states
            tag = exchange.header("etag")
            if exchange.status in (200, 204) and tag:
                self.seen[client].append(tag)
            fp.check()

        @rule(client=st.sampled_from(CLIENTS))
        def get(self, client: str) -> None:
            assert self.run is not None
            self._judge(client, fp.client.get(self.run))

        @rule(client=st.sampled_from(CLIENTS), action=st.sampled_from(actions), freshest=st.booleans(), back=st.integers(1, 3))
        def write(self, client: str, action: str, freshest: bool, back: int) -> None:
            assert self.run is not None
            tags = self.seen[client]
            tag = tags[-1] if freshest else tags[-min(back + 1, len(tags))]
            self._judge(client, fp.client.write(action, self.run, tag, observe=False))

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(max_examples=max(5, fp.profile.examples // 2), stateful_step_count=12, deadline=None, database=None),
    )
