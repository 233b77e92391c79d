"""What the client sees on the wire, below HTTP: every socket operation of a request bounded by
the request's own deadline, and the bytes each response really arrived as.

httpx bounds each phase (connect, each read, each write) by its timeout, so a target that drips
its headers one byte a second is never timed out. Here every socket operation is given at most
what is left of the whole request's deadline (`Wire.begin`), so `timeout_s` bounds the request,
headers included. The bytes read for a request are kept (the first `KEPT` of them, and a count)
so that a response that breaks HTTP framing can be shown as it arrived, and so that bytes a
response leaves after its own end (a body on a 204, more than its Content-Length) are seen
before they become the start of the next response on the connection; such a connection is not
used again.
"""

from __future__ import annotations

import ssl
import time
import typing
from dataclasses import dataclass

import httpcore

from fieldproof.client.codings import CodingError
from fieldproof.exchange import Framing

KEPT = 64 * 1024  # the first bytes of a response kept as evidence and for finding its framing
_NO_BODY_STATUSES = frozenset({204, 304})


class DeadlineExceeded(httpcore.TimeoutException):
    """The request's deadline passed during a socket operation (a subclass of httpcore's
    timeouts, so that httpx reports it as a timeout like any other)."""


@dataclass(frozen=True)
class Answered:
    """The last response a connection carried whole: what bytes it leaves behind are its."""

    status: int
    method: str
    operation: str

    def left_behind(self) -> str:
        """What such a response breaks when bytes follow its end."""
        return LEFT_ON_NO_BODY if self.method == "HEAD" or self.status in _NO_BODY_STATUSES else LEFT_AFTER_LENGTH


LEFT_ON_NO_BODY = "a body on a response that has none (204, 304 or HEAD)"
LEFT_AFTER_LENGTH = "more body than its Content-Length"
_MALFORMATIONS = (  # what h11 says of a message it cannot read -> the problem, as findings group it
    ("illegal status line", "an invalid status line"),
    ("content-length", "conflicting or invalid Content-Length"),
    ("without sending complete message body", "a body shorter than its Content-Length (or its last chunk)"),
    ("chunk", "an invalid chunked body"),
    ("header", "an invalid header line"),
)


class Wire(httpcore.NetworkBackend):
    """A network backend around httpcore's own: one per client (one request at a time)."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.SyncBackend()
        self.deadline: float | None = None  # time.monotonic() by which the request must be done
        self.current: WireStream | None = None  # the stream the request went out on

    def begin(self, deadline: float | None) -> None:
        """A new request starts: bound it by `deadline`; its stream is the one it writes to."""
        self.deadline, self.current = deadline, None

    def bounded(self, timeout: float | None, error: type[Exception]) -> float | None:
        """`timeout` cut to what is left of the request's deadline."""
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the request's deadline (timeout_s) passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(host, port, self.bounded(timeout, httpcore.ConnectTimeout), local_address, socket_options)
        return WireStream(stream, self)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = self.inner.connect_unix_socket(path, self.bounded(timeout, httpcore.ConnectTimeout), socket_options)
        return WireStream(stream, self)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class WireStream(httpcore.NetworkStream):
    """One connection: its reads and writes bounded by the current request's deadline, the
    bytes read for the current request kept."""

    def __init__(self, inner: httpcore.NetworkStream, wire: Wire) -> None:
        self.inner = inner
        self.wire = wire
        self.received = bytearray()  # the first KEPT bytes read for the current request
        self.received_count = 0  # every byte read for it
        self.unusable = False  # left in a state no next request may start from
        self.last_answer: Answered | None = None  # the last response it carried whole

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.inner.read(max_bytes, self.wire.bounded(timeout, DeadlineExceeded))
        if len(self.received) < KEPT:
            self.received += data[: KEPT - len(self.received)]
        self.received_count += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self.wire.current is not self:  # the first write of a new request
            self.wire.current = self
            self.received, self.received_count = bytearray(), 0
        self.inner.write(buffer, self.wire.bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self.inner.start_tls(ssl_context, server_hostname, self.wire.bounded(timeout, httpcore.ConnectTimeout))
        return WireStream(stream, self.wire)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable" and self.unusable:
            return True  # what httpcore takes for a connection the server closed: it is dropped
        return self.inner.get_extra_info(info)

    def answered(self, status: int, method: str, operation: str) -> Framing | None:
        """The current request's response was read whole: how it broke framing if it left bytes
        after its own end (its framing says where that is: no body for HEAD, 204 and 304, else
        its Content-Length; chunked or read-to-close bodies cannot leave any). The connection
        is then not used again, so that the next response starts clean."""
        self.last_answer = Answered(status, method, operation)
        end = _message_end(self.received, status, method)  # searched where it is: no copy per answer
        if end is None or self.received_count <= end:
            return None
        self.unusable = True
        count = self.received_count - end
        shown = bytes(self.received[: end + 200])
        return Framing(self.last_answer.left_behind(), f"{count} bytes after the end of the message", shown, True)

    def malformed(self, error: Exception, status: int) -> Framing:
        """The current request's response could not be read: what broke, with the bytes as they
        arrived. Bytes before a status line on a reused connection were left there by the
        response before (when they came too late to be seen with it): its defect, said so. The
        connection is not used again."""
        self.unusable = True
        data = bytes(self.received)
        if isinstance(error, CodingError):
            return Framing(error.defect, error.detail or f"the {status} answer's body", data, False)
        start = data.find(b"HTTP/1.")
        previous = self.last_answer
        if start > 0 and previous is not None:
            detail = (f"{start} bytes before this answer's status line, left on the connection by the answer before it "
                      f"({previous.status} to {previous.method} {previous.operation})")
            return Framing(previous.left_behind(), detail, data, False)
        text = str(error)
        problem = next((problem for cue, problem in _MALFORMATIONS if cue in text.lower()), "no HTTP/1.1 message")
        return Framing(problem, text, data, False)


def _message_end(data: bytes | bytearray, status: int, method: str) -> int | None:
    """Where the final response in `data` ends (after any 1xx ones), if its head is whole."""
    start = 0
    while True:
        head_end = data.find(b"\r\n\r\n", start)
        if head_end < 0:
            return None
        head = data[start:head_end].decode("latin-1")
        body_start = head_end + 4
        if not head.startswith("HTTP/1.") or head[9:10] != "1":  # not an interim 1xx response
            break
        start = body_start
    if method == "HEAD" or status in _NO_BODY_STATUSES:
        return body_start
    fields = [line.partition(":") for line in head.split("\r\n")[1:]]
    lengths = {value.strip() for name, _, value in fields if name.strip().lower() == "content-length"}
    is_chunked = any(name.strip().lower() == "transfer-encoding" for name, _, _ in fields)
    if is_chunked or len(lengths) != 1:
        return None
    length = lengths.pop()
    return body_start + int(length) if length.isdigit() else None
