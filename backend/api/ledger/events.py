"""Sales and withdrawals: JSON pages in chain order, or the whole filtered set as CSV."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from backend.api.ledger.common import T
from backend.csv_export import stream_csv, wants_csv
from backend.deps import DbDep, OptionalBlock, OptionalTime, OptionalTrack, ServicesDep
from backend.errors import ApiError
from backend.names import names_for
from backend.pagination import CURSOR_MAX, page
from backend.validators import address
from ninety.contract import ETH

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


def _range(low: int | None, high: int | None, name: str) -> None:
    if low is not None and high is not None and low > high:
        raise ApiError(422, f"from_{name} ({low}) is after to_{name} ({high})")


def _span(table: Any, from_block: int | None, to_block: int | None, from_time: int | None,
          to_time: int | None) -> list[Any]:
    """Block and time range conditions (inclusive), after checking each range's order."""
    _range(from_block, to_block, "block")
    _range(from_time, to_time, "time")
    conds = []
    for value, column, below in ((from_block, table.c.block_number, False), (to_block, table.c.block_number, True),
                                 (from_time, table.c.block_time, False), (to_time, table.c.block_time, True)):
        if value is not None:
            conds.append(column <= value if below else column >= value)
    return conds


def _known_token(db: Any, token: str | None) -> str | None:
    token = address(token, "token")
    if token is None or token == ETH:
        return token
    ta = T["token_allowance"]
    if db.execute(select(ta.c.token).where(ta.c.token == token).limit(1)).first() is None:
        raise ApiError(422, f"token {token} was never allowed on this marketplace")
    return token


# ------------------------------------------------------------------ sales


class SaleItem(BaseModel):
    track_id: int
    buyer: str
    token: str
    token_symbol: str
    token_decimals: int
    amount: str
    platform_fee: str
    net: str
    split_id: str
    artist: str
    fee_recipient: str
    block_number: int
    block_hash: str
    block_time: int
    tx_hash: str
    log_index: int
    kind: str = Field(description="what was sold: 'track', or 'release' (its tracks together, as one listing)")
    title: str | None = Field(description="the listing's title from its metadata; null until the indexer has it")
    artist_name: str | None = Field(None, description="the artist's display name (its profile's, else its newest "
                                                      "genuine listing's; GET /api/names); JSON only, not in the CSV")


class SalePage(BaseModel):
    items: list[SaleItem]
    next_cursor: str | None


# The CSV keeps the ledger's own columns: a display name is not ledger data, and may change.
SALE_COLUMNS = [c for c in SaleItem.model_fields if c != "artist_name"]


def _sale_item(tokens: Any, r: Any) -> dict[str, Any]:
    symbol, decimals = tokens.info(r["token"])
    amount, fee = int(r["amount"]), int(r["platform_fee"])
    return {"track_id": r["track_id"], "buyer": r["buyer"], "token": r["token"], "token_symbol": symbol,
            "token_decimals": decimals, "amount": str(amount), "platform_fee": str(fee), "net": str(amount - fee),
            "split_id": r["split_id"], "artist": r["artist"], "fee_recipient": r["fee_recipient"],
            "block_number": r["block_number"], "block_hash": r["block_hash"], "block_time": r["block_time"],
            "tx_hash": r["tx_hash"], "log_index": r["log_index"], "kind": r["listing_kind"] or "track",
            "title": r["listing_title"]}


def _sales_with_listing() -> Any:
    """Sales beside what they sold (the listing's kind and title); the sale's own columns
    keep their names, the listing's are prefixed."""
    sale, track = T["sale"], T["track"]
    return (select(sale, track.c.kind.label("listing_kind"), track.c.title.label("listing_title"))
            .select_from(sale.outerjoin(track, track.c.track_id == sale.c.track_id)))


@router.get("/sales", response_model=SalePage,
            responses={200: {"content": {"text/csv": {}}, "description": "JSON page, or CSV of the whole set"},
                       429: {"description": "Too many CSV exports from this client (Retry-After)"}})
def sales(
    request: Request,
    services: ServicesDep,
    db: DbDep,
    track: OptionalTrack = None,
    artist: str | None = None,
    payee: str | None = Query(None, description="sales whose split pays this address"),
    buyer: str | None = None,
    token: str | None = Query(None, description="0x0000000000000000000000000000000000000000 for ETH"),
    from_block: OptionalBlock = None,
    to_block: OptionalBlock = None,
    from_time: OptionalTime = None,
    to_time: OptionalTime = None,
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=CURSOR_MAX),
    format: Literal["json", "csv"] | None = None,
) -> Any:
    """Sales, newest first unless `order=asc`; `format=csv` (or `Accept: text/csv`)
    streams every matching sale as CSV. A release's sale is a sale of the release
    (`track_id` is the release's id, `kind` 'release')."""
    sale = T["sale"]
    stmt = _sales_with_listing()
    conds = _span(sale, from_block, to_block, from_time, to_time)
    if track is not None:
        conds.append(sale.c.track_id == track)
    if (a := address(artist, "artist")) is not None:
        conds.append(sale.c.artist == a)
    if (p := address(payee, "payee")) is not None:
        sr = T["split_recipient"]
        conds.append(sale.c.split_id.in_(select(sr.c.split_id).where(sr.c.recipient == p)))
    if (b := address(buyer, "buyer")) is not None:
        conds.append(sale.c.buyer == b)
    if (t := _known_token(db, token)) is not None:
        conds.append(sale.c.token == t)
    stmt = stmt.where(*conds)
    tokens = services.tokens
    if wants_csv(request, format):
        return stream_csv(services, db, stmt, sale, order, SALE_COLUMNS, lambda r: _sale_item(tokens, r), "sales.csv")
    rows, next_cursor = page(db, stmt, sale, order, limit, cursor)
    names = names_for(db, [r["artist"] for r in rows])
    return SalePage(items=[SaleItem(**_sale_item(tokens, r), artist_name=names[r["artist"]]) for r in rows],
                    next_cursor=next_cursor)


# ------------------------------------------------------------------ withdrawals


class WithdrawalItem(BaseModel):
    account: str
    token: str
    token_symbol: str
    token_decimals: int
    amount: str
    paid_to: str = Field(description="where the funds went: the account itself, or the address it chose (withdrawTo)")
    block_number: int
    block_hash: str
    block_time: int
    tx_hash: str
    log_index: int


class WithdrawalPage(BaseModel):
    items: list[WithdrawalItem]
    next_cursor: str | None


def _withdrawal_item(tokens: Any, r: Any) -> dict[str, Any]:
    symbol, decimals = tokens.info(r["token"])
    return {"account": r["account"], "token": r["token"], "token_symbol": symbol, "token_decimals": decimals,
            "amount": str(int(r["amount"])), "paid_to": r["paid_to"], "block_number": r["block_number"],
            "block_hash": r["block_hash"],
            "block_time": r["block_time"], "tx_hash": r["tx_hash"], "log_index": r["log_index"]}


@router.get("/withdrawals", response_model=WithdrawalPage,
            responses={200: {"content": {"text/csv": {}}, "description": "JSON page, or CSV of the whole set"},
                       429: {"description": "Too many CSV exports from this client (Retry-After)"}})
def withdrawals(
    request: Request,
    services: ServicesDep,
    db: DbDep,
    account: str | None = None,
    token: str | None = None,
    from_block: OptionalBlock = None,
    to_block: OptionalBlock = None,
    from_time: OptionalTime = None,
    to_time: OptionalTime = None,
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=CURSOR_MAX),
    format: Literal["json", "csv"] | None = None,
) -> Any:
    """Withdrawals, with the same conventions as sales."""
    w = T["withdrawal"]
    conds = _span(w, from_block, to_block, from_time, to_time)
    if (a := address(account, "account")) is not None:
        conds.append(w.c.account == a)
    if (t := _known_token(db, token)) is not None:
        conds.append(w.c.token == t)
    stmt = select(w).where(*conds)
    tokens = services.tokens
    if wants_csv(request, format):
        return stream_csv(services, db, stmt, w, order, list(WithdrawalItem.model_fields),
                           lambda r: _withdrawal_item(tokens, r), "withdrawals.csv")
    rows, next_cursor = page(db, stmt, w, order, limit, cursor)
    return WithdrawalPage(items=[WithdrawalItem(**_withdrawal_item(tokens, r)) for r in rows], next_cursor=next_cursor)
