"""backend.pagination: cursors round-trip, anything the server did not make is a 422 (never
a 500), and keyset pages over (block_number, log_index) cover every row once."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from backend.errors import ApiError
from backend.pagination import MalformedCursor, decode, encode, page, position, position_cursor, whole

MAX_DB_INT = 2**63 - 1


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_is_compact_json_in_unpadded_urlsafe_base64():
    cursor = encode({"b": 12, "l": 3, "o": "asc"})
    assert cursor == raw_cursor('{"b":12,"l":3,"o":"asc"}')
    assert "=" not in cursor
    assert decode(cursor) == {"b": 12, "l": 3, "o": "asc"}
    assert decode(raw_cursor("{}")) == {}  # valid JSON decodes: each endpoint judges the shape


@pytest.mark.parametrize("cursor", ["%%%", raw_cursor("{not json"), raw_cursor("NaN"), raw_cursor('{"b": Infinity}'),
                                    raw_cursor("[" * 100_000 + "]" * 100_000)])
def test_what_does_not_decode_to_json_is_a_malformed_cursor(cursor):
    with pytest.raises(MalformedCursor):
        decode(cursor)


@pytest.mark.parametrize("value, expected", [(0, True), (MAX_DB_INT, True), (MAX_DB_INT + 1, False), (-1, False),
                                             (1.0, False), ("1", False), (None, False), (True, False)])
def test_a_cursor_number_is_an_int_in_bigint_range(value, expected):
    assert whole(value) is expected


def test_a_position_cursor_round_trips_for_its_order():
    assert position(position_cursor(17, 4, "desc"), "desc") == (17, 4)
    assert position(position_cursor(MAX_DB_INT, 0, "asc"), "asc") == (MAX_DB_INT, 0)


@pytest.mark.parametrize("cursor", [
    position_cursor(17, 4, "desc"),  # made for the other order
    raw_cursor('{"b":1,"l":2}'),
    raw_cursor('{"b":1,"l":2,"o":"asc","x":0}'),
    raw_cursor('{"b":1.5,"l":2,"o":"asc"}'),
    raw_cursor('{"b":-1,"l":2,"o":"asc"}'),
    raw_cursor('{"b":true,"l":2,"o":"asc"}'),
    raw_cursor('{"b":%d,"l":2,"o":"asc"}' % (MAX_DB_INT + 1)),
    raw_cursor('[1,2,"asc"]'),
    raw_cursor("1e999"),
    "not base64 at all!",
])
def test_a_position_cursor_of_any_other_shape_is_a_422(cursor):
    with pytest.raises(ApiError) as e:
        position(cursor, "asc")
    assert e.value.status == 422 and "cursor is malformed" in e.value.detail


@pytest.fixture
def rows():
    """A table of ledger positions, several logs per block, inserted out of order."""
    meta = MetaData()
    table = Table("event", meta, Column("id", Integer, primary_key=True), Column("block_number", Integer),
                  Column("log_index", Integer))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    positions = [(5, 0), (3, 2), (3, 0), (7, 1), (5, 1), (3, 1), (7, 0)]
    with engine.begin() as conn:
        conn.execute(insert(table), [{"block_number": b, "log_index": i} for b, i in positions])
    yield engine, table
    engine.dispose()


@pytest.mark.parametrize("order, expected", [
    ("asc", [(3, 0), (3, 1), (3, 2), (5, 0), (5, 1), (7, 0), (7, 1)]),
    ("desc", [(7, 1), (7, 0), (5, 1), (5, 0), (3, 2), (3, 1), (3, 0)]),
])
def test_pages_follow_chain_order_and_cover_every_row_once(rows, order, expected):
    engine, table = rows
    seen, cursor, pages = [], None, 0
    with engine.connect() as db:
        while True:
            got, cursor = page(db, select(table), table, order, 2, cursor)
            seen += [(r["block_number"], r["log_index"]) for r in got]
            pages += 1
            if cursor is None:
                break
    assert seen == expected
    assert pages == 4  # 2 + 2 + 2 + 1, the last page says there is no next


def test_a_page_that_ends_exactly_at_the_last_row_has_no_next_cursor(rows):
    engine, table = rows
    with engine.connect() as db:
        got, cursor = page(db, select(table), table, "asc", 7, None)
    assert len(got) == 7 and cursor is None
