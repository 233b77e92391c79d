"""The contract as one table: every documented fact and every open question.

Written from shared/api/fielding-runs.md (the public docs and the vendor's published OpenAPI).
Rules, the model, strategies, runs, the seed, fuzz and the sandbox's settings read this module;
none keeps a copy. (The sandbox's store keeps its own transition code on purpose: an oracle must
not share the server's code.)

- Documented facts are asserted strictly.
- An open question lists every answer a correct server may give (`refusals`, and whether it may
  also serve the request as if nothing were odd: `may_serve`), and the sandbox's setting that
  picks each answer (`choices`, the sandbox's default first). Rules allow every answer; the
  sandbox answers each way in turn in the project's tests.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

CONTRACT_PATH = Path(__file__).resolve().parent / "contracts" / "fielding-runs.openapi.yaml"

# --- where --------------------------------------------------------------------------------

PATH_PARAMETERS = ("account_id", "project_id", "target_group_id", "fielding_run_id")
RUN_PATH = (
    "/demand/accounts/{account_id}/projects/{project_id}"
    "/target-groups/{target_group_id}/fielding-runs/{fielding_run_id}"
)
# the fixed segments of RUN_PATH, in order: how an operation is found in any OpenAPI document
RUN_PATH_SEGMENTS = ("demand", "accounts", None, "projects", None, "target-groups", None, "fielding-runs", None)


_RUN_PATH_IDS = re.compile(r"/demand/accounts/(?P<account_id>[^/]+)/projects/(?P<project_id>[^/]+)/target-groups/"
                           r"(?P<target_group_id>[^/]+)/fielding-runs/(?P<fielding_run_id>[^/]+)(?:/[a-z-]+)?")


def path_ids(path: str) -> dict[str, str] | None:
    """The run's ids in a request path (after the base URL's prefix), as sent; None if it is no
    run path."""
    match = _RUN_PATH_IDS.search(path)
    return match.groupdict() if match and path.endswith(match.group(0)) else None


def run_path(account_id: str, project_id: str, target_group_id: str, fielding_run_id: str, action: str | None = None) -> str:
    path = RUN_PATH.format(account_id=account_id, project_id=project_id,
                           target_group_id=target_group_id, fielding_run_id=fielding_run_id)
    return f"{path}/{action}" if action else path


# --- identifiers and versions ---------------------------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID = re.compile(r"[0-9A-Z]{26}")  # project and target-group ids; run ids in every example
ACCOUNT_ID = re.compile(r"[0-9]+")  # an integer, sent as digits
API_VERSION_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
API_VERSIONS = ("2025-05-27", "2025-12-18")
DEFAULT_API_VERSION = "2025-12-18"

# --- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    action: str | None  # the path segment after the run path; None for GET of the run itself
    statuses: frozenset[int]  # documented


_WRITE_STATUSES = frozenset({204, 400, 401, 403, 404, 412, 422, 429, 500})
OPERATIONS: dict[str, Operation] = {
    "get": Operation("get", "GET", None, frozenset({200, 400, 401, 403, 404, 429, 500})),
    "pause": Operation("pause", "POST", "pause", _WRITE_STATUSES),
    "resume": Operation("resume", "POST", "resume", _WRITE_STATUSES),
    "complete": Operation("complete", "POST", "complete", _WRITE_STATUSES),
}
WRITES = ("pause", "resume", "complete")
OTHER = "other"  # a request outside the four operations (an undeclared method or path)
# Methods the harness may send where the contract declares none: safe ones only, since a live
# API may implement what the contract does not declare (the vendor's run path has PUT).
# OPTIONS, HEAD and TRACE are left out: a correct server may well answer them 200.
SAFE_UNDECLARED_METHODS = ("GET", "QUERY")

# --- the run --------------------------------------------------------------------------------

STATUSES = ("scheduled", "live", "paused", "completed")  # lower case since 2025-12-18
# The error objects' codes by status ("codes seen"); where a correct server may word a refusal
# either way (a required header missing is 403 for Cint-API-Version, and may be a 400 for
# If-Match), both. An error's `object` is snake_case whatever its status.
ERROR_OBJECTS = {400: frozenset({"bad_request_error", "required_header_missing"}), 401: frozenset({"authorization_error"}),
                 403: frozenset({"authorization_error", "required_header_missing"}), 404: frozenset({"not_found_error"}),
                 412: frozenset({"precondition_failed_error"}), 422: frozenset({"invalid_state_error"}),
                 500: frozenset({"unexpected_internal_error"})}
ERROR_OBJECT_FORMAT = re.compile(r"([a-z]*_)*([a-z]*)")
# The run as a GET's 200 shows it: every field documented and required (the docs, and the
# vendor's FieldingRunItem), by the kind of value it holds; other fields are tolerated.
RUN_BODY = {"id": "string", "status": "status", "version": "integer", "start_fielding_at": "date-time",
            "end_fielding_at": "date-time", "last_changed_at": "date-time", "last_changed_by": "uuid"}
# The fields a refused request must leave as they were (the ETag too).
UNCHANGED_FIELDS = ("status", "version", "last_changed_at", "last_changed_by", "end_fielding_at")


class Effect(enum.Enum):
    CHANGE = "change"  # 204 and the status moves to the transition's target
    NO_OP = "no_op"  # 204 and nothing changes (same ETag)
    REFUSE = "refuse"  # 422 invalid_state_error


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]  # documented: the write takes the run from these to `to`
    to: str
    # statuses from which the docs leave the write open: status -> the open question
    open_from: tuple[tuple[str, str], ...] = ()


TRANSITIONS: dict[str, Transition] = {
    "pause": Transition(frozenset({"live"}), "paused", (("paused", "pause_paused"),)),
    "resume": Transition(frozenset({"paused"}), "live", (("live", "resume_live"),)),
    # "Immediately completes a live or scheduled fielding run" (the vendor's OpenAPI)
    "complete": Transition(frozenset({"live", "scheduled"}), "completed", (("paused", "complete_paused"),)),
}


def write_effects(operation: str, status: str) -> frozenset[Effect]:
    """What a correct server may do with a write whose tag is current, by the run's status (the
    completes goal and end date aside: see Role.resumable)."""
    transition = TRANSITIONS[operation]
    if status in transition.sources:
        return frozenset({Effect.CHANGE})
    question = dict(transition.open_from).get(status)
    if question is not None:
        return OPEN_QUESTIONS[question].effects
    return frozenset({Effect.REFUSE})


@dataclass(frozen=True)
class Role:
    """What a run listed under a role in a target file stands for."""

    name: str
    status: str
    resumable: bool  # its completes goal and end date allow a resume
    blocked_by: str | None = None  # why not, for messages
    # the status a session may leave it in for good (complete, launch-now and relaunch cannot be
    # undone: a run of such a role serves one session's write, then stays so); None: none
    spent_as: str | None = None
    spent_by: str | None = None  # the write that spends it, for messages


ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role("resumable", "paused", True),
        Role("live", "live", True),
        Role("goal_reached", "paused", False, "the run's completes goal is reached"),
        Role("end_date_passed", "paused", False, "the run's end date has passed"),
        Role("completed", "completed", False, "the run is completed"),
        Role("completable", "live", True, spent_as="completed", spent_by="complete"),
        # launch-now and relaunch are sent with a current tag only to runs listed under these
        # (listing them is the opt-in): a launched or relaunched run cannot be put back
        Role("launchable", "scheduled", True, spent_as="live", spent_by="launch-now"),
        # its completes goal and end date allow a relaunch
        Role("relaunchable", "completed", True, spent_as="live", spent_by="relaunch"),
    ]
}

# --- open questions -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenQuestion:
    name: str  # also the name of the sandbox setting that answers it
    question: str
    choices: tuple[str, ...]  # the sandbox's answers, its default first
    refusals: frozenset[int] = frozenset()  # statuses a correct server may refuse with
    may_serve: bool = False  # a correct server may also serve the request as an ordinary one
    effects: frozenset[Effect] = frozenset()  # for a write the state leaves open: what may happen

    @property
    def default(self) -> str:
        return self.choices[0]


OPEN_QUESTIONS: dict[str, OpenQuestion] = {
    q.name: q
    for q in [
        OpenQuestion("malformed_id", "a malformed or overlong id in any path segment (400: every segment checked; "
                     "400-ulid-run-ids: a run id that is no ULID is malformed too; 404: nothing found)",
                     ("400", "400-ulid-run-ids", "404"), frozenset({400, 404})),
        OpenQuestion("undeclared_method", "a method the contract does not declare on a path (judged only as "
                     "not a success, and nothing changed)", ("405", "501", "404"), frozenset({404, 405, 501})),
        OpenQuestion("missing_if_match", "a write without If-Match", ("400", "412", "428"), frozenset({400, 412, 428})),
        OpenQuestion("malformed_if_match", "an If-Match that is no list of entity tags (it matches nothing)",
                     ("400", "412"), frozenset({400, 412})),
        OpenQuestion("if_match_star", "If-Match: * (RFC 9110: true when the run exists)",
                     ("match", "412", "400"), frozenset({400, 412}), may_serve=True),
        OpenQuestion("if_match_list", "an If-Match list of several tags (RFC 9110: true when any matches)",
                     ("match", "400"), frozenset({400, 412}), may_serve=True),
        OpenQuestion("if_match_comparison", "the strong spelling \"7\" of the current weak tag W/\"7\"",
                     ("weak", "exact"), frozenset({412}), may_serve=True),
        OpenQuestion("resume_live", "resuming a run that is already live (the batch resume calls it a success)",
                     ("422", "204"), frozenset({422}), effects=frozenset({Effect.REFUSE, Effect.NO_OP})),
        OpenQuestion("pause_paused", "pausing a run that is already paused (undocumented; the mirror of resume_live)",
                     ("422", "204"), frozenset({422}), effects=frozenset({Effect.REFUSE, Effect.NO_OP})),
        OpenQuestion("complete_paused", "completing a paused run (documented: a live or scheduled one)",
                     ("422", "204"), frozenset({422}), effects=frozenset({Effect.REFUSE, Effect.CHANGE})),
        OpenQuestion("foreign_account", "another account's run or path", ("403", "404"), frozenset({403, 404})),
        OpenQuestion("other_scope", "a run's own id under another project or target group (documented: not that run, "
                     "refused, never served or written; 404 most likely)", ("404", "400", "403"), frozenset({400, 403, 404})),
        OpenQuestion("gate_order", "a stale tag on a run whose state also forbids the write",
                     ("412-first", "422-first"), frozenset({412, 422})),
        OpenQuestion("unknown_api_version", "a well-formed Cint-API-Version that is no known version",
                     ("400", "403", "accept"), frozenset({400, 403}), may_serve=True),
        OpenQuestion("status_case", "the casing of status values (Title case in older versions; compared "
                     "case-insensitively)", ("lower", "title")),
    ]
}
# An unknown path id (a well-formed ULID no run has) is documented: 404, whatever the questions.
UNKNOWN_RUN_STATUS = 404
# Another account's id in the path with our token: refused as malformed, forbidden or not found.
UNKNOWN_ACCOUNT_REFUSALS = OPEN_QUESTIONS["malformed_id"].refusals | OPEN_QUESTIONS["foreign_account"].refusals
