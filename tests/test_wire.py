"""The client speaks HTTP as real stacks do: content codings decoded once within the body bound,
chunked bodies, HTTP/1.0, closed keep-alive connections; a response that breaks HTTP is a finding
of http_message_well_formed with its bytes, and the next request goes out on a fresh connection;
the whole request is bounded by timeout_s, headers included, and by the session's deadline; no
cookie is replayed and no proxy sees a loopback target."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import brotli
import pytest
from servers.raw_http import RawServer, raw_server, response

from fieldproof import rules
from fieldproof.client.codings import CodingError, Decoder, accept_encoding
from fieldproof.client.limits import Budget, Liveness, Pacer
from fieldproof.client.recording import ApiClient, _proxy_for
from fieldproof.errors import BrokenResponse, DeadlineReached, TargetUnreachable, UsageError
from fieldproof.exchange import Exchange
from fieldproof.target import RunRef, Target

RUN = RunRef("resumable", "101", "0" * 26, "1" * 26, "R1")
BODY = {"id": "R1", "status": "paused", "version": 3}
JSON = ("Content-Type", "application/json")
ETAG = ("ETag", 'W/"3"')


def client(server: RawServer, **target: Any) -> tuple[ApiClient, list[Exchange]]:
    recorded: list[Exchange] = []
    settings = {"timeout_s": 5.0, **target}
    return ApiClient(Target(server.url + "/v1", "2025-12-18", "101", "tok", runs=(RUN,), **settings), budget=Budget(50),
                     on_exchange=recorded.append), recorded


@pytest.fixture
def json_body() -> bytes:
    return json.dumps(BODY).encode()


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


CODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # a zlib stream, as RFC 9110 says
    "Deflate": _raw_deflate,  # raw deflate, as some servers send it; codings ignore case
    "br": brotli.compress,
    "gzip, br": lambda data: brotli.compress(gzip.compress(data)),  # applied in order, undone in reverse
}


# --- content codings ---------------------------------------------------------------------------


@pytest.mark.parametrize("coding", CODINGS)
def test_a_compressed_body_is_decoded_once(coding: str, json_body: bytes) -> None:
    packed = CODINGS[coding](json_body)
    with raw_server(response(200, [JSON, ETAG, ("Content-Encoding", coding)], packed)) as server:
        api, recorded = client(server)
        exchange = api.get(RUN)
    assert exchange.json() == BODY and exchange.raw.json() == BODY  # the rules' body and schemathesis' response
    assert exchange.response_headers["content-encoding"] == coding  # recorded as it was sent
    assert rules.http_message_well_formed(exchange) == [] and recorded == [exchange]
    assert server.requests[0].lower().count(b"accept-encoding: " + accept_encoding().encode()) == 1


def test_a_gzip_bomb_is_cut_at_max_body_bytes_not_inflated() -> None:
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()  # 256 MiB inflated
    with raw_server(response(200, [JSON, ETAG, ("Content-Encoding", "gzip")], bomb)) as server:
        exchange = client(server, max_body_bytes=65536)[0].get(RUN)
    assert len(bomb) < 1 << 20 and exchange.body_cut_at == 65536 and len(exchange.body) == 65536
    assert [f.rule for f in rules.response_body_bounded(exchange) or []] == ["response_body_bounded"]


def test_the_decoder_never_returns_more_than_its_limit() -> None:
    decoder = Decoder("gzip", 10)
    packed = gzip.compress(b"a" * 100)
    out = decoder.feed(packed[:20]) + decoder.feed(packed[20:])
    assert len(out) == 10 and decoder.overflowed


@pytest.mark.parametrize("coding, data, problem", [
    ("gzip", b"\x1f\x8b not gzip at all", "does not decode"),
    ("gzip", gzip.compress(b"x" * 1000, mtime=0)[:-12], "cut short"),
    ("compress", b"abc", "did not ask for"),
], ids=["corrupt", "cut-short", "unasked-coding"])
def test_a_body_its_coding_does_not_describe_is_a_coding_error(coding: str, data: bytes, problem: str) -> None:
    with pytest.raises(CodingError, match=problem):
        decoder = Decoder(coding, 1 << 20)
        decoder.feed(data)
        decoder.finish()


# --- framing that real stacks use ----------------------------------------------------------------


def test_a_chunked_body_is_read_whole(json_body: bytes) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (json_body[:5], json_body[5:])) + b"0\r\n\r\n"
    with raw_server(response(200, [JSON, ETAG, ("Transfer-Encoding", "chunked")], chunks, length=False)) as server:
        assert client(server)[0].get(RUN).json() == BODY


def test_an_http_1_0_answer_read_to_the_close_and_the_next_request_on_a_new_connection(json_body: bytes) -> None:
    def http10(conn: socket.socket, stopped: threading.Event) -> bool:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nETag: W/\"3\"\r\n\r\n" + json_body)
        return False  # closed: the end of the body

    with raw_server(http10, response(200, [JSON, ETAG], json_body)) as server:
        api = client(server)[0]
        assert api.get(RUN).json() == BODY and api.get(RUN).json() == BODY
    assert server.connections == 2


def test_connection_close_is_honoured(json_body: bytes) -> None:
    def close(conn: socket.socket, stopped: threading.Event) -> bool:
        conn.sendall(response(200, [JSON, ETAG, ("Connection", "close")], json_body))
        return False

    with raw_server(close, close, response(200, [JSON, ETAG], json_body)) as server:
        api = client(server)[0]
        assert [api.get(RUN).status for _ in range(3)] == [200, 200, 200]
    assert server.connections == 3


# --- what breaks HTTP: a finding, with the bytes, and a fresh connection after it -----------------


def test_a_body_on_a_204_is_a_finding_and_the_connection_is_not_used_again(json_body: bytes) -> None:
    with raw_server(response(204, [ETAG], length=False) + b"null", response(200, [JSON, ETAG], json_body)) as server:
        api, recorded = client(server)
        write = api.write("resume", RUN, 'W/"2"', observe=False)
        after = api.get(RUN)
    assert write.status == 204 and write.readable  # the write itself was answered
    (finding,) = rules.http_message_well_formed(write) or []
    assert finding.defect == "a body on a response that has none (204, 304 or HEAD)"
    assert "4 bytes after the end of the message" in finding.message
    assert "null" in finding.message and "HTTP/1.1 204" in finding.message
    assert after.status == 200 and after.json() == BODY and server.connections == 2
    assert rules.http_message_well_formed(after) == []


def test_bytes_left_after_a_204_that_arrive_late_are_the_204s_defect_not_the_next_answers(json_body: bytes) -> None:
    def late(conn: socket.socket, stopped: threading.Event) -> bool:
        conn.sendall(response(204, [ETAG], length=False))
        return True

    def after_late_null(conn: socket.socket, stopped: threading.Event) -> bool:  # the 204's stray bytes come first
        conn.sendall(b"null" + response(200, [JSON, ETAG], json_body))
        return True

    with raw_server(late, after_late_null, response(200, [JSON, ETAG], json_body)) as server:
        api, recorded = client(server)
        assert api.write("resume", RUN, 'W/"2"', observe=False).framing is None  # nothing stray had come yet
        with pytest.raises(BrokenResponse):
            api.get(RUN)
        assert api.get(RUN).json() == BODY
    framing = recorded[1].framing
    assert framing is not None and framing.defect == "a body on a response that has none (204, 304 or HEAD)"
    assert framing.detail == ("4 bytes before this answer's status line, left on the connection by the answer before it "
                              "(204 to POST resume)")


def test_more_body_than_its_content_length_is_a_finding(json_body: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: W/\"3\"\r\nContent-Length: %d\r\n\r\n" % len(json_body)
    with raw_server(head + json_body + b"{}", response(200, [JSON, ETAG], json_body)) as server:
        api = client(server)[0]
        first, second = api.get(RUN), api.get(RUN)
    assert first.framing is not None and first.framing.defect == "more body than its Content-Length"
    assert first.framing.detail == "2 bytes after the end of the message" and first.readable
    assert second.framing is None and second.json() == BODY and server.connections == 2


@pytest.mark.parametrize("answer, problem", [
    (b"nullHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "an invalid status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "conflicting or invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "a body shorter than its Content-Length (or its last chunk)"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\nnot gz!", "a gzip body that does not decode"),
])
def test_an_answer_that_is_no_http_message_is_a_finding_never_unreachable(answer: bytes, problem: str, json_body: bytes) -> None:
    def broken(conn: socket.socket, stopped: threading.Event) -> bool:
        conn.sendall(answer)
        return False  # and closed, as a short body is

    with raw_server(broken, response(200, [JSON, ETAG], json_body)) as server:
        api, recorded = client(server)
        with pytest.raises(BrokenResponse):
            api.get(RUN)
        (exchange,) = recorded
        assert not exchange.readable and exchange.framing is not None and exchange.framing.defect == problem
        assert exchange.framing.received.startswith(answer[:4])  # the bytes, as evidence
        verdicts = rules.judge_exchange(exchange)
        assert [f.rule for f in verdicts["http_message_well_formed"] or []] == ["http_message_well_formed"]
        assert all(result is None for name, result in verdicts.items() if name != "http_message_well_formed")
        assert api.liveness.unanswered == 0  # an answer, if a broken one
        assert api.get(RUN).json() == BODY  # the session goes on


# --- bounded in time, whatever the target does ----------------------------------------------------


def _drip_headers(conn: socket.socket, stopped: threading.Event) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):  # one header byte at a time, never ending the head (bounded, and ends with the server)
        conn.sendall(b"X")
        if stopped.wait(0.05):
            break
    return False


def test_timeout_s_bounds_a_request_whose_headers_drip() -> None:
    with raw_server(_drip_headers) as server:
        api, recorded = client(server, timeout_s=0.5)
        with pytest.raises(TargetUnreachable, match="timeout_s = 0.5"):
            api.get(RUN)
    assert recorded == []


def test_the_session_deadline_bounds_a_request_and_says_max_duration_s() -> None:
    with raw_server(_drip_headers) as server:
        api = ApiClient(Target(server.url + "/v1", "2025-12-18", "101", "tok", runs=(RUN,), timeout_s=30.0), budget=Budget(5),
                        liveness=Liveness(deadline=time.time() + 0.5))
        with pytest.raises(DeadlineReached, match="max_duration_s"):
            api.get(RUN)


def test_the_pacer_never_sleeps_past_the_deadline() -> None:
    slept: list[float] = []
    pacer = Pacer(0.05, sleep=slept.append)
    pacer.wait(deadline=time.time() + 60)
    with pytest.raises(DeadlineReached, match="max_duration_s"):
        pacer.wait(deadline=time.time() + 15)  # the next start is 20 s away
    assert slept == []
    pacer.wait(deadline=time.time() + 60)
    assert slept and 0 < slept[0] <= 40


def test_a_retry_after_beyond_the_deadline_is_not_waited_out(json_body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    too_many = response(429, [JSON, ("Retry-After", "20")], b'{"object": "too_many_requests_problem_details", "details": "x"}')
    with raw_server(too_many) as server:
        api = ApiClient(Target(server.url + "/v1", "2025-12-18", "101", "tok", runs=(RUN,)), budget=Budget(5),
                        liveness=Liveness(deadline=time.time() + 10))
        exchange = api.get(RUN)
    assert exchange.status == 429 and exchange.gave_up_on_429 and slept == []


# --- requests carry only what the suite chose -------------------------------------------------------


def test_a_cookie_the_target_sets_is_never_sent_back(json_body: bytes) -> None:
    cookie = ("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly")
    with raw_server(response(200, [JSON, ETAG, cookie], json_body), response(401, [JSON], b"{}")) as server:
        api = client(server)[0]
        api.get(RUN)
        from fieldproof.facts import Auth

        api.get(RUN, auth=Auth.NONE)
    assert all(b"cookie" not in head.lower() for head in server.requests)


@pytest.fixture
def proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
    yield


@pytest.mark.parametrize("base_url, proxy", [
    ("https://staging.example.com/v1", "http://secure-proxy.example:3128"),
    ("http://staging.example.com/v1", "http://proxy.example:3128"),  # allowed only with allow_insecure_http
    ("http://127.0.0.1:8080/v1", None),
    ("https://localhost:8443/v1", None),
    ("http://[::1]:8080/v1", None),
])
def test_environment_proxies_are_honoured_for_remote_targets_only(proxies: None, base_url: str, proxy: str | None) -> None:
    assert _proxy_for(base_url) == proxy


def test_a_proxy_without_a_scheme_is_an_http_one_and_one_that_cannot_be_used_is_one_line(proxies: None,
                                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")
    assert _proxy_for("https://staging.example.com/v1") == "http://proxy.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:s3cret@proxy.example:1080")
    with pytest.raises(UsageError) as raised:
        _proxy_for("https://staging.example.com/v1")
    assert "'socks5' proxy" in str(raised.value) and "s3cret" not in str(raised.value) and "\n" not in str(raised.value)


def test_no_proxy_is_honoured(proxies: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert _proxy_for("https://staging.example.com/v1") is None


def test_a_loopback_target_is_reached_directly_whatever_http_proxy_says(json_body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with raw_server(response(200, [JSON, ETAG], json_body)) as proxy, raw_server(response(200, [JSON, ETAG], json_body)) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        assert client(server)[0].get(RUN).status == 200
    assert proxy.requests == [] and len(server.requests) == 1
