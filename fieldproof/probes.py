"""The probes more than one suite runs: a suite's own test and the first pass
(fieldproof/suites/test_first_pass.py, at its smallest size) call the same function here, so
that the suites never import each other and nothing is written twice."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from fieldproof import contract, linearizability, rules
from fieldproof.bodies import distinct_bodies, resolved
from fieldproof.client.recording import ApiClient
from fieldproof.document import ContractDocument
from fieldproof.errors import TargetFault, TargetUnreachable
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch
from fieldproof.harness import Harness, PartSettings, SetUpFailed
from fieldproof.linearizability.register import READ, WRITE, RegisterEntry, RegisterOp, Version, canonical
from fieldproof.model import Observation, RunState
from fieldproof.records import CreatedRecord, DeletedRecord
from fieldproof.resource_restore import Kept, restore_resource
from fieldproof.resources import JudgedResource, look, observed_write, read_resource, write_resource
from fieldproof.strategies import IfMatchChoice, every_if_match_variant, render_if_match, unknown_run_ids
from fieldproof.surface import FIELDING_RUNS, Conditional
from fieldproof.target import ResourceRef, RunRef, Target

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


# --- locking: every conditional write besides the four, judged by the generic oracles ---

# The write that only a run of a role may take with its current tag (its role is the opt-in on a
# target file); other writes of a fielding run are sent to a resumable run.
ENABLING_ROLES = rules.locking.ENABLING_ROLES
RESOURCE_HISTORY_CLIENTS = 4
RESOURCE_HISTORY_OPS = 24  # per resource: a history's worth, not a load test


@dataclass(frozen=True)
class LockingCase:
    """One conditional write of one judged resource (`label`), or of a fielding run (`role`)."""

    kind: str
    write: str  # the write's operation name (the document's operationId)
    label: str | None = None  # the resource, as JudgedResource.label names it; None: a fielding run
    role: str | None = None  # a fielding run's role

    @property
    def id(self) -> str:
        return f"{self.label or self.role}:{self.write}".replace(" ", "_")


def _the_four_writes(document: ContractDocument) -> set[tuple[str, str]]:
    """(path, method) of pause, resume and complete in the document: judged by their own suites."""
    return {(found.path, found.method) for name, found in document.found.items() if name in contract.WRITES}


def locking_cases(settings: PartSettings, target: Target) -> list[LockingCase]:
    """Every (judged resource, conditional write) a part judges, known when the suites are collected:
    the fielding runs' writes besides the four where `fielding-runs` is chosen, and those of the
    target's [[resources]] of the kinds chosen; a DELETE only where the target lets a session
    create and delete that kind."""
    document = ContractDocument.load(settings.contract_file)
    four = _the_four_writes(document)
    cases = []
    runs = document.kinds.get(FIELDING_RUNS) if FIELDING_RUNS in settings.resource_kinds else None
    for write in runs.writes if runs is not None else ():
        if (write.write.path, write.write.method) not in four:
            cases.append(LockingCase(FIELDING_RUNS, write.write.name, role=ENABLING_ROLES.get(write.action or "", "resumable")))
    for ref in target.resources:
        kind = document.kinds.get(ref.kind)
        if kind is None or ref.kind not in settings.resource_kinds or ref.kind == FIELDING_RUNS:
            continue
        for write in kind.writes:
            if write.write.method == "delete" and (ref.kind not in target.create_delete or kind.create is None):
                continue
            cases.append(LockingCase(ref.kind, write.write.name, label=ref.label()))
    return cases


def _never_issued(fp: Harness) -> str:
    return f'"fieldproof-never-issued-{fp.settings.seed if fp.settings.seed is not None else 0}"'


@contextmanager
def _holding(fp: Harness, name: str) -> Iterator[None]:
    """A file lock on one resource, so that two xdist workers never write it at once."""
    folder = Path(fp.settings.work_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"resource-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"))
    lock.acquire(timeout=600)
    try:
        yield
    finally:
        lock.release()


@dataclass
class _Locking:
    """One test's walk over one conditional write of one resource: its looks, its tags, its bodies."""

    fp: Harness
    judged: JudgedResource
    write: Conditional
    role: str | None
    last: Snapshot
    bodies: list[dict[str, Any]]
    schema: dict[str, Any] | None
    stale: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any] | None:
        """The next body (a PUT's), each different; the resource's own when the schema allows no other."""
        if self.schema is None:
            return None
        if self.bodies:
            return self.bodies.pop(0)
        return self.last.writable(self.schema)

    def send(self, if_match: str | None, tag: IfMatch | None = None, role: str | None = None) -> Exchange:
        """One write, judged with the look before it and the read after it (the next one's before)."""
        exchange = observed_write(self.fp.client, self.judged, self.write, if_match, self.body(), self.last, tag=tag,
                                  role=role or self.role)
        assert exchange.after is not None
        if 200 <= exchange.status < 300 and self.last.etag is not None and exchange.after.etag != self.last.etag:
            self.stale.append(self.last.etag)
        self.last = exchange.after
        return exchange

    def refusals(self, other_tag: str | None) -> None:
        """The tags that must be refused, while the resource is as it was: none, never issued,
        another resource's (when it differs from this one's), a list of tags none current."""
        never = _never_issued(self.fp)
        if self.write.write.if_match_required:
            self.send(None)
        self.send(never, IfMatch.NEVER_ISSUED)
        if other_tag is not None and other_tag != self.last.etag:  # small versions as tags may coincide
            self.send(other_tag, IfMatch.OTHER_RUN)
        self.send(f"{never}, {never[:-1]}-2\"")

    def race(self, racers: int) -> None:
        """`racers` writes with the current tag, each its own body, released together, then a read."""
        clients = [self.fp.client.fork() for _ in range(racers)]
        barrier = threading.Barrier(racers)
        etag = self.last.etag
        bodies = [self.body() for _ in range(racers)]

        def race(client: ApiClient, body: Any) -> Exchange:
            barrier.wait(timeout=30)
            return write_resource(client, self.judged, self.write, etag, body, tag=IfMatch.RACE, role=self.role)

        round_ = self.fp.judge(rules.OneWinnerOfConditionalWrites(self.last))
        try:
            with ThreadPoolExecutor(max_workers=racers) as pool:
                futures = [pool.submit(race, client, body) for client, body in zip(clients, bodies, strict=True)]
                try:
                    written = [future.result(timeout=120) for future in futures]
                except BaseException:
                    barrier.abort()
                    raise
        finally:
            for client in clients:
                client.close()
        for exchange in written:
            round_.observe(exchange)
        after = read_resource(self.fp.client, self.judged)
        round_.observe(after)
        round_.finish()
        if etag is not None and any(200 <= e.status < 300 for e in written):
            self.stale.append(etag)
        self.last = Snapshot.of(after)

    def history(self, size: int) -> None:
        """Clients reading and writing (each with the last tag it saw) at once; the history is
        checked against a versioned register."""
        fields = sorted(self.last.writable(self.schema))
        first = self.last
        clients = [self.fp.client.fork() for _ in range(RESOURCE_HISTORY_CLIENTS)]
        per_client = max(1, size // RESOURCE_HISTORY_CLIENTS)
        bodies = [[self.body() for _ in range(per_client)] for _ in clients]
        start = threading.Barrier(len(clients))
        seed = self.fp.settings.seed if self.fp.settings.seed is not None else 0
        deadline = time.monotonic() + HISTORY_SECONDS
        examples: list[Exchange] = []

        def one(n: int, client: ApiClient) -> list[RegisterEntry]:
            rng, tag, entries = random.Random(seed * 31 + n), first.etag, []
            start.wait(timeout=30)
            for body in bodies[n]:
                if time.monotonic() > deadline:
                    break
                reading = rng.random() < 0.4
                call = time.monotonic()
                try:
                    if reading:
                        exchange = read_resource(client, self.judged)
                    else:
                        exchange = write_resource(client, self.judged, self.write, tag, body, role=self.role)
                except TargetUnreachable:
                    if not reading:
                        entries.append(RegisterEntry(f"c{n}", call, None, RegisterOp(WRITE, None, None, canonical(body), tag)))
                    continue
                ret = time.monotonic()
                status = None if exchange.status >= 500 else exchange.status
                if reading:
                    shown = Snapshot.of(exchange)
                    op = RegisterOp(READ, status, shown.etag, canonical(rules.locking.projected(shown.body, fields)))
                else:
                    op = RegisterOp(WRITE, status, exchange.header("etag"), canonical(body), tag)
                    examples.append(exchange)
                entries.append(RegisterEntry(f"c{n}", call, ret, op))
                if exchange.status in (200, 201, 202, 204) and exchange.header("etag"):
                    tag = exchange.header("etag")
            return entries

        try:
            with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                futures = [pool.submit(one, n, client) for n, client in enumerate(clients)]
                history = [entry for future in futures for entry in future.result(timeout=HISTORY_SECONDS + 60)]
        finally:
            for client in clients:
                client.close()
        succeeded = sorted((e for e in examples if 200 <= e.status < 300), key=lambda e: e.sent_at)
        check = self.fp.judge(rules.ResourceHistory(Version(first.etag, canonical(rules.locking.projected(first.body, fields))),
                                                    example=next(iter(succeeded or examples), None)))
        for entry in history:
            check.observe(entry)
        check.finish()
        self.last = look(self.fp.client, self.judged)

    def put_back(self, original: Snapshot) -> None:
        """Write the representation read before the test with the current tag, and verify it by a
        final read (as the session's restore does, but judged); a put-back that fails is the
        harness's problem to report, never swallowed."""
        if self.schema is None:
            return  # an action: nothing to write back (a launched run stays launched: its role is the opt-in)
        restored = restore_resource(self.fp.client.restoring(), Kept(self.judged, original), record=True, role=self.role)
        if not restored.ok:
            raise SetUpFailed(f"putting {self.judged.label} back as it was failed: {restored.note}")


def _schema(fp: Harness, write: Conditional) -> dict[str, Any] | None:
    schema = write.write.request_schema
    full = resolved(fp.document.data, schema) if schema is not None else None
    return full if isinstance(full, dict) else None


def _walk(fp: Harness, judged: JudgedResource, write: Conditional, role: str | None) -> _Locking:
    """The resource as it is before a walk over one of its writes, and the bodies the walk will send."""
    first = look(fp.client, judged)
    if first.status_code != 200 or first.etag is None:
        raise TargetFault(f"the read of {judged.label} answered {first.status_code}"
                          f"{' without an ETag' if first.status_code == 200 else ''}: no conditional write of it can be judged")
    schema = _schema(fp, write)
    writable = first.writable(schema)
    needed = 8 + fp.profile.racers + RESOURCE_HISTORY_OPS
    bodies = distinct_bodies(schema, writable, needed, fp.settings.seed, fp.document.data) if schema is not None else []
    return _Locking(fp, judged, write, role, first, bodies, schema)


def judge_conditional_write(fp: Harness, case: LockingCase) -> None:
    """Every generic locking oracle on one conditional write of one resource, the resource put
    back as it was at the end (a DELETE is judged on a resource the test creates)."""
    if case.role is not None:
        _judge_a_run_write(fp, case)
        return
    judged = next((j for j in fp.resources if j.label == case.label), None)
    if judged is None:
        pytest.skip(f"{case.label} is not judged in this part (fieldproof run --resources {case.kind})")
    write = next(w for w in judged.kind.writes if w.write.name == case.write)
    if write.write.method == "delete":
        _judge_a_delete(fp, judged, write)
        return
    with _holding(fp, judged.label):
        walk = _walk(fp, judged, write, None)
        original = walk.last
        try:
            walk.refusals(_other_tag(fp, judged, walk.last.etag))
            walk.send(walk.last.etag, IfMatch.CURRENT)  # the current tag: a success, a new ETag
            for tag in walk.stale[-1:]:
                walk.send(tag, IfMatch.STALE)
            walk.send("*")
            walk.send(f"{_never_issued(fp)}, {walk.last.etag}")
            walk.race(fp.profile.racers)
            if fp.history_ops > 0 and walk.schema is not None:
                walk.history(min(fp.history_ops, RESOURCE_HISTORY_OPS))
        finally:
            walk.put_back(original)


def _other_tag(fp: Harness, judged: JudgedResource, own: str | None) -> str | None:
    """Another resource's current tag that differs from this one's (small versions as tags
    coincide across resources, and a correct server then rightly takes it): of the same kind
    first, then of any other judged kind; of the same account (another's would not be read)."""
    others = sorted((j for j in fp.resources if j.label != judged.label and j.ref.account_id == judged.ref.account_id),
                    key=lambda j: j.kind.name != judged.kind.name)
    for other in others:
        tag = look(fp.client, other).etag
        if tag is not None and tag != own:
            return tag
    return None


def _run_resource(fp: Harness, run: RunRef) -> JudgedResource:
    """A fielding run as a judged resource of the document's fielding-runs kind (its path
    parameters under the document's names)."""
    kind = fp.document.kinds[FIELDING_RUNS]
    names = dict(zip(contract.PATH_PARAMETERS, fp.document.found["get"].names, strict=True))
    ids = tuple(sorted((names[name], value) for name, value in run.ids().items() if name != "account_id"))
    return JudgedResource(kind, ResourceRef(FIELDING_RUNS, run.account_id, ids))


def _judge_a_run_write(fp: Harness, case: LockingCase) -> None:
    """A fielding run's write besides the four: update on a resumable run (put back at the end);
    launch-now and relaunch with the current tag only on a run whose role enables them (it is
    not put back: launched is launched, as a completable run stays completed)."""
    role = case.role or "resumable"
    if role not in contract.ROLES:
        pytest.skip(f"{case.write} with a current tag needs a run of role {role}, which this version of fieldproof "
                    "does not know: not run")
    with fp.run(role) as run:
        judged = _run_resource(fp, run)
        write = next(w for w in judged.kind.writes if w.write.name == case.write)
        walk = _walk(fp, judged, write, role)
        original = walk.last
        try:
            walk.refusals(fp.other_run_tag(run))
            if walk.schema is None:  # an action: it changes the run's state once
                walk.send(walk.last.etag, IfMatch.CURRENT)
                for tag in walk.stale[-1:]:  # now the run's state forbids it too: 412, or 422 first (open)
                    walk.send(tag, IfMatch.STALE, role="live")
                if fp.is_sandbox:
                    _race_on(fp, fp.fresh(run), case)
                return
            walk.send(walk.last.etag, IfMatch.CURRENT)
            for tag in walk.stale[-1:]:
                walk.send(tag, IfMatch.STALE)
            walk.race(fp.profile.racers)
            if fp.history_ops > 0:
                walk.history(min(fp.history_ops, RESOURCE_HISTORY_OPS))
        finally:
            walk.put_back(original)


def _race_on(fp: Harness, run: RunRef, case: LockingCase) -> None:
    judged = _run_resource(fp, run)
    write = next(w for w in judged.kind.writes if w.write.name == case.write)
    _walk(fp, judged, write, case.role).race(fp.profile.racers)


def _judge_a_delete(fp: Harness, listed: JudgedResource, write: Conditional) -> None:
    """DELETE on a resource the test creates (never a listed one): refused with tags that are not
    current, then the current tag deletes it (2xx, then the read answers 404)."""
    create = listed.kind.create
    assert create is not None
    schema = resolved(fp.document.data, create.request_schema) if create.request_schema is not None else None
    seen = look(fp.client, listed)
    base = seen.writable(schema if isinstance(schema, dict) else None)
    body = (distinct_bodies(schema if isinstance(schema, dict) else None, base, 1, fp.settings.seed, fp.document.data)
            or [base])[0]
    created = fp.client.send(create.name, "POST", listed.url(fp.target.base_url, create), run=None,
                             headers={"Content-Type": "application/json"}, body=json.dumps(body).encode())
    new_id = _created_id(created)
    if not 200 <= created.status < 300 or new_id is None:
        raise SetUpFailed(f"creating a {listed.kind.name} to delete: {created.method} {created.operation} answered "
                          f"{created.status}{'' if new_id is None else ''} without the new resource's id")
    last = listed.kind.read.path_parameters[-1]
    ids = tuple(sorted((name, new_id if name == last else value) for name, value in listed.ref.ids))
    judged = JudgedResource(listed.kind, ResourceRef(listed.ref.kind, listed.ref.account_id, ids))
    fp.record_lifecycle(CreatedRecord(listed.kind.name, dict(ids)))
    walk = _walk(fp, judged, write, None)
    deleted = False
    try:
        update = next((w for w in judged.kind.writes if w.write.method in ("put", "patch")), None)
        if update is not None:  # a tag made stale by a write that succeeded
            changer = _walk(fp, judged, update, None)
            changer.send(changer.last.etag, IfMatch.CURRENT)
            walk.stale.extend(changer.stale)
            walk.last = changer.last
        walk.refusals(seen.etag)
        for tag in walk.stale[-1:]:
            walk.send(tag, IfMatch.STALE)
        gone = walk.send(walk.last.etag, IfMatch.CURRENT)
        deleted = 200 <= gone.status < 300 or walk.last.status_code == 404
    finally:
        if not deleted and walk.last.status_code == 200:
            restorer = fp.client.restoring()
            cleanup = write_resource(restorer, judged, write, look(restorer, judged).etag, None)
            if not 200 <= cleanup.status < 300:
                raise SetUpFailed(f"deleting the {listed.kind.name} this test created failed: answered {cleanup.status}")
        fp.record_lifecycle(DeletedRecord(listed.kind.name, dict(ids)))


def _created_id(exchange: Exchange) -> str | None:
    """The id of a resource a create answered: its Location's last segment, else its body's id."""
    location = exchange.header("location")
    if location:
        return location.rstrip("/").rsplit("/", 1)[-1]
    body = exchange.json()
    value = body.get("id") if isinstance(body, dict) else None
    return str(value) if value is not None else None
