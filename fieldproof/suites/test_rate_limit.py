"""Rate limiting: an opt-in, bounded burst looking for a 429, whose rules (Retry-After, body,
trace) then apply. Every other suite already waits out any 429 by its Retry-After."""

from __future__ import annotations

import threading
import time

import pytest

from fieldproof.client.recording import ApiClient
from fieldproof.harness import Harness

BURST_CONNECTIONS = 8
BURST_SECONDS = 10


def test_a_burst_gets_429_with_retry_after(fp: Harness) -> None:
    if not fp.settings.rate_limit_probe:
        pytest.skip("the burst probe is opt-in: set rate_limit_probe = true in the target file "
                    "(on the sandbox it runs when FIELDPROOF_SANDBOX_RATE_LIMIT_BURST is set)")
    with fp.run("resumable") as run:
        clients = [fp.client.fork() for _ in range(BURST_CONNECTIONS)]
        limited = threading.Event()
        deadline = time.monotonic() + BURST_SECONDS
        per_client = max(1, fp.profile.rate_probe_requests // BURST_CONNECTIONS)

        def burst(client: ApiClient) -> None:
            client.max_429_wait_s = 0  # keep the 429: the probe wants to see it, not wait it out
            for _ in range(per_client):
                if limited.is_set() or time.monotonic() > deadline:
                    return
                if client.get(run).status == 429:
                    limited.set()

        threads = [threading.Thread(target=burst, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BURST_SECONDS + 30)
        for client in clients:
            client.close()
        if not limited.is_set():
            pytest.skip(f"no 429 within {per_client * BURST_CONNECTIONS} requests: the 429 rule was not exercised")
