"""What a verdict costs: the first pass over every rule on a small max_requests, the exit code
when a rule could not be exercised, and pacing to a target's rate limit instead of hitting it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from helpers import fieldproof_run, staging, summary

from fieldproof.client.limits import Pacer
from fieldproof.headers import RateLimitState, rate_limit_state
from fieldproof.suites.test_first_pass import STEPS


def _capped(target: Path, max_requests: int) -> Path:
    capped = target.with_name("capped.toml")
    text = re.sub(r"(?m)^max_requests.*\n", "", target.read_text())
    capped.write_text(text.replace("token_env =", f"max_requests = {max_requests}\ntoken_env =", 1))
    return capped


FIRST_PASS_RULES = sorted({rule for _, rules, _ in STEPS.values() for rule in rules})
FIRST_PASS_COST = sum(cost for _, _, cost in STEPS.values())


def test_a_small_budget_still_exercises_every_rule_and_passes(tmp_path: Path) -> None:
    with staging(tmp_path) as (_, target, env):
        # the first pass and the session's own set-up and putting back, with little to spare
        result = fieldproof_run(tmp_path, "--target", str(_capped(target, FIRST_PASS_COST + 40)), env=env)
    data = summary(tmp_path)
    assert result.returncode == 0, (data["problems"], result.stdout[-2000:])
    checks = {row["name"]: row["checks"] for row in data["rules"]}
    assert [rule for rule in FIRST_PASS_RULES if not checks[rule]] == []
    note = next(n for n in data["notes"] if "ended the exploration after the first pass" in n)
    assert f"max_requests = {FIRST_PASS_COST + 40}" in note and "checks per rule: " in note
    assert data["requests"] <= FIRST_PASS_COST + 40
    # the tests the budget ended are skipped, each listed with why, as every other skip is
    budget_ended = [s for s in data["tests"]["skips"] if s["reason"].startswith("the request budget ended it")]
    assert budget_ended and data["tests"]["skipped"] == len(data["tests"]["skips"])


def test_a_budget_too_small_for_the_first_pass_is_exit_2_naming_the_rules_and_the_budget(tmp_path: Path) -> None:
    with staging(tmp_path) as (_, target, env):
        result = fieldproof_run(tmp_path, "--target", str(_capped(target, 70)), env=env)
    data = summary(tmp_path)
    assert result.returncode == 2, result.stdout[-2000:]
    checks = {row["name"]: row["checks"] for row in data["rules"]}
    never = [rule for rule in FIRST_PASS_RULES if not checks[rule]]
    assert never, checks  # 70 requests cannot cover the first pass
    (problem,) = [p for p in data["problems"] if p["kind"] == "budget_exhausted"]
    assert problem["message"].startswith(", ".join(never) + " were never exercised")
    needed = int(re.search(r"allow at least max_requests = (\d+)", problem["message"]).group(1))
    assert 70 < needed <= 70 + FIRST_PASS_COST
    assert "the request budget is spent: max_requests = 70 in" in problem["message"]
    assert "never exercised" in result.stdout


def test_a_tight_rate_limit_is_paced_to_with_few_429s_and_the_wait_is_reported(tmp_path: Path) -> None:
    # burst 20, 40/s: about 16 s of a quick run's requests. Unpaced, every 429's Retry-After
    # (1 s) refills 20 tokens that a burst spends at once: a 429 each half second of the run.
    with staging(tmp_path, "--rate-limit-burst", "20", "--rate-limit-refill", "40") as (_, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", "quick", env=env)
    data = summary(tmp_path)
    assert result.returncode == 0, (data["problems"], result.stdout[-2000:])
    limited = sum(cell["observed"] for cell in data["coverage"] if cell["status"] == 429)
    unpaced = (data["requests"] - 20) / 20  # 429s an unpaced run meets: one per 20 requests
    assert unpaced > 20
    # two to learn the rate from, and a few more: a fraction of the unpaced count, not a number of
    # its own (a loaded machine that stalls the client and then lets it catch up meets a few more;
    # the pacer's exact behaviour is tested below with a clock the test moves)
    assert 2 <= limited <= unpaced / 4, (limited, unpaced)
    assert data["waited_429_s"] >= limited * 0.9  # each 429's `Retry-After: 1`, honoured
    # each xdist worker learns its share of the limit: together never above it
    assert 0 < data["paced_rps"] <= 40
    assert f"waited {data['waited_429_s']:.1f} s on 429s" in result.stdout


# the pacer on its own, with a clock the test moves


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _pacer(clock: Clock, max_rps: float | None = None) -> Pacer:
    return Pacer(max_rps, clock=clock.monotonic, sleep=clock.sleep)


class Bucket:
    """A token bucket target: `burst` at once, `rate` per second after."""

    def __init__(self, clock: Clock, burst: int, rate: float) -> None:
        self.clock, self.burst, self.rate = clock, burst, rate
        self.tokens, self.at = float(burst), clock.now

    def answer(self) -> int:
        self.tokens = min(self.burst, self.tokens + (self.clock.now - self.at) * self.rate)
        self.at = self.clock.now
        if self.tokens >= 1:
            self.tokens -= 1
            return 204
        return 429


def _drive(clock: Clock, pacer: Pacer, bucket: Bucket, requests: int) -> int:
    """Send `requests` as the client does (a 429 waits out `Retry-After: 1`); 429s met."""
    limited = 0
    for _ in range(requests):
        while True:
            pacer.wait()
            clock.now += 0.001  # the exchange itself
            status = bucket.answer()
            pacer.answered(status, None)
            if status != 429:
                break
            limited += 1
            clock.sleep(1.0)
    return limited


def test_the_pacer_learns_rate_and_burst_from_two_429s_and_meets_no_more(clock: Clock) -> None:
    pacer, bucket = _pacer(clock), Bucket(clock, burst=100, rate=50)
    started = clock.now
    assert _drive(clock, pacer, bucket, 1000) == 2
    assert pacer.learned_rps is not None and 0.95 * 50 <= pacer.learned_rps <= 50
    assert 0.9 * 100 * 0.95 <= pacer.learned_burst <= 100
    floor = (1000 - 100) / 50
    assert clock.now - started <= floor * 1.05  # the waits on the two 429s cost (almost) nothing


def test_a_bucket_that_fills_up_during_retry_after_is_paced_at_what_it_shows(clock: Clock) -> None:
    # burst 30, 60/s: a 1 s Retry-After refills only 30 of the 60 the limit adds in a second,
    # so two bursts alike show only that the rate is at least 30/s: paced at that, no 429 more
    pacer, bucket = _pacer(clock), Bucket(clock, burst=30, rate=60)
    assert _drive(clock, pacer, bucket, 600) == 2
    assert pacer.learned_rps is not None and 0.9 * 30 <= pacer.learned_rps <= 60


def test_the_pacer_measures_such_a_rate_when_it_sent_for_longer_than_the_burst(clock: Clock) -> None:
    pacer, bucket = _pacer(clock), Bucket(clock, burst=30, rate=60)
    assert _drive(clock, pacer, bucket, 40) == 1  # the first 429, after the burst
    for _ in range(120):  # then two seconds at 60/s: the bucket stays at what the wait left
        clock.now += 1 / 60
        assert bucket.answer() != 429
        pacer.answered(204, None)
    while bucket.answer() != 429:  # then what is left spent at once
        pacer.answered(204, None)
    pacer.answered(429, None)
    assert pacer.learned_rps is not None and 0.9 * 60 <= pacer.learned_rps <= 60


def test_the_pacer_lets_a_refilled_bucket_go_at_once(clock: Clock) -> None:
    pacer, bucket = _pacer(clock), Bucket(clock, burst=100, rate=50)
    _drive(clock, pacer, bucket, 300)
    clock.now += 10.0  # the session is busy elsewhere: the target's bucket refills
    before = clock.now
    assert _drive(clock, pacer, bucket, 80) == 0
    assert clock.now - before < 0.5  # sent as fast as it could be, not at 50/s


def test_a_spent_limit_announced_in_headers_holds_requests_until_its_reset(clock: Clock) -> None:
    pacer = _pacer(clock)
    pacer.answered(200, RateLimitState(remaining=0, reset_s=3.0))
    before = clock.now
    pacer.wait()
    assert clock.now - before == pytest.approx(3.0)
    pacer.answered(200, RateLimitState(remaining=5, reset_s=3.0))
    before = clock.now
    pacer.wait()
    assert clock.now == before


def test_max_rps_spaces_request_starts(clock: Clock) -> None:
    pacer = _pacer(clock, 4.0)
    before = clock.now
    for _ in range(5):
        pacer.wait()
    assert clock.now - before == pytest.approx(1.0)


# the headers a limit is announced in


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"ratelimit": '"default";r=0;t=7'}, RateLimitState(0, 7.0)),
        ({"ratelimit": "limit=100, remaining=3, reset=12"}, RateLimitState(3, 12.0)),
        ({"ratelimit-remaining": "9", "ratelimit-reset": "2"}, RateLimitState(9, 2.0)),
        ({"x-ratelimit-remaining": " 0 ", "x-ratelimit-reset": "30"}, RateLimitState(0, 30.0)),
        ({"x-ratelimit-remaining": "4"}, RateLimitState(4, None)),
        ({"x-ratelimit-remaining": "many", "x-ratelimit-reset": "soon"}, None),
        ({"etag": 'W/"1"'}, None),
    ],
)
def test_rate_limit_state_reads_every_common_spelling(headers: dict[str, str], expected: RateLimitState | None) -> None:
    assert rate_limit_state(headers) == expected


def test_a_responses_own_headers_are_read_whatever_their_case() -> None:
    headers = httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
    assert rate_limit_state(headers) == RateLimitState(0, 3.0)


def test_an_x_ratelimit_reset_that_is_a_unix_time_is_read_as_seconds_from_now() -> None:
    state = rate_limit_state({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 20)})
    assert state is not None and state.remaining == 0 and 18 <= (state.reset_s or 0) <= 21


def _tests_run(tmp_path: Path, suites: str) -> set[str]:
    tmp_path.mkdir()
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", suites)
    assert result.returncode == 0, result.stdout[-2000:]
    return {case["name"] for case in summary(tmp_path)["tests"]["cases"]}


def test_what_the_first_pass_sends_as_it_is_its_suite_does_not_send_again(tmp_path: Path) -> None:
    with_first_pass = _tests_run(tmp_path / "with", "first_pass,business_rules,auth")
    alone = _tests_run(tmp_path / "alone", "business_rules,auth")
    twice = {"test_resume_is_refused_by_the_runs_state[goal_reached]", "test_resume_is_refused_by_the_runs_state[end_date_passed]",
             "test_requests_without_valid_credentials_are_refused[get-none]",
             "test_requests_without_valid_credentials_are_refused[resume-malformed]",
             "test_requests_without_valid_credentials_are_refused[get-foreign]",  # the sandbox has both tokens
             "test_a_missing_or_unknown_api_version_is_answered[get-missing]"}
    assert twice <= alone and not twice & with_first_pass
    # what the first pass does not send as it is still runs in its suite
    assert {"test_resume_is_refused_by_the_runs_state[live]", "test_requests_without_valid_credentials_are_refused[resume-none]"
            } <= with_first_pass
