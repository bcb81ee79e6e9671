"""A fan's page: what a wallet bought, newest first, from the public ledger (every sale is
on chain, so this shows nothing the ledger does not). A listing that is not genuine or
was taken down keeps its row (the sale happened) but not its title, which its registrant
wrote and this server does not vouch for."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import SQLModel

from backend import validators
from backend.catalog import public_title
from backend.deps import DbDep
from backend.errors import ApiError
from backend.names import names_for
from backend.pagination import CURSOR_MAX, page

router = APIRouter(prefix="/api/fans", tags=["fans"])
T = SQLModel.metadata.tables


class FanPurchase(BaseModel):
    track_id: int
    kind: str = Field(description="'track' or 'release'")
    title: str | None = Field(description="null when the listing is not genuine, was taken down, or its metadata "
                                          "is not fetched yet")
    artist: str
    artist_name: str | None
    token: str
    amount: str
    block_time: int
    tx_hash: str
    log_index: int


class FanPage(BaseModel):
    address: str
    name: str | None
    items: list[FanPurchase]
    next_cursor: str | None


@router.get("/{address}", response_model=FanPage)
def fan(address: str, db: DbDep, limit: int = Query(50, ge=1, le=100),
        cursor: str | None = Query(None, max_length=CURSOR_MAX)) -> FanPage:
    """Purchases by `address` (as buyer), newest first, paged by `next_cursor` (keyset on
    the chain position, like GET /api/ledger/sales). 404 for a malformed address."""
    if not validators.ADDRESS.fullmatch(address):
        raise ApiError(404, f"{address[:60]!r} is not an address (0x followed by 40 hex digits)")
    who = address.lower()
    sale, track = T["sale"], T["track"]
    stmt = (select(sale.c.track_id, sale.c.artist, sale.c.token, sale.c.amount, sale.c.block_number,
                   sale.c.block_time, sale.c.tx_hash, sale.c.log_index, track.c.kind, track.c.title,
                   track.c.genuine, track.c.blocked)
            .select_from(sale.outerjoin(track, track.c.track_id == sale.c.track_id))
            .where(sale.c.buyer == who))
    rows, next_cursor = page(db, stmt, sale, "desc", limit, cursor)
    names = names_for(db, [r["artist"] for r in rows] + [who])
    return FanPage(address=who, name=names[who], items=[_item(r, names) for r in rows], next_cursor=next_cursor)


def _item(r: Any, names: dict[str, str | None]) -> FanPurchase:
    return FanPurchase(track_id=r["track_id"], kind=r["kind"] or "track",
                       title=public_title(r["genuine"], r["blocked"], r["title"]),
                       artist=r["artist"], artist_name=names[r["artist"]], token=r["token"],
                       amount=str(int(r["amount"])), block_time=r["block_time"], tx_hash=r["tx_hash"],
                       log_index=r["log_index"])
