"""The limits every client of one harness process keeps together: how many requests it may
still send (`Budget`), when it may send the next (`Pacer`), and whether it should send at all
(`Liveness`: the target still answers and the deadline has not passed).

They hold no connection and send nothing: `ApiClient` (recording.py) asks them before each
request and tells them how it was answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fieldproof.errors import BudgetExhausted, DeadlineReached, TargetStoppedAnswering
from fieldproof.headers import RateLimitState

MAX_LIMIT_PAUSE_S = 60.0  # the longest a spent rate limit holds requests back, whatever its reset says

# after this many requests in a row without an answer, the target is taken to have stopped
STOP_AFTER_UNANSWERED = 5


class Budget:
    """A thread-safe request count that refuses to go past its limit.

    The last `reserve` requests are kept for putting runs back (`for_restoring()`), so that a
    session whose budget ran out mid-test still leaves its runs as it found them.
    """

    def __init__(self, limit: int, reserve: int = 0, spent_message: str | None = None) -> None:
        self.limit = limit
        self.reserve = min(reserve, limit)
        self.spent = 0
        # what to tell the user, in the terms of what they wrote (max_requests and how it was split)
        self.spent_message = spent_message or f"the request budget of {limit} is spent"
        self._lock = threading.Lock()

    def is_spent(self, restoring: bool = False) -> bool:
        """Nothing left to send with (a restoring request may still use the reserve)."""
        return self.spent >= self.limit - (0 if restoring else self.reserve)

    def spend(self, restoring: bool = False) -> None:
        with self._lock:
            if self.is_spent(restoring):
                raise BudgetExhausted(f"{self.spent_message}; raise max_requests in the target file or choose a smaller --profile")
            self.spent += 1

    def for_restoring(self) -> RestoringBudget:
        return RestoringBudget(self)


class RestoringBudget:
    """The same budget, allowed into its reserve."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def spend(self) -> None:
        self.budget.spend(restoring=True)

    def for_restoring(self) -> RestoringBudget:
        return self


class Pacer:
    """When this process may send its next request (shared by its clients).

    - At most `max_rps` (the target file's): request starts at least 1/max_rps apart.
    - At the target's own rate once it has shown it, so that a session spends no time on 429s
      it could have avoided. The target is taken for a token bucket (what rate limiters are):
      between two 429s it let through what it refilled, so `accepted / time between them` is
      its rate, and what it let through before its first 429, less that rate's share, is its
      burst. Requests are then sent as that bucket allows, at LEARNED_SHARE of both, so that
      time the session spends elsewhere (the bucket refilling) is not lost either. Per
      process: each xdist worker learns its share. Each later pair of 429s measures again.
    - Not at all while a response said no request is left (`RateLimit`, `RateLimit-*` or
      `X-RateLimit-*` remaining 0) until its window resets: that 429 is never provoked.
    """

    LEARNED_SHARE = 0.98  # of the learned rate and burst: just under them, so the bucket never runs dry
    MIN_BURST = 4  # a race round's writes still leave together
    MIN_SPAN_S = 0.5  # 429s closer than this (a burst's) measure nothing

    def __init__(self, max_rps: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / max_rps if max_rps else 0.0
        self._clock, self._sleep = clock, sleep
        self.learned_rps: float | None = None
        self.learned_burst = 0
        self._next = 0.0  # the earliest start allowed by max_rps
        self._tat = 0.0  # the learned bucket's theoretical arrival time (GCRA)
        self._paused_until = 0.0
        self._first_sent: float | None = None
        self._before_first_429: tuple[int, float] | None = None  # (accepted, seconds) before the first 429
        self._accepted = 0  # answers other than 429 since the last 429 (or the first request)
        self._last_429: float | None = None
        self._resumed_at: float | None = None  # the first answer other than 429 after the last 429
        self._lock = threading.Lock()

    def wait(self, deadline: float | None = None) -> None:
        """Hold the next request until it may start; DeadlineReached, at once and without
        waiting (nor taking its turn), if that is after `deadline` (time.time())."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            if self.learned_rps:
                emission = 1.0 / self.learned_rps
                start = max(start, self._tat - emission * (self.learned_burst - 1))
            if deadline is not None and start > now and time.time() + (start - now) > deadline:
                raise DeadlineReached("max_duration_s would pass before the next request may start (max_rps, or the "
                                      "target's rate limit); raise max_duration_s in the target file or choose a smaller "
                                      "--profile")
            if self._first_sent is None:
                self._first_sent = now
            if self.interval:
                self._next = start + self.interval
            if self.learned_rps:
                self._tat = max(self._tat, start) + 1.0 / self.learned_rps
        if start > now:
            self._sleep(start - now)

    def answered(self, status: int, limit: RateLimitState | None) -> None:
        """Learn from one answer: a 429 measures the rate since the one before it (and the first
        one the burst); a limit announced as spent holds every request until its window resets."""
        with self._lock:
            now = self._clock()
            if status == 429:
                self._learn(now)
            else:
                self._accepted += 1
                if self._resumed_at is None:
                    self._resumed_at = now
            if limit is not None and limit.remaining == 0 and limit.reset_s:
                self._paused_until = max(self._paused_until, now + min(limit.reset_s, MAX_LIMIT_PAUSE_S))

    def _learn(self, now: float) -> None:
        if self._last_429 is None:
            self._before_first_429 = (self._accepted, now - (self._first_sent or now))
        elif now - self._last_429 >= self.MIN_SPAN_S and self._accepted:
            # What the bucket let through since the last 429 (empty then) is what it refilled:
            # `accepted / span` is its rate, unless it filled up while Retry-After was waited
            # out (a small burst, a long Retry-After: about as many got through as before the
            # first 429). Then `accepted` is its burst plus what it refilled while we sent, and
            # the difference from before the first 429 gives the rate if we sent for longer;
            # if not, the rate is known only to be at least `accepted / span`, and is paced at
            # that: slower than it could be, never into a 429.
            rate = self._accepted / (now - self._last_429)
            accepted, span = self._before_first_429 or (0, 0.0)
            sending = now - (self._resumed_at or self._last_429)
            if self._accepted >= 0.9 * accepted and sending - span >= self.MIN_SPAN_S / 5:
                rate = max(rate, min((self._accepted - accepted) / (sending - span), 2 * rate))
            self.learned_rps = rate * self.LEARNED_SHARE
            self.learned_burst = max(self.MIN_BURST, int(min(accepted, max(0.0, accepted - rate * span)) * self.LEARNED_SHARE))
        if self.learned_rps:  # the bucket is empty now
            self._tat = now + self.learned_burst / self.learned_rps
        self._last_429, self._accepted, self._resumed_at = now, 0, None


class Liveness:
    """Whether the target still answers (shared by every client of a process), and the session's
    deadline: after STOP_AFTER_UNANSWERED requests in a row without an answer, or past the
    deadline, nothing more is sent."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline  # time.time() seconds; None: no limit
        self.unanswered = 0  # requests sent that got no answer, in all
        self.waiting_until: float | None = None  # time.time() a 429's Retry-After is waited out to
        self.waited_429_s = 0.0  # seconds spent waiting out 429s, in all
        self._in_a_row = 0
        self._lock = threading.Lock()

    def raise_if_stopped(self) -> None:
        """Raise why no request may be sent any more: the deadline passed, or the target stopped answering."""
        if self.deadline is not None and time.time() > self.deadline:
            raise DeadlineReached("max_duration_s has passed; raise it in the target file or choose a smaller --profile")
        if self._in_a_row >= STOP_AFTER_UNANSWERED:
            raise TargetStoppedAnswering(f"the target stopped answering ({self._in_a_row} requests in a row got no answer)")

    def waited(self, seconds: float) -> None:
        with self._lock:
            self.waited_429_s += seconds

    def answered(self, ok: bool) -> None:
        with self._lock:
            self._in_a_row = 0 if ok else self._in_a_row + 1
            self.unanswered += 0 if ok else 1
