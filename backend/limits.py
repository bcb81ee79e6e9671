"""Refuse request bodies over a limit while they stream in, without buffering them.

Every request body is capped at MAX_BODY_BYTES (64 KiB) before anything parses it, except
the media and release upload endpoints', which have their own larger caps."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
MAX_BODY_BYTES = 64 * 1024
RELEASE_FORM_BYTES = 10 * 1024 * 1024 + 256 * 1024  # POST /api/releases: the artwork and short fields


class BodySizeLimit:
    """Bodies of requests to `paths` (prefixes; all paths when None), except those to
    `exclude` (exact paths), larger than `limit` bytes are refused with 413: at once when
    Content-Length says so, else as soon as the streamed body passes the limit."""

    def __init__(self, app: Callable[..., Awaitable[None]], limit: int, paths: tuple[str, ...] | None = None,
                 exclude: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.exclude = {p.rstrip("/") for p in exclude}

    def _applies(self, path: str) -> bool:
        if self.paths is not None and not path.startswith(self.paths):
            return False
        return (path.rstrip("/") or "/") not in self.exclude

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = refused = False

        # Past the limit, the 413 is sent from here at once, and the app is told the
        # client went away: FastAPI turns any error while reading a body into a 400, so
        # raising through it would not do. Whatever it answers after that is dropped.
        async def counting_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"type": "about:blank", "title": "Too large", "status": 413,
                           "detail": f"the request body is larger than {self.limit:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
