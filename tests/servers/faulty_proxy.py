"""A proxy in front of a correct server that misbehaves the way a live target, or the gateway in
front of it, can: it stops answering after N requests, drips a body or its headers one byte at a
time, sends a huge body or a gzip bomb, echoes the caller's token (as sent, or its Authorization
header base64-encoded), compresses every answer, sets a cookie, breaks HTTP framing with a body
on a 204, refuses every write of one kind, or answers a GET's 200 without a body. For the tests
of a session's bounds (time, memory, requests), redaction, and what is blamed on whom.

    python tests/servers/faulty_proxy.py --upstream http://127.0.0.1:PORT [--hang-after N]
        [--drip-ms MS] [--drip-headers-ms MS] [--huge-body-bytes N] [--gzip-bomb-bytes N]
        [--echo-token] [--echo-token-base64] [--gzip] [--set-cookie] [--body-on-204]
        [--refuse ACTION:STATUS] [--empty-200]

It prints `faulty-proxy: http://127.0.0.1:PORT` once it listens; the API is under the same
paths as upstream's. Raw asyncio streams, so that every byte is sent when the fault says.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import secrets
import signal
import sys
import zlib

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class Proxy:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.served = 0
        self.cookies = 0  # requests that carried a Cookie header
        self.by_request: dict[str, int] = {}  # "METHOD path" (no query) -> requests: what a session sent where
        self.upstream = httpx.AsyncClient(base_url=args.upstream, timeout=30)
        self.bomb = _gzip_bomb(args.gzip_bomb_bytes) if args.gzip_bomb_bytes else b""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
                headers = [line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line]
                headers = [(k.strip(), v.strip()) for k, v in headers]
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
                body = await reader.readexactly(length) if length else b""
                if target == "/healthz":  # not counted: how tests ask what was sent
                    answer = json.dumps({"served": self.served, "cookies": self.cookies, "by_request": self.by_request}).encode()
                    await self._write(writer, 200, [("content-type", "application/json")], answer)
                    continue
                self.served += 1
                key = f"{method} {target.split('?', 1)[0]}"
                self.by_request[key] = self.by_request.get(key, 0) + 1
                self.cookies += any(k.lower() == "cookie" for k, _ in headers)
                if self.args.hang_after is not None and self.served > self.args.hang_after:
                    await asyncio.sleep(3600)  # accepted, never answered
                    return
                await self._forward(writer, method, target, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _forward(self, writer: asyncio.StreamWriter, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes) -> None:
        refused = dict(spec.split(":") for spec in self.args.refuse)
        action = target.rstrip("/").rsplit("/", 1)[-1]
        if method == "POST" and action in refused:  # never forwarded: the run stays as it was
            await self._refuse(writer, int(refused[action]), headers)
            return
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"host"}]
        answer = await self.upstream.request(method, target, headers=sent, content=body)
        out = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
        content = answer.content
        if self.args.echo_token or self.args.echo_token_base64:
            token = next((v for k, v in headers if k.lower() == "authorization"), "")
            if self.args.echo_token_base64:  # "Bearer <token>", as a debugging gateway might show it
                token = base64.b64encode(token.encode("latin-1")).decode()
            content = content.rstrip(b"}") + f', "echo": "{token}"}}'.encode() if content.startswith(b"{") else content
        if self.args.set_cookie:
            out.append(("set-cookie", "session=s3ss10n; Path=/; HttpOnly"))
        if method == "GET" and answer.status_code == 200 and self.args.empty_200:
            content = b""
        if method == "GET" and answer.status_code == 200 and self.bomb:
            await self._write(writer, 200, [*out, ("content-encoding", "gzip")], self.bomb)
            return
        accepts_gzip = "gzip" in next((v for k, v in headers if k.lower() == "accept-encoding"), "")
        if self.args.gzip and content and accepts_gzip:  # as a gateway with `gzip on` does
            content = gzip.compress(content)
            out += [("content-encoding", "gzip"), ("vary", "Accept-Encoding")]
        if answer.status_code == 204 and self.args.body_on_204:  # after the end of the message: the start of the next one
            writer.write(self._head(204, out, 0) + b"null")
            await writer.drain()
            return
        if method == "GET" and self.args.drip_headers_ms:
            await self._write(writer, answer.status_code, out, content, drip_s=self.args.drip_headers_ms / 1000, head_too=True)
            return
        if method == "GET" and answer.status_code == 200 and self.args.huge_body_bytes:
            await self._write_huge(writer, answer.status_code, out, self.args.huge_body_bytes)
        elif method == "GET" and self.args.drip_ms:
            await self._write(writer, answer.status_code, out, content, drip_s=self.args.drip_ms / 1000)
        else:
            await self._write(writer, answer.status_code, out, content)

    async def _refuse(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]]) -> None:
        """A documented refusal, headers and body as a correct server sends them."""
        sent = next((v for k, v in headers if k.lower() == "traceparent"), "").split("-")
        trace_id = sent[1] if len(sent) == 4 and len(sent[1]) == 32 else secrets.token_hex(16)  # a new trace for an invalid one
        trace = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        objects = {412: "precondition_failed_error", 422: "invalid_state_error", 403: "authorization_error"}
        body = json.dumps({"id": "5f0c3a9e-1b2d-4c3e-8f4a-6b7c8d9e0f1a", "object": objects.get(status, "bad_request_error"),
                           "detail": "refused by the proxy"}).encode()
        await self._write(writer, status, [("content-type", "application/json"), ("traceparent", trace)], body)

    async def _write(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], body: bytes,
                     drip_s: float = 0.0, head_too: bool = False) -> None:
        head = self._head(status, headers, len(body))
        if head_too:
            body, head = head + body, b""
        writer.write(head)
        if not drip_s:
            writer.write(body)
            await writer.drain()
            return
        for byte in body:  # one byte at a time, as slowly as asked
            await writer.drain()
            await asyncio.sleep(drip_s)
            writer.write(bytes([byte]))
        await writer.drain()

    async def _write_huge(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], size: int) -> None:
        writer.write(self._head(status, headers, size))
        chunk = b"x" * 65536
        for offset in range(0, size, len(chunk)):  # generated as sent: the proxy holds none of it
            writer.write(chunk[: size - offset])
            await writer.drain()

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]], length: int) -> bytes:
        framing = [] if status == 204 else [f"content-length: {length}"]  # RFC 9110 §8.6: none on a 204
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers), *framing]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _gzip_bomb(size: int) -> bytes:
    """A gzip stream of `size` zero bytes: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * (1 << 20)
    parts = [packer.compress(block[: min(len(block), size - offset)]) for offset in range(0, size, len(block))]
    return b"".join(parts) + packer.flush()


async def main(args: argparse.Namespace) -> None:
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.port, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    print(f"faulty-proxy: http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hang-after", type=int, default=None)
    parser.add_argument("--drip-ms", type=float, default=0.0)
    parser.add_argument("--huge-body-bytes", type=int, default=0)
    parser.add_argument("--echo-token", action="store_true")
    parser.add_argument("--echo-token-base64", action="store_true")
    parser.add_argument("--drip-headers-ms", type=float, default=0.0, help="GET answers' heads too, one byte at a time")
    parser.add_argument("--gzip-bomb-bytes", type=int, default=0, help="GET 200s as a gzip stream inflating to N bytes")
    parser.add_argument("--gzip", action="store_true", help="compress every answer whose request accepts gzip")
    parser.add_argument("--set-cookie", action="store_true")
    parser.add_argument("--body-on-204", action="store_true", help="4 bytes after every 204's head")
    parser.add_argument("--refuse", action="append", default=[], metavar="ACTION:STATUS",
                        help="answer every POST .../ACTION with STATUS and a documented body, never forwarded")
    parser.add_argument("--empty-200", action="store_true", help="GET 200s with an empty body")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
