"""Hypothesis strategies for what the suites send: ids, paths and If-Match values.

A strategy draws what to send without looking at the run (hypothesis replays draws, so they
must not depend on state); the client then records the facts of what was really sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import strategies as st

from fieldproof.contract import CROCKFORD
from fieldproof.facts import IfMatch

_ETAGC = st.characters(min_codepoint=0x23, max_codepoint=0x7E) | st.just("!")


def ulids() -> st.SearchStrategy[str]:
    return st.text(alphabet=CROCKFORD, min_size=26, max_size=26)


def opaque_tags() -> st.SearchStrategy[str]:
    """Opaque-tag text (RFC 9110 etagc)."""
    return st.text(_ETAGC, min_size=0, max_size=12)


@dataclass(frozen=True)
class IfMatchChoice:
    """What to put in If-Match, drawn without looking at the run (hypothesis replays draws, so
    they must not depend on state); `render_if_match` turns it into a value for the run as it is."""

    kind: IfMatch
    opaque: str = ""
    weak: bool = True
    index: int = 0
    others: tuple[tuple[str, bool], ...] = ()


IF_MATCH_KINDS = (
    IfMatch.CURRENT, IfMatch.STALE, IfMatch.OTHER_RUN, IfMatch.NEVER_ISSUED, IfMatch.MISSING, IfMatch.STAR,
    IfMatch.MALFORMED, IfMatch.LIST_WITH_CURRENT, IfMatch.LIST_WITHOUT_CURRENT, IfMatch.STRONG_SPELLING_OF_CURRENT,
)
# (no leading or trailing white space: HTTP strips it, so it would not reach the server as sent;
# the long one stays well below the 8 KiB a server may allow a header before answering 431)
_MALFORMED = ("{opaque}", "W/{opaque}", "", "W/", '"', '"{opaque}', "W/'x'", "x" * 2000, '"a" "b"')


def if_match_choices() -> st.SearchStrategy[IfMatchChoice]:
    tag = st.tuples(opaque_tags(), st.booleans())
    return st.builds(
        IfMatchChoice,
        kind=st.sampled_from(IF_MATCH_KINDS),
        opaque=opaque_tags(),
        weak=st.booleans(),
        index=st.integers(0, 1000),
        others=st.lists(tag, min_size=1, max_size=3).map(tuple),
    )


def every_if_match_variant() -> list[IfMatchChoice]:
    """Each kind of If-Match value once, and its telling spellings: four malformed shapes, every
    plausible never-issued tag, a list with the current tag first and last; drawn once each by
    the first pass, where a handful of random examples would leave most of them out."""
    others = (("zz9", True), ("zz8", False))
    variants = [IfMatchChoice(kind, "fp-never", True, 0, others) for kind in IF_MATCH_KINDS]
    # malformed: unquoted (index 0, above), unquoted weak, empty, two tags without a comma
    variants += [IfMatchChoice(IfMatch.MALFORMED, "fp-never", True, i, others) for i in (1, 2, 8)]
    variants += [IfMatchChoice(IfMatch.NEVER_ISSUED, "fp-never", False, i, others) for i in range(1, PLAUSIBLE_KINDS)]
    variants.append(IfMatchChoice(IfMatch.LIST_WITH_CURRENT, "fp-never", True, len(others), others))
    return variants


def render_if_match(
    choice: IfMatchChoice, current: str, stale: list[str], other_run: str | None = None, version: int | None = None
) -> tuple[IfMatch, str | None]:
    """(kind, If-Match value) for a run whose current ETag is `current` (e.g. W/"3").

    `stale`: tags the run had before; `other_run`: another run's current tag; `version`: the
    run's version, as its body says. A kind that the run's history cannot give (no stale tag
    yet) falls back to a tag never issued.
    """
    opaque = current.removeprefix("W/").strip('"')
    known = {opaque, *(t.removeprefix("W/").strip('"') for t in stale)}
    if other_run:
        known.add(other_run.removeprefix("W/").strip('"'))

    def never_issued(text: str, weak: bool) -> str:
        while text in known:
            text += "x"
        return f'{"W/" if weak else ""}"{text}"'

    kind = choice.kind
    if kind is IfMatch.STALE and stale:
        return kind, stale[choice.index % len(stale)]
    if kind is IfMatch.OTHER_RUN and other_run and other_run != current:
        return kind, other_run
    if kind is IfMatch.CURRENT:
        return kind, current
    if kind is IfMatch.MISSING:
        return kind, None
    if kind is IfMatch.STAR:
        return kind, "*"
    if kind is IfMatch.MALFORMED:
        return kind, _MALFORMED[choice.index % len(_MALFORMED)].format(opaque=opaque)
    if kind is IfMatch.STRONG_SPELLING_OF_CURRENT and current.startswith("W/"):
        return kind, current[2:]
    others = [never_issued(text, weak) for text, weak in choice.others]
    if kind is IfMatch.LIST_WITHOUT_CURRENT:
        return kind, ", ".join(others)
    if kind is IfMatch.LIST_WITH_CURRENT:
        at = choice.index % (len(others) + 1)
        return kind, ", ".join([*others[:at], current, *others[at:]])
    plausible = _plausible_never_issued(opaque, choice.index, version)
    if plausible is not None and plausible not in known:
        return IfMatch.NEVER_ISSUED, f'{"W/" if current.startswith("W/") else ""}"{plausible}"'
    strong_stale = [t[2:] for t in stale if t.startswith("W/")]
    if choice.index % PLAUSIBLE_KINDS == 3 and strong_stale:  # stale whether compared weakly or exactly
        return IfMatch.STALE, strong_stale[choice.index % len(strong_stale)]
    return IfMatch.NEVER_ISSUED, never_issued(choice.opaque, choice.weak)


PLAUSIBLE_KINDS = 6  # never-issued tags: random text, the tag's last number one and a thousand
# higher, a stale tag's strong spelling, the current tag in other letter case, the next version


def _plausible_never_issued(opaque: str, index: int, version: int | None) -> str | None:
    """A tag never issued that a server comparing carelessly might take for the current one:
    its last number one or a thousand higher, or the run's next version as the whole tag (a
    server that refuses only lower versions), or its letters in the other case (one that
    compares case-insensitively). None: random text, or nothing to change."""
    variant = index % PLAUSIBLE_KINDS
    numbers = list(re.finditer(r"[0-9]+", opaque))
    if variant == 5 and version is not None:
        return str(version + 1)
    if variant in (1, 2) and numbers:
        last = numbers[-1]
        higher = str(int(last.group()) + (1 if variant == 1 else 1000))
        return opaque[: last.start()] + higher + opaque[last.end():]
    if variant == 4 and opaque.swapcase() != opaque:
        return opaque.swapcase()
    return None


def malformed_ids(*, nul: bool = True) -> st.SearchStrategy[dict[str, str]]:
    """Path ids the API must refuse without touching any run: {path param: value} (the client
    records how each differs from the run's own). `nul`: also an encoded NUL, which common
    gateways refuse themselves (nginx answers it with its own HTML 400 page): on a live
    deployment that would judge the gateway in front of the API, not the API."""
    odd = ["%2F..%2F", "..", ".", "%2e%2e", "a%2Fb", "01JD%2F0000", *(["%00"] if nul else [])]
    bad_ulid = st.one_of(
        st.text(alphabet=CROCKFORD.lower(), min_size=26, max_size=26),
        st.text(alphabet=CROCKFORD, min_size=1, max_size=25),
        st.text(alphabet=CROCKFORD, min_size=27, max_size=40),
        st.text(st.characters(min_codepoint=0xA0, max_codepoint=0x2FFF), min_size=1, max_size=26),
        st.sampled_from(odd),
    )
    bad_account = st.one_of(
        st.text(alphabet="abcxyz-", min_size=1, max_size=8),
        st.sampled_from(["-1", "1.5", "0x10", "%2F", ".."]),
    )
    # digits, so an integer, but no account of ours: refused as malformed, forbidden or unknown
    other_account = st.sampled_from(["9" * 40, "0", "18446744073709551616"])
    return st.one_of(
        bad_account.map(lambda v: {"account_id": v}),
        other_account.map(lambda v: {"account_id": v}),
        bad_ulid.map(lambda v: {"project_id": v}),
        bad_ulid.map(lambda v: {"target_group_id": v}),
    )


def other_ulid(ulid: str, at: int = -1) -> str:
    """`ulid` with its character at `at` another: a well-formed ULID one character off. Ids made
    one after another (monotonic ULIDs, a seed's runs) differ in their last characters, so a
    near miss meant to name no run changes one in the middle of the random part, or in the
    timestamp's leading part."""
    if not ulid:
        return "0" * 26
    index = at % len(ulid)
    char = ulid[index]
    other = CROCKFORD[(CROCKFORD.index(char) + 1) % len(CROCKFORD)] if char in CROCKFORD else "0"
    return ulid[:index] + other + ulid[index + 1:]


def unknown_run_ids() -> st.SearchStrategy[str]:
    """Run ids no run has: ULIDs (404, documented), and odd shapes the schema allows but a
    server may call malformed (400 or 404, an open question)."""
    return st.one_of(
        ulids(),
        st.text(st.characters(min_codepoint=0x30, max_codepoint=0x7A, categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=64),
        st.just("X" * 300),
    )
