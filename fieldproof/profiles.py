"""How hard a session tries: examples per property, concurrency size and rounds."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int  # hypothesis examples per property test
    racers: int  # concurrent writes per round
    rounds_sandbox: int
    rounds_file: int  # a live target pays for every round
    rate_probe_requests: int  # the most the opt-in burst probe sends
    fuzz_examples: int  # schemathesis examples per operation (fuzzing phase)
    stateful_examples: int  # schemathesis stateful scenarios
    history_ops: int  # operations in the recorded concurrent history (linearizability)
    life_writes: int  # writes the lifecycle walk makes before it sends every tag the run had

    def on_a_live_target(self) -> Profile:
        """This profile on a target file: a live target pays for every request, so the
        property-based suites draw LIVE_SHARE of their examples there (the first pass has
        already exercised every rule, the race rounds are rounds_file)."""
        def share(examples: int) -> int:
            return max(1, round(examples * LIVE_SHARE))

        return replace(self, examples=share(self.examples), fuzz_examples=share(self.fuzz_examples),
                       stateful_examples=share(self.stateful_examples))


LIVE_SHARE = 0.3  # a live target's share of a profile's sizes; bench/detection_per_request.py shows every fault mode is still found at it


# The first pass (fieldproof/suites/test_first_pass.py): every suite once at its smallest size,
# so that a small max_requests still exercises every rule; the burst probe keeps the profile's size.
FIRST_PASS = Profile("first pass", examples=1, racers=4, rounds_sandbox=1, rounds_file=1, rate_probe_requests=0,
                     fuzz_examples=1, stateful_examples=1, history_ops=16, life_writes=2)


def profile_for(name: str, *, sandbox: bool) -> Profile:
    """The profile called `name`, at its size for the sandbox or for a target file."""
    profile = PROFILES[name]
    return profile if sandbox else profile.on_a_live_target()


PROFILES = {
    "quick": Profile("quick", examples=10, racers=8, rounds_sandbox=5, rounds_file=2, rate_probe_requests=200,
                     fuzz_examples=5, stateful_examples=5, history_ops=200, life_writes=4),
    "default": Profile("default", examples=40, racers=8, rounds_sandbox=20, rounds_file=5, rate_probe_requests=400,
                       fuzz_examples=20, stateful_examples=20, history_ops=1000, life_writes=10),
    "thorough": Profile("thorough", examples=200, racers=16, rounds_sandbox=100, rounds_file=20, rate_probe_requests=1000,
                        fuzz_examples=100, stateful_examples=100, history_ops=5000, life_writes=24),
}
