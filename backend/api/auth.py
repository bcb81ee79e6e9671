"""Sign-In with Ethereum (EIP-4361): nonce, login, logout, me.

Checked on login: the message is at most 4096 characters and parses (a strict line-by-line
parser, linear in the length: siwe's ABNF grammar takes time and memory growing with the
square of the length, and its regular expression backtracks exponentially on crafted
resource lists); its nonce was issued here, is unused and unexpired (and is used up by
this attempt, whatever its outcome: one atomic UPDATE … WHERE used = false, so two racing
logins cannot both use it); domain is this server's and the URI's origin (scheme, host,
port) is exactly this site's; chain id is the chain this server uses; issued-at is
recent; expiration-time and not-before hold; the EIP-191 signature recovers to the
message's address. Smart-contract wallets (EIP-1271) are not supported.

Expired nonces and expired or revoked sessions are deleted as new ones are made, a
bounded batch at a time."""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, or_, update
from sqlmodel import select

from backend.deps import SESSION_COOKIE, DbDep, ServicesDep, WalletDep, session_token, token_hash
from backend.errors import ApiError
from backend.models import AuthNonce, AuthSession
from backend.security import origin_of

router = APIRouter(prefix="/api/auth", tags=["auth"])
NONCE_TTL = 300.0
SESSION_TTL = 7 * 24 * 3600.0
MAX_CLOCK_SKEW = 60.0
MAX_MESSAGE = 4096  # characters; a sign-in message is about 400
PURGE_BATCH = 200
TOO_MANY = {429: {"description": "Too many sign-in attempts from this client (Retry-After)"}}


class NonceOut(BaseModel):
    nonce: str
    expires_at: float
    domain: str
    uri: str
    chain_id: int | None


class LoginIn(BaseModel):
    message: str = Field(max_length=MAX_MESSAGE, description="the EIP-4361 message, at most 4096 characters")
    signature: str = Field(max_length=200, description="EIP-191 signature, 0x-prefixed hex")


class SessionOut(BaseModel):
    address: str
    token: str
    expires_at: float


class MeOut(BaseModel):
    address: str


@router.get("/nonce", response_model=NonceOut, responses=TOO_MANY)
def nonce(services: ServicesDep, db: DbDep) -> NonceOut:
    """A single-use nonce for a SIWE message, valid for 5 minutes."""
    now = time.time()
    value = secrets.token_hex(12)
    _purge(db, now)
    db.add(AuthNonce(nonce=value, created_at=now, expires_at=now + NONCE_TTL))
    db.commit()
    return NonceOut(nonce=value, expires_at=now + NONCE_TTL, domain=services.domain,
                    uri=services.public_url, chain_id=services.chain_id)


def _purge(db: Any, now: float) -> None:
    """Delete a bounded batch of expired nonces and of expired or revoked sessions (both
    tables have an index on expires_at; the caller commits)."""
    old_nonces = select(AuthNonce.nonce).where(AuthNonce.expires_at < now).limit(PURGE_BATCH)
    db.execute(delete(AuthNonce).where(AuthNonce.nonce.in_(old_nonces.scalar_subquery())))
    dead = or_(AuthSession.expires_at < now, AuthSession.revoked == True)  # noqa: E712 (SQL)
    old_sessions = select(AuthSession.token_hash).where(dead).limit(PURGE_BATCH)
    db.execute(delete(AuthSession).where(AuthSession.token_hash.in_(old_sessions.scalar_subquery())))


# ------------------------------------------------------------------ the message


class MessageError(ValueError):
    pass


_HEADER = " wants you to sign in with your Ethereum account:"
_FIELDS = (("uri", "URI: "), ("version", "Version: "), ("chain_id", "Chain ID: "), ("nonce", "Nonce: "),
           ("issued_at", "Issued At: "))
_OPTIONAL = (("expiration_time", "Expiration Time: "), ("not_before", "Not Before: "), ("request_id", "Request ID: "))
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_DOMAIN = re.compile(r"[^/?#\s]+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NO_SPACE = re.compile(r"\S+")
_DIGITS = re.compile(r"[0-9]{1,20}")
_NONCE = re.compile(r"[a-zA-Z0-9]{8,64}")
_DATETIME = re.compile(r"[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
                       r"([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])")
_REQUEST_ID = re.compile(r"[-._~!$&'()*+,;=:@%a-zA-Z0-9]*")


def parse_message(text: str) -> Any:
    """An EIP-4361 message, parsed line by line (every check is a single anchored pattern
    without nested repetition, so the time is linear in the length), as siwe's
    SiweMessage. Strict: the message must be exactly what SiweMessage.prepare_message()
    writes for those fields, which is also what the signature is checked against."""
    from siwe import SiweMessage  # lazy: importing siwe builds its ABNF grammar (about 1 s at start-up)

    lines = text.split("\n")
    fields: dict[str, Any] = {}
    if len(lines) < 8 or not lines[0].endswith(_HEADER):
        raise MessageError("the first line must be '<domain> wants you to sign in with your Ethereum account:'")
    authority = lines[0][: -len(_HEADER)]
    if "://" in authority:
        fields["scheme"], authority = authority.split("://", 1)
        if not _SCHEME.fullmatch(fields["scheme"]):
            raise MessageError("the scheme is not a URI scheme")
    if not _DOMAIN.fullmatch(authority):
        raise MessageError("the domain is not a host[:port]")
    fields["domain"] = authority
    if not _ADDRESS.fullmatch(lines[1]) or lines[2] != "":
        raise MessageError("the second line must be the address, then an empty line")
    fields["address"] = lines[1]
    at = 3
    if lines[3] != "":  # a statement, then an empty line
        fields["statement"] = lines[3]
        at = 4
    if lines[at] != "":
        raise MessageError("an empty line must come before the URI")
    at += 1
    for name, prefix in _FIELDS:
        if at >= len(lines) or not lines[at].startswith(prefix):
            raise MessageError(f"line {at + 1} must start with {prefix.strip()!r}")
        fields[name] = lines[at][len(prefix):]
        at += 1
    for name, prefix in _OPTIONAL:
        if at < len(lines) and lines[at].startswith(prefix):
            fields[name] = lines[at][len(prefix):]
            at += 1
    if at < len(lines) and lines[at] == "Resources:":
        at += 1
        fields["resources"] = []
        while at < len(lines) and lines[at].startswith("- "):
            fields["resources"].append(lines[at][2:])
            at += 1
        if not fields["resources"]:
            raise MessageError("'Resources:' must be followed by '- <uri>' lines")
    if at != len(lines):
        raise MessageError(f"unexpected text on line {at + 1}")
    checks = {"uri": _NO_SPACE, "version": re.compile("1"), "chain_id": _DIGITS, "nonce": _NONCE,
              "issued_at": _DATETIME, "expiration_time": _DATETIME, "not_before": _DATETIME,
              "request_id": _REQUEST_ID}
    for name, pattern in checks.items():
        if name in fields and not pattern.fullmatch(fields[name]):
            raise MessageError(f"the {name.replace('_', ' ')} is malformed")
    if any(not _NO_SPACE.fullmatch(r) for r in fields.get("resources", [])):
        raise MessageError("a resource is not a URI")
    fields["chain_id"] = int(fields["chain_id"])
    try:
        message = SiweMessage(**fields)
    except Exception as e:
        raise MessageError("a field does not check out") from e
    if message.prepare_message() != text:
        raise MessageError("the message is not in the canonical EIP-4361 layout")
    return message


def _refuse(detail: str) -> ApiError:
    return ApiError(401, detail, title="Sign-in refused")


@router.post("/login", response_model=SessionOut, responses=TOO_MANY)
def login(body: LoginIn, response: Response, services: ServicesDep, db: DbDep) -> SessionOut:
    """Exchange a signed SIWE message for a session (HttpOnly cookie and bearer token)."""
    try:
        message = parse_message(body.message)
    except MessageError as e:
        raise ApiError(422, f"the message is not a valid EIP-4361 (Sign-In with Ethereum) message: {e}") from None
    now = time.time()
    # Single use, whatever happens next, and atomic: of two racing logins, one updates.
    used = db.execute(update(AuthNonce).where(AuthNonce.nonce == message.nonce, AuthNonce.used == False)  # noqa: E712
                      .values(used=True))
    db.commit()
    record = db.get(AuthNonce, message.nonce)
    if record is None:
        raise _refuse("unknown nonce: ask GET /api/auth/nonce for a fresh one")
    if used.rowcount != 1:
        raise _refuse("this nonce was already used: sign in again with a fresh one")
    if record.expires_at < now:
        raise _refuse("the nonce has expired: sign in again with a fresh one")
    if message.domain != services.domain:
        raise _refuse(f"the message is for {message.domain!r}, not for this site")
    if origin_of(str(message.uri)) != origin_of(services.public_url):
        raise _refuse("the message URI is not on this site (its scheme, host and port must be this site's)")
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
    _purge(db, now)
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
