"""What a request was, as the rules may depend on it: a typed, frozen value per exchange.

The client fills it from what it really sent: which credential went into Authorization, whether
and which Cint-API-Version, how the If-Match parses and whether it is the tag the run held just
before, which path ids differ from the run's and how. Only what the wire cannot tell comes from
the suite: where a tag came from (stale, another run's, never issued, a racer's).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fieldproof import contract
from fieldproof.headers import HeaderSyntaxError, parse_if_match


class Auth(enum.Enum):
    MAIN = "main"  # the target's token
    FOREIGN = "foreign"  # a valid token of another account
    EXPIRED = "expired"
    MALFORMED = "malformed"  # something that is no valid token
    NONE = "none"  # no Authorization header


class ApiVersion(enum.Enum):
    SENT = "sent"  # the target's api_version
    OTHER_KNOWN = "other_known"  # another documented version (its rules differ)
    UNKNOWN = "unknown"  # well-formed, but no known version
    MALFORMED = "malformed"
    MISSING = "missing"


class IfMatch(enum.Enum):
    NOT_A_WRITE = "not_a_write"  # a GET: If-Match plays no part
    CURRENT = "current"  # the ETag the run had just before, byte for byte
    STALE = "stale"  # a tag the run had before
    OTHER_RUN = "other_run"  # another run's current tag
    NEVER_ISSUED = "never_issued"
    RACE = "race"  # current when sent, raced by other writers with the same tag
    MISSING = "missing"
    STAR = "star"
    MALFORMED = "malformed"
    LIST_WITH_CURRENT = "list_with_current"
    LIST_WITHOUT_CURRENT = "list_without_current"
    STRONG_SPELLING_OF_CURRENT = "strong_spelling_of_current"
    UNKNOWN = "unknown"  # a well-formed tag whose freshness the harness cannot tell


# what only the suite knows: where a tag that is not the current one came from
PROVENANCES = (IfMatch.STALE, IfMatch.OTHER_RUN, IfMatch.NEVER_ISSUED, IfMatch.RACE)
STALE_KINDS = (IfMatch.STALE, IfMatch.OTHER_RUN, IfMatch.NEVER_ISSUED)


class PathKind(enum.Enum):
    MALFORMED_ACCOUNT_ID = "malformed_account_id"
    UNKNOWN_ACCOUNT_ID = "unknown_account_id"  # digits, but not the token's account
    MALFORMED_PROJECT_ID = "malformed_project_id"
    MALFORMED_TARGET_GROUP_ID = "malformed_target_group_id"
    ODD_RUN_ID = "odd_run_id"  # allowed by the schema (any string), but no ULID: maybe malformed
    UNKNOWN_RUN = "unknown_run"  # well-formed ids that name no run
    OTHER_SCOPE = "other_scope"  # the run's own id under another (well-formed) project or target group


@dataclass(frozen=True)
class RequestFacts:
    auth: Auth = Auth.MAIN
    api_version: ApiVersion = ApiVersion.SENT
    if_match: IfMatch = IfMatch.NOT_A_WRITE
    path: frozenset[PathKind] = frozenset()  # empty: the ids of a run the harness knows
    role: str | None = None  # the role of the run addressed (target file or sandbox)

    def ordinary(self, *, besides: str) -> bool:
        """Every fact but `besides` is the plain case: main token, the run's own path, the
        target's API version, the current tag (or no write)."""
        plain = {
            "auth": self.auth is Auth.MAIN,
            "api_version": self.api_version is ApiVersion.SENT,
            "if_match": self.if_match in (IfMatch.CURRENT, IfMatch.NOT_A_WRITE),
            "path": not self.path,
        }
        if besides not in plain:
            raise KeyError(f"no request fact {besides!r}; facts: {', '.join(plain)}")
        return all(ok for name, ok in plain.items() if name != besides)


def api_version_kind(sent: str | None, target_version: str) -> ApiVersion:
    if sent is None:
        return ApiVersion.MISSING
    if sent == target_version:
        return ApiVersion.SENT
    if not contract.API_VERSION_FORMAT.fullmatch(sent):
        return ApiVersion.MALFORMED
    return ApiVersion.OTHER_KNOWN if sent in contract.API_VERSIONS else ApiVersion.UNKNOWN


def if_match_kind(sent: str | None, current: str | None, provenance: IfMatch | None = None) -> IfMatch:
    """The If-Match sent, against the run's tag just before (`current`, None if not looked at).

    The structure comes from the value; a single tag other than the current one is what the
    suite says it is (`provenance`), or UNKNOWN. A tag the suite calls stale stays stale even
    if the server holds it as current again: a tag that comes back is the server's bug.
    """
    if sent is None or not sent.strip(" \t"):
        return IfMatch.MISSING  # an empty field is an empty list: a server may take it as absent
    try:
        parsed = parse_if_match(sent)
    except HeaderSyntaxError:
        return IfMatch.MALFORMED
    if parsed.any:
        return IfMatch.STAR
    if len(parsed.tags) > 1:
        if current is None:
            return IfMatch.UNKNOWN
        tags = [tag.strip(" \t") for tag in _split_list(sent)]
        return IfMatch.LIST_WITH_CURRENT if current in tags else IfMatch.LIST_WITHOUT_CURRENT
    if provenance is not None:
        if provenance is IfMatch.RACE or provenance in STALE_KINDS:
            return provenance
    if current is None:
        return IfMatch.UNKNOWN
    if sent.strip(" \t") == current:
        return IfMatch.CURRENT
    if current.startswith("W/") and sent.strip(" \t") == current[2:]:
        return IfMatch.STRONG_SPELLING_OF_CURRENT
    return IfMatch.UNKNOWN


def _split_list(value: str) -> list[str]:
    """The members of an If-Match list, with their spelling (commas inside quotes kept)."""
    members, current, quoted = [], "", False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            members.append(current)
            current = ""
        else:
            current += char
    members.append(current)
    return [m for m in members if m.strip(" \t")]


def path_kinds(sent: dict[str, str], run: dict[str, str]) -> frozenset[PathKind]:
    """How the path ids sent differ from the ids of the run the request was aimed at."""
    kinds: set[PathKind] = set()
    if sent["account_id"] != run["account_id"]:
        digits = contract.ACCOUNT_ID.fullmatch(sent["account_id"])
        kinds.add(PathKind.UNKNOWN_ACCOUNT_ID if digits else PathKind.MALFORMED_ACCOUNT_ID)
    same_run = sent["fielding_run_id"] == run["fielding_run_id"]
    for name, malformed in (("project_id", PathKind.MALFORMED_PROJECT_ID),
                            ("target_group_id", PathKind.MALFORMED_TARGET_GROUP_ID)):
        if sent[name] != run[name]:
            well_formed = PathKind.OTHER_SCOPE if same_run else PathKind.UNKNOWN_RUN
            kinds.add(well_formed if contract.ULID.fullmatch(sent[name]) else malformed)
    if not same_run:
        kinds.add(PathKind.UNKNOWN_RUN if contract.ULID.fullmatch(sent["fielding_run_id"]) else PathKind.ODD_RUN_ID)
    return frozenset(kinds)
