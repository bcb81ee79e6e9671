"""A payee's (or artist's) monthly statement: JSON, CSV or PDF (backend.statements)."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from threading import Lock
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response

from backend.api.ledger.common import chain
from backend.deps import DbDep, ServicesDep
from backend.errors import ApiError
from backend.ratelimit import client_of
from backend.snapshots import checkpoint
from backend.statements import DETAIL_PAGE_LINES, build, ledger_time, to_csv, to_pdf
from ninety.ledger.statement import month_bounds, not_begun

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/ledger", tags=["ledger"])
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# A statement costs a scan of the address's rows (and a PDF its rendering): per client.
STATEMENT_RATE = "60/minute"


class _Cache:
    """Answers (the bytes sent: JSON, CSV or PDF) per (contract, checkpoint hash, address,
    month, format, page): the same ledger state gives the same statement, so a page
    reloaded costs nothing. Bounded in bytes, not entries: a busy month's statement is
    megabytes, and anybody can fill the cache by cycling addresses and months (or by
    waiting for new blocks). An answer over `entry_bytes` is not kept at all."""

    def __init__(self, max_bytes: int = 16 * 2**20, entry_bytes: int = 4 * 2**20) -> None:
        self._data: "OrderedDict[tuple[str, ...], bytes]" = OrderedDict()
        self._max, self._entry, self._held, self._lock = max_bytes, entry_bytes, 0, Lock()

    def get(self, key: tuple[str, ...]) -> bytes | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
            return self._data.get(key)

    def put(self, key: tuple[str, ...], value: bytes | dict[str, Any]) -> None:
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        if len(data) > self._entry:
            return
        with self._lock:
            old = self._data.pop(key, None)
            self._held -= len(old) if old is not None else 0
            self._data[key] = data
            self._held += len(data)
            while self._held > self._max:
                _, dropped = self._data.popitem(last=False)
                self._held -= len(dropped)

    @property
    def held(self) -> int:
        return self._held


_cache = _Cache()


def _limit(request: Request, services: Any) -> None:
    limits = services.rate_limits
    if limits is None or not limits.enabled:
        return
    limits.define("statement", STATEMENT_RATE)
    try:
        refusal = limits.hit("statement", client_of(request.scope, services.settings.trusted_proxies))
    except Exception:  # the counters' store is down: serve rather than refuse everyone (as the middleware does)
        log.exception("rate limit storage failed; letting the request through")
        return
    if refusal is not None:
        raise ApiError(429, f"too many statements from your address; try again in {refusal.retry_after} s",
                       headers={"Retry-After": str(refusal.retry_after)})


def statement_for(services: Any, db: Any, who: str, month: str, detail_offset: int = 0,
                  detail_limit: int | None = None) -> dict[str, Any]:
    """The presented statement (JSON-ready) at the ledger's checkpoint."""
    _, contract = chain(services)
    out = build(db, contract, who, month, services.tokens.info, detail_offset, detail_limit)
    if out is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    return out


def _etag(who: str, month: str, block_hash: str, fmt: str, detail_offset: int) -> str:
    return '"' + hashlib.sha256(f"{who}|{month}|{block_hash}|{fmt}|{detail_offset}".encode()).hexdigest()[:32] + '"'


# What the route offers, in its order of preference when a client likes several as much.
OFFERS = (("application/json", "json"), ("text/csv", "csv"), ("application/pdf", "pdf"))
_MAX_RANGES = 32  # a longer Accept is not a browser's or a library's: the rest is ignored


def negotiate(accept: str | None) -> str | None:
    """The format to answer an `Accept` header with (RFC 9110 12.5.1): each offer gets the
    q of the most specific range matching it (type/subtype, then type/*, then */*), q=0
    means refused, the highest q wins (ties: JSON, CSV, PDF). No header, or one without a
    readable media range: JSON. None: nothing offered is acceptable (406)."""
    if accept is None or not accept.strip():
        return "json"
    ranges: list[tuple[str, str, float]] = []
    for part in accept.split(",")[:_MAX_RANGES]:
        fields = [f.strip() for f in part.split(";")]
        kind, _, sub = fields[0].lower().partition("/")
        if not kind or not sub:
            continue
        q = 1.0
        for f in fields[1:]:
            name, _, value = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
                if not 0 <= q <= 1 or len(value.strip()) > 5:
                    q = -1.0  # not a qvalue: the range is ignored
        if q >= 0:
            ranges.append((kind, sub, q))
    if not ranges:  # nothing readable in it: as if there were no header (RFC 9110 12.5.1 allows either)
        return "json"
    best, best_q = None, 0.0
    for media, fmt in OFFERS:
        kind, sub = media.split("/")
        found = None
        for rk, rs, q in ranges:
            rank = 2 if (rk, rs) == (kind, sub) else 1 if (rk == kind and rs == "*") else 0 if (rk, rs) == ("*", "*") else -1
            if rank >= 0 and (found is None or rank > found[0]):
                found = (rank, q)
            elif rank >= 0 and found is not None and rank == found[0]:
                found = (rank, max(found[1], q))
        if found is not None and found[1] > best_q:
            best, best_q = fmt, found[1]
    return best


def check_month(month: str) -> None:
    try:
        month_bounds(month)
    except ValueError as e:
        raise ApiError(422, f"month {e}") from None


@router.get("/artists/{address}/statements/{month}",
            responses={200: {"content": {"text/csv": {}, "application/pdf": {}},
                             "description": "the statement as JSON, CSV or PDF"},
                       404: {"description": "not an address"}, 422: {"description": "not a month, or a future one"},
                       406: {"description": "Accept refuses JSON, CSV and PDF alike"},
                       429: {"description": "Too many statements from this client (Retry-After)"}})
def statement(address: str, month: str, request: Request, services: ServicesDep, db: DbDep,
              format: Literal["json", "csv", "pdf"] | None = Query(None, description="or ask by Accept"),
              detail_offset: int = Query(0, ge=0, le=10**9, description="JSON and CSV: the first detail line "
                                         "(lines, artist_sales) of this page; see next_detail_offset")) -> Response:
    """The statement of `address` for calendar month `month` (YYYY-MM, UTC), per token: as a
    payee, opening owed, credits (from sales of each listing through its splits, from
    sponsor-pool claims, platform fees), withdrawals, closing owed, with opening + credits -
    withdrawals == closing exactly; as an artist, each listing's units, gross, fees and net
    in the month. Every line names its ledger row (tx_hash, log_index). `format=csv|pdf`
    (or `Accept: text/csv` / `application/pdf`, q-values honoured, q=0 refused; 406 when
    none of the three is acceptable) for a spreadsheet or a printable copy.
    The current month is the ledger so far (`complete` false). JSON and CSV hold at most
    DETAIL_PAGE_LINES lines and artist sales per token: `next_detail_offset` (null on the
    last page) is the `detail_offset` of the next page; the totals cover the whole month."""
    if len(address) > 42 or not ADDRESS.fullmatch(address):
        raise ApiError(404, "not an address (0x followed by 40 hex digits)")
    if len(month) > 7:
        raise ApiError(422, "month must be YYYY-MM")
    check_month(month)
    _, contract = chain(services)
    if not_begun(month, time.time(), ledger_time(db, contract)):
        raise ApiError(422, f"month {month} has not begun (UTC)")
    _limit(request, services)
    fmt = format or negotiate(request.headers.get("accept"))
    if fmt is None:
        raise ApiError(406, "none of this statement's formats is acceptable: application/json, text/csv or "
                       "application/pdf (or ask by ?format=json|csv|pdf)", headers={"Vary": "Accept"})
    who = address.lower()
    offset = 0 if fmt == "pdf" else detail_offset  # the PDF has its own cap, and says so
    # A revalidation of the ledger's current state costs no computation: the ETag is known
    # from the checkpoint alone.
    at = checkpoint(db, contract)
    matches = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
    if at is not None and _etag(who, month, at[1], fmt, offset) in matches:
        return Response(status_code=304, headers={"Cache-Control": "no-cache", "Vary": "Accept",
                                                  "ETag": _etag(who, month, at[1], fmt, offset)})
    name = f"ninety-statement-{who}-{month}"
    media = {"json": "application/json", "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}[fmt]
    extra = {} if fmt == "json" else {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    def key(block_hash: str) -> tuple[str, ...]:
        return (contract, block_hash, who, month, fmt, str(offset), str(DETAIL_PAGE_LINES))

    data = _cache.get(key(at[1])) if at is not None else None
    if data is not None:
        return Response(data, media_type=media, headers={"Cache-Control": "no-cache", "Vary": "Accept",
                                                         "ETag": _etag(who, month, at[1], fmt, offset), **extra})
    body = statement_for(services, db, who, month, offset, None if fmt == "pdf" else DETAIL_PAGE_LINES)
    etag = _etag(who, month, body["ledger_block_hash"], fmt, offset)
    # The body depends on Accept (unless ?format= says): a cache must key on it.
    headers = {"Cache-Control": "no-cache", "Vary": "Accept", "ETag": etag, **extra}
    if etag in matches:
        return Response(status_code=304, headers=headers)
    data = to_pdf(body) if fmt == "pdf" else to_csv(body).encode() if fmt == "csv" else json.dumps(body).encode()
    # Keyed by what it was built from (a checkpoint that moved meanwhile only makes it fresher).
    _cache.put(key(body["ledger_block_hash"]), data)
    return Response(data, media_type=media, headers=headers)
