"""POST /api/uploads: an artist's audio and artwork in, pinned CIDs and the exact
registerTrack call for their wallet out.

Nothing is recorded until every file is pinned and verified: a failure at any step (bad
file, IPFS down) leaves no upload behind and nothing for the wallet to register."""
from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
import time
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from sqlmodel import Session, SQLModel, select
from starlette.datastructures import UploadFile
from web3 import Web3

from backend import audio, fingerprint, recordings
from backend.artwork import clean as clean_artwork
from backend.quotas import check_upload_quota, lock_wallet, unpin_unreferenced
from backend.crypto import CHUNK_SIZE, encrypt_file, new_key
from backend.deps import ServicesDep, WalletDep
from backend.errors import ApiError
from backend.models import Upload
from ninety.attest import ATTESTATION_SECONDS
from ninety.contract import load_abi
from ninety.market import ETH, sorted_split

router = APIRouter(tags=["uploads"])
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
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


def _text(form: Any, name: str, *, required: bool = False, max_len: int = 300) -> str:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise ApiError(422, f"{name} must be a text field, not a file")
    value = (value or "").strip()
    if required and not value:
        raise ApiError(422, f"{name} is required")
    if len(value) > max_len:
        raise ApiError(422, f"{name} is longer than {max_len} characters")
    return value


def _split(raw: str, wallet: str, contract: str = "") -> tuple[list[str], list[int]]:
    if not raw:
        return sorted_split([(wallet, 1_000_000)])
    try:
        return _split_pairs(json.loads(raw), contract)
    except (ValueError, TypeError, KeyError):
        raise ApiError(422, 'split must be JSON like [{"address": "0x…", "share_ppm": 600000}, …]') from None


def _split_pairs(pairs: Any, contract: str) -> tuple[list[str], list[int]]:
    """A split from [{"address", "share_ppm"}, …], checked as createSplit checks it."""
    parsed = [(str(p["address"]), int(p["share_ppm"])) for p in pairs]
    if not 1 <= len(parsed) <= 100:
        raise ApiError(422, "a split has 1 to 100 recipients")
    for address, share in parsed:
        if not ADDRESS.match(address):
            raise ApiError(422, f"split recipient {address!r} is not an address")
        if int(address, 16) == 0 or address.lower() == contract.lower():
            # createSplit refuses them: funds owed to either could never be withdrawn.
            raise ApiError(422, f"split recipient {address} cannot be paid (the zero address or the Marketplace itself)")
        if share <= 0:
            raise ApiError(422, f"split share of {address} must be above zero")
    if len({a.lower() for a, _ in parsed}) != len(parsed):
        raise ApiError(422, "a recipient appears twice in the split")
    if sum(s for _, s in parsed) != 1_000_000:
        raise ApiError(422, f"split shares sum to {sum(s for _, s in parsed):,} ppm, not 1,000,000 (100%)")
    return sorted_split(parsed)


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


def _process(form: Any, services: Any, wallet: str) -> UploadOut:
    title = _text(form, "title", required=True)
    artist_name = _text(form, "artist_name", required=True)
    genre = _text(form, "genre", max_len=100)
    description = _text(form, "description", max_len=5000)
    license_ = _text(form, "license", max_len=200) or "All rights reserved"
    token = _text(form, "token", max_len=42) or ETH
    if not ADDRESS.match(token):
        raise ApiError(422, f"token {token!r} is not an address (0x0000000000000000000000000000000000000000 for ETH)")
    try:
        price = int(_text(form, "price", max_len=78) or "0")
        preview_start = float(_text(form, "preview_start", max_len=20) or "0")
    except ValueError:
        raise ApiError(422, "price must be an integer in the token's base unit; preview_start a number of seconds") from None
    if price < 0 or price >= 2**88:
        raise ApiError(422, "price must be between 0 and 2^88 - 1 base units")
    if token.lower() != ETH and price == 0:
        raise ApiError(422, "a track priced in a token needs a price above zero")
    if not math.isfinite(preview_start) or preview_start < 0:
        raise ApiError(422, "preview_start must be a number of seconds, zero or more")
    recipients, shares = _split(_text(form, "split", max_len=20_000), wallet, services.deployment.address)
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
    incoming = audio_file.file.tell()
    # Before any decoding, the cheap refusals: a wallet that keeps matching other artists'
    # recordings, or that is past its upload quotas.
    with Session(services.engine) as db:
        refused, retry_after = services.recordings.refusals_today(db, wallet)
        if refused >= recordings.MAX_REFUSALS_PER_DAY:
            raise ApiError(429, f"{refused} of your uploads matched other artists' recordings in the last 24 hours; "
                                "try again later, or file a counter-notice if they are yours",
                           headers={"Retry-After": str(int(retry_after))})
        check_upload_quota(db, wallet, services.settings, incoming)

    with tempfile.TemporaryDirectory(prefix="ninety-upload-") as tmp:
        original = Path(tmp) / f"original.{kind}"
        digest = hashlib.sha256()
        size = 0
        audio_file.file.seek(0)
        with open(original, "wb") as out:
            while chunk := audio_file.file.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        # One sandboxed pass, in a decode slot: measure, preview, fingerprint.
        decoded = audio.analyse(original, kind, preview_start, services.settings, fingerprint=True)
        info, preview, analysis = decoded.info, decoded.preview, decoded.fingerprint
        if preview_start >= info.duration:
            raise ApiError(422, f"preview_start {preview_start:g} s is past the end of the {info.duration:.1f} s track")
        refusal = recordings.check(services.recordings, services.engine, wallet, analysis, file_name)
        if refusal is not None:
            _refuse_duplicate(*refusal)
        _keep_collaborators(services, wallet, analysis, recipients, shares)
        art_file.file.seek(0)
        raw_artwork = art_file.file.read(MAX_ARTWORK_BYTES + 1)
        if len(raw_artwork) > MAX_ARTWORK_BYTES:
            raise ApiError(413, f"artwork is larger than {MAX_ARTWORK_BYTES // (1024 * 1024)} MiB")
        artwork = clean_artwork(raw_artwork, services.settings, Path(tmp)).data  # decoded, stripped, re-encoded

        key = new_key()
        encrypted = Path(tmp) / "audio.enc"
        with open(original, "rb") as src, open(encrypted, "wb") as dst:
            prefix = encrypt_file(src, dst, size, key)

        ipfs = services.ipfs
        artwork_cid = ipfs.add_bytes(artwork)
        preview_cid = ipfs.add_bytes(preview)
        audio_cid = ipfs.add_file(encrypted)
        metadata = {
            "name": title,
            "description": description,
            "image": f"ipfs://{artwork_cid}",
            "animation_url": f"ipfs://{preview_cid}",
            "external_url": f"{services.public_url}/",
            "attributes": [{"trait_type": "Genre", "value": genre}] if genre else [],
            "properties": {
                "title": title, "artist": artist_name, "genre": genre, "license": license_,
                "duration": round(info.duration, 3), "audio_cid": audio_cid, "preview_cid": preview_cid,
                "artwork_cid": artwork_cid, "mime_type": audio.AUDIO_TYPES[kind], "file_name": file_name,
                "size": size, "sha256": digest.hexdigest(), "preview_start": preview_start,
                "encryption": {"algorithm": "AES-256-GCM", "chunk_size": CHUNK_SIZE,
                               "nonce_prefix": prefix.hex(), "tag_bytes": 16},
                "uploaded_by": wallet,
            },
        }
        metadata_cid = ipfs.add_bytes(json.dumps(metadata, sort_keys=True, indent=1).encode())

    with Session(services.engine) as db:
        # The deciding quota check, serialised per wallet across workers, in the
        # transaction that records the upload.
        lock_wallet(db, wallet)
        try:
            check_upload_quota(db, wallet, services.settings, size)
        except ApiError:
            db.rollback()
            unpin_unreferenced(services.engine, ipfs, [metadata_cid, audio_cid, preview_cid, artwork_cid])
            raise
        if db.exec(select(Upload).where(Upload.metadata_cid == metadata_cid)).first() is None:
            db.add(Upload(artist=wallet, metadata_cid=metadata_cid, audio_cid=audio_cid, preview_cid=preview_cid,
                          artwork_cid=artwork_cid, file_name=file_name, content_type=audio.AUDIO_TYPES[kind],
                          size=size, sha256=digest.hexdigest(), chunk_size=CHUNK_SIZE, nonce_prefix=prefix.hex(),
                          wrapped_key=services.master_key.wrap(key), created_at=time.time(),
                          audio_hash=analysis.audio_hash, duration=round(info.duration, 3),
                          fingerprint=None if analysis.frames is None else fingerprint.pack(analysis.frames)))
            db.commit()

    contract = Web3().eth.contract(address=Web3.to_checksum_address(services.deployment.address),
                                   abi=load_abi("Marketplace"))
    split_id = _split_id(recipients, shares)
    attestation, deadline = _attest(services, metadata_cid, wallet, split_id)
    return UploadOut(
        metadata_cid=metadata_cid, audio_cid=audio_cid, preview_cid=preview_cid, artwork_cid=artwork_cid,
        split_id=split_id, recipients=[r.lower() for r in recipients], shares_ppm=shares,
        duration=round(info.duration, 3), sha256=digest.hexdigest(), attestation=attestation,
        attestation_expires_at=deadline,
        register_call=Call(to=contract.address, data=contract.encode_abi(
            "registerTrack", [metadata_cid, split_id, Web3.to_checksum_address(token), price,
                              bytes.fromhex(attestation[2:])])),
        create_split_call=Call(to=contract.address, data=contract.encode_abi("createSplit", [recipients, shares])),
    )

def _split_id(recipients: list[str], shares: list[int]) -> str:
    return "0x" + Web3.keccak(Web3().codec.encode(["address[]", "uint32[]"], [recipients, shares])).hex().removeprefix("0x")


def _attest(services: Any, metadata_cid: str, wallet: str, split_id: str) -> tuple[str, int]:
    """An attestation for `wallet` to list `metadata_cid` with `split_id`, valid
    ATTESTATION_SECONDS by block time (the contract's clock, which a dev chain may have
    moved ahead)."""
    chain_now = int(services.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    deadline = max(chain_now, int(time.time())) + ATTESTATION_SECONDS
    contract = Web3.to_checksum_address(services.deployment.address)
    chain_id = services.deployment.chain_id
    return services.catalog.sign_listing(metadata_cid, wallet, split_id, chain_id, contract, deadline), deadline


def _keep_collaborators(services: Any, wallet: str, analysis: fingerprint.Analysis, recipients: list[str],
                        shares: list[int]) -> None:
    """409 if this is a recording `wallet` already sells and the new split would pay one of
    that track's other payees less. Without this, delisting the track and listing a new
    upload of the same recording would cut collaborators out, which the contract lets an
    artist do to a track only with their consent (proposeSplit)."""
    new = {r.lower(): s for r, s in zip(recipients, shares)}
    track, sr = SQLModel.metadata.tables["track"], SQLModel.metadata.tables["split_recipient"]
    with Session(services.engine) as db:
        for owner in services.recordings.matches(db, analysis):
            if owner.artist != wallet or owner.blocked:
                continue
            split_id = db.execute(select(track.c.split_id).where(track.c.track_id == owner.track_id)).scalar()
            payees = db.execute(select(sr.c.recipient, sr.c.share_ppm).where(sr.c.split_id == split_id)
                                .order_by(sr.c.position)).all()
            losers = [(r, int(s), new.get(r, 0)) for r, s in payees if r != wallet and new.get(r, 0) < int(s)]
            if losers:
                cut = ", ".join(f"{r} ({s / 10_000:g}% → {n / 10_000:g}%)" for r, s, n in losers)
                raise ApiError(409, f"this recording is your track {owner.track_id}; this split would pay its other "
                                    f"payees less: {cut}. Keep their shares, or change track {owner.track_id}'s split "
                                    "instead, which needs their consent",
                               title="Collaborators would lose share",
                               track={"track_id": owner.track_id, "title": owner.title, "split_id": split_id},
                               losers=[{"address": r, "share_ppm": s, "new_share_ppm": n} for r, s, n in losers])


class SplitShare(BaseModel):
    address: str
    share_ppm: int


class AttestationIn(BaseModel):
    split: list[SplitShare]  # the split the track will be listed with (the attestation binds it)


class AttestationOut(BaseModel):
    metadata_cid: str
    split_id: str
    attestation: str
    attestation_expires_at: int


@router.post("/api/uploads/{metadata_cid}/attestation", response_model=AttestationOut)
def fresh_attestation(metadata_cid: Annotated[str, PathParam(max_length=100)], body: AttestationIn,
                      services: ServicesDep, wallet: WalletDep) -> AttestationOut:
    """A fresh attestation for one of your uploads and the split you will list it with,
    right before you register it: the recording is checked again against what was
    registered since the upload (409 as for an upload), a CID already listed is refused
    (409), and so is a split that pays the payees of your earlier track of the same
    recording less than it does (409: change that track's split instead)."""
    if services.deployment is None or services.rpc is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    recipients, shares = _split_pairs([p.model_dump() for p in body.split], services.deployment.address)
    with Session(services.engine) as db:
        upload = db.exec(select(Upload).where(Upload.metadata_cid == metadata_cid, Upload.artist == wallet)).first()
        if upload is None:
            raise ApiError(404, f"no upload {metadata_cid} of yours")
        track = SQLModel.metadata.tables["track"]
        if db.execute(select(track.c.track_id).where(track.c.metadata_cid == metadata_cid).limit(1)).first():
            raise ApiError(409, f"{metadata_cid} is already listed")
        stored = upload
    if stored.audio_hash is not None:
        again = fingerprint.Analysis(stored.audio_hash, stored.duration or 0.0, 0, 0,
                                     None if stored.fingerprint is None else fingerprint.unpack(stored.fingerprint))
        refusal = recordings.check(services.recordings, services.engine, wallet, again, stored.file_name)
        if refusal is not None:
            _refuse_duplicate(*refusal)
        _keep_collaborators(services, wallet, again, recipients, shares)
    split_id = _split_id(recipients, shares)
    attestation, deadline = _attest(services, metadata_cid, wallet, split_id)
    return AttestationOut(metadata_cid=metadata_cid, split_id=split_id, attestation=attestation,
                          attestation_expires_at=deadline)


def _refuse_duplicate(owner: recordings.Owner, refusal: Any) -> None:
    """409 naming the public track the upload matches (never an unregistered upload)."""
    name = f"track {owner.track_id}" + (f" “{owner.title}”" if owner.title else "")
    by = owner.artist_name or owner.artist
    if owner.blocked:
        detail = (f"this recording matches {name} by {by}, which was taken down; it cannot be uploaded again. "
                  f"If you hold the rights, file a counter-notice for refusal {refusal.id}")
    else:
        detail = (f"this recording matches {name} by {by}, registered first by another wallet. If it is yours "
                  f"(a new wallet, or a licensed sample), file a counter-notice for refusal {refusal.id}")
    raise ApiError(409, detail, title="Recording already registered", refusal_id=refusal.id,
                   track={"track_id": owner.track_id, "title": owner.title, "artist_name": owner.artist_name,
                          "artist": owner.artist, "blocked": owner.blocked},
                   # The kind only: scores would let a copier tune a copy until it passes.
                   match={"kind": owner.kind},
                   counter_notice={"method": "POST", "path": "/api/moderation/counter-notices",
                                   "body": {"refusal_id": refusal.id, "statement": "…", "contact": "…"}})
