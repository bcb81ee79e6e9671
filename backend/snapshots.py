"""Responses that are a pure function of the ledger at its checkpoint.

The indexer commits rows, aggregates and the checkpoint (block number and hash) in one
transaction, so the checkpoint's block hash names one exact state of the ledger. A summary
computed at that state stays true until the checkpoint moves (a new block, or a reorg,
which changes the hash): it can be kept, served again without touching the aggregates, and
named by an ETag, so a dashboard that polls gets a 304 until something happened."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import SQLModel

T = SQLModel.metadata.tables


def checkpoint(db: Any, contract: str) -> tuple[int, str] | None:
    """(block number, block hash) the ledger is complete up to, or None before the first step."""
    t = T["checkpoint"]
    row = db.execute(select(t.c.block_number, t.c.block_hash).where(t.c.contract == contract)).first()
    return None if row is None else (int(row[0]), str(row[1]))


class Snapshots:
    """A bounded LRU of serialised responses keyed by (checkpoint hash, request key)."""

    def __init__(self, size: int = 4096) -> None:
        self._data: "OrderedDict[tuple[Any, ...], tuple[str, bytes]]" = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def respond(self, request: Request, key: tuple[Any, ...], build: Callable[[], BaseModel]) -> Response:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
        if hit is None:
            body = build().model_dump_json().encode()
            hit = ('"' + hashlib.sha256(repr(key).encode() + body).hexdigest()[:32] + '"', body)
            with self._lock:
                self._data[key] = hit
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
        etag, body = hit
        # no-cache: a cache may keep it but must ask again (the ledger moves with the chain).
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _etags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}
