"""POST /api/releases' work: an artist's release (an album, EP or single made of tracks
the wallet already sells here) checked, its artwork cleaned and pinned with its metadata,
and recorded so that POST /api/uploads/{metadata_cid}/attestation attests it for that
wallet only.

Every member is checked before anything is pinned, by the same rule the catalog applies
on every read (backend/catalog.py): a genuine track of this wallet, uploaded here, not a
release, not taken down. The contract checks the wallet and the members again when the
release is registered; this server refuses to attest what it would not sell."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from starlette.datastructures import UploadFile

from backend import audio, validators
from backend.artwork import clean as clean_artwork
from backend.attestations import cannot_be_fair, release_token
from backend.catalog import member_problem, tracks_by_id
from backend.deps import MAX_DB_INT
from backend.errors import ApiError
from backend.models import ReleaseUpload
from backend.quotas import check_upload_quota, lock_wallet, unpin_unreferenced
from backend.release_fairness import current_members
from backend.release_splits import CannotBeFair, suggested_split, tracks_price
from backend.services import Services

MAX_RELEASE_TRACKS = 100  # the contract's MAX_RELEASE_TRACKS
MAX_ARTWORK_BYTES = 10 * 1024 * 1024
MAX_TRACK_IDS_CHARS = 4000  # 100 ids of up to 19 digits, with separators and spaces
RELEASE_TYPES = ("album", "ep", "single")
_ID = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True)
class ReleaseForm:
    title: str
    artist_name: str  # empty: the first track's
    description: str
    genre: str
    release_type: str
    track_ids: list[int]
    price: int | None  # the release's price in base units, when the artist knows it already
    token: str | None


def parse_track_ids(raw: str) -> list[int]:
    """`track_ids` as a JSON array of ids or a comma list: 1 to 100 distinct track ids."""
    if not raw:
        raise ApiError(422, "track_ids is required: the release's track ids in order, e.g. [12, 15, 13]")
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: [[[…]]] nested past the parser's stack
            raise ApiError(422, "track_ids must be a JSON array of track ids or a comma-separated list") from None
        if not isinstance(items, list):
            raise ApiError(422, "track_ids must be a JSON array of track ids or a comma-separated list")
        parts = [str(i) if isinstance(i, int) and not isinstance(i, bool) else "x" for i in items]
    else:
        parts = [p.strip() for p in raw.split(",")]
    if not 1 <= len(parts) <= MAX_RELEASE_TRACKS:
        raise ApiError(422, f"a release holds 1 to {MAX_RELEASE_TRACKS} tracks, not {len(parts)}")
    ids = []
    for p in parts:
        if not _ID.fullmatch(p) or not 1 <= int(p) <= MAX_DB_INT:
            raise ApiError(422, f"track id {p[:30]!r} is not a track id (a whole number from 1)")
        ids.append(int(p))
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            raise ApiError(422, f"track {i} appears twice: each track is on a release once", track_id=i)
        seen.add(i)
    return ids


def parse_form(form: Any) -> ReleaseForm:
    text = validators.form_text
    release_type = (text(form, "release_type", max_len=10) or "album").lower()
    if release_type not in RELEASE_TYPES:
        raise ApiError(422, f"release_type must be one of {', '.join(RELEASE_TYPES)}")
    return ReleaseForm(
        title=text(form, "title", required=True), artist_name=validators.artist_name(text(form, "artist_name")),
        description=text(form, "description", max_len=5000), genre=text(form, "genre", max_len=100),
        release_type=release_type, track_ids=parse_track_ids(text(form, "track_ids", max_len=MAX_TRACK_IDS_CHARS)),
        price=parse_price(text(form, "price", max_len=78)), token=text(form, "token", max_len=42) or None)


def parse_price(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) >= 2**88:
        raise ApiError(422, "price must be a whole number of the token's base units, below 2^88")
    return int(raw)


def check_members(db: Any, wallet: str, ids: list[int]) -> list[Any]:
    """The members' rows, in order; 422 naming the first that is not `wallet`'s to sell here."""
    rows = tracks_by_id(db, ids)
    for tid in ids:
        if tid not in rows:
            raise ApiError(422, f"no track {tid} in the ledger (register it, and wait for it to be indexed)",
                           track_id=tid)
        problem = member_problem(rows[tid], wallet)
        if problem is not None:
            raise ApiError(422, f"track {tid} cannot be on your release: {problem.detail}", track_id=tid)
    return [rows[t] for t in ids]


def artwork(form: Any, settings: Any, work: Path) -> bytes:
    """The artwork, typed by its bytes, decoded and re-encoded without metadata."""
    upload = form.get("artwork")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "artwork file is required")
    if audio.sniff_image(upload.file.read(16)) is None:
        raise ApiError(415, "artwork must be a PNG or JPEG image (judged from its bytes)")
    upload.file.seek(0)
    raw = upload.file.read(MAX_ARTWORK_BYTES + 1)
    if len(raw) > MAX_ARTWORK_BYTES:
        raise ApiError(413, f"artwork is larger than {MAX_ARTWORK_BYTES // (1024 * 1024)} MiB")
    return clean_artwork(raw, settings, work).data


def metadata(form: ReleaseForm, artist_name: str, artwork_cid: str, wallet: str, public_url: str) -> bytes:
    """The release's metadata JSON (what the indexer checks against the chain's members)."""
    doc = {
        "name": form.title,
        "description": form.description,
        "image": f"ipfs://{artwork_cid}",
        "external_url": f"{public_url}/",
        "attributes": [{"trait_type": "Genre", "value": form.genre}] if form.genre else [],
        "properties": {
            "kind": "release", "release_type": form.release_type, "title": form.title, "artist": artist_name,
            "genre": form.genre, "artwork_cid": artwork_cid, "tracks": form.track_ids, "uploaded_by": wallet,
        },
    }
    return json.dumps(doc, sort_keys=True, indent=1).encode()


@dataclass(frozen=True)
class Pinned:
    metadata_cid: str
    artwork_cid: str
    track_ids: list[int]
    suggested_split: list[tuple[str, int]]
    suggested_token: str  # the release's token and price the suggestion assumes
    suggested_price: int


def process(form: Any, services: Services, wallet: str, work: Path) -> Pinned:
    """The steps in order: fields, members and quota (nothing decoded yet), artwork,
    pins, and the record (the quota checked again under the wallet's lock, with the
    bytes just pinned: a release upload counts in the wallet's uploads of the day and
    its unregistered bytes like a track upload, backend/quotas.py)."""
    assert services.ipfs is not None
    fields = parse_form(form)
    with Session(services.engine) as db:
        members = check_members(db, wallet, fields.track_ids)
        check_upload_quota(db, wallet, services.settings)
        fair, token, price = suggest(current_members(db, fields.track_ids), wallet, fields.price, fields.token,
                                     services.tokens)
    artist_name = fields.artist_name or members[0]["artist_name"] or ""
    picture = artwork(form, services.settings, work)
    artwork_cid = services.ipfs.add_bytes(picture)
    document = metadata(fields, artist_name, artwork_cid, wallet, services.public_url)
    metadata_cid = services.ipfs.add_bytes(document)
    size = len(picture) + len(document)
    with Session(services.engine) as db:
        lock_wallet(db, wallet)
        # The same form again pins nothing new (same CIDs, its metadata names the wallet).
        if db.exec(select(ReleaseUpload).where(ReleaseUpload.metadata_cid == metadata_cid)).first() is None:
            try:
                check_upload_quota(db, wallet, services.settings, size)
            except ApiError:
                db.rollback()
                unpin_unreferenced(services.engine, services.ipfs, [metadata_cid, artwork_cid])
                raise
            db.add(ReleaseUpload(artist=wallet, metadata_cid=metadata_cid, artwork_cid=artwork_cid,
                                 track_ids=json.dumps(fields.track_ids), created_at=time.time(), size=size))
            db.commit()
    return Pinned(metadata_cid, artwork_cid, fields.track_ids, fair, token, price)


def suggest(members: list[Any], wallet: str, price: int | None = None, token: str | None = None,
            tokens: Any = None) -> tuple[list[tuple[str, int]], str, int]:
    """The smallest fair split and the token and price it assumes: the form's token, else
    the tracks' common token (else ETH), else the first of their tokens for which a fair
    split exists; the form's price, else the tracks' prices in that token summed (where
    the rule gives each payee its price-weighted average share). 409 before anything is
    pinned when none is fair (naming the least price, or the tracks to reprice)."""
    first = release_token(members, token)
    tokens_tried = [first] if token is not None else [
        first, *dict.fromkeys(m.token.lower() for m in members if m.token.lower() != first)]
    refusals = []
    for t in tokens_tried:
        p = tracks_price(members, t) if price is None else price
        try:
            return suggested_split(members, t, p, wallet), t, p
        except CannotBeFair as e:
            refusals.append(e)
    raise cannot_be_fair(refusals[0], tokens)
