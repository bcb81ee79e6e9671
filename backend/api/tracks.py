"""The catalog: the tracks this server shows (backend/catalog.py says which), from the
ledger with their IPFS metadata, searched and paged, and one track's page. Their files
are served by backend/api/media.py, signed free downloads by backend/api/free_downloads.py."""
from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select
from sqlmodel import SQLModel

from backend import pagination, validators
from backend.catalog import (deliverable, recording_taken_down, registered_first_by_another, release_members,
                             release_state, release_uploaded_here, shown_track)
from backend.deps import DbDep, ServicesDep, TrackId
from backend.errors import ApiError
from backend.models import ArtistProfile
from backend.services import Services
from backend.splits import pending_counts
from ninety.contract import ETH

router = APIRouter(prefix="/api/tracks", tags=["catalog"])
T = SQLModel.metadata.tables


class TrackOut(BaseModel):
    track_id: int
    artist: str
    artist_name: str | None
    title: str | None
    token: str
    token_symbol: str
    token_decimals: int
    price: str
    listed: bool
    split_id: str
    metadata_cid: str
    metadata_status: str
    genre: str | None
    duration: float | None
    artwork_cid: str | None
    preview_cid: str | None
    audio_cid: str | None
    sales: int
    block_number: int
    block_time: int
    tx_hash: str
    genuine: bool
    blocked: bool
    block_reason_cid: str | None
    pending_split_changes: int = Field(0, description="proposed split changes waiting for payees' consent "
                                                      "(GET /api/ledger/tracks/{id}/splits)")


class TrackRelease(BaseModel):
    release_id: int
    title: str | None
    price: str
    token: str
    available: bool


class TrackDetail(TrackOut):
    releases: list[TrackRelease] = Field(default_factory=list, description="releases holding this track "
                                                                           "(GET /api/releases/{id})")


class TrackPage(BaseModel):
    items: list[TrackOut]
    next_cursor: str | None


def token_info(services: Services, token: str) -> tuple[str, int]:
    if token == ETH:
        return "ETH", 18
    if services.deployment is not None:
        for symbol, t in services.deployment.tokens.items():
            if t.address.lower() == token:
                return t.symbol, t.decimals
    return "?", 0


def _item(services: Services, row: Any, pending: int = 0) -> TrackOut:
    symbol, decimals = token_info(services, row["token"])
    return TrackOut(
        track_id=row["track_id"], artist=row["artist"], artist_name=row["artist_name"], title=row["title"],
        token=row["token"], token_symbol=symbol, token_decimals=decimals, price=str(int(row["price"])),
        listed=bool(row["listed"]), split_id=row["split_id"], metadata_cid=row["metadata_cid"],
        metadata_status=row["metadata_status"], genre=row["genre"], duration=row["duration"],
        artwork_cid=row["artwork_cid"], preview_cid=row["preview_cid"], audio_cid=row["audio_cid"],
        sales=int(row["sales"]), block_number=row["block_number"], block_time=row["block_time"], tx_hash=row["tx_hash"],
        genuine=bool(row["genuine"]), blocked=bool(row["blocked"]), block_reason_cid=row["block_reason_cid"],
        pending_split_changes=pending,
    )


PRICE_SORT = re.compile(r"^[0-9]{78}$")


def _uncursor(raw: str, sort: str) -> dict[str, Any]:
    """A cursor we made: {"sort", "id": last track id, and per order "p" (price_sort) or
    "s" (sales)}. Anything else, however crafted, is a 422."""
    try:
        data = pagination.decode(raw)
        if not isinstance(data, dict) or data.get("sort") != sort or not pagination.whole(data.get("id")):
            raise ValueError
        if sort == "price" and not (isinstance(data.get("p"), str) and PRICE_SORT.fullmatch(data["p"])):
            raise ValueError
        if sort == "sales" and not pagination.whole(data.get("s")):
            raise ValueError
        return data
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, "cursor is malformed or belongs to another sort order; start again without it") from None


@router.get("", response_model=TrackPage)
def list_tracks(
    services: ServicesDep,
    db: DbDep,
    q: str | None = Query(None, max_length=100, description="search title, artist name (the listing's or the "
                                                             "artist profile's) and genre"),
    artist: str | None = Query(None, description="only this artist's tracks (address)"),
    genre: str | None = Query(None, max_length=100),
    sort: Literal["newest", "price", "sales"] = "newest",
    include_unlisted: bool = False,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> TrackPage:
    """Catalog search with cursor pagination (`next_cursor` until it is null). Tracks
    only (releases are at /api/releases), and only those this server can deliver: genuine (see the README), not blocked, and with the
    files their registrant uploaded here. `include_unlisted` adds tracks their artist
    took off sale. Every order is a keyset page over an index."""
    track = T["track"]
    stmt = select(track).where(track.c.kind == "track", track.c.genuine.is_(True), track.c.blocked.is_(False),
                               deliverable(),
                               ~recording_taken_down().exists(), ~registered_first_by_another().exists())
    if not include_unlisted:
        stmt = stmt.where(track.c.listed.is_(True))
    who = validators.address(artist, "artist")
    if who is not None:
        stmt = stmt.where(track.c.artist == who)
    if genre:
        stmt = stmt.where(func.lower(track.c.genre) == genre.lower())
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        # The artist's profile name too: what the store shows as the artist may be that.
        profile = ArtistProfile.__table__  # type: ignore[attr-defined]
        stmt = stmt.where(or_(func.lower(track.c.title).like(like), func.lower(track.c.artist_name).like(like),
                              func.lower(track.c.genre).like(like),
                              track.c.artist.in_(select(profile.c.address).where(func.lower(profile.c.name).like(like)))))
    at = _uncursor(cursor, sort) if cursor else None
    if sort == "newest":
        if at:
            stmt = stmt.where(track.c.track_id < at["id"])
        stmt = stmt.order_by(track.c.track_id.desc())
    elif sort == "price":  # cheapest first; price_sort is the price as 78 digits
        if at:
            stmt = stmt.where(or_(track.c.price_sort > at["p"], and_(track.c.price_sort == at["p"], track.c.track_id > at["id"])))
        stmt = stmt.order_by(track.c.price_sort, track.c.track_id)
    else:  # best-selling first
        if at:
            stmt = stmt.where(or_(track.c.sales < at["s"], and_(track.c.sales == at["s"], track.c.track_id > at["id"])))
        stmt = stmt.order_by(track.c.sales.desc(), track.c.track_id)
    rows = db.execute(stmt.limit(limit + 1)).mappings().all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = pagination.encode({"sort": sort, "id": last["track_id"],
                                         **({"p": last["price_sort"]} if sort == "price" else {}),
                                         **({"s": int(last["sales"])} if sort == "sales" else {})})
    pending = pending_counts(db, [r["track_id"] for r in rows])
    return TrackPage(items=[_item(services, r, pending.get(r["track_id"], 0)) for r in rows], next_cursor=next_cursor)


@router.get("/{track_id}", response_model=TrackDetail)
def get_track(track_id: TrackId, services: ServicesDep, db: DbDep) -> TrackDetail:
    """One track: its on-chain listing and its metadata (`blocked` with the reason's CID
    if it was taken down), and the releases holding it (uploaded here, available or
    not). 404 for a track this server cannot deliver, and for a release's id (see
    /api/releases/{id})."""
    item = _item(services, shown_track(db, track_id), pending_counts(db, [track_id]).get(track_id, 0))
    return TrackDetail(**item.model_dump(), releases=_releases_of(db, track_id))


def _releases_of(db: Any, track_id: int) -> list[TrackRelease]:
    track, rt = T["track"], T["release_track"]
    rows = db.execute(select(track, release_uploaded_here().label("uploaded_here"))
                      .where(track.c.kind == "release", track.c.genuine.is_(True), release_uploaded_here(),
                             track.c.track_id.in_(select(rt.c.release_id).where(rt.c.track_id == track_id)))
                      .order_by(track.c.track_id)).mappings().all()
    members = release_members(db, [r["track_id"] for r in rows])
    return [TrackRelease(release_id=r["track_id"], title=r["title"], price=str(int(r["price"])), token=r["token"],
                         available=release_state(r, members[r["track_id"]]).available) for r in rows]
