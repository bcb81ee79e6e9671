"""Cursor pagination shared by the routers that list rows.

A cursor is compact JSON in URL-safe base64 without padding. The server makes it and
the client hands it back untouched, so one that does not decode to exactly the shape the
endpoint made (Infinity, NaN, floats, strings, booleans, huge or nested values) is a
422, never a 500: `decode` turns every such failure into `MalformedCursor`, and each
endpoint checks the shape it made and words its own 422.

Ledger rows are paged by keyset on (block_number, log_index), which stays stable while
new rows arrive."""
from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Select, and_, or_

from backend.deps import MAX_DB_INT
from backend.errors import ApiError

CURSOR_MAX = 200  # ours are about 50 characters


class MalformedCursor(ValueError):
    """Not a cursor this server made."""


def encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number a cursor holds")


def decode(cursor: str) -> Any:
    """The JSON value inside `cursor`; MalformedCursor if there is none."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), parse_constant=_no_constants)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise MalformedCursor(cursor) from None


def whole(value: Any) -> bool:
    """A cursor number: an int (bool is an int in Python) that fits the database's BIGINT."""
    return type(value) is int and 0 <= value <= MAX_DB_INT


# ------------------------------------------------------------------ ledger rows, by chain position

def position_cursor(block: int, log_index: int, order: str) -> str:
    return encode({"b": block, "l": log_index, "o": order})


def position(cursor: str, order: str) -> tuple[int, int]:
    """(block, log_index) from a cursor made by `position_cursor` for `order`: exactly
    {"b": int, "l": int, "o": order} with both numbers in range, else a 422."""
    try:
        data = decode(cursor)
        if not isinstance(data, dict) or set(data) != {"b", "l", "o"}:
            raise ValueError
        if not whole(data["b"]) or not whole(data["l"]) or data["o"] != order:
            raise ValueError
        return data["b"], data["l"]
    except ValueError:
        raise ApiError(422, "cursor is malformed or was made for another sort order; start again without it") from None


def after(table: Any, order: str, block: int, log_index: int) -> Any:
    """Rows after (block, log_index) in `order`. The first conjunct is a plain range on
    the indexed block column, which both SQLite and PostgreSQL turn into an index seek;
    the OR alone would not be."""
    key = (table.c.block_number, table.c.log_index)
    if order == "asc":
        return and_(key[0] >= block, or_(key[0] > block, key[1] > log_index))
    return and_(key[0] <= block, or_(key[0] < block, key[1] < log_index))


def ordering(table: Any, order: str) -> list[Any]:
    key = (table.c.block_number, table.c.log_index)
    return [k.asc() for k in key] if order == "asc" else [k.desc() for k in key]


def page(db: Any, stmt: Select[Any], table: Any, order: str, limit: int,
         cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of `stmt`'s rows in chain order, and the cursor of the next (None at the end)."""
    if cursor:
        stmt = stmt.where(after(table, order, *position(cursor, order)))
    rows = db.execute(stmt.order_by(*ordering(table, order)).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (position_cursor(rows[-1]["block_number"], rows[-1]["log_index"], order) if more and rows else None)
