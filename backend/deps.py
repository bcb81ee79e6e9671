"""Typed dependencies for the routes (FastAPI's `Depends`): the services, a database
session, the signed-in wallet, and the path and query types shared by the routers.
Imports the services' type, never the app."""
from __future__ import annotations

import hashlib
import time
from typing import Annotated, AsyncIterator

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session, select

from backend.errors import ApiError
from backend.models import AuthSession
from backend.services import Services

SESSION_COOKIE = "ninety_session"
# Block numbers, times and ids end up in BIGINT columns (and SQLite INTEGER): larger
# values are invalid input, a 422, not a database error.
MAX_DB_INT = 2**63 - 1
TrackId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
LogIndex = Annotated[int, Path(ge=0, le=MAX_DB_INT)]
OptionalTrack = Annotated[int | None, Query(ge=1, le=MAX_DB_INT)]
OptionalBlock = Annotated[int | None, Query(ge=0, le=MAX_DB_INT)]
OptionalTime = Annotated[int | None, Query(ge=0, le=MAX_DB_INT, description="unix seconds, inclusive")]


# Cheap dependencies are `async def`: FastAPI runs sync ones in the thread pool, and the
# hops (one per dependency, and two for a generator) cost more than the work here.
async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_db(services: ServicesDep) -> AsyncIterator[Session]:
    # Opening a Session does no I/O; queries run in the (sync) route's worker thread.
    with Session(services.engine) as s:
        yield s


DbDep = Annotated[Session, Depends(get_db)]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def current_wallet(request: Request, db: DbDep) -> str:
    """The signed-in wallet (lowercase address); 401 without a valid session."""
    token = session_token(request)
    if not token:
        raise ApiError(401, "sign in with your wallet first (GET /api/auth/nonce, then POST /api/auth/login)")
    row = db.exec(select(AuthSession).where(AuthSession.token_hash == token_hash(token))).first()
    if row is None or row.revoked or row.expires_at < time.time():
        raise ApiError(401, "your session has expired or was signed out; sign in again")
    return row.address


WalletDep = Annotated[str, Depends(current_wallet)]
