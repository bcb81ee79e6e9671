"""backend.api.tracks: the catalog's cursor, one shape per sort order; any other is a 422."""
from __future__ import annotations

import pytest

from backend.api.tracks import _uncursor
from backend.errors import ApiError
from backend.pagination import encode

PRICE = "0" * 62 + "1000000000000000"  # a price_sort: the price as 78 digits


@pytest.mark.parametrize("sort, data", [
    ("newest", {"sort": "newest", "id": 41}),
    ("price", {"sort": "price", "id": 41, "p": PRICE}),
    ("sales", {"sort": "sales", "id": 41, "s": 7}),
])
def test_the_cursor_of_each_order_round_trips(sort, data):
    assert _uncursor(encode(data), sort) == data


@pytest.mark.parametrize("sort, data", [
    ("price", {"sort": "newest", "id": 41}),  # made for another order
    ("newest", {"sort": "newest", "id": -1}),
    ("newest", {"sort": "newest", "id": "41"}),
    ("newest", {"sort": "newest", "id": 2**63}),
    ("price", {"sort": "price", "id": 41}),
    ("price", {"sort": "price", "id": 41, "p": "1000"}),  # not 78 digits
    ("price", {"sort": "price", "id": 41, "p": int(PRICE)}),
    ("sales", {"sort": "sales", "id": 41, "s": 1.5}),
    ("sales", {"sort": "sales", "id": 41}),
    ("newest", ["newest", 41]),
])
def test_any_other_cursor_is_a_422(sort, data):
    with pytest.raises(ApiError) as e:
        _uncursor(encode(data), sort)
    assert e.value.status == 422 and "another sort order" in e.value.detail


def test_a_cursor_that_is_not_base64_json_is_a_422():
    with pytest.raises(ApiError) as e:
        _uncursor("!!", "newest")
    assert e.value.status == 422
