"""Content codings (RFC 9110 §8.4), decoded once, within a bound on the decoded size.

Gateways compress JSON (nginx `gzip on`), so the client asks for the codings it can decode and
decodes them itself, as the bytes arrive: a body that would inflate past `max_body_bytes` (a
gzip bomb) is cut there, never inflated whole. A body its Content-Encoding does not describe is
the target's fault, raised as a `CodingError` for the rule on well-formed HTTP to report.
"""

from __future__ import annotations

import zlib
from typing import Protocol

try:  # br where the brotli bindings are installed
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None


class CodingError(Exception):
    """A body that its Content-Encoding does not describe (corrupt, cut short, or a coding the
    client did not ask for): `defect` as findings group it, `detail` the particulars."""

    def __init__(self, defect: str, detail: str = "") -> None:
        super().__init__(f"{defect} ({detail})" if detail else defect)
        self.defect, self.detail = defect, detail


def accept_encoding() -> str:
    """The codings this client decodes, as the Accept-Encoding it sends."""
    return "gzip, deflate, br" if brotli is not None else "gzip, deflate"


class _Stage(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...

    def finish(self) -> None: ...


class _Zlib:
    """gzip (and x-gzip) or deflate. A deflate body is a zlib stream or, as some servers send
    it, raw deflate: if the first bytes are no zlib header, it is read as raw deflate."""

    def __init__(self, coding: str) -> None:
        self.coding = "gzip" if coding in ("gzip", "x-gzip") else "deflate"
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16 if self.coding == "gzip" else zlib.MAX_WBITS)
        self._first = True
        self._tail = b""  # input left undecoded when the output reached its limit

    def feed(self, data: bytes, limit: int) -> bytes:
        first, self._first = self._first, False
        try:
            out = self._inflate.decompress(self._tail + data, limit)
        except zlib.error as exc:
            if first and self.coding == "deflate":
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise CodingError(f"a {self.coding} body that does not decode", str(exc)) from None
        self._tail = self._inflate.unconsumed_tail
        return out

    def finish(self) -> None:
        if not self._inflate.eof:
            raise CodingError(f"a {self.coding} body cut short: its stream does not end")


class _Brotli:
    def __init__(self) -> None:
        assert brotli is not None
        self._decoder = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            return bytes(self._decoder.process(data, output_buffer_limit=limit))
        except brotli.error as exc:
            raise CodingError("a br body that does not decode", str(exc)) from None

    def finish(self) -> None:
        if not self._decoder.is_finished():
            raise CodingError("a br body cut short: its stream does not end")


class Decoder:
    """The codings of one response, undone in the reverse of the order they were applied, with
    at most `limit` decoded bytes in all: past it, `overflowed` is set and nothing more is
    decoded (the caller stops reading)."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.overflowed = False
        self.decoded = 0
        self._fed = False
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        self.codings = tuple(c for c in codings if c and c != "identity")
        self._stages: list[_Stage] = []
        self._unknown: str | None = None  # a coding not asked for: wrong only once a body comes in it
        for coding in reversed(self.codings):
            if coding in ("gzip", "x-gzip", "deflate"):
                self._stages.append(_Zlib(coding))
            elif coding == "br" and brotli is not None:
                self._stages.append(_Brotli())
            else:
                self._unknown = coding

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next raw chunk, at most what is left of the limit."""
        room = self.limit - self.decoded
        self._fed = self._fed or bool(data)
        if data and self._unknown is not None:
            raise CodingError("a body in a content coding the client did not ask for",
                              f"{self._unknown!r}; it sent Accept-Encoding: {accept_encoding()}")
        for stage in self._stages:
            data = stage.feed(data, room + 1)  # one byte more than there is room for tells an overflow
        if len(data) > room:
            self.overflowed = True
            data = data[:room]
        self.decoded += len(data)
        return data

    def finish(self) -> None:
        """The raw body has ended: each coding's stream must have ended with it (an empty body
        is taken as no body, which needs no coding)."""
        if self._fed and not self.overflowed:
            for stage in self._stages:
                stage.finish()
