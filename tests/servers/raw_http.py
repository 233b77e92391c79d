"""A loopback HTTP/1.1 server that answers each request with scripted bytes, exactly as given:
for the client's tests of what real HTTP stacks send (content codings, chunked bodies, HTTP/1.0,
closed keep-alive connections) and of what breaks HTTP (a body on a 204, an illegal status line,
a body shorter than it says, headers that drip).

    with RawServer([answer, answer, ...]) as server:   # one answer per request, in order
        ... server.url, server.requests, server.connections

An answer is bytes (sent at once, then the connection is kept open for the next request), or a
callable taking the socket and the server's stop event (it sends what it likes, slowly if it
likes, waiting on the event rather than sleeping so that it ends with the server; return True to
keep the connection open). Each request's head is kept, so a test can see what the client sent.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

Answer = bytes | Callable[[socket.socket, threading.Event], bool]


def response(status: int, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *, length: bool = True,
             reason: str = "X") -> bytes:
    """An HTTP/1.1 response's bytes; Content-Length is added unless `length` is False."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    def __init__(self, answers: Sequence[Answer], stop_after_s: float = 30.0) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []  # each request's head, as received
        self.connections = 0
        self.stop_after_s = stop_after_s  # a bound on every wait, so that no test can hang on it
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(stop_after_s)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(self.stop_after_s)
        buffered = b""
        try:
            while not self._stopped.is_set():
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                self.requests.append(head)
                if not self.answers:
                    return
                answer = self.answers.pop(0)
                if callable(answer):
                    if not answer(conn, self._stopped):
                        return
                else:
                    conn.sendall(answer)
        except OSError:
            return
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._listener.close()
        for conn in self._open:  # a scripted answer still sending stops with an error
            conn.close()


@contextmanager
def raw_server(*answers: Answer) -> Iterator[RawServer]:
    with RawServer(answers) as server:
        yield server
