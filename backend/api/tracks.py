"""The catalog: tracks from the ledger with their IPFS metadata, public previews and
artwork, and purchase-gated downloads decided by the ledger's Sale rows."""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Iterator, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from sqlmodel import select as select_model

from backend import audio
from backend.crypto import decrypt_range
from backend.deps import MAX_DB_INT, DbDep, ServicesDep, TrackId, WalletDep
from backend.errors import ApiError
from backend.models import EpochReport, FreeDownload, Upload
from backend.ranges import parse_range
from backend.splits import pending_counts
from ninety.errors import NinetyError
from ninety.market import ETH

log = logging.getLogger(__name__)
T_ = TypeVar("T_")
router = APIRouter(prefix="/api/tracks", tags=["catalog"])
T = SQLModel.metadata.tables
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


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


class TrackPage(BaseModel):
    items: list[TrackOut]
    next_cursor: str | None


def token_info(services: Any, token: str) -> tuple[str, int]:
    if token == ETH:
        return "ETH", 18
    if services.deployment is not None:
        for symbol, t in services.deployment.tokens.items():
            if t.address.lower() == token:
                return t.symbol, t.decimals
    return "?", 0


def _query() -> Select[Any]:
    return select(T["track"])


def _deliverable() -> Any:
    """This server holds the track's files, uploaded by the wallet that registered it.
    With attested listings the chain already guarantees it; this is defence in depth
    (and what keeps copies listed while registration was open out of the store)."""
    track, upload = T["track"], T["upload"]
    return (select(upload.c.id).where(upload.c.metadata_cid == track.c.metadata_cid,
                                      upload.c.artist == track.c.artist).exists())


def _item(services: Any, row: Any, pending: int = 0) -> TrackOut:
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


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


PRICE_SORT = re.compile(r"^[0-9]{78}$")


def _same_recording(name: str) -> tuple[Any, Any, Any]:
    """(listing, joined, condition): `listing` ranges over the tracks that list the same
    recording as the track being queried (same decoded audio among this server's uploads,
    each listed by its own uploader), the track itself included; `joined` is what to
    select from, `condition` ties it to the outer `track` row."""
    track, upload = T["track"], T["upload"]
    mine, other, listing = upload.alias(f"{name}_mine"), upload.alias(f"{name}_other"), track.alias(f"{name}_listing")
    joined = (mine.join(other, other.c.audio_hash == mine.c.audio_hash)
              .join(listing, and_(listing.c.metadata_cid == other.c.metadata_cid, listing.c.artist == other.c.artist)))
    return listing, joined, and_(mine.c.metadata_cid == track.c.metadata_cid, mine.c.artist == track.c.artist)


def _recording_taken_down() -> Any:
    """The reason CIDs of takedowns of the same recording listed as another track: a
    block covers the recording, not only the one listing (the attestation lists each CID
    once, not each recording)."""
    listing, joined, this = _same_recording("taken")
    return select(listing.c.block_reason_cid).select_from(joined).where(this, listing.c.blocked.is_(True))


def _registered_first_by_another() -> Any:
    """The same recording listed earlier by another wallet: the first registration owns
    it, so a later copy is not shown (closing the hour a saved listing attestation stays
    valid after the owner registers)."""
    track = T["track"]
    listing, joined, this = _same_recording("first")
    earlier = or_(listing.c.block_number < track.c.block_number,
                  and_(listing.c.block_number == track.c.block_number, listing.c.log_index < track.c.log_index))
    return select(listing.c.track_id).select_from(joined).where(this, listing.c.artist != track.c.artist, earlier)


def _uncursor(raw: str, sort: str) -> dict[str, Any]:
    """A cursor we made: {"sort", "id": last track id, and per order "p" (price_sort) or
    "s" (sales)}. Anything else, however crafted, is a 422."""

    def whole(value: Any) -> bool:  # bool is an int in Python, and JSON allows 1e999
        return type(value) is int and 0 <= value <= MAX_DB_INT

    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(data, dict) or data.get("sort") != sort or not whole(data.get("id")):
            raise ValueError
        if sort == "price" and not (isinstance(data.get("p"), str) and PRICE_SORT.match(data["p"])):
            raise ValueError
        if sort == "sales" and not whole(data.get("s")):
            raise ValueError
        return data
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, "cursor is malformed or belongs to another sort order; start again without it") from None


@router.get("", response_model=TrackPage)
def list_tracks(
    services: ServicesDep,
    db: DbDep,
    q: str | None = Query(None, max_length=100, description="search title, artist name and genre"),
    artist: str | None = Query(None, description="only this artist's tracks (address)"),
    genre: str | None = Query(None, max_length=100),
    sort: Literal["newest", "price", "sales"] = "newest",
    include_unlisted: bool = False,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> TrackPage:
    """Catalog search with cursor pagination (`next_cursor` until it is null). Only
    tracks this server can deliver: genuine (see the README), not blocked, and with the
    files their registrant uploaded here. `include_unlisted` adds tracks their artist
    took off sale. Every order is a keyset page over an index."""
    track = T["track"]
    stmt = _query().where(track.c.genuine.is_(True), track.c.blocked.is_(False), _deliverable(),
                          ~_recording_taken_down().exists(), ~_registered_first_by_another().exists())
    if not include_unlisted:
        stmt = stmt.where(track.c.listed.is_(True))
    if artist is not None:
        if not ADDRESS.match(artist):
            raise ApiError(422, f"artist {artist!r} is not an address")
        stmt = stmt.where(track.c.artist == artist.lower())
    if genre:
        stmt = stmt.where(func.lower(track.c.genre) == genre.lower())
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(func.lower(track.c.title).like(like), func.lower(track.c.artist_name).like(like),
                              func.lower(track.c.genre).like(like)))
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
        next_cursor = _cursor({"sort": sort, "id": last["track_id"], **({"p": last["price_sort"]} if sort == "price" else {}),
                               **({"s": int(last["sales"])} if sort == "sales" else {})})
    pending = pending_counts(db, [r["track_id"] for r in rows])
    return TrackPage(items=[_item(services, r, pending.get(r["track_id"], 0)) for r in rows], next_cursor=next_cursor)


def _track(db: Any, track_id: int) -> Any:
    """A track this server can show: 404 for one it does not know, or whose files were
    not uploaded here by the wallet that registered it (a copy listed from another wallet)."""
    row = db.execute(_query().where(T["track"].c.track_id == track_id)).mappings().first()
    if row is None:
        raise ApiError(404, f"no track {track_id} in the ledger")
    if not row["genuine"] or _upload_of(db, row) is None:
        raise ApiError(404, f"track {track_id} is not available here: it was not uploaded through this server by "
                            "the wallet that listed it", title="Not available")
    first = db.execute(_registered_first_by_another().where(T["track"].c.track_id == track_id).limit(1)).scalar()
    if first is not None:
        raise ApiError(404, f"track {track_id} is not available here: its recording was listed first by another "
                            f"wallet, as track {first}", title="Not available")
    if not row["blocked"]:
        reason = db.execute(_recording_taken_down().where(T["track"].c.track_id == track_id).limit(1)).scalar()
        if reason is not None:  # another listing of this recording was taken down
            row = {**row, "blocked": True, "block_reason_cid": reason}
    return row


def _upload_of(db: Any, row: Any) -> Upload | None:
    """The registrant's own upload of the track's files (never another wallet's)."""
    return db.exec(select_model(Upload).where(Upload.metadata_cid == row["metadata_cid"],
                                              Upload.artist == row["artist"])).first()


def _refuse_if_blocked(row: Any) -> None:
    if row["blocked"]:
        raise ApiError(451, f"track {row['track_id']} was taken down; the reason is public at "
                            f"ipfs://{row['block_reason_cid']}", title="Unavailable for legal reasons",
                       reason_cid=row["block_reason_cid"])


@router.get("/{track_id}", response_model=TrackOut)
def get_track(track_id: TrackId, services: ServicesDep, db: DbDep) -> TrackOut:
    """One track: its on-chain listing and its metadata (`blocked` with the reason's CID
    if it was taken down). 404 for a track this server cannot deliver."""
    return _item(services, _track(db, track_id), pending_counts(db, [track_id]).get(track_id, 0))


_ASSET_HEADS: dict[str, tuple[int, str]] = {}  # cid -> (size, media type): CIDs never change


def _serve_bytes(request: Request, services: Any, cid: str, extra: dict[str, str] | None = None) -> Response:
    """Stream `cid` from IPFS, Range supported, never holding the file whole. A whole
    file is verified against its CID as it streams (a mismatch cuts the response)."""
    ipfs = services.ipfs
    if cid not in _ASSET_HEADS:
        head = ipfs.cat(cid, offset=0, length=64)
        kind = audio.AUDIO_TYPES.get(audio.sniff_audio(head) or "") or audio.sniff_image(head[:16])
        if len(_ASSET_HEADS) > 4096:
            _ASSET_HEADS.clear()
        _ASSET_HEADS[cid] = (ipfs.size(cid), kind or "application/octet-stream")
    size, media_type = _ASSET_HEADS[cid]
    headers = {"Accept-Ranges": "bytes", **(extra or {})}
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size - 1)
    chunks = ipfs.stream(cid) if span is None else ipfs.stream(cid, offset=start, length=end - start + 1)
    first = next(chunks, b"")  # fetched now: IPFS trouble is an error response, not a cut stream

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    headers["Content-Length"] = str(end - start + 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(body(), status_code=206 if span is not None else 200, media_type=media_type,
                             headers=headers)


def _asset(request: Request, services: Any, db: Any, track_id: int, column: str, what: str) -> Response:
    """A public file of the track, streamed from IPFS, Range supported: only files this
    server made and pinned itself (its upload of the track), never a CID the track's
    metadata names on its own, which anyone registering a track can point anywhere."""
    row = _track(db, track_id)  # 404 unless its registrant uploaded it here
    _refuse_if_blocked(row)
    upload = _upload_of(db, row)
    assert upload is not None
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    return _serve_bytes(request, services, getattr(upload, column),
                        {"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/{track_id}/preview", responses={206: {"description": "a byte range"}})
def preview(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The public preview clip (Ogg Vorbis, Range requests supported), for tracks
    uploaded through this server; a whole file is verified against its CID as it streams."""
    return _asset(request, services, db, track_id, "preview_cid", "preview")


@router.get("/{track_id}/artwork")
def artwork(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The track's artwork (PNG or JPEG, re-encoded without metadata at upload), for
    tracks uploaded through this server; verified against its CID as it streams."""
    return _asset(request, services, db, track_id, "artwork_cid", "artwork")


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .") or "track"
    return cleaned[:150]


def _is_free(row: Any) -> bool:
    return row["token"] == ETH and int(row["price"]) == 0 and bool(row["listed"])


@router.get("/{track_id}/download", responses={206: {"description": "a byte range"}})
def download(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep, wallet: WalletDep) -> Response:
    """The full original file, for a signed-in wallet that bought the track (a Sale of it
    in the ledger), or for any signed-in wallet if the track is free (an ETH price of 0).
    Serving a file never counts toward the sponsor pools (any site can make a signed-in
    browser send a GET): a listener signs the download and POSTs it to
    `/api/tracks/{track_id}/free-download`. 401 without a session, 403 without a
    purchase. Range requests work."""
    row = _track(db, track_id)
    _refuse_if_blocked(row)
    free = _is_free(row)
    if not free:
        sale = T["sale"]
        bought = db.execute(select(sale.c.tx_hash).where(sale.c.track_id == track_id, sale.c.buyer == wallet).limit(1)).first()
        if bought is None:
            raise ApiError(403, f"{wallet} has not bought track {track_id}: buy it, then download once the sale is indexed",
                           title="Purchase required")
    upload = _upload_of(db, row)
    assert upload is not None  # _track refused the track otherwise
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    key = services.master_key.unwrap(upload.wrapped_key)
    span = parse_range(request.headers.get("range"), upload.size)
    start, end = span if span is not None else (0, upload.size - 1)
    ipfs = services.ipfs
    prefix = bytes.fromhex(upload.nonce_prefix)
    if upload.size == 0:
        body: Iterator[bytes] = iter([b""])
    else:
        # The first chunk is fetched now, so IPFS trouble is an error response, not a cut stream.
        chunks = decrypt_range(lambda off, n: ipfs.cat(upload.audio_cid, offset=off, length=n),
                               key, prefix, upload.size, start, end, upload.chunk_size)
        first = next(chunks)

        def body_iter() -> Iterator[bytes]:
            yield first
            yield from chunks

        body = body_iter()
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1 if upload.size else 0),
        "Content-Disposition": f'attachment; filename="{_safe_name(upload.file_name)}"',
        "Cache-Control": "private, no-store",
    }
    status = 200
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{upload.size}"
        status = 206
    return StreamingResponse(body, status_code=status, media_type=upload.content_type, headers=headers)


# ------------------------------------------------------------------ signed free downloads

# A wallet's recorded free downloads per epoch, at most (more answer counted: false and
# are not recorded): every recorded download is a leaf of the epoch's public report.
MAX_RECORDED_FREE_DOWNLOADS = 50
# Per client address, like the sign-in limit: each request recovers a signature, reads the
# chain head (cached) and the listener's standing. NINETY_RATE_LIMITS=off turns it off
# with the others.
FREE_DOWNLOAD_RATE = "60/minute"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error answered as problem details (RFC 9457)."""
    return {"description": description, "content": {"application/problem+json": {"schema": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}}}}}}


class FreeDownloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(..., strict=True, ge=0, le=MAX_DB_INT,
                       description="the current epoch (by the chain's latest block time), as signed")
    signature: str = Field(..., strict=True, min_length=132, max_length=132, pattern=SIGNATURE,
                           description="the listener's EIP-712 signature of FreeDownload(uint256 trackId,uint256 "
                                       "epoch), domain {name: \"Ninety\", version: \"1\", chainId, verifyingContract: "
                                       "the Marketplace}: 0x and 65 bytes (r, s, v), low s")


class FreeDownloadOut(BaseModel):
    track_id: int
    epoch: int
    counted: bool = Field(description="whether it counts toward the epoch's pools as things stand now (the epoch's "
                                      "report decides, as of the block it was recorded at)")
    reason: str = Field(description="why it does not count; empty when it does")
    receipt: str | None = Field(description="the server's signature over what it recorded (0x…): EIP-712 "
                                            "FreeDownloadRecorded(listener, trackId, epoch, blockNumber, "
                                            "signatureHash), to check against the epoch's published report; null "
                                            "when nothing was recorded")
    block_number: int | None = Field(description="the block the download was recorded at (its eligibility is "
                                                 "judged there); null when nothing was recorded")


def _enforce_free_download_rate(request: Request, services: Any) -> None:
    from limits import parse_many

    from backend.ratelimit import _namespaced, client_address, client_key, parse_proxies

    limits = services.rate_limits
    if limits is None or not limits.enabled:
        return
    if "free_download" not in limits.items:
        spec = getattr(services.settings, "rate_limit_free_download", None) or FREE_DOWNLOAD_RATE
        limits.items["free_download"] = [_namespaced(i, "free_download") for i in parse_many(spec)]
    who = client_key(client_address(request.scope, parse_proxies(getattr(services.settings, "trusted_proxies", ()))))
    try:
        refusal = limits.hit("free_download", who)
    except Exception:  # the counters' store is down: serve rather than refuse everyone (as the middleware does)
        log.exception("rate limit storage failed; letting the request through")
        return
    if refusal is not None:
        raise ApiError(429, f"too many free downloads recorded from your address; try again in {refusal.retry_after} s",
                       headers={"Retry-After": str(refusal.retry_after)})


def _split_pays(db: Any, split_id: str, wallet: str) -> bool:
    sr = T["split_recipient"]
    return db.execute(select(sr.c.position).where(sr.c.split_id == split_id, sr.c.recipient == wallet)
                      .limit(1)).first() is not None


def _lock_wallet(db: Any, wallet: str) -> None:
    """Serialise one wallet's recordings (PostgreSQL: a transaction-scoped advisory lock),
    so two at once cannot both pass the per-epoch cap. SQLite serialises writers itself,
    and the cap is checked again after the insert."""
    if db.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(wallet[2:18]), "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# Reading an epoch's committed rules means fetching them from IPFS once (then they are
# cached): a request waits for that at most RULES_WAIT_SECONDS, while the fetch goes on in
# the background, and a failed fetch (IPFS down, a CID nobody serves) is remembered for
# RULES_RETRY_SECONDS, so requests meanwhile answer at once instead of each tying up a
# worker for the IPFS timeout.
RULES_WAIT_SECONDS = 5.0
RULES_RETRY_SECONDS = 30.0
_unreadable: dict[tuple[str, int], tuple[float, Exception]] = {}
_fetching: dict[tuple[str, int], Future[Any]] = {}
_slow: set[tuple[str, int]] = set()  # fetches a request already waited for in vain
_rules_lock = threading.Lock()
_rules_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool-rules")


class RulesUnreadable(Exception):
    def __init__(self, reason: str, committed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.committed = committed  # false: no rules are committed for the epoch (nothing counts)


def _remember(key: tuple[str, int], error: Exception) -> None:
    with _rules_lock:
        if len(_unreadable) > 1024:
            _unreadable.clear()
        _unreadable[key] = (time.monotonic() + RULES_RETRY_SECONDS, error)


def _unreadable_because(error: Exception, epoch: int) -> RulesUnreadable:
    if isinstance(error, LookupError):  # e.g. no rules committed for the epoch: nothing can count
        return RulesUnreadable(f"{error}: nothing counts in epoch {epoch}", committed=False)
    return RulesUnreadable("whether it counts cannot be judged right now (the epoch's pool rules cannot be read); "
                           "try again later", committed=True)


def judged(services: Any, epoch: int, judge: Callable[[], T_]) -> T_:
    """`judge()` (something that reads the epoch's committed rules), or RulesUnreadable
    saying why it cannot be done now (see RULES_WAIT_SECONDS)."""
    from backend.epochs import rules_for

    key = (str(getattr(services.deployment, "address", "")).lower(), epoch)
    with _rules_lock:
        failed = _unreadable.get(key)
        if failed is not None and time.monotonic() >= failed[0]:
            failed = None
            del _unreadable[key]
        fetch = None if failed is not None else _fetching.get(key)
        if failed is None and fetch is None:
            fetch = _fetching[key] = _rules_pool.submit(rules_for, services, epoch)
    if failed is not None:
        raise _unreadable_because(failed[1], epoch)
    assert fetch is not None
    try:
        # Once a request has waited in vain, the others do not wait for the same fetch.
        fetch.result(timeout=0 if key in _slow else RULES_WAIT_SECONDS)
        with _rules_lock:
            _fetching.pop(key, None)
        return judge()
    except FutureTimeout:
        if key not in _slow:
            log.warning("epoch %d's pool rules are still being fetched after %.0f s", epoch, RULES_WAIT_SECONDS)
            _slow.add(key)
            fetch.add_done_callback(lambda _: _slow.discard(key))
        raise _unreadable_because(TimeoutError(), epoch) from None
    except (LookupError, ValueError, NinetyError) as e:
        if not isinstance(e, LookupError):
            log.warning("cannot read epoch %d's pool rules: %s", epoch, e)
        with _rules_lock:
            _fetching.pop(key, None)
        _remember(key, e)
        raise _unreadable_because(e, epoch) from None


def standing_or_why(db: Any, services: Any, epoch: int, wallet: str, *, amounts: bool = True) -> dict[str, Any]:
    """backend.epochs.standing, or, when the epoch's rules cannot be read (none committed,
    not Ninety rules, IPFS or the chain unavailable), a standing that does not qualify and
    says why (`free_downloads` None)."""
    from backend.epochs import standing

    try:
        return judged(services, epoch, lambda: standing(db, services, epoch, wallet, amounts=amounts))
    except RulesUnreadable as e:
        return {"qualifies": False, "reason": e.reason, "can_direct": [], "free_downloads": None}


def _answer(db: Any, services: Any, record: FreeDownload, wallet: str) -> FreeDownloadOut:
    """A recorded download as it stands: counted if the track's split (when recorded) did
    not pay the listener and the listener qualifies in the epoch."""
    if _split_pays(db, record.split_id, wallet):
        counted, reason = False, "the track's split pays you: your own downloads never count"
    else:
        mine = standing_or_why(db, services, record.epoch, wallet, amounts=False)  # one wallet's sales only
        counted, reason = bool(mine["qualifies"]), ("" if mine["qualifies"] else str(mine["reason"]))
    return FreeDownloadOut(track_id=record.track_id, epoch=record.epoch, counted=counted, reason=reason,
                           receipt=record.receipt, block_number=record.block_number)


@router.post("/{track_id}/free-download", response_model=FreeDownloadOut, responses={
    401: problem_response("Not signed in"),
    403: problem_response("The signature is not the signed-in wallet's (another wallet, track or epoch), or the "
                          "request comes from another site"),
    404: problem_response("No such track here"),
    409: problem_response("The epoch is not the current one (`current_epoch` says which is) or is already "
                          "published, or the track is not free (listed at an ETH price of 0)"),
    422: problem_response("Malformed body: epoch must be a whole number, signature 0x and 130 hex digits, a valid "
                          "low-s signature"),
    429: problem_response("Too many free downloads recorded from this client (Retry-After)"),
    451: problem_response("The track was taken down (`reason_cid`)"),
    503: problem_response("No chain RPC or contract configured, or the chain RPC is unavailable"),
})
def record_free_download(track_id: TrackId, body: FreeDownloadIn, request: Request, services: ServicesDep,
                         db: DbDep, wallet: WalletDep) -> FreeDownloadOut:
    """Record a free download toward the sponsor pools, signed by the listener.

    The signed-in wallet signs the EIP-712 message FreeDownload(trackId, epoch) for the
    current epoch (by the chain's latest block time). It is recorded once per wallet, track
    and epoch (a repeat answers the same record), published in the epoch's report with the
    signature, and answered with the server's receipt. Whether it counts is decided when the
    epoch is closed; `counted` and `reason` say how it stands now. Only a wallet that
    qualifies now (a purchase from another artist in the window, in the ledger) is
    recorded; otherwise, or for a track whose split pays the listener, or beyond 50 per
    wallet and epoch, nothing is recorded (`counted` false, `receipt` null) and the reason
    says why: sign again once you qualify."""
    from ninety.attest import recover_free_download

    _enforce_free_download_rate(request, services)
    if services.rpc is None or services.deployment is None or services.chain_id is None:
        raise ApiError(503, "this server has no chain RPC or contract configured: free downloads cannot be recorded")
    row = _track(db, track_id)
    _refuse_if_blocked(row)
    if not _is_free(row):
        raise ApiError(409, f"track {track_id} is not free (listed at an ETH price of 0): only free downloads are "
                            "recorded", title="Not a free track")
    from backend.epochs import current_epoch

    epoch, head_block, head_time = current_epoch(services)
    if body.epoch != epoch:
        raise ApiError(409, f"epoch {body.epoch} is not the current epoch: the current epoch is {epoch} (by the chain's "
                            f"latest block time); sign FreeDownload({track_id}, {epoch})", title="Not the current epoch",
                       current_epoch=epoch)
    if db.execute(select(T["epoch"].c.epoch).where(T["epoch"].c.epoch == epoch)).first() is not None \
            or db.get(EpochReport, epoch) is not None:  # the chain RPC's head lags behind the publication
        raise ApiError(409, f"epoch {epoch} is already published: it takes no more downloads (the chain RPC's latest "
                            "block is behind; try again in a moment)", title="Not the current epoch")
    contract = services.deployment.address
    signer = recover_free_download(services.chain_id, contract, track_id, body.epoch, body.signature)
    if signer is None:
        raise ApiError(422, "signature is not a valid signature: 65 bytes (r, s, v) with a low s, as wallets make "
                            "for eth_signTypedData_v4")
    if signer.lower() != wallet:
        raise ApiError(403, f"the signature is not {wallet}'s signature of FreeDownload({track_id}, {body.epoch}) on "
                            "this chain and Marketplace (it is another wallet's, or of another track or epoch)",
                       title="Wrong signer")

    key = (epoch, track_id, wallet)
    record = db.get(FreeDownload, key)
    if record is not None:
        return _answer(db, services, record, wallet)
    if _split_pays(db, row["split_id"], wallet):
        return FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                               reason="the track's split pays you: your own downloads never count (not recorded)")
    # Only a wallet that qualifies now is recorded: every record is a leaf of the public
    # report and a check at close and in every verify, so it must cost a real purchase
    # (wallets that never bought cannot grow the report for free).
    mine = standing_or_why(db, services, epoch, wallet, amounts=False)
    if not mine["qualifies"]:
        return FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                               reason=f"{str(mine['reason']).rstrip('.')}. Not recorded: once you qualify, sign this "
                                      "download again (a purchase counts once it is in the ledger)")
    fd = FreeDownload
    over = FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                           reason=f"you have recorded {MAX_RECORDED_FREE_DOWNLOADS} free downloads this epoch, the "
                                  "most a wallet may (not recorded)")

    def recorded() -> int:
        return int(db.execute(select(func.count()).select_from(fd)
                              .where(fd.epoch == epoch, fd.wallet == wallet)).scalar() or 0)

    _lock_wallet(db, wallet)
    if recorded() >= MAX_RECORDED_FREE_DOWNLOADS:
        db.rollback()
        return over
    receipt = services.catalog.sign_receipt(services.chain_id, contract, wallet, track_id, epoch, int(head_block),
                                            body.signature.lower())
    record = fd(epoch=epoch, track_id=track_id, wallet=wallet, split_id=row["split_id"],
                signature=body.signature.lower(), block_number=int(head_block), block_time=int(head_time),
                receipt=receipt, created_at=time.time())
    db.add(record)
    try:
        db.flush()
        if recorded() > MAX_RECORDED_FREE_DOWNLOADS:  # another of this wallet's got in first
            db.rollback()
            return over
        db.commit()
    except IntegrityError:  # the same download, twice at once: recorded once
        db.rollback()
        record = db.get(FreeDownload, key)
        assert record is not None
    return _answer(db, services, record, wallet)
