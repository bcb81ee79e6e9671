"""Ledger rows as streamed CSV: the whole filtered set, consistent with one checkpoint.

An export is pinned to the ledger's checkpoint when it starts and read a page at a time
in keyset order, each page in its own short transaction: between pages, while the
client reads (or does not), it holds no database connection."""
from __future__ import annotations

import csv
import io
from typing import Any, Callable, Iterator

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlmodel import SQLModel

from backend.pagination import after, ordering
from backend.snapshots import checkpoint
from ninety.errors import NinetyError

T = SQLModel.metadata.tables
CSV_PAGE = 1000


def wants_csv(request: Request, fmt: str | None) -> bool:
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))


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


def stream_csv(services: Any, db: Any, stmt: Select[Any], table: Any, order: str, columns: list[str],
               row_fn: Callable[[Any], dict[str, Any]], filename: str) -> StreamingResponse:
    """The whole filtered set as CSV, as of the ledger checkpoint when the export started
    (rows above it are left out, so rows indexed meanwhile never mix in). If a reorg
    reaches below the pinned block, the export stops short (the connection closes before
    the end of the chunked body, which clients report as an incomplete transfer)."""
    contract = services.deployment.address.lower() if services.deployment is not None else None
    pin = checkpoint(db, contract) if contract else None
    db.close()  # give the route's connection back now: the pages use their own
    if pin is not None:
        stmt = stmt.where(table.c.block_number <= pin[0])
    stmt = stmt.order_by(*ordering(table, order)).limit(CSV_PAGE)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        last: tuple[int, int] | None = None
        while True:
            with services.engine.connect() as conn:
                if pin is not None and contract and not _pin_holds(conn, contract, pin):
                    raise ExportInterrupted(f"a reorg went below block {pin[0]} during a CSV export")
                page = conn.execute(stmt if last is None else stmt.where(after(table, order, *last))).mappings().all()
            for row in page:
                item = row_fn(row)
                writer.writerow([item[c] for c in columns])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if len(page) < CSV_PAGE:
                return
            last = (page[-1]["block_number"], page[-1]["log_index"])

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
