"""Trace context: every caller gets a valid traceparent back, whatever it sent: one that
continues its trace when it sent a valid one (a later version's too, read as W3C has a receiver
read it), a new trace when it sent none or an invalid one, which is never continued."""

from __future__ import annotations

import secrets

from fieldproof.facts import IfMatch
from fieldproof.plugin import Harness

_ID, _SPAN = secrets.token_hex(16), secrets.token_hex(8)
# what a caller may send as traceparent (None: none at all), and, for the valid ones, a tracestate
CALLERS: dict[str, str | None] = {
    "none": None,
    "valid": f"00-{_ID}-{_SPAN}-01",
    "valid-with-malformed-tracestate": f"00-{_ID}-{secrets.token_hex(8)}-01",  # a list that must not come back as it is
    "later-version": f"01-{_ID}-{_SPAN}-01-more",  # a version after 00: read as 00
    "uppercase": f"00-{_ID.upper()}-{_SPAN.upper()}-01",  # hex digits are lower case
    "all-zero-trace-id": f"00-{'0' * 32}-{_SPAN}-01",
    "all-zero-parent-id": f"00-{_ID}-{'0' * 16}-01",
    "version-ff": f"ff-{_ID}-{_SPAN}-01",  # a version that is never valid
    "too-short": f"00-{_ID[:30]}-{_SPAN}-01",
    "not-a-traceparent": "tracing please",
}


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
                            observe=False)  # fmt: skip
