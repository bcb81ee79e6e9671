"""Errors as RFC 9457 problem details (application/problem+json), everywhere: `ApiError`
(what routes and plain modules raise), `redact`, and the OpenAPI entry for a problem
answer. The handlers that answer them are in backend/problems.py; this module needs no
web framework, so the media sandbox's child (backend/audio.py, artwork.py) imports it.

What a client reads never names this server's insides: a failing node is named by its
role ("the chain RPC", "the IPFS node") and the error itself, which may quote a provider
URL with its API key, a host:port or a temporary file, goes to the server log. As a last
guard, every problem detail is scrubbed of URLs, host:port pairs and file paths."""
from __future__ import annotations

import re
from typing import Any

from ninety.errors import NinetyError

PROBLEM = "application/problem+json"
TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported media type",
          416: "Range not satisfiable", 422: "Invalid input", 429: "Too many requests",
          500: "Internal error", 502: "Bad gateway", 503: "Service unavailable"}


class ApiError(NinetyError):
    """An error with an HTTP status, a short title and a helpful detail."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.headers = headers
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.extra = extra


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>)]*")
_HOST_PORT = re.compile(r"(?:\[[0-9a-fA-F:.]+\]|\blocalhost|\b(?:[\w-]+\.)+[\w-]+):\d{1,5}\b")
# Absolute paths of two segments or more, except this API's own routes.
_PATH = re.compile(r"(?<![\w:/.])/(?!api/|web/|docs\b|redoc\b|metrics\b|openapi)[\w.@+~-]+(?:/[\w.@+~-]*)+")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"]*")


def redact(text: str) -> str:
    """`text` without URLs, host:port pairs and file paths (for anything a client reads)."""
    text = _URL.sub("<url>", text)
    text = _HOST_PORT.sub("<address>", text)
    text = _WINDOWS_PATH.sub("<path>", text)
    return _PATH.sub("<path>", text)


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error answered as problem details (RFC 9457)."""
    return {"description": description, "content": {"application/problem+json": {"schema": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}}}}}}
