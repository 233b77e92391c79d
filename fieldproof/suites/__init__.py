"""The contract suites `fieldproof run` executes (pytest modules, shipped in the package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldproof.facts import Auth

if TYPE_CHECKING:
    from fieldproof.target import Target

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


@dataclass(frozen=True)
class AsIs:
    """A suite test the first pass runs exactly as its suite would (it has no size), so that
    the suite does not send it a second time."""

    step: str  # the first-pass step that runs it
    module: str  # test_<module>.py
    test: str
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, nodeid: str, params: dict[str, Any]) -> bool:
        module, _, name = nodeid.partition("::")
        return Path(module).stem == f"test_{self.module}" and name.partition("[")[0] == self.test and params == self.params

    def runs_on(self, target: Target, sandbox: bool) -> bool:
        """Whether the first pass sends it on this target: the credential and the run it needs
        are there (if not, neither the first pass nor its suite sends it; the suite says why)."""
        auth = self.params.get("auth")  # another account's token is the target file's to give; an expired one only the sandbox mints
        if auth is Auth.FOREIGN and target.foreign_token is None or auth is Auth.EXPIRED and not sandbox:
            return False
        role = self.params.get("role")
        return sandbox or role is None or bool(target.runs_of(role))


_CREDENTIALS_TEST = "test_requests_without_valid_credentials_are_refused"
_API_VERSION_TEST = "test_a_missing_or_unknown_api_version_is_answered"
AS_IS = (
    *(AsIs("business_rules", "business_rules", "test_resume_is_refused_by_the_runs_state", {"role": role})
      for role in ("goal_reached", "end_date_passed")),  # both documented rules: a server may get either wrong
    # each kind of credential once; another account's on a read and a write (a server may check one only)
    AsIs("auth", "auth", _CREDENTIALS_TEST, {"auth": Auth.NONE, "operation": "get"}),
    AsIs("auth", "auth", _CREDENTIALS_TEST, {"auth": Auth.MALFORMED, "operation": "resume"}),
    AsIs("auth", "auth", _CREDENTIALS_TEST, {"auth": Auth.FOREIGN, "operation": "get"}),
    AsIs("auth", "auth", _CREDENTIALS_TEST, {"auth": Auth.FOREIGN, "operation": "resume"}),
    AsIs("auth", "auth", _CREDENTIALS_TEST, {"auth": Auth.EXPIRED, "operation": "get"}),
    *(AsIs("api_version", "auth", _API_VERSION_TEST, {"operation": "get", "version": version})
      for version in (None, UNKNOWN_API_VERSION)),
    AsIs("whole_path", "paths", "test_a_run_is_named_by_its_whole_path"),
    AsIs("trace_context", "trace_context", "test_every_caller_gets_a_valid_trace"),
)  # fmt: skip
