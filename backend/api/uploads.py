"""POST /api/uploads: an artist's audio and artwork in, pinned CIDs and the exact
registerTrack call for their wallet out.

Nothing is recorded until every file is pinned and verified: a failure at any step (bad
file, IPFS down) leaves no upload behind and nothing for the wallet to register."""
from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from sqlmodel import Session, SQLModel, select
from starlette.datastructures import UploadFile

from backend import attestations, audio, fingerprint, recordings, validators
from backend.artwork import clean as clean_artwork
from backend.quotas import check_upload_quota, lock_wallet, unpin_unreferenced
from backend.crypto import CHUNK_SIZE, encrypt_file, new_key
from backend.deps import ServicesDep, WalletDep
from backend.errors import ApiError
from backend.models import ReleaseUpload, Upload
from backend.services import Services
from ninety.contract import ETH, load_abi
from ninety.ipfs import Ipfs
from ninety import splits

router = APIRouter(tags=["uploads"])
MAX_ARTWORK_BYTES = 10 * 1024 * 1024


class Call(BaseModel):
    to: str
    data: str


class UploadOut(BaseModel):
    metadata_cid: str
    audio_cid: str
    preview_cid: str
    artwork_cid: str
    split_id: str
    recipients: list[str]  # the split, sorted as createSplit takes it (the attestation binds it)
    shares_ppm: list[int]
    duration: float
    sha256: str
    attestation: str  # the catalog signer's EIP-712 attestation: only this wallet can list metadata_cid
    attestation_expires_at: int  # unix seconds (block time); later, ask POST /api/uploads/{cid}/attestation
    register_call: Call
    create_split_call: Call


def _file(form: Any, name: str) -> UploadFile:
    value = form.get(name)
    if not isinstance(value, UploadFile):
        raise ApiError(422, f"{name} file is required")
    return value


@router.post("/api/uploads", response_model=UploadOut, status_code=201)
async def create_upload(request: Request, services: ServicesDep, wallet: WalletDep) -> UploadOut:
    """Multipart form: `audio` (WAV, FLAC, MP3 or OGG), `artwork` (PNG or JPEG), `title`,
    `artist_name`, `genre`, `description`, `license`, `price` (base units), `token`
    (0x0… for ETH), `split` (JSON list of {address, share_ppm}; default: all to you),
    `preview_start` (seconds). Pins a 30 s public preview, the encrypted audio, the
    artwork and the metadata JSON, and returns the wallet's registerTrack call."""
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured (NINETY_IPFS_API)")
    if services.deployment is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    form = await request.form(max_files=2, max_fields=20)
    try:
        return await run_in_threadpool(_process, form, services, wallet)
    finally:
        await form.close()


def _process(form: Any, services: Services, wallet: str) -> UploadOut:
    """The upload's steps, in order: the form's fields, the files' types, the cheap
    refusals (matches and quotas) before any decoding, then the audio and artwork checked
    and pinned, and only then the upload recorded."""
    assert services.deployment is not None and services.ipfs is not None  # create_upload checked
    listing = _listing(form, wallet, services.deployment.address)
    media = _media(form)
    _refuse_early(services, wallet, media.audio_bytes)
    with tempfile.TemporaryDirectory(prefix="ninety-upload-") as tmp:
        work = Path(tmp)
        original = work / f"original.{media.kind}"
        size, sha256 = _save(media.audio, original)
        # One sandboxed pass, in a decode slot: measure, preview, fingerprint.
        decoded = audio.analyse(original, media.kind, listing.preview_start, services.settings, fingerprint=True)
        analysis = decoded.fingerprint
        assert analysis is not None  # asked for
        if listing.preview_start >= decoded.info.duration:
            raise ApiError(422, f"preview_start {listing.preview_start:g} s is past the end of the "
                                f"{decoded.info.duration:.1f} s track")
        refusal = recordings.check(services.recordings, services.engine, wallet, analysis, media.file_name)
        if refusal is not None:
            attestations.refuse_duplicate(*refusal)
        attestations.keep_collaborators(services, wallet, analysis, listing.recipients, listing.shares)
        artwork = _artwork(media.artwork, services.settings, work)
        key = new_key()
        encrypted = work / "audio.enc"
        with open(original, "rb") as src, open(encrypted, "wb") as dst:
            prefix = encrypt_file(src, dst, size, key)
        pinned = _pin(services.ipfs, listing, media, decoded, artwork, encrypted,
                      Stored(size, sha256, prefix.hex(), services.master_key.wrap(key)), wallet, services.public_url)
    _record(services, wallet, media, decoded.info.duration, analysis, pinned)
    return _answer(services, wallet, listing, pinned, decoded.info.duration)


@dataclass(frozen=True)
class Listing:
    """The form's text fields, checked: what the metadata says and how the track is sold."""
    title: str
    artist_name: str
    genre: str
    description: str
    license: str
    token: str
    price: int
    preview_start: float
    recipients: list[str]
    shares: list[int]


def _listing(form: Any, wallet: str, contract: str) -> Listing:
    text = validators.form_text
    title = text(form, "title", required=True)
    artist_name = validators.artist_name(text(form, "artist_name", required=True))
    genre = text(form, "genre", max_len=100)
    description = text(form, "description", max_len=5000)
    license_ = text(form, "license", max_len=200) or "All rights reserved"
    token = text(form, "token", max_len=42) or ETH
    if not validators.ADDRESS.fullmatch(token):
        raise ApiError(422, f"token {token!r} is not an address (0x0000000000000000000000000000000000000000 for ETH)")
    try:
        price = int(text(form, "price", max_len=78) or "0")
        preview_start = float(text(form, "preview_start", max_len=20) or "0")
    except ValueError:
        raise ApiError(422, "price must be an integer in the token's base unit; preview_start a number of seconds") from None
    if price < 0 or price >= 2**88:
        raise ApiError(422, "price must be between 0 and 2^88 - 1 base units")
    if token.lower() != ETH and price == 0:
        raise ApiError(422, "a track priced in a token needs a price above zero")
    if not math.isfinite(preview_start) or preview_start < 0:
        raise ApiError(422, "preview_start must be a number of seconds, zero or more")
    split = text(form, "split", max_len=20_000)
    recipients, shares = attestations.split_from_json(split, wallet, contract)
    return Listing(title, artist_name, genre, description, license_, token, price, preview_start, recipients, shares)


@dataclass(frozen=True)
class Media:
    """The two files, typed by their first bytes (never by what the client claims)."""
    audio: UploadFile
    kind: str  # wav, flac, mp3 or ogg
    file_name: str
    audio_bytes: int
    artwork: UploadFile


def _media(form: Any) -> Media:
    audio_file, art_file = _file(form, "audio"), _file(form, "artwork")
    head = audio_file.file.read(64)
    kind = audio.sniff_audio(head)
    if kind is None:
        raise ApiError(415, "audio must be a WAV, FLAC, MP3 or OGG file (judged from its bytes)")
    declared = audio.DECLARED.get((audio_file.content_type or "").split(";")[0].strip().lower())
    by_name = audio.EXTENSIONS.get(PurePath(audio_file.filename or "").suffix.lower())
    for claim, source in ((declared, "content type"), (by_name, "file name")):
        if claim is not None and claim != kind:
            raise ApiError(415, f"the audio's {source} says {claim.upper()} but its bytes are {kind.upper()}")
    art_head = art_file.file.read(16)
    art_type = audio.sniff_image(art_head)
    if art_type is None:
        raise ApiError(415, "artwork must be a PNG or JPEG image (judged from its bytes)")
    file_name = PurePath(audio_file.filename or f"track.{kind}").name[:200] or f"track.{kind}"
    audio_file.file.seek(0, 2)
    return Media(audio_file, kind, file_name, audio_file.file.tell(), art_file)


def _refuse_early(services: Services, wallet: str, incoming: int) -> None:
    """Before any decoding, the cheap refusals: a wallet that keeps matching other
    artists' recordings, or that is past its upload quotas."""
    with Session(services.engine) as db:
        refused, retry_after = services.recordings.refusals_today(db, wallet)
        if refused >= recordings.MAX_REFUSALS_PER_DAY:
            raise ApiError(429, f"{refused} of your uploads matched other artists' recordings in the last 24 hours; "
                                "try again later, or file a counter-notice if they are yours",
                           headers={"Retry-After": str(int(retry_after))})
        check_upload_quota(db, wallet, services.settings, incoming)


def _save(upload: UploadFile, path: Path) -> tuple[int, str]:
    """Copy the uploaded audio to `path`: (its size, its SHA-256)."""
    digest = hashlib.sha256()
    size = 0
    upload.file.seek(0)
    with open(path, "wb") as out:
        while chunk := upload.file.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _artwork(upload: UploadFile, settings: Any, work: Path) -> bytes:
    """The artwork decoded, stripped of its metadata and re-encoded (413 past the size cap)."""
    upload.file.seek(0)
    raw = upload.file.read(MAX_ARTWORK_BYTES + 1)
    if len(raw) > MAX_ARTWORK_BYTES:
        raise ApiError(413, f"artwork is larger than {MAX_ARTWORK_BYTES // (1024 * 1024)} MiB")
    return clean_artwork(raw, settings, work).data


@dataclass(frozen=True)
class Stored:
    """The original audio as this server keeps it: encrypted, its key wrapped."""
    size: int
    sha256: str
    nonce_prefix: str  # hex
    wrapped_key: str


@dataclass(frozen=True)
class Pinned:
    metadata_cid: str
    audio_cid: str
    preview_cid: str
    artwork_cid: str
    stored: Stored


def _pin(ipfs: Ipfs, listing: Listing, media: Media, decoded: audio.Analysis, artwork: bytes, encrypted: Path,
         stored: Stored, wallet: str, public_url: str) -> Pinned:
    """Pin the artwork, the preview, the encrypted audio, then the metadata naming them."""
    artwork_cid = ipfs.add_bytes(artwork)
    preview_cid = ipfs.add_bytes(decoded.preview)
    audio_cid = ipfs.add_file(encrypted)
    metadata = {
        "name": listing.title,
        "description": listing.description,
        "image": f"ipfs://{artwork_cid}",
        "animation_url": f"ipfs://{preview_cid}",
        "external_url": f"{public_url}/",
        "attributes": [{"trait_type": "Genre", "value": listing.genre}] if listing.genre else [],
        "properties": {
            "title": listing.title, "artist": listing.artist_name, "genre": listing.genre,
            "license": listing.license, "duration": round(decoded.info.duration, 3), "audio_cid": audio_cid,
            "preview_cid": preview_cid, "artwork_cid": artwork_cid, "mime_type": audio.AUDIO_TYPES[media.kind],
            "file_name": media.file_name, "size": stored.size, "sha256": stored.sha256,
            "preview_start": listing.preview_start,
            "encryption": {"algorithm": "AES-256-GCM", "chunk_size": CHUNK_SIZE,
                           "nonce_prefix": stored.nonce_prefix, "tag_bytes": 16},
            "uploaded_by": wallet,
        },
    }
    metadata_cid = ipfs.add_bytes(json.dumps(metadata, sort_keys=True, indent=1).encode())
    return Pinned(metadata_cid, audio_cid, preview_cid, artwork_cid, stored)


def _record(services: Services, wallet: str, media: Media, duration: float, analysis: fingerprint.Analysis,
            pinned: Pinned) -> None:
    """Record the upload, after the deciding quota check, serialised per wallet across
    workers, in the same transaction (refused: what was pinned is unpinned)."""
    assert services.ipfs is not None
    stored = pinned.stored
    with Session(services.engine) as db:
        lock_wallet(db, wallet)
        try:
            check_upload_quota(db, wallet, services.settings, stored.size)
        except ApiError:
            db.rollback()
            unpin_unreferenced(services.engine, services.ipfs,
                               [pinned.metadata_cid, pinned.audio_cid, pinned.preview_cid, pinned.artwork_cid])
            raise
        if db.exec(select(Upload).where(Upload.metadata_cid == pinned.metadata_cid)).first() is None:
            db.add(Upload(artist=wallet, metadata_cid=pinned.metadata_cid, audio_cid=pinned.audio_cid,
                          preview_cid=pinned.preview_cid, artwork_cid=pinned.artwork_cid, file_name=media.file_name,
                          content_type=audio.AUDIO_TYPES[media.kind], size=stored.size, sha256=stored.sha256,
                          chunk_size=CHUNK_SIZE, nonce_prefix=stored.nonce_prefix, wrapped_key=stored.wrapped_key,
                          created_at=time.time(), audio_hash=analysis.audio_hash,
                          duration=round(duration, 3),
                          fingerprint=None if analysis.frames is None else fingerprint.pack(analysis.frames)))
            db.commit()


def _answer(services: Services, wallet: str, listing: Listing, pinned: Pinned, duration: float) -> UploadOut:
    """The CIDs, an attestation for the wallet, and the two calls its wallet sends."""
    assert services.deployment is not None
    # Imported at the first upload, not with the app: web3 took ~0.2 s of every API start.
    from web3 import Web3

    contract = Web3().eth.contract(address=Web3.to_checksum_address(services.deployment.address),
                                   abi=load_abi("Marketplace"))
    recipients, shares = listing.recipients, listing.shares
    split_id = splits.split_id(recipients, shares)
    attestation, deadline = attestations.attest(services, pinned.metadata_cid, wallet, split_id)
    return UploadOut(
        metadata_cid=pinned.metadata_cid, audio_cid=pinned.audio_cid, preview_cid=pinned.preview_cid,
        artwork_cid=pinned.artwork_cid, split_id=split_id, recipients=[r.lower() for r in recipients],
        shares_ppm=shares, duration=round(duration, 3), sha256=pinned.stored.sha256, attestation=attestation,
        attestation_expires_at=deadline,
        register_call=Call(to=contract.address, data=contract.encode_abi(
            "registerTrack", [pinned.metadata_cid, split_id, Web3.to_checksum_address(listing.token), listing.price,
                              bytes.fromhex(attestation[2:])])),
        create_split_call=Call(to=contract.address, data=contract.encode_abi("createSplit", [recipients, shares])),
    )


class SplitShare(BaseModel):
    address: str
    share_ppm: int


class AttestationIn(BaseModel):
    split: list[SplitShare]  # the split the track will be listed with (the attestation binds it)
    # A release's token (0x0… for ETH) and price in its base units, which the fair-share
    # rule compares with its tracks' (token default: the tracks' common token, else ETH).
    # The price is required for a release; both are ignored for a track.
    token: str | None = Field(None, max_length=42)
    price: str | None = Field(None, max_length=78, pattern=r"^[0-9]+$")


class AttestationOut(BaseModel):
    metadata_cid: str
    split_id: str
    attestation: str
    attestation_expires_at: int


@router.post("/api/uploads/{metadata_cid}/attestation", response_model=AttestationOut)
def fresh_attestation(metadata_cid: Annotated[str, PathParam(max_length=100)], body: AttestationIn,
                      services: ServicesDep, wallet: WalletDep) -> AttestationOut:
    """A fresh attestation for one of your uploads (a track's, or a release's from POST
    /api/releases) and the split you will list it with, right before you register it:
    the recording is checked again against what was registered since the upload (409 as
    for an upload), a CID already listed is refused (409), and so is a split that pays
    the payees of your earlier track of the same recording less than it does (409:
    change that track's split instead). A release (`price` required, 422 without) is
    refused (409) while one of its tracks is no longer yours to sell here, or with a split
    that pays its tracks' other payees less from a sale of the release at `price` than a
    sale of their tracks pays them (`suggested_split` is one that does): their share of
    each track priced in the release's `token` times its price, over `price`, and their
    whole share of a track priced in another token (409 naming the least price when no
    split can be fair at this one)."""
    if services.deployment is None or services.rpc is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    recipients, shares = attestations.split_pairs([p.model_dump() for p in body.split], services.deployment.address)
    with Session(services.engine) as db:
        upload = db.exec(select(Upload).where(Upload.metadata_cid == metadata_cid, Upload.artist == wallet)).first()
        release = None if upload is not None else db.exec(select(ReleaseUpload).where(
            ReleaseUpload.metadata_cid == metadata_cid, ReleaseUpload.artist == wallet)).first()
        if upload is None and release is None:
            raise ApiError(404, f"no upload {metadata_cid} of yours")
        track = SQLModel.metadata.tables["track"]
        if db.execute(select(track.c.track_id).where(track.c.metadata_cid == metadata_cid).limit(1)).first():
            raise ApiError(409, f"{metadata_cid} is already listed")
        if release is not None:  # a release (POST /api/releases): its members, not a recording
            attestations.refuse_release(db, release, wallet, recipients, shares, body.token,
                                        release_price(body.price), services.tokens)
        stored = upload
    if stored is not None and stored.audio_hash is not None:
        again = fingerprint.Analysis(stored.audio_hash, stored.duration or 0.0, 0, 0,
                                     None if stored.fingerprint is None else fingerprint.unpack(stored.fingerprint))
        refusal = recordings.check(services.recordings, services.engine, wallet, again, stored.file_name)
        if refusal is not None:
            attestations.refuse_duplicate(*refusal)
        attestations.keep_collaborators(services, wallet, again, recipients, shares)
    split_id = splits.split_id(recipients, shares)
    members = None if release is None else [int(t) for t in json.loads(release.track_ids)]
    attestation, deadline = attestations.attest(services, metadata_cid, wallet, split_id, members)
    return AttestationOut(metadata_cid=metadata_cid, split_id=split_id, attestation=attestation,
                          attestation_expires_at=deadline)


def release_price(raw: str | None) -> int:
    """A release's price from the attestation request: what the fair-share rule compares
    its tracks' prices with, so there is no default."""
    if raw is None:
        raise ApiError(422, "price is required for a release: its price in the token's base units (the split "
                            "must pay its tracks' collaborators at least what a sale of their tracks does, at "
                            "that price)")
    price = int(raw)
    if price >= 2**88:
        raise ApiError(422, "price must be between 0 and 2^88 - 1 base units")
    return price
