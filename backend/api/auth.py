"""Sign-In with Ethereum (EIP-4361): nonce, login, logout, me.

Checked on login: the message parses; its nonce was issued here, is unused and unexpired
(and is used up by this attempt, whatever its outcome); domain and URI are this server's;
chain id is the chain this server uses; issued-at is recent; expiration-time and
not-before hold; the EIP-191 signature recovers to the message's address. Smart-contract
wallets (EIP-1271) are not supported."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlmodel import select

from backend.deps import SESSION_COOKIE, DbDep, ServicesDep, WalletDep, session_token, token_hash
from backend.errors import ApiError
from backend.models import AuthNonce, AuthSession

router = APIRouter(prefix="/api/auth", tags=["auth"])
NONCE_TTL = 300.0
SESSION_TTL = 7 * 24 * 3600.0
MAX_CLOCK_SKEW = 60.0


class NonceOut(BaseModel):
    nonce: str
    expires_at: float
    domain: str
    uri: str
    chain_id: int | None


class LoginIn(BaseModel):
    message: str
    signature: str


class SessionOut(BaseModel):
    address: str
    token: str
    expires_at: float


class MeOut(BaseModel):
    address: str


@router.get("/nonce", response_model=NonceOut)
def nonce(services: ServicesDep, db: DbDep) -> NonceOut:
    """A single-use nonce for a SIWE message, valid for 5 minutes."""
    now = time.time()
    value = secrets.token_hex(12)
    db.add(AuthNonce(nonce=value, created_at=now, expires_at=now + NONCE_TTL))
    db.commit()
    return NonceOut(nonce=value, expires_at=now + NONCE_TTL, domain=services.domain,
                    uri=services.public_url, chain_id=services.chain_id)


def _refuse(detail: str) -> ApiError:
    return ApiError(401, detail, title="Sign-in refused")


@router.post("/login", response_model=SessionOut)
def login(body: LoginIn, response: Response, services: ServicesDep, db: DbDep) -> SessionOut:
    """Exchange a signed SIWE message for a session (HttpOnly cookie and bearer token)."""
    from siwe import SiweMessage

    try:
        message = SiweMessage.from_message(body.message)
    except Exception:
        raise ApiError(422, "the message is not a valid EIP-4361 (Sign-In with Ethereum) message") from None
    now = time.time()
    record = db.get(AuthNonce, message.nonce)
    if record is None:
        raise _refuse("unknown nonce: ask GET /api/auth/nonce for a fresh one")
    if record.used:
        raise _refuse("this nonce was already used: sign in again with a fresh one")
    record.used = True  # single use, whatever happens next
    db.add(record)
    db.commit()
    if record.expires_at < now:
        raise _refuse("the nonce has expired: sign in again with a fresh one")
    if message.domain != services.domain:
        raise _refuse(f"the message is for {message.domain!r}, this server is {services.domain!r}")
    if not str(message.uri).startswith(services.public_url):
        raise _refuse(f"the message URI {message.uri!r} is not this server ({services.public_url})")
    if services.chain_id is not None and int(message.chain_id) != services.chain_id:
        raise _refuse(f"the message is for chain {message.chain_id}, this marketplace is on chain {services.chain_id}")
    issued = datetime.fromisoformat(str(message.issued_at).replace("Z", "+00:00")).timestamp()
    if issued > now + MAX_CLOCK_SKEW or issued < record.created_at - MAX_CLOCK_SKEW:
        raise _refuse("the message's issued-at time is not between the nonce's issue and now")
    try:
        message.verify(body.signature, domain=services.domain, nonce=record.nonce,
                       timestamp=datetime.fromtimestamp(now, tz=timezone.utc))
    except Exception as e:
        reason = e.__class__.__name__.replace("Error", "").replace("Siwe", "") or "invalid"
        raise _refuse(f"the signature or the message's validity period does not check out ({reason})") from None
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_TTL
    if message.expiration_time:
        expires = min(expires, datetime.fromisoformat(str(message.expiration_time).replace("Z", "+00:00")).timestamp())
    address = str(message.address).lower()
    db.add(AuthSession(token_hash=token_hash(token), address=address, created_at=now, expires_at=expires))
    db.commit()
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", max_age=int(expires - now),
                        secure=services.public_url.startswith("https://"), path="/")
    return SessionOut(address=address, token=token, expires_at=expires)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, db: DbDep) -> Response:
    """Revoke the current session."""
    token = session_token(request)
    if token:
        row = db.exec(select(AuthSession).where(AuthSession.token_hash == token_hash(token))).first()
        if row is not None:
            row.revoked = True
            db.add(row)
            db.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=MeOut)
def me(wallet: WalletDep) -> MeOut:
    """The signed-in wallet."""
    return MeOut(address=wallet)
