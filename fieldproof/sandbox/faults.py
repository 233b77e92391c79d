"""Injected faults for resilience tests: latency with jitter, and a fraction of 500s."""

from __future__ import annotations

import asyncio
import random

from fieldproof.sandbox.settings import SandboxSettings


class Faults:
    def __init__(self, settings: SandboxSettings, rng: random.Random | None = None) -> None:
        self.latency_s = settings.latency_ms / 1000
        self.jitter_s = settings.jitter_ms / 1000
        self.error_rate = settings.error_rate
        self._rng = rng or random.Random()

    async def delay(self) -> None:
        seconds = self.latency_s + (self._rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def server_error(self) -> bool:
        return self.error_rate > 0 and self._rng.random() < self.error_rate
