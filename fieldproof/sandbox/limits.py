"""Per-token rate limiting: a token bucket in each worker process.

Buckets are per process: with `--workers N` a client can get up to N times the burst.
That keeps the hot path free of database writes; resilience tests use one worker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, burst: int, refill_per_s: float, clock: Callable[[], float] = time.monotonic):
        self.burst = burst
        self.refill_per_s = refill_per_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.burst > 0

    def take(self, key: str) -> int | None:
        """Spend one request; None if allowed, else the whole seconds to wait (Retry-After)."""
        if not self.enabled:
            return None
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.refill_per_s)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.refill_per_s))
