"""Releases (albums, EPs, singles): a listing in the tracks' id space whose members are
the artist's own tracks. Uploading one (POST /api/releases, work in
backend/release_uploads.py), the catalog of available releases and one release's page,
its artwork, and the zip of its members' originals for a buyer (backend/release_zip.py).
Which releases are available is decided in backend/catalog.py."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from backend import pagination, release_uploads, release_zip, validators
from backend.catalog import (Members, release_members, release_state, release_upload_of, release_uploaded_here,
                             refuse_undeliverable, shown_release, upload_of)
from backend.deps import DbDep, ServicesDep, TrackId, WalletDep
from backend.errors import ApiError
from backend.ipfs_files import serve_cid
from backend.ratelimit import client_of
from backend.release_fairness import MAX_SALES, fair_sales
from backend.services import Services
from backend.stream_slots import SlotStreamingResponse
from ninety.contract import ETH

router = APIRouter(prefix="/api/releases", tags=["releases"])
T = SQLModel.metadata.tables
SCAN_BATCHES = 10  # a catalog page reads at most this many batches of candidates


class SplitShare(BaseModel):
    address: str
    share_ppm: int


class ReleaseUploadOut(BaseModel):
    metadata_cid: str
    artwork_cid: str
    track_ids: list[int]
    # The smallest split that keeps the tracks' other payees at their fair share (what the
    # attestation requires) for a release sold at `suggested_price` in `suggested_token`
    # (the form's price and token, else the tracks' common token, else ETH, and the sum of
    # the tracks' prices in it); all to you when you are the only payee.
    suggested_split: list[SplitShare]
    suggested_token: str
    suggested_price: str


@router.post("", response_model=ReleaseUploadOut, status_code=201)
async def create_release(request: Request, services: ServicesDep, wallet: WalletDep) -> ReleaseUploadOut:
    """Multipart form: `title`, `description`, `genre`, `release_type` (album, ep or
    single), `track_ids` (a JSON array or a comma list, in order: 1 to 100 distinct
    genuine tracks of yours, not taken down), optional `artist_name` (default: the first
    track's), `price` (base units) and `token` (what `suggested_split` assumes), and
    `artwork` (PNG or JPEG). Pins the artwork and the metadata; then ask
    `POST /api/uploads/{metadata_cid}/attestation` with your split and send
    `registerRelease`."""
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured (NINETY_IPFS_API)")
    if services.deployment is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    try:
        with tempfile.TemporaryDirectory(prefix="ninety-release-") as tmp:
            pinned = await run_in_threadpool(release_uploads.process, form, services, wallet, Path(tmp))
    finally:
        await form.close()
    return ReleaseUploadOut(metadata_cid=pinned.metadata_cid, artwork_cid=pinned.artwork_cid,
                            track_ids=pinned.track_ids,
                            suggested_split=[SplitShare(address=a, share_ppm=s) for a, s in pinned.suggested_split],
                            suggested_token=pinned.suggested_token, suggested_price=str(pinned.suggested_price))


class ReleaseTrackOut(BaseModel):
    track_id: int
    position: int  # 0-based, the chain's order
    title: str | None
    duration: float | None
    price: str
    token: str
    listed: bool
    preview_url: str
    genuine: bool  # served here: genuine, uploaded here by its artist
    blocked: bool  # taken down (this listing or its recording)


class ReleaseOut(BaseModel):
    release_id: int
    artist: str
    artist_name: str | None
    title: str | None
    description: str | None
    genre: str | None
    release_type: str | None
    token: str
    price: str
    listed: bool
    blocked: bool
    block_reason_cid: str | None
    genuine: bool
    available: bool
    unavailable_reason: str | None
    artwork_url: str
    metadata_cid: str
    split_id: str
    tracks: list[ReleaseTrackOut]
    tracks_price_sum: dict[str, str]  # per token: the members' prices added up (base units)
    sales: int
    block_number: int
    block_time: int


class ReleasePage(BaseModel):
    items: list[ReleaseOut]
    next_cursor: str | None


def _metadata(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(description, release_type) from the release's verified metadata JSON."""
    try:
        doc = json.loads(row["metadata_json"] or "{}")
        props = doc.get("properties") or {}
        description, kind = doc.get("description"), props.get("release_type")
        return (description if isinstance(description, str) else None, kind if isinstance(kind, str) else None)
    except (ValueError, AttributeError):
        return None, None


def _item(row: Mapping[str, Any], members: Members) -> ReleaseOut:
    state = release_state(row, members)
    sums: dict[str, int] = {}
    for m in members:
        sums[m["token"]] = sums.get(m["token"], 0) + int(m["price"])
    description, release_type = _metadata(row)
    rid = row["track_id"]
    return ReleaseOut(
        release_id=rid, artist=row["artist"], artist_name=row["artist_name"], title=row["title"],
        description=description, genre=row["genre"], release_type=release_type, token=row["token"],
        price=str(int(row["price"])), listed=bool(row["listed"]), blocked=bool(row["blocked"]),
        block_reason_cid=row["block_reason_cid"], genuine=bool(row["genuine"] and row["uploaded_here"]),
        available=state.available, unavailable_reason=state.reason, artwork_url=f"/api/releases/{rid}/artwork",
        metadata_cid=row["metadata_cid"], split_id=row["split_id"],
        tracks=[ReleaseTrackOut(
            track_id=m["track_id"], position=m["position"], title=m["title"], duration=m["duration"],
            price=str(int(m["price"])), token=m["token"], listed=bool(m["listed"]),
            preview_url=f"/api/tracks/{m['track_id']}/preview",
            genuine=bool(m["genuine"] and m["uploaded_here"] and m["first_by"] is None),
            blocked=bool(m["blocked"] or m["taken_down_cid"] is not None)) for m in members],
        tracks_price_sum={t: str(s) for t, s in sums.items()}, sales=int(row["sales"]),
        block_number=row["block_number"], block_time=row["block_time"])


def _uncursor(raw: str) -> int:
    try:
        data = pagination.decode(raw)
        if not isinstance(data, dict) or data.get("sort") != "release" or not pagination.whole(data.get("id")):
            raise ValueError
        return int(data["id"])
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, "cursor is malformed; start again without it") from None


@router.get("", response_model=ReleasePage)
def list_releases(db: DbDep, artist: str | None = Query(None, description="only this artist's releases (address)"),
                  include_unavailable: bool = Query(False, description="also those off sale or taken down, or "
                                                                       "with a track that is (an artist's studio)"),
                  limit: int = Query(50, ge=1, le=200), cursor: str | None = None) -> ReleasePage:
    """Available releases (listed, not taken down, genuine, every track still served
    here), newest first, a keyset page by release id (`next_cursor` until it is null; a
    page may hold fewer than `limit` when many releases in a row are unavailable)."""
    track = T["track"]
    stmt = select(track, release_uploaded_here().label("uploaded_here")).where(
        track.c.kind == "release", track.c.genuine.is_(True), release_uploaded_here())
    if not include_unavailable:
        stmt = stmt.where(track.c.listed.is_(True), track.c.blocked.is_(False))
    who = validators.address(artist, "artist")
    if who is not None:
        stmt = stmt.where(track.c.artist == who)
    after = _uncursor(cursor) if cursor else None
    items: list[ReleaseOut] = []
    for _ in range(SCAN_BATCHES):
        page = stmt.where(track.c.track_id < after) if after is not None else stmt
        rows = db.execute(page.order_by(track.c.track_id.desc()).limit(limit)).mappings().all()
        members = release_members(db, [r["track_id"] for r in rows])
        for r in rows:
            after = r["track_id"]
            item = _item(r, members[r["track_id"]])
            if item.available or include_unavailable:
                items.append(item)
            if len(items) == limit:
                break
        if len(rows) < limit or len(items) == limit:
            break
    more = after is not None and db.execute(stmt.where(track.c.track_id < after).limit(1)).first() is not None
    return ReleasePage(items=items, next_cursor=pagination.encode({"sort": "release", "id": after}) if more else None)


def _release(db: Any, release_id: int) -> tuple[Mapping[str, Any], Members]:
    row = shown_release(db, release_id)
    return row, release_members(db, [release_id])[release_id]


@router.get("/{release_id}", response_model=ReleaseOut)
def get_release(release_id: TrackId, db: DbDep) -> ReleaseOut:
    """One release with its tracks in order, `available` and, if not, why. 404 for a
    track's id, an unknown id, or a release not uploaded here by its artist."""
    return _item(*_release(db, release_id))


@router.get("/{release_id}/artwork")
def release_artwork(release_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The release's artwork (PNG or JPEG, re-encoded without metadata at upload), from
    the file this server pinned; 451 if the release was taken down."""
    row = shown_release(db, release_id)
    if row["blocked"]:
        raise ApiError(451, f"release {release_id} was taken down; the reason is public at "
                            f"ipfs://{row['block_reason_cid']}", title="Unavailable for legal reasons",
                       reason_cid=row["block_reason_cid"])
    upload = release_upload_of(db, row)
    assert upload is not None  # shown_release refused it otherwise
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    return serve_cid(request, services, upload.artwork_cid, {"Cache-Control": "public, max-age=31536000, immutable"})


def _bought(db: Any, wallet: str, release_id: int) -> bool:
    """A sale of the release to `wallet` made while its split was fair to its tracks'
    collaborators (backend/release_fairness.py): one made while it cut them out opens nothing."""
    sale = T["sale"]
    sales = db.execute(select(sale.c.track_id, sale.c.split_id, sale.c.amount, sale.c.block_number, sale.c.log_index)
                       .where(sale.c.track_id == release_id, sale.c.buyer == wallet)
                       .order_by(sale.c.block_number.desc(), sale.c.log_index.desc())
                       .limit(MAX_SALES)).mappings().all()
    return bool(fair_sales(db, sales))


def _entries(db: Any, services: Services, members: list[Mapping[str, Any]]) -> list[release_zip.Entry]:
    assert services.ipfs is not None
    ipfs = services.ipfs
    width = max(2, len(str(len(members))))
    entries = []
    for n, m in enumerate(members, start=1):
        upload = upload_of(db, m)
        if upload is None:  # release_state saw it uploaded here a moment ago
            raise ApiError(410, f"track {m['track_id']} is no longer available here", title="Gone")
        cid = upload.audio_cid
        entries.append(release_zip.Entry(
            name=release_zip.member_name(n, m["title"], upload.file_name, upload.content_type, width),
            size=upload.size, read_cipher=lambda off, length, cid=cid: ipfs.cat(cid, offset=off, length=length),
            key=services.master_key.unwrap(upload.wrapped_key), nonce_prefix=bytes.fromhex(upload.nonce_prefix),
            chunk_size=upload.chunk_size))
    return entries


@router.get("/{release_id}/download", responses={200: {"content": {"application/zip": {}}}})
def download_release(release_id: TrackId, request: Request, services: ServicesDep, db: DbDep,
                     wallet: WalletDep) -> Response:
    """A zip (stored, not compressed) of every track's original file, named "NN - Title.ext"
    in the release's order, for a signed-in wallet that bought the release (any signed-in
    wallet if it is free and for sale). Streamed as it is made. 401 without a session, 403
    without a purchase (a sale made while the release's split was unfair to its tracks'
    collaborators counts as none), 404 unknown, 451 if the release or one of its tracks was
    taken down, 410 if a track is no longer served here."""
    row, members = _release(db, release_id)
    state = release_state(row, members)
    refuse_undeliverable(state)
    # Free while it is for sale: an unfair release gives nothing away.
    free = row["token"] == ETH and int(row["price"]) == 0 and state.available
    if not free and not _bought(db, wallet, release_id):
        raise ApiError(403, f"{wallet} has not bought release {release_id}: buy it, then download once the sale is "
                            "indexed", title="Purchase required")
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    # 429 past the wallet's or the address's zips running at once (backend/stream_slots.py).
    slot = services.rate_limits.zip_streams.take(wallet, client_of(request.scope, services.settings.trusted_proxies))
    try:
        chunks = release_zip.stream(_entries(db, services, members))
        first = next(chunks, b"")  # the first file's first chunk: IPFS trouble is an error response, not a cut stream
    except BaseException:
        slot.release()
        raise

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    name = release_zip.safe_title(f"{row['artist_name'] or row['artist']} - {row['title'] or release_id}",
                                  f"release-{release_id}")
    name = name.encode("ascii", "replace").decode().replace("?", "_")
    return SlotStreamingResponse(body(), slot, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}.zip"', "Cache-Control": "private, no-store"})
