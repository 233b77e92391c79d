"""W3C trace context on every response, and a documented 500 for anything unhandled.

A pure ASGI wrapper outside Starlette, so that its own 404/405 answers and a crash in a route
still carry `traceparent` (Starlette's error middleware would answer a crash without it).
"""

from __future__ import annotations

import json
import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldproof.headers import continue_trace, merge_tracestate

VENDOR_KEY = "fieldproof"
log = logging.getLogger("fieldproof.sandbox")


class TraceContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        parent = continue_trace(request_headers.get("traceparent"))
        state = merge_tracestate(request_headers.get("tracestate"), VENDOR_KEY, parent.parent_id)
        trace_headers = [
            (b"traceparent", str(parent).encode()),
            (b"tracestate", state.encode()),
        ]
        started = False

        async def send_with_trace(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"traceparent", b"tracestate")
                ]
                message = {**message, "headers": kept + trace_headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = json.dumps(
                {
                    "id": str(uuid.uuid4()),
                    "object": "unexpected_internal_error",
                    "detail": "the sandbox failed unexpectedly; see its log",
                }
            ).encode()
            await send_with_trace(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_trace({"type": "http.response.body", "body": body})
