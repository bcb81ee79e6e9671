"""Summaries per artist (or any payee) and per track, from the indexer's aggregates, with
what the contract itself says is owed. Each is a function of the ledger at its
checkpoint, so each carries an ETag that changes with the checkpoint's block hash."""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict, defaultdict
from threading import Lock
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text

from backend.api.ledger.common import T, chain
from backend.catalog import genuine_releases
from backend.deps import DbDep, OptionalBlock, ServicesDep, TrackId
from backend.errors import ApiError
from backend.snapshots import checkpoint
from backend.splits import split_data, to_accept
from backend.validators import address as valid_address
from ninety.ledger.aggregates import allot
from ninety.reads import onchain_owed

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


class _OwedCache:
    """owed(account, token) at a given block never changes: remember answers per
    (block hash, account, token), so a popular artist page costs no RPC call."""

    def __init__(self, size: int = 50_000) -> None:
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
            values = onchain_owed(rpc, contract, block, missing)
            with self._lock:
                for k, v in zip(missing, values):
                    out[k] = v
                    if block_hash:
                        self._data[(block_hash, *k)] = v
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
        return out


_owed_cache = _OwedCache()


# ------------------------------------------------------------------ artist (or any payee)


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
    who = valid_address(address, "address")
    assert who is not None
    _, contract = chain(services)
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
    rpc, contract = chain(services)
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
    kind: str = Field(description="'track', or 'release' (whose own sales these are, not its tracks')")
    tracks: list[int] = Field(description="a release's tracks, in order; empty for a track")
    releases: list[int] = Field(description="the genuine releases holding this track (their metadata, pinned by "
                                            "their artist, lists it: their buyers may download it); empty for a "
                                            "release")
    release_sales: int = Field(description="sales of those releases (each also delivers this track); not "
                                           "counted in `sales`")


@router.get("/tracks/{track_id}", response_model=TrackSummary, responses={304: {"description": "Not modified (ETag)"}})
def track_summary(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """A track's sales: count, gross, fees, what each payee is credited from them (by the
    split each sale went to), first and last sale, and sales per day (UTC). Carries an
    ETag that changes with the ledger's checkpoint, like the artist summary.

    A release id gives the release's own sales and its tracks; a track's answer also
    names the releases holding it and counts their sales (`release_sales`)."""
    contract = services.deployment.address.lower() if services.deployment is not None else ""
    at = checkpoint(db, contract) if contract else None
    releases = genuine_releases(db, track_id)
    if at is None:  # no checkpoint to name the state by: compute every time
        return Response(_track_summary(services, db, track_id, releases).model_dump_json(),
                        media_type="application/json")
    # Which releases are genuine is decided when their metadata is fetched, not at a block:
    # they are part of the state the answer (and its ETag) is named by.
    return services.snapshots.respond(request, ("track", contract, at[1], track_id, *releases),
                                      lambda: _track_summary(services, db, track_id, releases))


def _track_summary(services: Any, db: Any, track_id: int, releases: list[int]) -> TrackSummary:
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
    rt, stats_t = T["release_track"], T["track_stats"]
    members = [int(t) for t in db.execute(select(rt.c.track_id).where(rt.c.release_id == track_id)
                                          .order_by(rt.c.position)).scalars()]
    release_sales = sum(int(n) for n in db.execute(select(stats_t.c.sales).where(
        stats_t.c.track_id.in_(releases))).scalars()) if releases else 0
    return TrackSummary(
        track_id=track_id, artist=track["artist"], token=track["token"], token_symbol=symbol,
        token_decimals=decimals, sales=n, gross=str(gross), fees=str(fees), net=str(gross - fees),
        payees=[PayeeShare(payee=p, token=t, credited=str(v)) for (p, t), v in sorted(credited.items())],
        first_sale=ref(first), last_sale=ref(last),
        sales_per_day=[DaySales(day=dt.datetime.fromtimestamp(d * 86400, dt.timezone.utc).date().isoformat(),
                                sales=n, gross=str(g)) for d, (n, g) in sorted(days.items())],
        kind=track["kind"], tracks=members, releases=releases, release_sales=release_sales,
    )
