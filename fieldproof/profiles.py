"""How hard a run tries: examples per property, concurrency size and rounds."""

from __future__ import annotations

from dataclasses import dataclass


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


PROFILES = {
    "quick": Profile("quick", examples=10, racers=8, rounds_sandbox=5, rounds_file=2, rate_probe_requests=200,
                     fuzz_examples=5, stateful_examples=5, history_ops=200),
    "default": Profile("default", examples=40, racers=8, rounds_sandbox=20, rounds_file=5, rate_probe_requests=400,
                       fuzz_examples=20, stateful_examples=20, history_ops=1000),
    "thorough": Profile("thorough", examples=200, racers=16, rounds_sandbox=100, rounds_file=20, rate_probe_requests=1000,
                        fuzz_examples=100, stateful_examples=100, history_ops=5000),
}
