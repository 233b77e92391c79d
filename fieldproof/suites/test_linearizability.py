"""Linearizability: several clients send GET, pause and resume, each with the tag it holds,
concurrently; the recorded history (call and return times, answers) must have an order that
respects real time and that the run's sequential model accepts. A violation is reported as the
smallest non-linearizable sub-history, printed as a timeline."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fieldproof import linearizability, rules
from fieldproof.client.recording import ApiClient
from fieldproof.errors import TargetUnreachable
from fieldproof.model import Observation, RunState
from fieldproof.plugin import Harness
from fieldproof.target import RunRef

CLIENTS = 8
HISTORY_SECONDS = 60  # a bound on recording, whatever the size asked for


def _client_ops(client: ApiClient, name: str, run: RunRef, first_tag: str, count: int, seed: int,
                deadline: float, start: threading.Barrier) -> list[linearizability.Entry]:  # fmt: skip
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


def test_a_concurrent_history_is_linearizable(fp: Harness) -> None:
    if fp.history_ops <= 0:
        pytest.skip("linearizability is opt-in on a target file: `fieldproof run --history-size N`")
    with fp.run("resumable") as run:
        first = fp.client.snapshot(run)
        fp.require_state(first, "the run's first GET")
        assert first.etag is not None and first.status is not None
        clients = [fp.client.fork() for _ in range(CLIENTS)]
        start = threading.Barrier(CLIENTS)
        deadline = time.monotonic() + HISTORY_SECONDS
        per_client = max(1, fp.history_ops // CLIENTS)
        try:
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                futures = [pool.submit(_client_ops, c, f"c{n}", run, first.etag, per_client, n, deadline, start)
                           for n, c in enumerate(clients)]  # fmt: skip
                history = [op for future in futures for op in future.result(timeout=HISTORY_SECONDS + 60)]
        finally:
            for client in clients:
                client.close()
        # every exchange was judged by the rules as it was recorded; now the history as a whole
        check = fp.judge(rules.LinearizableHistory(RunState(first.status, first.etag)))
        for operation in history:
            check.observe(operation)
        check.finish()
