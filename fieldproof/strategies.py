"""Hypothesis strategies for what the suites send: ids, paths and If-Match values.

Each strategy yields `(kind, value)` pairs where a rule needs to know what was meant: the kind
is the fact a suite records in `exchange.context`, the value is what goes on the wire.
"""

from __future__ import annotations

from hypothesis import strategies as st

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ETAGC = st.characters(min_codepoint=0x23, max_codepoint=0x7E) | st.just("!")


def ulids() -> st.SearchStrategy[str]:
    return st.text(alphabet=CROCKFORD, min_size=26, max_size=26)


def opaque_tags(exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[str]:
    """Opaque-tag text (RFC 9110 etagc), never one of `exclude`."""
    return st.text(_ETAGC, min_size=0, max_size=12).filter(lambda t: t not in exclude)


def if_match_values(current: str, stale: list[str], other_run: str | None = None) -> st.SearchStrategy[tuple[str, str | None]]:
    """If-Match values for a run whose current ETag is `current` (e.g. W/"3").

    `stale`: tags the run had before; `other_run`: the current tag of another run (which must
    not match here, as it is a different resource; only used when it differs from `current`).
    """
    opaque = current.removeprefix("W/").strip('"')
    known = frozenset({opaque, *(s.removeprefix("W/").strip('"') for s in stale)})
    never_issued = st.builds(lambda o, weak: f'{"W/" if weak else ""}"{o}"', opaque_tags(known), st.booleans())
    choices = [
        st.just(("current", current)),
        never_issued.map(lambda v: ("never_issued", v)),
        st.just(("missing", None)),
        st.just(("star", "*")),
        st.sampled_from([opaque, f"W/{opaque}", "", " ", "W/", '"', f'"{opaque}', "W/'x'", "x" * 9000]).map(
            lambda v: ("malformed", v)
        ),
        st.lists(never_issued, min_size=1, max_size=3).map(lambda vs: ("list_without_current", ", ".join(vs))),
        st.tuples(st.lists(never_issued, max_size=2), st.integers(0, 2)).map(
            lambda t: ("list_with_current", ", ".join([*t[0][: t[1]], current, *t[0][t[1]:]]))
        ),
    ]
    if current.startswith("W/"):
        choices.append(st.just(("strong_spelling_of_current", current[2:])))
    if stale:
        choices.append(st.sampled_from(stale).map(lambda v: ("stale", v)))
    if other_run and other_run != current:
        choices.append(st.just(("other_run", other_run)))
    return st.one_of(choices)


def malformed_ids() -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    """Path ids the API must refuse without touching any run: (what, {path param: value})."""
    bad_ulid = st.one_of(
        st.text(alphabet=CROCKFORD.lower(), min_size=26, max_size=26),
        st.text(alphabet=CROCKFORD, min_size=1, max_size=25),
        st.text(alphabet=CROCKFORD, min_size=27, max_size=40),
        st.text(st.characters(min_codepoint=0xA0, max_codepoint=0x2FFF), min_size=1, max_size=26),
        st.sampled_from(["%2F..%2F", "..", ".", "%2e%2e", "a%2Fb", "%00", "01JD%2F0000"]),
    )
    bad_account = st.one_of(
        st.text(alphabet="abcxyz-", min_size=1, max_size=8),
        st.sampled_from(["-1", "1.5", "0x10", "%2F", "..", "9" * 40]),
    )
    return st.one_of(
        bad_account.map(lambda v: ("malformed_account_id", {"account_id": v})),
        bad_ulid.map(lambda v: ("malformed_project_id", {"project_id": v})),
        bad_ulid.map(lambda v: ("malformed_target_group_id", {"target_group_id": v})),
    )


def unknown_run_ids() -> st.SearchStrategy[str]:
    """Valid-looking run ids no run has (ULIDs, and the odd but allowed shapes)."""
    return st.one_of(
        ulids(),
        st.text(st.characters(min_codepoint=0x30, max_codepoint=0x7A, categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=64),
        st.just("X" * 300),
    )
