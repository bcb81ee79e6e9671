"""Responses that are a pure function of the ledger at its checkpoint.

The indexer commits rows, aggregates and the checkpoint (block number and hash) in one
transaction, so the checkpoint's block hash names one exact state of the ledger. A summary
computed at that state stays true until the checkpoint moves (a new block, or a reorg,
which changes the hash): it can be kept, served again without touching the aggregates, and
named by an ETag, so a dashboard that polls gets a 304 until something happened.

Requests that miss at the same time wait for one computation rather than each starting
their own: a summary is computed once per checkpoint, however many clients ask."""
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


class _Flight:
    """One computation in progress; the others asking for the same key wait on it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: tuple[str, bytes] | None = None
        self.error: BaseException | None = None


class Snapshots:
    """A bounded LRU of serialised responses keyed by (checkpoint hash, request key)."""

    def __init__(self, size: int = 4096) -> None:
        self._data: "OrderedDict[tuple[Any, ...], tuple[str, bytes]]" = OrderedDict()
        self._flights: dict[tuple[Any, ...], _Flight] = {}
        self._size = size
        self._lock = threading.Lock()
        self.computed = 0  # how many times `build` ran (for tests and curiosity)

    def get(self, key: tuple[Any, ...], build: Callable[[], BaseModel]) -> tuple[str, bytes]:
        """(ETag, JSON body) for `key`, computed by `build` only if no one has it or is
        computing it already."""
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        try:
            self.computed += 1
            body = build().model_dump_json().encode()
            hit = ('"' + hashlib.sha256(repr(key).encode() + body).hexdigest()[:32] + '"', body)
            flight.result = hit
            with self._lock:
                if self._size > 0:
                    self._data[key] = hit
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
            return hit
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def respond(self, request: Request, key: tuple[Any, ...], build: Callable[[], BaseModel]) -> Response:
        etag, body = self.get(key, build)
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
