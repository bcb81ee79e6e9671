"""Tables the backend owns (not chain-derived): sign-in nonces, sessions, uploads and
their encrypted content keys."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class AuthNonce(SQLModel, table=True):
    __tablename__ = "auth_nonce"
    nonce: str = Field(primary_key=True)
    created_at: float
    expires_at: float = Field(index=True)  # expired ones are purged
    used: bool = False


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"
    token_hash: str = Field(primary_key=True)  # SHA-256 of the bearer token; the token itself is never stored
    address: str = Field(index=True)
    created_at: float
    expires_at: float = Field(index=True)  # expired ones are purged
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
    # What the recording is, for refusing other wallets' copies (backend/fingerprint.py):
    # SHA-256 of the decoded audio, and Chromaprint frames (null below 30 s or not yet
    # backfilled).
    audio_hash: Optional[str] = Field(default=None, index=True)
    fingerprint: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    duration: Optional[float] = None


class FreeDownload(SQLModel, table=True):
    """A wallet's signed free download of a free track (ETH price 0) in an epoch,
    recorded at most once per wallet, track and epoch. The signature (EIP-712
    FreeDownload(trackId, epoch), by `wallet`) and the server's receipt are published in
    the epoch's report; whether it counts is judged there, as of `block_number`."""

    __tablename__ = "free_download"
    epoch: int = Field(primary_key=True)
    track_id: int = Field(primary_key=True)
    wallet: str = Field(primary_key=True)  # lower-case 0x address
    split_id: str  # the track's split when recorded
    signature: str  # the listener's, 0x + 130 hex digits
    block_number: int  # the chain head when recorded: eligibility is judged at this block
    block_time: int  # that block's timestamp
    receipt: str  # the server's signature over what it recorded, 0x…
    created_at: float


class EpochReport(SQLModel, table=True):
    """The allocation report `ninety epoch close` pinned to IPFS, kept for the API."""

    __tablename__ = "epoch_report"
    epoch: int = Field(primary_key=True)
    report_cid: str
    report_json: str
    created_at: float


class UploadRefusal(SQLModel, table=True):
    """An upload refused because its audio matches another wallet's registered track, or
    a blocked one. Kept for moderators; the owner may allow it (`ninety moderate allow`),
    after which the same wallet may upload the same decoded audio."""

    __tablename__ = "upload_refusal"
    id: Optional[int] = Field(default=None, primary_key=True)
    wallet: str = Field(index=True)
    created_at: float = Field(index=True)
    audio_hash: str = Field(index=True)
    file_name: str
    matched_track_id: int
    match_kind: str  # exact | fingerprint
    similarity: Optional[float] = None
    overlap_seconds: Optional[float] = None
    blocked_match: bool = False  # the matched track was blocked (a takedown)
    allowed_at: Optional[float] = None
    allowed_note: Optional[str] = None


class CounterNotice(SQLModel, table=True):
    """An artist's answer to a refusal or a takedown, for the moderators' queue."""

    __tablename__ = "counter_notice"
    id: Optional[int] = Field(default=None, primary_key=True)
    wallet: str = Field(index=True)
    refusal_id: Optional[int] = Field(default=None, index=True)
    track_id: Optional[int] = Field(default=None, index=True)
    statement: str
    contact: str
    created_at: float
    status: str = "open"  # open | closed


class ReleaseUpload(SQLModel, table=True):
    """A release's metadata and artwork pinned by POST /api/releases for `artist`: what
    lets POST /api/uploads/{metadata_cid}/attestation attest it for that wallet only, and
    what the catalog serves a release's artwork from (a release has no audio of its own:
    its members' files are their uploads)."""

    __tablename__ = "release_upload"
    id: Optional[int] = Field(default=None, primary_key=True)
    artist: str = Field(index=True)
    metadata_cid: str = Field(index=True, unique=True)
    artwork_cid: str
    track_ids: str  # JSON list of the member track ids, in order, as the metadata names them
    created_at: float = Field(index=True)
    # Bytes pinned for it (artwork and metadata): counted in the wallet's unregistered
    # bytes until the release is registered (backend/quotas.py).
    size: int = 0


class ArtistProfile(SQLModel, table=True):
    """An address's artist profile, as its wallet last saved it (PUT
    /api/artists/me/profile): the latest signed-in edit wins. The same fields are pinned
    to IPFS as JSON (`profile_cid`), so a profile can be checked and kept elsewhere;
    `avatar_cid` is an image this server re-encoded and pinned itself (only those are
    served)."""

    __tablename__ = "artist_profile"
    address: str = Field(primary_key=True)  # lower-case 0x address
    name: str = Field(index=True)
    bio: str = ""
    links_json: str = "[]"  # JSON list of {label, url}, http(s) only, at most 5
    avatar_cid: Optional[str] = None
    profile_cid: str
    updated_at: float


class Transcode(SQLModel, table=True):
    """A download in another format than the original (backend/transcode.py), made on
    first request and cached encrypted at rest like the original: its own key wrapped by
    the master key, the ciphertext pinned to IPFS. One row per upload and format; tagged
    again when the tags it was made with (`tags_sha256`) no longer match, from the
    format's untagged encode, kept in a row of its own (format "mp3-untagged" etc.)."""

    __tablename__ = "transcode"
    __table_args__ = (UniqueConstraint("upload_id", "format", name="uq_transcode_upload_format"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    upload_id: int = Field(index=True)
    format: str  # flac | mp3 | ogg | aac
    cid: str
    size: int
    chunk_size: int
    nonce_prefix: str
    wrapped_key: str
    tags_sha256: str
    duration: float
    created_at: float
