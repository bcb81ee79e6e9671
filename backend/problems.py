"""The handlers that answer every error as problem details (backend/errors.py): our own
errors, FastAPI's validation errors, HTTP errors and anything unexpected get the same
shape, so a client never sees an HTML page or a stack trace; the detail is redacted and
the cause goes to the server log."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import PROBLEM, TITLES, ApiError, redact
from backend.headers import HEADERS
from ninety.errors import ChainError, IpfsError, IpfsUnavailableError

log = logging.getLogger(__name__)


def problem(status: int, detail: str, title: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status,
            "detail": redact(str(detail)), **extra}
    # Also here, not only in the Guard middleware: unexpected errors are answered by
    # Starlette's outermost middleware, outside the Guard.
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers={**HEADERS, **(headers or {})})


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
