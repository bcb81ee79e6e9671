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


class FreeDownload(SQLModel, table=True):
    """A signed-in wallet downloaded a free track (priced 0) during an epoch: counted at
    most once per wallet, track and epoch; sponsor pools pay by these counts."""

    __tablename__ = "free_download"
    epoch: int = Field(primary_key=True)
    track_id: int = Field(primary_key=True)
    wallet: str = Field(primary_key=True)
    split_id: str  # the split the track paid to when it was downloaded
    created_at: float


class EpochReport(SQLModel, table=True):
    """The allocation report `ninety epoch close` pinned to IPFS, kept for the API."""

    __tablename__ = "epoch_report"
    epoch: int = Field(primary_key=True)
    report_cid: str
    report_json: str
    created_at: float
