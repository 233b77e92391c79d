"""Rate limiting: an opt-in, bounded burst looking for a 429, whose rules (Retry-After, body,
trace) then apply. Every other suite already waits out any 429 by its Retry-After."""

from __future__ import annotations

import time

import pytest

from fieldproof.plugin import Harness


def test_a_burst_gets_429_with_retry_after(fp: Harness) -> None:
    if not fp.settings.rate_limit_probe:
        pytest.skip("the burst probe is opt-in: set rate_limit_probe = true in the target file "
                    "(on the sandbox it runs when FIELDPROOF_SANDBOX_RATE_LIMIT_BURST is set)")
    with fp.run("resumable") as run:
        burst = fp.client.fork()
        burst.max_429_wait_s = 0  # keep the first 429 rather than waiting it out
        deadline = time.monotonic() + 10
        try:
            for _ in range(fp.profile.rate_probe_requests):
                if burst.get(run).status == 429 or time.monotonic() > deadline:
                    break
            else:
                pytest.skip(f"no 429 within {fp.profile.rate_probe_requests} requests: the 429 rule was not exercised")
        finally:
            burst.close()
        fp.check()
