"""What `fieldproof swarm` tells Locust's processes, through the environment (Locust's own
options stay Locust's; workers on other hosts get theirs from their own command)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV = "FIELDPROOF_SWARM"


@dataclass(frozen=True)
class SwarmConfig:
    target_file: str
    work_dir: str | None = None  # the master writes what the workers shipped here
    control_url: str | None = None  # the built-in sandbox's control API
    budget: int | None = None  # requests for the whole swarm (the master hands out shares)
    max_rps: float | None = None  # for the whole swarm
    deadline: float | None = None  # time.time() after which nothing is sent
    racers_per_worker: int = 4  # resumes each worker fires in a race round
    history_cap: int = 50_000  # operations kept per fielding run for the linearizability check
    clock_skew: tuple[int, float] | None = None  # tests only: (worker index, seconds) its clock is off by
    contract_file: str | None = None

    def to_env(self) -> dict[str, str]:
        return {ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> SwarmConfig:
        data = json.loads(os.environ[ENV])
        if data.get("clock_skew") is not None:
            data["clock_skew"] = tuple(data["clock_skew"])
        return cls(**data)
