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
    """Statements per (contract, checkpoint hash, address, month): the same ledger state
    gives the same statement, so a page reloaded or a PDF after the JSON costs nothing."""

    def __init__(self, size: int = 64) -> None:
        self._data: "OrderedDict[tuple[str, ...], dict[str, Any]]" = OrderedDict()
        self._size, self._lock = size, Lock()

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
            return self._data.get(key)

    def put(self, key: tuple[str, ...], value: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self._size:
                self._data.popitem(last=False)


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
    at = checkpoint(db, contract)
    if at is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    key = (contract, at[1], who, month, str(detail_offset), str(detail_limit))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    out = build(db, contract, who, month, services.tokens.info, detail_offset, detail_limit)
    if out is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    # Keyed by what it was built from (a checkpoint that moved meanwhile only makes it fresher).
    _cache.put((contract, out["ledger_block_hash"], who, month, str(detail_offset), str(detail_limit)), out)
    return out


def _etag(who: str, month: str, block_hash: str, fmt: str, detail_offset: int) -> str:
    return '"' + hashlib.sha256(f"{who}|{month}|{block_hash}|{fmt}|{detail_offset}".encode()).hexdigest()[:32] + '"'


def check_month(month: str) -> None:
    try:
        month_bounds(month)
    except ValueError as e:
        raise ApiError(422, f"month {e}") from None


@router.get("/artists/{address}/statements/{month}",
            responses={200: {"content": {"text/csv": {}, "application/pdf": {}},
                             "description": "the statement as JSON, CSV or PDF"},
                       404: {"description": "not an address"}, 422: {"description": "not a month, or a future one"},
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
    (or `Accept: text/csv` / `application/pdf`) for a spreadsheet or a printable copy.
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
    accept = request.headers.get("accept", "")
    fmt = format or ("pdf" if "application/pdf" in accept else "csv" if "text/csv" in accept else "json")
    who = address.lower()
    offset = 0 if fmt == "pdf" else detail_offset  # the PDF has its own cap, and says so
    # A revalidation of the ledger's current state costs no computation: the ETag is known
    # from the checkpoint alone.
    at = checkpoint(db, contract)
    matches = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
    if at is not None and _etag(who, month, at[1], fmt, offset) in matches:
        return Response(status_code=304, headers={"Cache-Control": "no-cache",
                                                  "ETag": _etag(who, month, at[1], fmt, offset)})
    body = statement_for(services, db, who, month, offset, None if fmt == "pdf" else DETAIL_PAGE_LINES)
    etag = _etag(who, month, body["ledger_block_hash"], fmt, offset)
    name = f"ninety-statement-{body['address']}-{month}"
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if etag in matches:
        return Response(status_code=304, headers=headers)
    if fmt == "csv":
        return Response(to_csv(body), media_type="text/csv; charset=utf-8",
                        headers={**headers, "Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "pdf":
        return Response(to_pdf(body), media_type="application/pdf",
                        headers={**headers, "Content-Disposition": f'attachment; filename="{name}.pdf"'})
    return Response(json.dumps(body), media_type="application/json", headers=headers)
