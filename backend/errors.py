"""Errors as RFC 9457 problem details (application/problem+json), everywhere.

Handlers turn our own errors, FastAPI's validation errors, HTTP errors and anything
unexpected into the same shape, so a client never sees an HTML page or a stack trace.

What a client reads never names this server's insides: a failing node is named by its
role ("the chain RPC", "the IPFS node") and the error itself, which may quote a provider
URL with its API key, a host:port or a temporary file, goes to the server log. As a last
guard, every problem detail is scrubbed of URLs, host:port pairs and file paths."""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.headers import HEADERS
from ninety.errors import ChainError, IpfsError, IpfsUnavailableError, NinetyError

log = logging.getLogger(__name__)
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


def problem(status: int, detail: str, title: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status,
            "detail": redact(str(detail)), **extra}
    # Also here, not only in the Guard middleware: unexpected errors are answered by
    # Starlette's outermost middleware, outside the Guard.
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers={**HEADERS, **(headers or {})})


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error answered as problem details (RFC 9457)."""
    return {"description": description, "content": {"application/problem+json": {"schema": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}}}}}}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, e: ApiError) -> JSONResponse:
        if e.status >= 500:
            log.warning("%s %s answered %d: %s", request.method, request.url.path, e.status, e.detail)
        return problem(e.status, e.detail, e.title, headers=e.headers, **e.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in e.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: {err['msg']}" for err in errors)
        return problem(422, detail or "invalid request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return problem(e.status_code, str(e.detail), headers=getattr(e, "headers", None))

    @app.exception_handler(IpfsUnavailableError)
    async def _ipfs(request: Request, e: IpfsUnavailableError) -> JSONResponse:
        log.warning("IPFS node unavailable on %s %s: %s", request.method, request.url.path, e)
        return problem(503, "the IPFS node is unavailable; try again later", "IPFS unavailable",
                       headers={"Retry-After": "10"})

    @app.exception_handler(IpfsError)
    async def _ipfs_failed(request: Request, e: IpfsError) -> JSONResponse:
        log.error("IPFS node failed on %s %s: %s", request.method, request.url.path, e)
        return problem(502, "the IPFS node failed or answered something that does not check out", "IPFS failed")

    @app.exception_handler(ChainError)
    async def _chain(request: Request, e: ChainError) -> JSONResponse:
        log.warning("chain RPC failed on %s %s: %s", request.method, request.url.path, e)
        return problem(503, "the chain RPC is unavailable or refused the request; try again later",
                       "Chain unavailable", headers={"Retry-After": "10"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "something went wrong on our side; it has been logged")
