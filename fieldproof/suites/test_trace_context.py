"""Trace context: every caller gets a valid traceparent back, whatever it sent: one that
continues its trace when it sent a valid one (a later version's may be continued or not: W3C
has a receiver try), a new trace when it sent none or an invalid one, which is never continued."""

from __future__ import annotations

import secrets

import pytest

from fieldproof.facts import IfMatch
from fieldproof.harness import Harness


def _trace() -> str:
    return secrets.token_hex(16)


def _span() -> str:
    return secrets.token_hex(8)


# what a caller may send as traceparent (None: none at all), each with a trace-id of its own, so
# that a trace one answer continued is never taken for another's
CALLERS: dict[str, str | None] = {
    "none": None,
    "valid": f"00-{_trace()}-{_span()}-01",
    "valid-with-malformed-tracestate": f"00-{_trace()}-{_span()}-01",  # a list that must not come back as it is
    "later-version": f"01-{_trace()}-{_span()}-01-more",  # a version after 00: continued or not
    "uppercase": f"00-{_trace().upper()}-{_span().upper()}-01",  # hex digits are lower case
    "all-zero-trace-id": f"00-{'0' * 32}-{_span()}-01",
    "all-zero-parent-id": f"00-{_trace()}-{'0' * 16}-01",
    "version-ff": f"ff-{_trace()}-{_span()}-01",  # a version that is never valid
    "too-short": f"00-{_trace()[:30]}-{_span()}-01",
    "not-a-traceparent": "tracing please",
}


@pytest.mark.first_pass("trace_context")
def test_every_caller_gets_a_valid_trace(fp: Harness) -> None:
    """A GET and a write refused by its tag (never issued) for each kind of caller."""
    with fp.run("resumable") as run:
        for name, traceparent in CALLERS.items():
            headers: dict[str, str | None] = {"traceparent": traceparent}
            if name == "valid":
                headers["tracestate"] = "fieldproof=probe"
            if name == "valid-with-malformed-tracestate":
                headers["tracestate"] = "no equals sign,UPPER=case"
            fp.client.get(run, headers=headers)
            fp.client.write("resume", run, f'W/"never-{secrets.token_hex(4)}"', tag=IfMatch.NEVER_ISSUED, headers=headers,
                            observe=False)
