"""The header grammars of fieldproof/headers.py: entity tags, If-Match, W3C trace context.

References: RFC 9110 §8.8.3 (entity-tag), §13.1.1 (If-Match), §5.6.1 (list rule);
W3C Trace Context level 1 §3.2 (traceparent), §3.3 (tracestate), §4.3 (versioning).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldproof.headers import (
    EntityTag,
    HeaderSyntaxError,
    IfMatch,
    TraceParent,
    continue_trace,
    merge_tracestate,
    parse_etag,
    parse_if_match,
    parse_traceparent,
    tracestate_errors,
    weak_match,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID_TP = f"00-{TRACE_ID}-{PARENT_ID}-01"
VENDOR = "fieldproof"

# --------------------------------------------------------------------------- strategies

ETAGC = "\x21" + "".join(chr(c) for c in range(0x23, 0x7F))  # %x21 / %x23-7E
opaques = st.text(alphabet=ETAGC, max_size=20)
entity_tags = st.builds(EntityTag, opaque=opaques, weak=st.booleans())
ows = st.text(alphabet=" \t", max_size=3)

lower_hex = "0123456789abcdef"
trace_ids = st.text(alphabet=lower_hex, min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
parent_ids = st.text(alphabet=lower_hex, min_size=16, max_size=16).filter(lambda s: s != "0" * 16)
flags = st.text(alphabet=lower_hex, min_size=2, max_size=2)

KEY_REST = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
simple_keys = st.builds(
    lambda head, rest: head + rest,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text(alphabet=KEY_REST, max_size=10),
)
tenant_keys = st.builds(
    lambda tenant, system: f"{tenant}@{system}",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=5),
    st.builds(
        lambda h, r: h + r,
        st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
        st.text(alphabet=KEY_REST, max_size=5),
    ),
)
NBLK = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ",=")
ts_values = st.builds(
    lambda body, last: body + last,
    st.text(alphabet=NBLK + " ", max_size=10),
    st.sampled_from(NBLK),
)
ts_members = st.tuples(st.one_of(simple_keys, tenant_keys), ts_values)
ts_lists = st.lists(ts_members, max_size=32, unique_by=lambda m: m[0])


def members_of(header: str) -> list[str]:
    return header.split(",")


# --------------------------------------------------------------------------- entity tags


@pytest.mark.parametrize(
    "text, expected",
    [
        ('"1234"', EntityTag("1234")),
        ('W/"1234"', EntityTag("1234", weak=True)),
        ('""', EntityTag("")),
        ('W/""', EntityTag("", weak=True)),
        ('"a,b"', EntityTag("a,b")),
        ('  W/"x"\t', EntityTag("x", weak=True)),
        ('"!#$~"', EntityTag("!#$~")),
    ],
)
def test_parse_etag_accepts_weak_and_strong_tags(text: str, expected: EntityTag) -> None:
    assert parse_etag(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234",  # unquoted
        "W/1234",  # W/ without quotes
        "W/",
        'w/"1"',  # the weak prefix is case-sensitive
        'W/ "1"',
        '"1',  # unterminated
        '1"',
        '"a"b"',  # DQUOTE inside a tag
        '"1" "2"',
        '"1", "2"',  # a list is not one tag
        "*",
        '"a b"',  # SP is not etagc
        '"a\x00b"',
        '"a\x1fb"',
        '"a\x7fb"',
        '"a\tb"',
    ],
)
def test_parse_etag_rejects(text: str) -> None:
    with pytest.raises(HeaderSyntaxError):
        parse_etag(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("*", IfMatch(any=True)),
        ("  *\t", IfMatch(any=True)),
        ('"1"', IfMatch(tags=(EntityTag("1"),))),
        ('W/"1"', IfMatch(tags=(EntityTag("1", weak=True),))),
        ('W/"1", "2"', IfMatch(tags=(EntityTag("1", weak=True), EntityTag("2")))),
        (', W/"1" ,, "2"', IfMatch(tags=(EntityTag("1", weak=True), EntityTag("2")))),
        ('"1",', IfMatch(tags=(EntityTag("1"),))),
        ('\t,"1"\t,\t', IfMatch(tags=(EntityTag("1"),))),
        ('"a,b"', IfMatch(tags=(EntityTag("a,b"),))),
        ('"a,b", W/",", "c"', IfMatch(tags=(EntityTag("a,b"), EntityTag(",", weak=True), EntityTag("c")))),
        ('"*"', IfMatch(tags=(EntityTag("*"),))),
        ('"1","1"', IfMatch(tags=(EntityTag("1"), EntityTag("1")))),
    ],
)
def test_parse_if_match_accepts(text: str, expected: IfMatch) -> None:
    assert parse_if_match(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        ",",
        ", ,, ,",
        "1",  # unquoted
        '"1", 2',
        "W/1",
        'W/"1", W/',
        '"a"b"',  # DQUOTE inside a tag
        '"1" "2"',  # junk (no comma) between tags
        '"1";"2"',
        '"1" x, "2"',
        "*, \"1\"",  # * is only valid alone
        '"1", *',
        "**",
        '"1',
        '"a\x00"',
        '"a\x01", "b"',
        '"1",\x0b"2"',  # VT is not OWS
        '"a\x7f"',
        '"1"\r\n',
    ],
)
def test_parse_if_match_rejects(text: str) -> None:
    with pytest.raises(HeaderSyntaxError):
        parse_if_match(text)


@given(st.lists(entity_tags, min_size=1, max_size=8))
def test_joined_tags_parse_back_to_the_same_tags(tags: list[EntityTag]) -> None:
    parsed = parse_if_match(", ".join(map(str, tags)))
    assert parsed == IfMatch(any=False, tags=tuple(tags))


@given(st.lists(st.tuples(entity_tags, ows, st.integers(0, 2), ows), min_size=1, max_size=6), ows)
def test_ows_and_empty_list_elements_do_not_change_the_tags(parts, lead) -> None:
    text = lead + "".join(f"{str(t)}{before}{',' * (empties + 1)}{after}" for t, before, empties, after in parts)
    assert parse_if_match(text).tags == tuple(t for t, *_ in parts)


@given(entity_tags)
def test_str_of_an_entity_tag_round_trips(tag: EntityTag) -> None:
    text = str(tag)
    assert text.endswith('"') and text.startswith('W/"' if tag.weak else '"')
    assert parse_etag(text) == tag
    assert parse_if_match(text).tags == (tag,)


@given(opaques, st.sampled_from([chr(c) for c in [*range(0x00, 0x20), 0x22, 0x7F]]), opaques)
def test_a_tag_with_a_control_char_or_dquote_is_rejected(left: str, bad: str, right: str) -> None:
    text = f'"{left}{bad}{right}"'
    with pytest.raises(HeaderSyntaxError):
        parse_etag(text)
    with pytest.raises(HeaderSyntaxError):
        parse_if_match(text)


@given(opaques, st.booleans(), st.booleans())
def test_weak_match_compares_opaque_tags_regardless_of_weakness(opaque: str, w1: bool, w2: bool) -> None:
    assert weak_match(EntityTag(opaque, w1), EntityTag(opaque, w2))
    assert not weak_match(EntityTag(opaque, w1), EntityTag(opaque + "x", w2))


def test_weak_match_examples() -> None:
    assert weak_match(parse_etag('W/"1"'), parse_etag('"1"'))
    assert weak_match(parse_etag('W/"1"'), parse_etag('W/"1"'))
    assert not weak_match(parse_etag('W/"1"'), parse_etag('W/"2"'))
    assert not weak_match(parse_etag('"1"'), parse_etag('"01"'))
    assert not weak_match(parse_etag('"a"'), parse_etag('"A"'))


# --------------------------------------------------------------------------- traceparent


def test_parse_traceparent_accepts_a_valid_version_00_header() -> None:
    assert parse_traceparent(VALID_TP) == TraceParent("00", TRACE_ID, PARENT_ID, "01")
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-00").flags == "00"


@given(trace_ids, parent_ids, flags)
def test_parse_traceparent_round_trips(trace_id: str, parent_id: str, flag: str) -> None:
    text = f"00-{trace_id}-{parent_id}-{flag}"
    parsed = parse_traceparent(text)
    assert parsed == TraceParent("00", trace_id, parent_id, flag)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID.upper()}-01",
        f"00-{TRACE_ID[:-1]}A-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-0A",
        f"0A-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",  # trace-id too short
        f"00-{TRACE_ID}0-{PARENT_ID}-01",  # trace-id too long
        f"00-{TRACE_ID}-{PARENT_ID[:-1]}-01",
        f"00-{TRACE_ID}-{PARENT_ID}0-01",
        f"00-{TRACE_ID}-{PARENT_ID}-1",
        f"00-{TRACE_ID}-{PARENT_ID}-001",
        f"0-{TRACE_ID}-{PARENT_ID}-01",
        f"000-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00-{TRACE_ID}-{PARENT_ID}-01-",
        f"01-{TRACE_ID}-{PARENT_ID}-01",  # only version 00 is what a service may send
        f"01-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00_{TRACE_ID}_{PARENT_ID}_01",
        f"00-{TRACE_ID[:-1]}g-{PARENT_ID}-01",
    ],
)
def test_parse_traceparent_rejects(text: str) -> None:
    with pytest.raises(HeaderSyntaxError):
        parse_traceparent(text)


def assert_fresh_parent(out: TraceParent, incoming_parent: str | None = None) -> None:
    assert parse_traceparent(str(out)) == out
    assert out.version == "00"
    assert out.parent_id != "0" * 16
    if incoming_parent is not None:
        assert out.parent_id != incoming_parent


@pytest.mark.parametrize("flag", ["00", "01"])
def test_continue_trace_keeps_trace_id_and_flags_with_a_new_parent_id(flag: str) -> None:
    incoming = f"00-{TRACE_ID}-{PARENT_ID}-{flag}"
    out = continue_trace(incoming)
    assert out.trace_id == TRACE_ID
    assert out.flags == flag
    assert_fresh_parent(out, PARENT_ID)
    # each answer is its own span
    assert continue_trace(incoming).parent_id != out.parent_id


@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "",
        "garbage",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
        f"01-{TRACE_ID}-{PARENT_ID}-01x",  # after the flags: end or a dash (W3C §4.3)
        f"01-{'0' * 32}-{PARENT_ID}-01-extra",
    ],
)
def test_continue_trace_starts_a_new_trace_for_missing_or_invalid_input(incoming: str | None) -> None:
    out = continue_trace(incoming)
    assert_fresh_parent(out)
    assert out.trace_id != "0" * 32
    assert out.trace_id != TRACE_ID
    assert out.parent_id != PARENT_ID
    # a new trace each time, not a constant
    assert continue_trace(incoming).trace_id != out.trace_id


@pytest.mark.parametrize(
    "incoming",
    [
        f"01-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"01-{TRACE_ID}-{PARENT_ID}-01",
        f"cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-will-look-like",
    ],
)
def test_continue_trace_continues_a_future_version_by_its_version_00_prefix(incoming: str) -> None:
    out = continue_trace(incoming)
    assert out.trace_id == TRACE_ID
    assert out.flags == "01"
    assert_fresh_parent(out, PARENT_ID)


traceparent_like = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.builds(
        lambda v, t, p, f, extra: f"{v}-{t}-{p}-{f}{extra}",
        st.sampled_from(["00", "01", "fe", "ff", "0A", "0"]),
        st.one_of(trace_ids, st.just("0" * 32), st.text(alphabet=lower_hex + "A", min_size=31, max_size=33)),
        st.one_of(parent_ids, st.just("0" * 16), st.text(alphabet=lower_hex + "A", min_size=15, max_size=17)),
        st.one_of(flags, st.just("FF")),
        st.sampled_from(["", "-", "-x", "x", " "]),
    ),
)


@given(traceparent_like)
def test_continue_trace_always_answers_a_valid_version_00_traceparent(incoming: str | None) -> None:
    out = continue_trace(incoming)
    assert parse_traceparent(str(out)) == out
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", str(out))


# --------------------------------------------------------------------------- tracestate


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a=1",
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "a=1 , b=2",
        "a=1,\tb=2",
        "a=1,,b=2",
        ",a=1,",
        "t@v=1",
        "1t@v=1",  # a tenant-id may start with a digit
        "tenant_1@sys-2=x",
        "a/b*c_d-e=1",
        "a=x y",  # SP is allowed inside a value
        "a=!\"#$%&'()*+-./:;<>?@[]^_`{|}~",
        "k=" + "v" * 256,
        "k" * 256 + "=v",
        "t@" + "s" * 14 + "=v",
        ",".join(f"k{i}=v" for i in range(32)),
        "k=v,k@s=v",  # different keys
    ],
)
def test_tracestate_errors_accepts_valid_lists(value: str) -> None:
    assert tracestate_errors(value) == []


@pytest.mark.parametrize(
    "value, fragment",
    [
        (",".join(f"k{i}=v" for i in range(33)), "33 members"),
        ("a=1,b=2,a=3", "twice"),
        ("t@v=1,t@v=2", "twice"),
        ("a", "not key=value"),
        ("a=1,b", "not key=value"),
        ("a=", "not key=value"),
        ("=1", "not key=value"),
        ("A=1", "not key=value"),
        ("a b=1", "not key=value"),
        ("a.b=1", "not key=value"),
        ("a=b=c", "not key=value"),
        ("_a=1", "not key=value"),
        ("t@1v=1", "not key=value"),  # a system-id starts with a letter
        ("t@=1", "not key=value"),
        ("@v=1", "not key=value"),
        ("t@" + "s" * 15 + "=v", "not key=value"),
        ("k" * 257 + "=v", "not key=value"),
        ("k=" + "v" * 257, "not key=value"),
        ("a=1\x00", "not key=value"),
        ("a=caf\u00e9", "not key=value"),
    ],
)
def test_tracestate_errors_flags_bad_lists(value: str, fragment: str) -> None:
    errors = tracestate_errors(value)
    assert errors, value
    assert any(fragment in e for e in errors), errors


@given(ts_lists)
def test_generated_tracestate_lists_are_valid(members) -> None:
    assert tracestate_errors(",".join(f"{k}={v}" for k, v in members)) == []


def test_merge_tracestate_without_incoming_is_just_ours() -> None:
    assert merge_tracestate(None, VENDOR, "abc") == "fieldproof=abc"
    assert merge_tracestate("", VENDOR, "abc") == "fieldproof=abc"


def test_merge_tracestate_puts_ours_first_and_keeps_the_others_in_order() -> None:
    assert merge_tracestate("rojo=1,congo=2", VENDOR, "abc") == "fieldproof=abc,rojo=1,congo=2"
    assert merge_tracestate(" rojo=1 ,, congo=2 ", VENDOR, "abc") == "fieldproof=abc,rojo=1,congo=2"
    assert merge_tracestate("t@v=1", VENDOR, "abc") == "fieldproof=abc,t@v=1"


def test_merge_tracestate_drops_the_callers_own_member() -> None:
    merged = merge_tracestate("rojo=1,fieldproof=old,congo=2", VENDOR, "new")
    assert merged == "fieldproof=new,rojo=1,congo=2"
    # a tenant of ours is another key, kept
    merged = merge_tracestate("fieldproof@t=x,fieldproof=old", VENDOR, "new")
    assert merged == "fieldproof=new,fieldproof@t=x"


@pytest.mark.parametrize(
    "incoming",
    ["rojo=1,CONGO=2", "rojo=1,rojo=2", "rojo", "rojo=1,=2", ",".join(f"k{i}=v" for i in range(33))],
)
def test_merge_tracestate_drops_a_malformed_list_entirely(incoming: str) -> None:
    assert merge_tracestate(incoming, VENDOR, "abc") == "fieldproof=abc"


def test_merge_tracestate_never_returns_more_than_32_members() -> None:
    full = [f"k{i}=v" for i in range(32)]
    merged = members_of(merge_tracestate(",".join(full), VENDOR, "abc"))
    assert len(merged) == 32
    assert merged == ["fieldproof=abc", *full[:31]]  # the right-most member goes
    # with our own member among the 32, nobody else has to go
    with_ours = [*full[:15], "fieldproof=old", *full[15:31]]
    merged = members_of(merge_tracestate(",".join(with_ours), VENDOR, "abc"))
    assert merged == ["fieldproof=abc", *full[:31]]


@given(ts_lists, st.sampled_from([None, 0, 5, 31]), ts_values)
def test_merge_tracestate_property(members, ours_at, value: str) -> None:
    members = [(k, v) for k, v in members if k != VENDOR]
    texts = [f"{k}={v}" for k, v in members]
    if ours_at is not None:
        texts.insert(min(ours_at, len(texts)), f"{VENDOR}=old")
        texts = texts[:32]
    merged = merge_tracestate(",".join(texts), VENDOR, value)
    out = members_of(merged)
    assert out[0] == f"{VENDOR}={value}"
    assert out[1:] == [t for t in texts if not t.startswith(f"{VENDOR}=")][:31]
    assert len(out) <= 32
    assert tracestate_errors(merged) == []


def test_continue_trace_clears_flag_bits_version_00_does_not_define() -> None:
    out = continue_trace(f"01-{TRACE_ID}-{PARENT_ID}-ff-extra")
    assert (out.version, out.trace_id, out.flags) == ("00", TRACE_ID, "01")
