"""No secret in any output, in any spelling (issue 20, point 6): a token a target echoes is
redacted as it is, URL-encoded, JSON- or HTML-escaped, and in base64 (standard or URL-safe,
padded or not, alone or as "Bearer <token>", also inside a longer base64 text), by the one
matching that redact_text and redact_headers share."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from helpers import faulty_target, fieldproof_run, staging, summary

from fieldproof.exchange import REDACTED, redact_headers, redact_text

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMDEiLCJleHAiOjE5OTk5OTk5OTl9.c2lnbmF0dXJlLWJ5dGVz"
ODD = "Tok+/=en~!*'()&<>\"\\;:@,?#[]%$ok-42"  # visible ASCII a token may hold, each with its escapes
TOKENS = [JWT, ODD]

b64, b64url = base64.b64encode, base64.urlsafe_b64encode


def _upper_hex(text: str) -> str:
    return quote(text, safe="")


def _lower_hex(text: str) -> str:
    return "%".join(part[:2].lower() + part[2:] if i else part for i, part in enumerate(quote(text, safe="").split("%")))


def _base64(encode: Callable[[bytes], bytes], prefix: str, padded: bool) -> Callable[[str], str]:
    def spell(token: str) -> str:
        text = encode((prefix + token).encode()).decode()
        return text if padded else text.rstrip("=")

    return spell


SPELLINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "quote": lambda t: quote(t),
    "quote-all": _upper_hex,
    "quote_plus": lambda t: quote_plus(t),
    "quote-lower-hex": _lower_hex,
    "every-byte-escaped": lambda t: "".join(f"%{b:02x}" for b in t.encode()),
    "json": lambda t: json.dumps(t)[1:-1],
    "html": lambda t: html.escape(t),
    **{f"{name}{' padded' if pad else ''}({what})": _base64(encode, prefix, pad)
       for name, encode in (("base64", b64), ("base64url", b64url)) for pad in (True, False)
       for what, prefix in (("token", ""), ("Bearer token", "Bearer "))},
    "base64-then-quoted": lambda t: quote(b64(t.encode()).decode(), safe=""),
}


@pytest.mark.parametrize("token", TOKENS, ids=["jwt", "odd"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_each_spelling_of_a_token_is_redacted(token: str, spelling: str) -> None:
    spelt = SPELLINGS[spelling](token)
    text = f'{{"echo": "{spelt}", "status": "live"}}'
    redacted = redact_text(text, (token,))
    assert redacted == f'{{"echo": "{REDACTED}", "status": "live"}}'


@pytest.mark.parametrize("token", TOKENS, ids=["jwt", "odd"])
@pytest.mark.parametrize("encode", [b64, b64url], ids=["base64", "base64url"])
@pytest.mark.parametrize("prefix", ["", "B", "Be", "Bearer ", '{"auth": "Bearer ', "x" * 10])
def test_a_token_inside_a_longer_base64_text_is_redacted_at_every_alignment(token: str, encode: Callable[[bytes], bytes],
                                                                            prefix: str) -> None:
    data = (prefix + token + '", "more": true}').encode()
    text = encode(data).decode()
    redacted = redact_text(text, (token,))
    assert REDACTED in redacted
    # the characters that only the token's bytes make up, well inside it, are all gone
    start, end = len(prefix.encode()) + 3, len(prefix.encode()) + len(token.encode()) - 3
    inner = text[-(-start * 4 // 3) : end * 4 // 3]
    assert len(inner) > 20 and inner not in redacted
    assert all(inner[i : i + 12] not in redacted for i in range(len(inner) - 12))


def test_text_without_the_token_is_left_as_it_was() -> None:
    text = "GET /v1/demand/accounts/101 -> 200 " + b64(b"Bearer another-token").decode() + " %2F &amp; \\\""
    assert redact_text(text, tuple(TOKENS)) == text
    assert redact_text(text, ()) == text and redact_text(text, ("",)) == text


def test_a_short_tokens_base64_fragments_do_not_eat_unrelated_text() -> None:
    text = "QmVhcmVy dA== t0k3n and some words"
    assert redact_text(text, ("t0k3n",)) == f"QmVhcmVy dA== {REDACTED} and some words"


def test_every_secret_is_redacted_and_the_longest_spelling_wins() -> None:
    main, foreign = "main-token-1234567890", "foreign-token-0987654321"
    text = f"{b64(f'Bearer {main}'.encode()).decode()} {quote(foreign)} {main}"
    assert redact_text(text, (main, foreign)) == f"{REDACTED} {REDACTED} {REDACTED}"


@pytest.mark.parametrize("spelling", ["raw", "quote-lower-hex", "base64(token)", "base64url(Bearer token)"])
def test_headers_are_redacted_by_the_same_matching_and_remember_the_env_var(spelling: str) -> None:
    spelt = SPELLINGS[spelling](ODD)
    headers = {"Authorization": f"Bearer {ODD}", "X-Echo": f"was: {spelt}", "Cint-API-Version": "2025-12-18"}
    redacted, env = redact_headers(headers, {ODD: "FIELDPROOF_TOKEN"})
    assert redacted == {"Authorization": f"Bearer {REDACTED}", "X-Echo": f"was: {REDACTED}", "Cint-API-Version": "2025-12-18"}
    assert env == {"Authorization": "FIELDPROOF_TOKEN", "X-Echo": "FIELDPROOF_TOKEN"}


def test_a_malformed_token_the_harness_sent_on_purpose_is_kept_as_sent() -> None:
    redacted, env = redact_headers({"Authorization": "Bearer not-a-known-secret"}, {JWT: "FIELDPROOF_TOKEN"})
    assert redacted == {"Authorization": "Bearer not-a-known-secret"} and env == {}


def test_a_secrets_spellings_are_worked_out_once() -> None:
    from fieldproof.exchange import _literal_pattern, _secrets_pattern

    def spell() -> None:
        redact_text("text", ("cache-me-token-123456",))  # no escape character: the literal spellings
        redact_text("text 100%", ("cache-me-token-123456",))  # one: every spelling
        redact_headers({"A": "b"}, ("cache-me-token-123456",))

    spell()
    before = _secrets_pattern.cache_info(), _literal_pattern.cache_info()
    for _ in range(5):
        spell()
    after = _secrets_pattern.cache_info(), _literal_pattern.cache_info()
    assert [a.misses for a in after] == [b.misses for b in before]
    assert [a.hits - b.hits for a, b in zip(after, before, strict=True)] == [10, 5]


# --- end to end: a target that echoes the Authorization header base64-encoded -----------------


def test_a_token_the_target_echoes_in_base64_is_in_no_output(tmp_path: Path) -> None:
    # two faults, so that findings keep exchanges of both tokens (the main one's GETs lack an
    # ETag; the other account's token is served), each body with the Authorization header echoed
    faults = ("--fault", "no_etag_on_200,foreign_account_served")
    with staging(tmp_path, *faults) as staged, faulty_target(tmp_path, staged, "--echo-token-base64") as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), "--profile", "quick", "--suites", "paths,auth", env=staged[2])
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    tokens = {"main": staged[2]["FIELDPROOF_TOKEN"], "foreign": staged[2]["FIELDPROOF_FOREIGN_TOKEN"]}
    leaks = [(f"{spelling} of the {which} token", SPELLINGS[spelling](token)) for which, token in tokens.items()
             for spelling in ("raw", "base64(token)", "base64(Bearer token)", "base64url(Bearer token)")]
    outputs = {"stdout": result.stdout, "stderr": result.stderr,
               **{p.name: p.read_text(errors="replace") for p in (tmp_path / "reports").rglob("*") if p.is_file()}}
    assert [(name, what) for name, text in outputs.items() for what, leak in leaks if leak in text] == []
    echoed = {example["exchange"]["secret_env"].get("Authorization") for rule in summary(tmp_path)["rules"]
              for group in rule["groups"] for example in group["examples"]
              if f'"echo": "{REDACTED}"' in (example.get("exchange") or {}).get("body", "")}
    assert echoed == {"FIELDPROOF_TOKEN", "FIELDPROOF_FOREIGN_TOKEN"}  # both tokens' echoes were recorded, redacted
