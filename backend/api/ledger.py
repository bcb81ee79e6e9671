"""The public ledger for auditors: sales and withdrawals (JSON pages or streamed CSV),
summaries per artist and per track, reconciliation against the chain, and per-row proofs.

Everything here is read-only and public. Amounts are exact integers in the token's base
unit, as decimal strings, with the token's symbol and decimals alongside."""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from typing import Any, Iterator, Literal

from eth_abi import decode, encode
from eth_utils import keccak
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, func, or_, select, text
from sqlmodel import SQLModel

from backend.deps import MAX_DB_INT, DbDep, LogIndex, OptionalBlock, OptionalTime, OptionalTrack, ServicesDep, TrackId
from backend.errors import ApiError
from backend.snapshots import Snapshots, checkpoint
from backend.splits import split_data, to_accept, track_proposals
from indexer.events import Decoder
from indexer.mapping import allot
from indexer.verify import onchain_pools
from ninety.chain import MissingStateError
from ninety.errors import NinetyError
from ninety.market import ETH

router = APIRouter(prefix="/api/ledger", tags=["ledger"])
splits_router = APIRouter(prefix="/api/splits", tags=["ledger"])
T = SQLModel.metadata.tables
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
EVENT_TABLES = ("sale", "withdrawal", "distribution", "track", "track_update", "track_split_change", "split_proposal",
                "split_consent", "split_proposal_cancellation", "split", "fee_change", "fee_recipient_change", "token_allowance", "sales_pause",
                "pool_deposit", "pool_withdrawal", "pool_settlement", "epoch", "pool_claim")


def _address(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not ADDRESS.match(value):
        raise ApiError(422, f"{name} {value!r} is not an address (0x followed by 40 hex digits)")
    return value.lower()


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
    token = _address(token, "token")
    if token is None or token == ETH:
        return token
    ta = T["token_allowance"]
    if db.execute(select(ta.c.token).where(ta.c.token == token).limit(1)).first() is None:
        raise ApiError(422, f"token {token} was never allowed on this marketplace")
    return token


CURSOR_MAX = 200  # ours are about 50 characters


def _encode_cursor(block: int, log_index: int, order: str) -> str:
    raw = json.dumps({"b": block, "l": log_index, "o": order}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number a cursor holds")


def _decode_cursor(cursor: str, order: str) -> tuple[int, int]:
    """A cursor is ours only if it decodes to exactly {"b": int, "l": int, "o": order} with
    both numbers in range: anything else (Infinity, NaN, floats, strings, booleans, huge
    or nested values) is a 422, never a 500."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), parse_constant=_no_constants)
        if not isinstance(data, dict) or set(data) != {"b", "l", "o"}:
            raise ValueError
        block, log_index = data["b"], data["l"]
        if type(block) is not int or type(log_index) is not int or data["o"] != order:
            raise ValueError
        if not (0 <= block <= MAX_DB_INT and 0 <= log_index <= MAX_DB_INT):
            raise ValueError
        return block, log_index
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        raise ApiError(422, "cursor is malformed or was made for another sort order; start again without it") from None


def _after(table: Any, order: str, block: int, log_index: int) -> Any:
    """Rows after (block, log_index) in `order`. The first conjunct is a plain range on
    the indexed block column, which both SQLite and PostgreSQL turn into an index seek;
    the OR alone would not be."""
    key = (table.c.block_number, table.c.log_index)
    if order == "asc":
        return and_(key[0] >= block, or_(key[0] > block, key[1] > log_index))
    return and_(key[0] <= block, or_(key[0] < block, key[1] < log_index))


def _ordering(table: Any, order: str) -> list[Any]:
    key = (table.c.block_number, table.c.log_index)
    return [k.asc() for k in key] if order == "asc" else [k.desc() for k in key]


def _page(db: Any, stmt: Select[Any], table: Any, order: str, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """Keyset pagination on (block_number, log_index): stable while new rows arrive."""
    if cursor:
        stmt = stmt.where(_after(table, order, *_decode_cursor(cursor, order)))
    rows = db.execute(stmt.order_by(*_ordering(table, order)).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor(rows[-1]["block_number"], rows[-1]["log_index"], order) if more and rows else None)


def _wants_csv(request: Request, fmt: str | None) -> bool:
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))


CSV_PAGE = 1000


class ExportInterrupted(NinetyError, RuntimeError):
    """A reorg went below the block an export was pinned to: the rest would not match."""


def _pin_holds(conn: Any, contract: str, pin: tuple[int, str]) -> bool:
    """Is the ledger still built on the pinned checkpoint block? (Rows at or below it
    only change when a reorg reaches below it.)"""
    ib = T["indexed_block"]
    recorded = conn.execute(select(ib.c.hash).where(ib.c.number == pin[0])).scalar()
    if recorded is not None:
        return str(recorded) == pin[1]
    now = checkpoint(conn, contract)  # older than the reorg window, or rolled back below it
    return now is not None and now[0] >= pin[0]


def _stream_csv(services: Any, db: Any, stmt: Select[Any], table: Any, order: str, columns: list[str],
                row_fn: Any, filename: str) -> StreamingResponse:
    """The whole filtered set as CSV, as of the ledger checkpoint when the export started
    (rows above it are left out, so rows indexed meanwhile never mix in). It is read a
    page at a time in keyset order, each page in its own short transaction: between pages,
    while the client reads (or does not), the export holds no database connection. If a
    reorg reaches below the pinned block, the export stops short (the connection closes
    before the end of the chunked body, which clients report as an incomplete transfer)."""
    contract = services.deployment.address.lower() if services.deployment is not None else None
    pin = checkpoint(db, contract) if contract else None
    db.close()  # give the route's connection back now: the pages use their own
    if pin is not None:
        stmt = stmt.where(table.c.block_number <= pin[0])
    stmt = stmt.order_by(*_ordering(table, order)).limit(CSV_PAGE)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        after: tuple[int, int] | None = None
        while True:
            with services.engine.connect() as conn:
                if pin is not None and contract and not _pin_holds(conn, contract, pin):
                    raise ExportInterrupted(f"a reorg went below block {pin[0]} during a CSV export")
                page = conn.execute(stmt if after is None else stmt.where(_after(table, order, *after))).mappings().all()
            for row in page:
                item = row_fn(row)
                writer.writerow([item[c] for c in columns])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if len(page) < CSV_PAGE:
                return
            after = (page[-1]["block_number"], page[-1]["log_index"])

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


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


class SalePage(BaseModel):
    items: list[SaleItem]
    next_cursor: str | None


SALE_COLUMNS = list(SaleItem.model_fields)


def _sale_item(tokens: Any, r: Any) -> dict[str, Any]:
    symbol, decimals = tokens.info(r["token"])
    amount, fee = int(r["amount"]), int(r["platform_fee"])
    return {"track_id": r["track_id"], "buyer": r["buyer"], "token": r["token"], "token_symbol": symbol,
            "token_decimals": decimals, "amount": str(amount), "platform_fee": str(fee), "net": str(amount - fee),
            "split_id": r["split_id"], "artist": r["artist"], "fee_recipient": r["fee_recipient"],
            "block_number": r["block_number"], "block_hash": r["block_hash"], "block_time": r["block_time"],
            "tx_hash": r["tx_hash"], "log_index": r["log_index"]}


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
    streams every matching sale as CSV."""
    sale = T["sale"]
    stmt = select(sale)
    conds = _span(sale, from_block, to_block, from_time, to_time)
    if track is not None:
        conds.append(sale.c.track_id == track)
    if (a := _address(artist, "artist")) is not None:
        conds.append(sale.c.artist == a)
    if (p := _address(payee, "payee")) is not None:
        sr = T["split_recipient"]
        conds.append(sale.c.split_id.in_(select(sr.c.split_id).where(sr.c.recipient == p)))
    if (b := _address(buyer, "buyer")) is not None:
        conds.append(sale.c.buyer == b)
    if (t := _known_token(db, token)) is not None:
        conds.append(sale.c.token == t)
    stmt = stmt.where(*conds)
    tokens = services.tokens
    if _wants_csv(request, format):
        return _stream_csv(services, db, stmt, sale, order, SALE_COLUMNS, lambda r: _sale_item(tokens, r), "sales.csv")
    rows, next_cursor = _page(db, stmt, sale, order, limit, cursor)
    return SalePage(items=[SaleItem(**_sale_item(tokens, r)) for r in rows], next_cursor=next_cursor)


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
    if (a := _address(account, "account")) is not None:
        conds.append(w.c.account == a)
    if (t := _known_token(db, token)) is not None:
        conds.append(w.c.token == t)
    stmt = select(w).where(*conds)
    tokens = services.tokens
    if _wants_csv(request, format):
        return _stream_csv(services, db, stmt, w, order, list(WithdrawalItem.model_fields),
                           lambda r: _withdrawal_item(tokens, r), "withdrawals.csv")
    rows, next_cursor = _page(db, stmt, w, order, limit, cursor)
    return WithdrawalPage(items=[WithdrawalItem(**_withdrawal_item(tokens, r)) for r in rows], next_cursor=next_cursor)


# ------------------------------------------------------------------ chain reads


def _owed_calls(contract: str, keys: list[tuple[str, str]], tag: str) -> list[tuple[str, list[Any]]]:
    sel = keccak(text="owed(address,address)")[:4]
    return [("eth_call", [{"to": contract, "data": "0x" + (sel + encode(["address", "address"], [a, t])).hex()}, tag])
            for a, t in keys]


def _uints(results: list[str]) -> list[int]:
    return [int(decode(["uint256"], bytes.fromhex(r[2:]))[0]) for r in results]


class _OwedCache:
    """owed(account, token) at a given block never changes: remember answers per
    (block hash, account, token), so a popular artist page costs no RPC call."""

    def __init__(self, size: int = 50_000) -> None:
        from collections import OrderedDict
        from threading import Lock

        self._data: "OrderedDict[tuple[str, str, str], int]" = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get_many(self, rpc: Any, contract: str, block: int, block_hash: str,
                 keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        missing = []
        with self._lock:
            for k in keys:
                v = self._data.get((block_hash, *k)) if block_hash else None
                if v is None:
                    missing.append(k)
                else:
                    out[k] = v
        if missing:
            values = _uints(rpc.batch_chunked(_owed_calls(contract, missing, hex(block))))
            with self._lock:
                for k, v in zip(missing, values):
                    out[k] = v
                    if block_hash:
                        self._data[(block_hash, *k)] = v
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
        return out


_owed_cache = _OwedCache()


def _chain(services: Any) -> tuple[Any, str]:
    if services.rpc is None or services.deployment is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    return services.rpc, services.deployment.address.lower()


# ------------------------------------------------------------------ artist


class ArtistToken(BaseModel):
    token: str
    token_symbol: str
    token_decimals: int
    sales: int
    buyers: int
    gross: str
    fees: str
    net: str
    credited: str
    withdrawn: str
    owed: str
    owed_in_ledger: str | None


class Undistributed(BaseModel):
    split_id: str
    token: str
    amount: str
    recipients: list[str] = Field(description="the split's data, as distribute() takes it")
    shares_ppm: list[int]


class ProposalToAccept(BaseModel):
    track_id: int
    split_id: str = Field(description="the proposed split")
    recipients: list[str]
    shares_ppm: list[int]
    current_recipients: list[str] = Field(description="the track's split now")
    current_shares_ppm: list[int]
    missing: int = Field(description="consents still needed, this address's included")


class ArtistSummary(BaseModel):
    address: str
    as_of_block: int
    tokens: list[ArtistToken]
    undistributed: list[Undistributed] = []
    proposals_to_accept: list[ProposalToAccept] = Field(
        default=[], description="pending split changes this address must consent to (acceptSplit); only for the "
                                "ledger's latest block, like `undistributed`")


@router.get("/artists/{address}", response_model=ArtistSummary, responses={304: {"description": "Not modified (ETag)"}})
def artist_summary(address: str, request: Request, services: ServicesDep, db: DbDep,
                   as_of_block: OptionalBlock = None) -> Response:
    """Per token: sales of the artist's tracks (gross, platform fees, net to their splits,
    number of sales and buyers), and the address as a payee: credited, withdrawn, and
    owed now according to the contract itself (at `as_of_block` if given).

    The answer is a function of the ledger at its checkpoint: it carries an ETag that
    changes with the checkpoint's block hash (`If-None-Match` gives 304)."""
    who = _address(address, "address")
    assert who is not None
    _, contract = _chain(services)
    at = checkpoint(db, contract)
    if at is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    if as_of_block is not None and as_of_block > at[0]:
        raise ApiError(422, f"as_of_block {as_of_block} is past the ledger's last indexed block {at[0]}")
    return services.snapshots.respond(request, ("artist", contract, at[1], who, as_of_block),
                                      lambda: _artist_summary(services, db, who, at, as_of_block))


# Amounts are cast to text: SQLite stores them as text, PostgreSQL as NUMERIC(78,0), and a
# UNION needs one type per column.
_ARTIST_NOW = text("""
SELECT 'stats', token, CAST(sales AS TEXT), CAST(gross AS TEXT), CAST(fees AS TEXT), NULL
  FROM artist_stats WHERE artist = :who
UNION ALL
SELECT 'buyers', token, CAST(count(*) AS TEXT), NULL, NULL, NULL
  FROM artist_buyer WHERE artist = :who GROUP BY token
UNION ALL
SELECT 'balance', token, CAST(credited AS TEXT), CAST(withdrawn AS TEXT), NULL, NULL
  FROM account_balance WHERE account = :who
UNION ALL
SELECT 'waiting', sb.token, CAST(sb.received AS TEXT), CAST(sb.distributed AS TEXT), NULL, sb.split_id
  FROM split_balance sb JOIN split_recipient sr ON sr.split_id = sb.split_id WHERE sr.recipient = :who
""")


def _artist_summary(services: Any, db: Any, who: str, at: tuple[int, str], as_of_block: int | None) -> ArtistSummary:
    rpc, contract = _chain(services)
    cp, cp_hash = at
    block = cp if as_of_block is None else as_of_block
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    waiting: list[tuple[str, str, int]] = []
    proposals: list[ProposalToAccept] = []
    if as_of_block is None:
        # One round trip over the aggregates (this is what every new block costs).
        for kind, token, a, b, c, split_id in db.execute(_ARTIST_NOW, {"who": who}):
            p = per[token] if kind != "waiting" else {}
            if kind == "stats":
                p.update(sales=int(a), gross=int(b), fees=int(c))
            elif kind == "buyers":
                p["buyers"] = int(a)
            elif kind == "balance":
                p.update(credited=int(a), withdrawn=int(b))
            elif int(a) > int(b):
                # Sales waiting in splits this address is paid from: `distribute` moves them
                # to `owed` (the studio's one-click withdraw does both in one multicall).
                waiting.append((split_id, token, int(a) - int(b)))
        proposals = [ProposalToAccept(**p) for p in to_accept(db, who)]
    else:
        sale = T["sale"]
        q = select(sale.c.token, sale.c.amount, sale.c.platform_fee, sale.c.buyer).where(
            sale.c.artist == who, sale.c.block_number <= block)
        buyers: dict[str, set[str]] = defaultdict(set)
        for token, amount, fee, buyer in db.execute(q):
            p = per[token]
            p["sales"] += 1
            p["gross"] += int(amount)
            p["fees"] += int(fee)
            buyers[token].add(buyer)
        for token, b in buyers.items():
            per[token]["buyers"] = len(b)
        w = T["withdrawal"]
        for token, amount in db.execute(select(w.c.token, w.c.amount).where(w.c.account == who, w.c.block_number <= block)):
            per[token]["withdrawn"] += int(amount)
    tokens = sorted(per)
    # Only the checkpoint block's hash is known here; an older block is asked every time.
    by_key = _owed_cache.get_many(rpc, contract, block, cp_hash if as_of_block is None else "",
                                  [(who, t) for t in tokens])
    owed = {t: by_key[(who, t)] for t in tokens}
    out = []
    for t in tokens:
        p = per[t]
        symbol, decimals = services.tokens.info(t)
        in_ledger = p.get("credited", 0) - p.get("withdrawn", 0) if as_of_block is None else None
        credited = p.get("credited", 0) if as_of_block is None else owed[t] + p.get("withdrawn", 0)
        out.append(ArtistToken(
            token=t, token_symbol=symbol, token_decimals=decimals, sales=p.get("sales", 0), buyers=p.get("buyers", 0),
            gross=str(p.get("gross", 0)), fees=str(p.get("fees", 0)), net=str(p.get("gross", 0) - p.get("fees", 0)),
            credited=str(credited), withdrawn=str(p.get("withdrawn", 0)), owed=str(owed[t]),
            owed_in_ledger=None if in_ledger is None else str(in_ledger)))
    data = split_data(db, {w[0] for w in waiting})
    undistributed = [Undistributed(split_id=sid, token=token, amount=str(amount), recipients=data[sid][0],
                                   shares_ppm=data[sid][1]) for sid, token, amount in waiting]
    return ArtistSummary(address=who, as_of_block=block, tokens=out, undistributed=undistributed,
                         proposals_to_accept=proposals)


# ------------------------------------------------------------------ track


class PayeeShare(BaseModel):
    payee: str
    token: str
    credited: str


class DaySales(BaseModel):
    day: str
    sales: int
    gross: str


class SaleRef(BaseModel):
    block_number: int
    block_time: int
    tx_hash: str
    log_index: int


class TrackSummary(BaseModel):
    track_id: int
    artist: str
    token: str
    token_symbol: str
    token_decimals: int
    sales: int
    gross: str
    fees: str
    net: str
    payees: list[PayeeShare]
    first_sale: SaleRef | None
    last_sale: SaleRef | None
    sales_per_day: list[DaySales]


@router.get("/tracks/{track_id}", response_model=TrackSummary, responses={304: {"description": "Not modified (ETag)"}})
def track_summary(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """A track's sales: count, gross, fees, what each payee is credited from them (by the
    split each sale went to), first and last sale, and sales per day (UTC). Carries an
    ETag that changes with the ledger's checkpoint, like the artist summary."""
    contract = services.deployment.address.lower() if services.deployment is not None else ""
    at = checkpoint(db, contract) if contract else None
    if at is None:  # no checkpoint to name the state by: compute every time
        return Response(_track_summary(services, db, track_id).model_dump_json(), media_type="application/json")
    return services.snapshots.respond(request, ("track", contract, at[1], track_id),
                                      lambda: _track_summary(services, db, track_id))


def _track_summary(services: Any, db: Any, track_id: int) -> TrackSummary:
    track = db.execute(select(T["track"]).where(T["track"].c.track_id == track_id)).mappings().first()
    if track is None:
        raise ApiError(404, f"no track {track_id} in the ledger")
    sale = T["sale"]
    stats = db.execute(select(T["track_stats"]).where(T["track_stats"].c.track_id == track_id,
                                                       T["track_stats"].c.token == track["token"])).mappings().first()
    n, gross, fees = (int(stats["sales"]), int(stats["gross"]), int(stats["fees"])) if stats else (0, 0, 0)
    # The indexer's per-track aggregates: the cost does not grow with the number of sales.
    credited: dict[tuple[str, str], int] = defaultdict(int)
    sr, ts = T["split_recipient"], T["track_split"]
    for split_id, token, net in db.execute(select(ts.c.split_id, ts.c.token, ts.c.net).where(ts.c.track_id == track_id)):
        recipients = [(r, int(s)) for r, s in db.execute(
            select(sr.c.recipient, sr.c.share_ppm).where(sr.c.split_id == split_id).order_by(sr.c.position))]
        for payee, part in allot(int(net), recipients):
            credited[(payee, token)] += part
    td = T["track_day"]
    days = {int(day): (int(n), int(g)) for day, n, g in db.execute(
        select(td.c.day, td.c.sales, td.c.gross).where(td.c.track_id == track_id, td.c.token == track["token"]))}
    # Ordering by the whole (track_id, block, log) index keeps planners on that index.
    first = db.execute(select(sale).where(sale.c.track_id == track_id)
                       .order_by(sale.c.track_id, sale.c.block_number, sale.c.log_index).limit(1)).mappings().first()
    last = db.execute(select(sale).where(sale.c.track_id == track_id)
                      .order_by(sale.c.track_id.desc(), sale.c.block_number.desc(), sale.c.log_index.desc())
                      .limit(1)).mappings().first()
    def ref(r: Any) -> SaleRef | None:
        return None if r is None else SaleRef(block_number=r["block_number"], block_time=r["block_time"],
                                              tx_hash=r["tx_hash"], log_index=r["log_index"])

    symbol, decimals = services.tokens.info(track["token"])
    return TrackSummary(
        track_id=track_id, artist=track["artist"], token=track["token"], token_symbol=symbol,
        token_decimals=decimals, sales=n, gross=str(gross), fees=str(fees), net=str(gross - fees),
        payees=[PayeeShare(payee=p, token=t, credited=str(v)) for (p, t), v in sorted(credited.items())],
        first_sale=ref(first), last_sale=ref(last),
        sales_per_day=[DaySales(day=dt.datetime.fromtimestamp(d * 86400, dt.timezone.utc).date().isoformat(),
                                sales=n, gross=str(g)) for d, (n, g) in sorted(days.items())],
    )


# ------------------------------------------------------------------ splits


SPLIT_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class SplitOut(BaseModel):
    split_id: str
    recipients: list[str]
    shares_ppm: list[int]
    created_block: int
    tx_hash: str


@splits_router.get("/{split_id}", response_model=SplitOut)
def get_split(split_id: str, db: DbDep) -> SplitOut:
    """A split's recipients and shares, as its SplitCreated event logged them (the
    contract keeps only their hash: distribute() and proposeSplit() take them as input)."""
    if not SPLIT_ID.match(split_id):
        raise ApiError(422, f"{split_id!r} is not a split id (0x followed by 64 hex digits)")
    split_id = split_id.lower()
    row = db.execute(select(T["split"]).where(T["split"].c.split_id == split_id)).mappings().first()
    if row is None:
        raise ApiError(404, f"no split {split_id} in the ledger")
    recipients, shares = split_data(db, [split_id]).get(split_id, ([], []))
    return SplitOut(split_id=split_id, recipients=recipients, shares_ppm=shares, created_block=row["block_number"],
                    tx_hash=row["tx_hash"])


class SplitHistoryItem(BaseModel):
    split_id: str
    previous_split_id: str | None = Field(description="null for the split the track was registered with")
    recipients: list[str]
    shares_ppm: list[int]
    block_number: int
    tx_hash: str
    log_index: int


class SplitProposalOut(BaseModel):
    split_id: str
    recipients: list[str]
    shares_ppm: list[int]
    must_consent: list[str] = Field(description="payees of the split at the time who would lose share")
    accepted: list[str]
    missing: int
    status: Literal["pending", "applied", "superseded", "cancelled"] = Field(
        description="applied: the change landed; superseded: another change of the track landed first; cancelled: "
                    "the artist withdrew the track's pending proposals")
    block_number: int
    tx_hash: str


class TrackSplits(BaseModel):
    track_id: int
    split_id: str = Field(description="the split the track's sales go to now")
    history: list[SplitHistoryItem] = Field(description="oldest first, from the registration")
    proposals: list[SplitProposalOut] = Field(description="newest first")


@router.get("/tracks/{track_id}/splits", response_model=TrackSplits,
            responses={304: {"description": "Not modified (ETag)"}})
def track_splits(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """A track's split history (every change, with each split's data) and its split
    change proposals with their consents. Carries an ETag that changes with the ledger's
    checkpoint, like the summaries."""
    contract = services.deployment.address.lower() if services.deployment is not None else ""
    at = checkpoint(db, contract) if contract else None
    if at is None:
        return Response(_track_splits(db, track_id).model_dump_json(), media_type="application/json")
    return services.snapshots.respond(request, ("track_splits", contract, at[1], track_id),
                                      lambda: _track_splits(db, track_id))


def _track_splits(db: Any, track_id: int) -> TrackSplits:
    track = db.execute(select(T["track"]).where(T["track"].c.track_id == track_id)).mappings().first()
    if track is None:
        raise ApiError(404, f"no track {track_id} in the ledger")
    tsc = T["track_split_change"]
    changes = db.execute(select(tsc).where(tsc.c.track_id == track_id)
                         .order_by(tsc.c.block_number, tsc.c.log_index)).mappings().all()
    proposals = track_proposals(db, track_id)
    data = split_data(db, {track["registered_split_id"], *(c["split_id"] for c in changes)})
    history = [SplitHistoryItem(split_id=track["registered_split_id"], previous_split_id=None,
                                recipients=data.get(track["registered_split_id"], ([], []))[0],
                                shares_ppm=data.get(track["registered_split_id"], ([], []))[1],
                                block_number=track["block_number"], tx_hash=track["tx_hash"],
                                log_index=track["log_index"])]
    history += [SplitHistoryItem(split_id=c["split_id"], previous_split_id=c["previous_split_id"],
                                 recipients=data.get(c["split_id"], ([], []))[0],
                                 shares_ppm=data.get(c["split_id"], ([], []))[1], block_number=c["block_number"],
                                 tx_hash=c["tx_hash"], log_index=c["log_index"]) for c in changes]
    return TrackSplits(track_id=track_id, split_id=track["split_id"], history=history,
                       proposals=[SplitProposalOut(**{k: v for k, v in p.items() if k in SplitProposalOut.model_fields})
                                  for p in proposals])


# ------------------------------------------------------------------ reconciliation


class TokenCheck(BaseModel):
    token: str
    token_symbol: str
    contract_balance: str
    ledger_owed: str
    ledger_unallotted: str
    ledger_pools: str
    ledger_liabilities: str
    ok: bool


class Difference(BaseModel):
    kind: str
    key: str
    chain: str
    ledger: str


class Reconciliation(BaseModel):
    ok: bool
    block: int
    block_hash: str
    tokens: list[TokenCheck]
    accounts_checked: int
    splits_checked: int
    differences: list[Difference]


# One reconciliation per checkpoint (block hash), however many clients ask: it costs a
# few chain reads per account, split, token and pool.
_reconciliations = Snapshots(16)


@router.get("/reconciliation", response_model=Reconciliation,
            responses={304: {"description": "Not modified (ETag)"},
                       429: {"description": "Too many reconciliations from this client (Retry-After)"}})
def reconciliation(request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The database against the chain at the ledger's last indexed block: per token, the
    contract's balance vs what the ledger says it owes (owed + not yet allotted + sponsor
    pools, open or unclaimed); per pool, `poolBalance()` and `poolUnclaimed()`; per
    account, the contract's `owed()` vs the ledger; per split, `splitBalance()` vs the
    ledger. `ok` only when everything matches.

    Computed once per ledger checkpoint and kept: it carries an ETag that changes with the
    checkpoint's block hash, like the summaries."""
    _, contract = _chain(services)
    at = checkpoint(db, contract)
    if at is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    return _reconciliations.respond(request, ("reconciliation", services.chain_id, contract, at[1]),
                                    lambda: _reconcile(services, db, contract, at))


def _reconcile(services: Any, db: Any, contract: str, at: tuple[int, str]) -> Reconciliation:
    try:
        return _reconcile_at(services, db, contract, at)
    except MissingStateError as e:  # a pruned node: say so, not "the chain RPC is unavailable"
        raise ApiError(503, str(e.needs("reconciliation")), title="Archive node needed") from None


def _reconcile_at(services: Any, db: Any, contract: str, at: tuple[int, str]) -> Reconciliation:
    rpc, _ = _chain(services)
    block, tag = at[0], hex(at[0])
    cp = {"block_number": at[0], "block_hash": at[1]}
    accounts = {(r["account"], r["token"]): int(r["credited"]) - int(r["withdrawn"])
                for r in db.execute(select(T["account_balance"])).mappings()}
    splits = {(r["split_id"], r["token"]): int(r["received"]) - int(r["distributed"])
              for r in db.execute(select(T["split_balance"])).mappings()}
    # Sponsor pools: what the contract still holds per (epoch, token), open or unclaimed.
    pools = {(int(r["epoch"]), r["token"]): (int(r["funded"]) - int(r["withdrawn"]) - int(r["settled"]),
                                              int(r["allocated"]) - int(r["claimed"]))
             for r in db.execute(select(T["pool_total"])).mappings()}
    token_set = {ETH} | {t for _, t in accounts} | {t for _, t in splits} | {t for _, t in pools} | {
        r[0] for r in db.execute(select(T["token_allowance"].c.token).distinct())}
    token_list = sorted(token_set)
    bal_calls: list[tuple[str, list[Any]]] = []
    for t in token_list:
        if t == ETH:
            bal_calls.append(("eth_getBalance", [contract, tag]))
        else:
            data = keccak(text="balanceOf(address)")[:4] + encode(["address"], [contract])
            bal_calls.append(("eth_call", [{"to": t, "data": "0x" + data.hex()}, tag]))
    balances = [int(r, 16) if t == ETH else _uints([r])[0] for t, r in zip(token_list, rpc.batch_chunked(bal_calls))]
    acct_keys = sorted(accounts)
    split_keys = sorted(splits)
    chain_owed = _uints(rpc.batch_chunked(_owed_calls(contract, acct_keys, tag)))
    sb_sel = keccak(text="splitBalance(bytes32,address)")[:4]
    chain_split = _uints(rpc.batch_chunked([("eth_call", [{"to": contract, "data": "0x" + (sb_sel + encode(
        ["bytes32", "address"], [bytes.fromhex(s[2:]), t])).hex()}, tag]) for s, t in split_keys]))
    pool_keys = sorted(pools)
    chain_pools = dict(zip(pool_keys, onchain_pools(rpc, contract, block, pool_keys)))
    canonical = rpc.headers([block])[0]["hash"].lower()
    diffs: list[Difference] = []
    if canonical != cp["block_hash"]:
        diffs.append(Difference(kind="block", key=str(block), chain=canonical, ledger=cp["block_hash"]))
    checks = []
    for t, held in zip(token_list, balances):
        owed = sum(v for (_, tok), v in accounts.items() if tok == t)
        unallotted = sum(v for (_, tok), v in splits.items() if tok == t)
        pooled = sum(a + b for (_, tok), (a, b) in pools.items() if tok == t)
        liabilities = owed + unallotted + pooled
        ok = held == liabilities
        if not ok:
            diffs.append(Difference(kind="token_balance", key=t, chain=str(held), ledger=str(liabilities)))
        checks.append(TokenCheck(token=t, token_symbol=services.tokens.info(t)[0], contract_balance=str(held),
                                 ledger_owed=str(owed), ledger_unallotted=str(unallotted), ledger_pools=str(pooled),
                                 ledger_liabilities=str(liabilities), ok=ok))
    for key, onchain in zip(acct_keys, chain_owed):
        if onchain != accounts[key]:
            diffs.append(Difference(kind="owed", key=f"{key[0]}/{key[1]}", chain=str(onchain), ledger=str(accounts[key])))
    for key, onchain in zip(split_keys, chain_split):
        if onchain != splits[key]:
            diffs.append(Difference(kind="split_balance", key=f"{key[0]}/{key[1]}", chain=str(onchain),
                                    ledger=str(splits[key])))
    for key in pool_keys:
        for kind, ledger_value, chain_value in (("pool_balance", pools[key][0], chain_pools[key][0]),
                                                ("pool_unclaimed", pools[key][1], chain_pools[key][1])):
            if ledger_value != chain_value:
                diffs.append(Difference(kind=kind, key=f"{key[0]}/{key[1]}", chain=str(chain_value), ledger=str(ledger_value)))
    return Reconciliation(ok=not diffs, block=block, block_hash=cp["block_hash"], tokens=checks,
                          accounts_checked=len(acct_keys), splits_checked=len(split_keys), differences=diffs)


# ------------------------------------------------------------------ proofs


class Proof(BaseModel):
    table: str
    row: dict[str, Any]
    block_number: int
    block_hash: str
    canonical_block_hash: str
    canonical: bool
    transaction: dict[str, Any]
    log: dict[str, Any]
    decoded: dict[str, Any]
    matches: bool


@router.get("/proofs/{tx_hash}/{log_index}", response_model=Proof)
def proof(tx_hash: str, log_index: LogIndex, services: ServicesDep, db: DbDep) -> Proof:
    """Everything needed to check one ledger row against any RPC: its block (and whether
    that block is still canonical), its transaction, the raw log and its decoding, and
    whether the decoded log says what the row says."""
    if not TX_HASH.match(tx_hash):
        raise ApiError(422, f"{tx_hash!r} is not a transaction hash (0x followed by 64 hex digits)")
    if log_index < 0:
        raise ApiError(422, "log_index cannot be negative")
    tx_hash = tx_hash.lower()
    found = None
    for name in EVENT_TABLES:
        t = T[name]
        row = db.execute(select(t).where(t.c.tx_hash == tx_hash, t.c.log_index == log_index)).mappings().first()
        if row is not None:
            found = (name, {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53 else v)
                            for k, v in row.items()})
            break
    if found is None:
        raise ApiError(404, f"no ledger row for log {log_index} of transaction {tx_hash}")
    table, row = found
    rpc, contract = _chain(services)
    receipt, tx, header = rpc.batch([("eth_getTransactionReceipt", [tx_hash]), ("eth_getTransactionByHash", [tx_hash]),
                                     ("eth_getBlockByNumber", [hex(int(row["block_number"])), False])])
    if receipt is None or tx is None:
        raise ApiError(404, f"transaction {tx_hash} is not on the chain (any more): the row is orphaned")
    log = next((lg for lg in receipt["logs"] if int(lg["logIndex"], 16) == log_index), None)
    if log is None:
        raise ApiError(404, f"transaction {tx_hash} has no log {log_index} on the chain")
    event = Decoder().decode(log)
    decoded = {"event": event.name, "args": {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                                             for k, v in event.args.items()}} if event else {}
    canonical_hash = header["hash"].lower() if header else ""
    matches = bool(event) and log["address"].lower() == contract and log["blockHash"].lower() == row["block_hash"]
    if event is not None:
        matches = matches and _row_matches(table, row, event.args)
    return Proof(
        table=table, row=row, block_number=int(row["block_number"]), block_hash=row["block_hash"],
        canonical_block_hash=canonical_hash, canonical=canonical_hash == row["block_hash"],
        transaction={k: tx.get(k) for k in ("hash", "from", "to", "value", "input", "blockNumber", "blockHash",
                                            "transactionIndex", "nonce")},
        log={k: log.get(k) for k in ("address", "topics", "data", "logIndex", "blockNumber", "blockHash",
                                     "transactionHash")},
        decoded=decoded, matches=matches,
    )


_FIELDS = {
    "sale": {"track_id": "trackId", "buyer": "buyer", "token": "token", "amount": "amount",
             "platform_fee": "platformFee", "split_id": "splitId"},
    "withdrawal": {"account": "account", "token": "token", "amount": "amount", "paid_to": "to"},
    "distribution": {"split_id": "splitId", "token": "token", "amount": "amount"},
    "track": {"track_id": "trackId", "artist": "artist", "metadata_cid": "metadataCid"},
    "track_update": {"track_id": "trackId", "price": "price", "listed": "listed"},
    "track_split_change": {"track_id": "trackId", "previous_split_id": "previousSplitId", "split_id": "splitId"},
    "split_proposal": {"track_id": "trackId", "split_id": "splitId"},
    "split_consent": {"track_id": "trackId", "split_id": "splitId", "payee": "payee", "missing": "missing"},
    "split_proposal_cancellation": {"track_id": "trackId"},
    "split": {"split_id": "splitId"},
}


def _row_matches(table: str, row: dict[str, Any], args: dict[str, Any]) -> bool:
    for column, arg in _FIELDS.get(table, {}).items():
        have, want = row[column], args[arg]
        if isinstance(want, bool) or isinstance(have, bool):
            if bool(have) != bool(want):
                return False
        elif isinstance(want, int):
            if int(have) != want:
                return False
        elif str(have).lower() != str(want).lower():
            return False
    return True
