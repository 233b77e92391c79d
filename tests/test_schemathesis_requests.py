"""Every request of the schemathesis suite goes through fieldproof's client (counted against
max_requests, paced, recorded, judged): schemathesis sends none of its own, even when the
target gives it a reason to (a 5xx to its content-type probes)."""

from __future__ import annotations

import collections
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from helpers import fieldproof_run, rules_by_name, staging, summary

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class Gateway:
    """A gateway in front of the sandbox that counts every request by User-Agent and answers
    500, as some frameworks do, to a request with a body or a Content-Type it cannot parse
    (schemathesis' probes send `multipart/form-data` without a boundary)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self.by_agent: collections.Counter[str] = collections.Counter()
        self.refused = 0
        self._lock = threading.Lock()

    def answer(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, dict[str, str], bytes]:
        named = {k.lower(): v for k, v in headers}
        content_type = named.get("content-type", "")
        odd = bool(body) or (content_type != "" and "json" not in content_type)
        with self._lock:
            self.by_agent[named.get("user-agent", "")] += 1
            self.refused += odd
        if odd:
            return 500, {"content-type": "application/json"}, b'{"object": "unexpected_internal_error", "detail": "cannot parse"}'
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
        upstream = self.upstream.request(method, target, headers=sent, content=body)
        return upstream.status_code, {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}, upstream.content


def _handler(gateway: Gateway) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, content = gateway.answer(self.command, self.path, list(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_QUERY = _any

    return Handler


@contextmanager
def gateway_before(upstream: str) -> Iterator[tuple[Gateway, str]]:
    gateway = Gateway(upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(gateway))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        gateway.upstream.close()


def test_schemathesis_sends_nothing_outside_the_client_even_after_a_5xx_to_its_probes(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env), gateway_before(sandbox.root_url) as (gateway, root):
        proxied = tmp_path / "gateway.toml"
        proxied.write_text(target.read_text().replace(sandbox.base_url, root + "/v1"))
        result = fieldproof_run(tmp_path, "--target", str(proxied), "--suites", "schemathesis", "--profile", "quick", env=env)
    data = summary(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]  # the 500s are findings, nothing else
    assert rules_by_name(data)["documented_status"]["violations"] > 0 and data["problems"] == []
    assert gateway.refused > 0  # the probes were sent, and answered 500
    assert len(gateway.by_agent) == 1, gateway.by_agent  # one client sent every request: fieldproof's
    (agent,) = gateway.by_agent
    assert "schemathesis" not in agent and "requests" not in agent, gateway.by_agent
    assert gateway.by_agent[agent] == data["requests"]  # and each was counted (and recorded)
