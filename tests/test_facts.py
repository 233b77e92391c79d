"""The facts of a request, as the client records them from what it sent."""

from __future__ import annotations

import pytest

from fieldproof.facts import (
    ApiVersion,
    IfMatch,
    PathKind,
    RequestFacts,
    api_version_kind,
    if_match_kind,
    path_kinds,
)

RUN = {"account_id": "101", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "2" * 26}


@pytest.mark.parametrize(
    "sent, current, provenance, kind",
    [
        (None, 'W/"3"', None, IfMatch.MISSING),
        ("", 'W/"3"', None, IfMatch.MISSING),  # an empty list: a server may take it as absent
        ("*", 'W/"3"', None, IfMatch.STAR),
        ("3", 'W/"3"', None, IfMatch.MALFORMED),
        ('W/"3"', 'W/"3"', None, IfMatch.CURRENT),
        ('"3"', 'W/"3"', None, IfMatch.STRONG_SPELLING_OF_CURRENT),
        ('W/"2"', 'W/"3"', None, IfMatch.UNKNOWN),  # where it came from, only the suite knows
        ('W/"2"', 'W/"3"', IfMatch.STALE, IfMatch.STALE),
        ('W/"3"', 'W/"3"', IfMatch.STALE, IfMatch.STALE),  # a stale tag that is current again: the server's bug
        ('W/"3"', None, None, IfMatch.UNKNOWN),  # the run was not looked at
        ('W/"3"', None, IfMatch.RACE, IfMatch.RACE),
        ('W/"1", W/"3"', 'W/"3"', None, IfMatch.LIST_WITH_CURRENT),
        ('W/"1", "a,b"', 'W/"3"', None, IfMatch.LIST_WITHOUT_CURRENT),  # a comma inside a tag is no separator
        ('W/"1", W/"2"', None, None, IfMatch.UNKNOWN),
        ("*", 'W/"3"', IfMatch.STALE, IfMatch.STAR),  # the structure comes from the value, not the suite
    ],
)
def test_the_if_match_sent_is_classified_by_what_it_is(sent, current, provenance, kind) -> None:
    assert if_match_kind(sent, current, provenance) is kind


@pytest.mark.parametrize(
    "sent, kind",
    [(None, ApiVersion.MISSING), ("2025-12-18", ApiVersion.SENT), ("2025-05-27", ApiVersion.OTHER_KNOWN),
     ("1999-01-01", ApiVersion.UNKNOWN), ("yesterday", ApiVersion.MALFORMED), ("", ApiVersion.MALFORMED)],
)
def test_the_api_version_sent_is_classified_against_the_targets(sent, kind) -> None:
    assert api_version_kind(sent, "2025-12-18") is kind


@pytest.mark.parametrize(
    "changes, kinds",
    [
        ({}, set()),
        ({"fielding_run_id": "3" * 26}, {PathKind.UNKNOWN_RUN}),
        ({"fielding_run_id": "x" * 300}, {PathKind.ODD_RUN_ID}),
        ({"project_id": "9" * 26}, {PathKind.OTHER_SCOPE}),  # well-formed: the run's own id under another project
        ({"project_id": "9" * 26, "fielding_run_id": "3" * 26}, {PathKind.UNKNOWN_RUN}),  # no run there
        ({"project_id": "not-a-ulid"}, {PathKind.MALFORMED_PROJECT_ID}),
        ({"target_group_id": "01jd"}, {PathKind.MALFORMED_TARGET_GROUP_ID}),
        ({"account_id": "202"}, {PathKind.UNKNOWN_ACCOUNT_ID}),
        ({"account_id": "-1", "project_id": "x"}, {PathKind.MALFORMED_ACCOUNT_ID, PathKind.MALFORMED_PROJECT_ID}),
    ],
)
def test_path_ids_are_classified_by_how_they_differ_from_the_runs(changes, kinds) -> None:
    assert path_kinds({**RUN, **changes}, RUN) == kinds


def test_a_misspelt_fact_is_an_error_not_a_rule_switched_off() -> None:
    facts = RequestFacts()
    assert facts.ordinary(besides="auth")
    with pytest.raises(KeyError, match="no request fact 'if_mach'"):
        facts.ordinary(besides="if_mach")
    with pytest.raises(AttributeError):
        facts.if_mach  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(Exception):  # frozen: a rule cannot change what was sent
        facts.auth = None  # type: ignore[misc]
