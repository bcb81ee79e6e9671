"""Errors as RFC 9457 problem details (application/problem+json), everywhere.

Handlers turn our own errors, FastAPI's validation errors, HTTP errors and anything
unexpected into the same shape, so a client never sees an HTML page or a stack trace."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ninety.errors import ChainError, IpfsUnavailableError, NinetyError

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


def problem(status: int, detail: str, title: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
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
    async def _ipfs(_: Request, e: IpfsUnavailableError) -> JSONResponse:
        return problem(503, f"the IPFS node is unavailable: {e}", "IPFS unavailable")

    @app.exception_handler(ChainError)
    async def _chain(_: Request, e: ChainError) -> JSONResponse:
        return problem(503, f"the chain RPC is unavailable: {e}", "Chain unavailable")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "something went wrong on our side; it has been logged")
