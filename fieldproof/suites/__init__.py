"""The contract suites `fieldproof run` executes (pytest modules, shipped in the package)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


# The order suites run in: the first pass over every rule, then what finds the most per request
# (races and lifecycles), schemathesis last: under a small max_requests it takes what is left.
ORDER = ("first_pass", "rate_limit", "concurrency", "lifecycle", "lifecycle_model", "linearizability",
         "business_rules", "auth", "if_match", "paths", "trace_context", "schemathesis")


def rank(module: str) -> int:
    """Where a suite module (test_<name>.py) runs in ORDER; one not listed runs before schemathesis."""
    name = Path(module).stem.removeprefix("test_")
    return ORDER.index(name) if name in ORDER else len(ORDER) - 1


def names() -> list[str]:
    """The suites by name: `test_<name>.py` in this folder, as `--suites` takes them."""
    return sorted(path.stem.removeprefix("test_") for path in FOLDER.glob("test_*.py"))


UNKNOWN_API_VERSION = "1999-01-01"  # well-formed, and older than any version of the API
