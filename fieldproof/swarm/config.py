"""What `fieldproof swarm` tells Locust's processes, through the environment (Locust's own
options stay Locust's; workers on other hosts get theirs from their own command), and what a
process reads from it (`SwarmSetup`)."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass

from fieldproof.document import ContractDocument
from fieldproof.target import RunRef, Target, load_target

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


@dataclass(frozen=True)
class SwarmSetup:
    """What one Locust process works from: its SwarmConfig, and the target file and contract
    document that names, each read once. Built in Locust's init event, never at import: the
    locustfile is imported before Locust knows which part the process plays (and by anything
    that only looks at it)."""

    config: SwarmConfig
    target: Target
    document: ContractDocument

    @functools.cached_property
    def resumable(self) -> tuple[RunRef, ...]:
        return self.target.runs_of("resumable")

    @functools.cached_property
    def race_run(self) -> RunRef | None:
        """The run the master's race rounds write to: its own, users never write to it."""
        return self.resumable[-1] if len(self.resumable) > 1 else None

    @functools.cached_property
    def user_runs(self) -> tuple[RunRef, ...]:
        return self.resumable[:-1] if self.race_run is not None else self.resumable

    @classmethod
    def load(cls) -> SwarmSetup:
        config = SwarmConfig.from_env()
        return cls(config, load_target(config.target_file), ContractDocument.load(config.contract_file))
