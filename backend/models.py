"""Tables the backend owns (not chain-derived): sign-in nonces, sessions, uploads and
their encrypted content keys."""
from __future__ import annotations

from typing import Optional

from sqlmodel import Field, SQLModel


class AuthNonce(SQLModel, table=True):
    __tablename__ = "auth_nonce"
    nonce: str = Field(primary_key=True)
    created_at: float
    expires_at: float
    used: bool = False


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"
    token_hash: str = Field(primary_key=True)  # SHA-256 of the bearer token; the token itself is never stored
    address: str = Field(index=True)
    created_at: float
    expires_at: float
    revoked: bool = False


class Upload(SQLModel, table=True):
    __tablename__ = "upload"
    id: Optional[int] = Field(default=None, primary_key=True)
    artist: str = Field(index=True)
    metadata_cid: str = Field(index=True, unique=True)
    audio_cid: str = Field(index=True)
    preview_cid: str
    artwork_cid: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    chunk_size: int
    nonce_prefix: str
    wrapped_key: str  # the track's AES-256 key, encrypted under the master key
    created_at: float
