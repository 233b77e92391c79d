"""The probes more than one suite runs: a suite's own test and the first pass
(fieldproof/suites/test_first_pass.py, at its smallest size) call the same function here, so
that the suites never import each other and nothing is written twice."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from fieldproof import contract, linearizability, rules
from fieldproof.client.recording import ApiClient
from fieldproof.errors import TargetUnreachable
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch
from fieldproof.harness import Harness
from fieldproof.model import Observation, RunState
from fieldproof.strategies import IfMatchChoice, every_if_match_variant, render_if_match, unknown_run_ids
from fieldproof.target import RunRef

# --- concurrency: writes with one ETag, released together ---

# the write that brings a run to where the raced one can start: paused for resume, live for
# pause and complete (complete from paused is an open question)
_SET_UP_BY = {"resume": "pause", "pause": "resume", "complete": "resume"}
# where a round of several kinds starts: (the role of its run, the write that puts the run back there)
MIXED_STARTS = {"live": ("live", "resume"), "paused": ("resumable", "pause")}


def race_writes(fp: Harness, action: str, racers: Racers | None = None) -> None:
    """fp.rounds rounds of one `action` per racer, from where `action` starts."""
    race_rounds(fp, (action,), "resumable", contract.TRANSITIONS[action].sources, _SET_UP_BY[action], racers)


def mixed_kinds(fp: Harness) -> tuple[str, ...]:
    """Every write the target lets be sent together: complete only on the sandbox's own runs (it
    cannot be undone), so that there a pause and a complete, which both change a live run, meet."""
    return ("pause", "resume", *(("complete",) if fp.is_sandbox else ()))


def mixed_round_runs_on(fp: Harness, start: str) -> bool:
    """Whether the target has a run to start a round of several kinds from `start` (if not, the
    suite's test is skipped, saying which role would enable it)."""
    return fp.is_sandbox or bool(fp.target.runs_of(MIXED_STARTS[start][0]))


def race_mixed_writes(fp: Harness, start: str, racers: Racers | None = None) -> None:
    """fp.rounds rounds of writes of every kind (mixed_kinds, in turn among the racers) with one
    ETag, from a run that is `start` (live or paused)."""
    role, set_up = MIXED_STARTS[start]
    race_rounds(fp, mixed_kinds(fp), role, frozenset({start}), set_up, racers)


class Racers:
    """fp.profile.racers clients, each with its own connection and thread, released together by
    a barrier; opened once for any number of rounds (threads are dear to start, rounds are many,
    and each connection costs a request to open before the first round)."""

    def __init__(self, fp: Harness) -> None:
        self.clients = [fp.client.fork() for _ in range(fp.profile.racers)]
        self.barrier = threading.Barrier(len(self.clients))
        self.pool = ThreadPoolExecutor(max_workers=len(self.clients))
        self.connected = False

    def connect(self, run: RunRef) -> None:
        """Open every connection before the first round (a GET of `run` each), once."""
        if not self.connected:
            for client in self.clients:
                client.snapshot(run)
            self.connected = True

    def release(self, kinds: tuple[str, ...], run: RunRef, etag: str | None) -> list[Exchange]:
        """One write per racer, of the `kinds` in turn, all with `etag`, released together."""

        def race(client: ApiClient, action: str) -> Exchange:
            self.barrier.wait(timeout=30)
            return client.write(action, run, etag, tag=IfMatch.RACE, observe=False)

        futures = [self.pool.submit(race, c, kinds[n % len(kinds)]) for n, c in enumerate(self.clients)]
        try:
            return [future.result(timeout=120) for future in futures]
        except BaseException:
            self.barrier.abort()  # a racer still waiting (after a failure) is released, not left hanging
            raise

    def close(self) -> None:
        self.barrier.abort()
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()


@contextmanager
def racing(fp: Harness) -> Iterator[Racers]:
    racers = Racers(fp)
    try:
        yield racers
    finally:
        racers.close()


def race_complete_on_a_completable_run(fp: Harness, racers: Racers | None = None) -> None:
    """On a target file, complete is raced only on a run the file lets a session complete (role
    completable): one round of complete and pause from live, which a server whose lock is keyed
    per operation lets both win. A pause that wins leaves the run for the next session; a
    complete that wins uses it up."""
    race_rounds(fp, ("complete", "pause"), "completable", frozenset({"live"}), "resume", racers, rounds=1)


def race_rounds(fp: Harness, kinds: tuple[str, ...], role: str, starts_from: frozenset[str], set_up_by: str,
                racers: Racers | None = None, rounds: int | None = None) -> None:
    """fp.rounds rounds: a run of `role` brought to a status in `starts_from` (by `set_up_by`; a
    new run on the sandbox once one is completed), then one write per racer, of the `kinds` in
    turn, with the same ETag, released together, then a GET; each round judged by OneWinner.
    `racers`: those of a caller that races more than once (else this call's own)."""
    if racers is None:
        with racing(fp) as own:
            race_rounds(fp, kinds, role, starts_from, set_up_by, own, rounds)
        return
    with fp.run(role) as first:
        run: RunRef = first
        racers.connect(run)
        last: Snapshot | None = None  # the look after the last round: the next one's before
        for _ in range(fp.rounds if rounds is None else rounds):
            before = last if last is not None else fp.client.snapshot(run)
            if before.run_status == "completed":  # only a race with complete gets here, on the sandbox
                run = fp.fresh(run)
                before = fp.client.snapshot(run)
            if before.run_status is not None and before.run_status not in starts_from:
                set_up = fp.client.write(set_up_by, run, before.etag, observe=False, before=before)
                # a round from the wrong state would judge a correct server wrongly: stop instead
                fp.require(set_up, 204, f"{set_up.operation} to set the run up for a {'/'.join(kinds)} race")
                before = fp.client.snapshot(run)
            round_ = fp.judge(rules.OneWinner(before, resumable=contract.ROLES[run.role].resumable))
            for exchange in racers.release(kinds, run, before.etag):
                round_.observe(exchange)
            after = fp.client.get(run)
            round_.observe(after)
            round_.finish()
            last = Snapshot.of(after)


# --- If-Match: every variant answered ---


def make_tags_stale(fp: Harness, run: RunRef) -> list[str]:
    """Move the run through resume -> pause once, so it has stale tags; returns them, oldest first."""
    first = fp.client.snapshot(run)
    resumed = fp.require(fp.client.write("resume", run, first.etag), 204, "resuming to make the first tag stale")
    fp.require(fp.client.write("pause", run, resumed.header("etag")), 204, "pausing to make the second tag stale")
    return [t for t in (first.etag, resumed.header("etag")) if t]


def answer_every_if_match_variant(fp: Harness) -> None:
    """Resume once with each If-Match variant (the first pass's share of this suite)."""
    with fp.run("resumable") as run:
        answer = if_match_answerer(fp, run)
        for choice in every_if_match_variant():
            with fp.stopping():
                answer(choice)


def if_match_answerer(fp: Harness, run: RunRef) -> Callable[[IfMatchChoice], None]:
    """Give the run stale tags; then a function that resumes it with one If-Match choice
    rendered for the run as it is, and pauses it again if that won."""
    stale = make_tags_stale(fp, run)
    other_tag = fp.other_run_tag(run)
    # the last look at the run: each write's look after it is the next one's before (the run is
    # this test's alone), so an example costs its write and one GET
    last = fp.client.snapshot(run)

    def answer(choice: IfMatchChoice) -> None:
        nonlocal last
        current = last if last.etag is not None else fp.client.snapshot(run)
        if current.etag is None:  # a GET without an ETag is etag_on_success's finding
            return
        version = current.version if isinstance(current.version, int) else None
        kind, value = render_if_match(choice, current.etag, stale, other_tag, version)
        exchange = fp.client.write("resume", run, value, tag=kind, before=current)
        assert exchange.after is not None
        last = exchange.after
        if exchange.status == 204:  # put it back for the next example
            stale.append(current.etag)
            paused = fp.client.write("pause", run, exchange.header("etag"), before=exchange.after)
            fp.require(paused, 204, "pausing the run again for the next example")
            assert paused.after is not None
            last = paused.after

    return answer



# --- lifecycle: a long life's every tag is stale ---


def every_tag_of_a_long_life_is_stale(fp: Harness) -> None:
    """Walk the run through `life_writes` writes (resume, pause, …, each with the tag the last
    204 gave), then send every tag it ever had, however many versions ago, with the write its
    state allows, so that only the tag can refuse it: each one gets 412 and changes nothing."""
    with fp.run("resumable") as run:
        look = fp.require_state(fp.client.snapshot(run), "looking at the run before its walk")
        tags = [look.etag]
        chain = fp.judge(rules.NewTagAccepted())
        for _ in range(fp.profile.life_writes):
            written = fp.client.write(_allowed(look.run_status), run, tags[-1], before=look)
            chain.observe(fp.require(written, 204, f"walking the run: {written.operation} with the last 204's tag"))
            assert written.after is not None
            look = fp.require_state(written.after, "walking the run")
            tags.append(written.header("etag") or look.etag)
        old = list(dict.fromkeys(tag for tag in tags[:-1] if tag))  # oldest first, each once
        for action in ("resume", "pause"):
            for tag in old:
                if look.run_status not in contract.TRANSITIONS[action].sources:  # set up (again, if a stale tag won)
                    set_up = fp.client.write(_allowed(look.run_status), run, look.etag, before=look)
                    assert set_up.after is not None
                    look = fp.require_state(set_up.after, f"setting the run up for a {action} with an old tag")
                attempt = fp.client.write(action, run, tag, tag=IfMatch.STALE, before=look)
                assert attempt.after is not None
                look = fp.require_state(attempt.after, f"looking at the run after a {action} with an old tag")


def _allowed(status: str | None) -> str:
    """The write a run in this status allows (the walk alternates them); resume otherwise,
    whose refusal then stops the walk as a set-up that failed."""
    return "pause" if status == "live" else "resume"



# --- the lifecycle model: clients interleaving fresh and stale tags ---

MODEL_CLIENTS = ("a", "b", "c")


def clients_follow_the_model(fp: Harness) -> None:
    actions = ["pause", "resume"] + (["complete"] if fp.is_sandbox else [])  # complete cannot be undone

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.seen: dict[str, list[str]] = {client: [] for client in MODEL_CLIENTS}
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
                assert first.etag is not None and first.run_status is not None
                self.model = fp.judge(rules.LifecycleModel(RunState(first.run_status, first.etag)))
                for client in MODEL_CLIENTS:
                    self.seen[client].append(first.etag)

        def teardown(self) -> None:
            if self._context is not None:
                self._context.__exit__(None, None, None)

        def _judge(self, client: str, exchange: Exchange) -> None:
            self.model.observe(exchange)
            tag = exchange.header("etag")
            if exchange.status in (200, 204) and tag:
                self.seen[client].append(tag)
            if self.model.judge.lost:  # after a finding: a GET shows the model the run again
                assert self.run is not None
                self.model.observe(fp.client.get(self.run))

        @rule(client=st.sampled_from(MODEL_CLIENTS))
        def get(self, client: str) -> None:
            assert self.run is not None
            with fp.stopping():
                self._judge(client, fp.client.get(self.run))

        @rule(client=st.sampled_from(MODEL_CLIENTS), action=st.sampled_from(actions), freshest=st.booleans(), back=st.integers(1, 3))
        def write(self, client: str, action: str, freshest: bool, back: int) -> None:
            assert self.run is not None
            tags = self.seen[client]
            tag = tags[-1] if freshest else tags[-min(back + 1, len(tags))]
            with fp.stopping():
                self._judge(client, fp.client.write(action, self.run, tag, observe=False))

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(max_examples=max(1, fp.profile.examples // 2), stateful_step_count=12, deadline=None,
                          database=None, phases=fp.phases),
    )


# --- linearizability: a concurrent history ---

HISTORY_CLIENTS = 8
HISTORY_SECONDS = 60  # a bound on recording, whatever the size asked for


def _client_ops(client: ApiClient, name: str, run: RunRef, first_tag: str, count: int, seed: int,
                deadline: float, start: threading.Barrier) -> list[linearizability.Entry]:
    rng = random.Random(seed)
    tag, ops = first_tag, []
    start.wait(timeout=30)
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        operation = rng.choice(["get", "get", "pause", "resume"])
        sent_tag = tag if operation != "get" else None
        call = time.monotonic()
        try:
            if operation == "get":
                exchange = client.get(run)
            else:
                exchange = client.write(operation, run, sent_tag, observe=False)
        except TargetUnreachable:  # no answer: it may or may not have taken effect
            ops.append(linearizability.Entry(name, call, None, Observation(operation, sent_tag, None)))
            continue
        ret = time.monotonic()
        observed = rules.observation_of(exchange)  # a 5xx: the rules report it; for the history, no answer
        ops.append(linearizability.Entry(name, call, ret, observed))
        seen_tag = exchange.header("etag")
        if exchange.status in (200, 204) and seen_tag:
            tag = seen_tag  # each client holds the last tag it saw
    return ops


def a_concurrent_history_is_linearizable(fp: Harness) -> None:
    if fp.history_ops <= 0:
        pytest.skip("linearizability is opt-in on a target file: `fieldproof run --history-size N`")
    with fp.run("resumable") as run:
        first = fp.client.snapshot(run)
        fp.require_state(first, "the run's first GET")
        assert first.etag is not None and first.run_status is not None
        clients = [fp.client.fork() for _ in range(HISTORY_CLIENTS)]
        start = threading.Barrier(HISTORY_CLIENTS)
        deadline = time.monotonic() + HISTORY_SECONDS
        per_client = max(1, fp.history_ops // HISTORY_CLIENTS)
        try:
            with ThreadPoolExecutor(max_workers=HISTORY_CLIENTS) as pool:
                futures = [pool.submit(_client_ops, c, f"c{n}", run, first.etag, per_client, n, deadline, start)
                           for n, c in enumerate(clients)]
                history = [op for future in futures for op in future.result(timeout=HISTORY_SECONDS + 60)]
        finally:
            for client in clients:
                client.close()
        # every exchange was judged by the rules as it was recorded; now the history as a whole
        check = fp.judge(rules.LinearizableHistory(RunState(first.run_status, first.etag)))
        for operation in history:
            check.observe(operation)
        check.finish()


# --- paths: unknown runs, undeclared methods ---


def unknown_runs_are_404(fp: Harness) -> None:
    with fp.run("resumable") as run:

        def example(run_id: str) -> None:
            fp.client.get(run, fielding_run_id=run_id)
            fp.client.write("resume", run, fielding_run_id=run_id)

        fp.explore(unknown_run_ids(), example)


def probe_undeclared_methods(fp: Harness, actions: tuple[str | None, ...], methods: tuple[str, ...]) -> None:
    """Only safe methods, and only where the contract document declares none (a provider's
    document may declare more than the four operations, such as the vendor's PUT)."""
    with fp.run("resumable") as run:
        for action in actions:
            declared = fp.document.declared_methods(contract.RUN_PATH + (f"/{action}" if action else ""))
            for method in methods:
                if method not in declared:
                    fp.client.probe(method, run, action)
