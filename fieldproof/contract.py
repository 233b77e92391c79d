"""The documented contract as data, read from contracts/fielding-runs.openapi.yaml.

Rules ask this module which statuses an operation documents, so the YAML stays the one place
where that is written down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_PATH = Path(__file__).resolve().parent / "contracts" / "fielding-runs.openapi.yaml"
OPERATION_IDS = {
    "get": "getFieldingRun",
    "pause": "pauseFieldingRun",
    "resume": "resumeFieldingRun",
    "complete": "completeFieldingRun",
}


@lru_cache(maxsize=1)
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text())


@lru_cache(maxsize=None)
def documented_statuses(operation: str) -> frozenset[int]:
    """The statuses the contract documents for an operation ('get', 'resume', …)."""
    operation_id = OPERATION_IDS[operation]
    for item in contract()["paths"].values():
        for method in ("get", "post"):
            spec = item.get(method)
            if spec and spec.get("operationId") == operation_id:
                return frozenset(int(code) for code in spec["responses"])
    raise KeyError(f"operation {operation_id} is not in {CONTRACT_PATH}")
