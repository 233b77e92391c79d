"""A proxy in front of a correct server that misbehaves the way a live target can: it stops
answering after N requests, drips a body one byte at a time, sends a huge body, or echoes the
caller's token (as sent, or its Authorization header base64-encoded). For the tests of a run's
bounds (time, memory, requests) and redaction.

    python tests/servers/faulty_proxy.py --upstream http://127.0.0.1:PORT [--hang-after N]
        [--drip-ms MS] [--huge-body-bytes N] [--echo-token] [--echo-token-base64]

It prints `faulty-proxy: http://127.0.0.1:PORT` once it listens; the API is under the same
paths as upstream's. Raw asyncio streams, so that every byte is sent when the fault says.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import sys

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class Proxy:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.served = 0
        self.upstream = httpx.AsyncClient(base_url=args.upstream, timeout=30)

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
                    await self._write(writer, 200, [("content-type", "application/json")], b'{"served": %d}' % self.served)
                    continue
                self.served += 1
                if self.args.hang_after is not None and self.served > self.args.hang_after:
                    await asyncio.sleep(3600)  # accepted, never answered
                    return
                await self._forward(writer, method, target, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _forward(self, writer: asyncio.StreamWriter, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes) -> None:  # fmt: skip
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"host"}]
        answer = await self.upstream.request(method, target, headers=sent, content=body)
        out = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
        content = answer.content
        if self.args.echo_token or self.args.echo_token_base64:
            token = next((v for k, v in headers if k.lower() == "authorization"), "")
            if self.args.echo_token_base64:  # "Bearer <token>", as a debugging gateway might show it
                token = base64.b64encode(token.encode("latin-1")).decode()
            content = content.rstrip(b"}") + f', "echo": "{token}"}}'.encode() if content.startswith(b"{") else content
        if method == "GET" and answer.status_code == 200 and self.args.huge_body_bytes:
            await self._write_huge(writer, answer.status_code, out, self.args.huge_body_bytes)
        elif method == "GET" and self.args.drip_ms:
            await self._write(writer, answer.status_code, out, content, drip_s=self.args.drip_ms / 1000)
        else:
            await self._write(writer, answer.status_code, out, content)

    async def _write(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], body: bytes,
                     drip_s: float = 0.0) -> None:  # fmt: skip
        writer.write(self._head(status, headers, len(body)))
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
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers), f"content-length: {length}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
