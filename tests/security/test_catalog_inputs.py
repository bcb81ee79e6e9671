"""Crafted catalog input (issue 14, point 8): found by hand, each answered 500 before.
Against the real server (`ninety serve`)."""
from __future__ import annotations

import base64
import json

import pytest

from tests.support.activity import pinned_world
from tests.support.live_api import LiveApi
from tests.support.media import music_bytes

CRAFTED_CURSORS = [
    "eyJzb3J0IjoibmV3ZXN0IiwiYWZ0ZXIiOkluZmluaXR5fQ",  # {"sort":"newest","after":Infinity}
    "eyJzb3J0IjoibmV3ZXN0Iiwib2Zmc2V0IjoxfQ",  # {"sort":"newest","offset":1}
]


@pytest.fixture(scope="module")
def api(anvil, ipfs_node, tmp_path_factory):
    """One server for every crafted input here: none of them changes anything."""
    server = LiveApi(pinned_world(anvil.url, ipfs_node.url), anvil.url, ipfs_node.url, tmp_path_factory.mktemp("catalog-inputs")).start()
    yield server
    server.stop()


def cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize("sort,raw", [("newest", c) for c in CRAFTED_CURSORS] + [
    ("price", cursor({"sort": "price", "id": 1, "p": "1e999"})),
    ("price", cursor({"sort": "price", "id": 1, "p": 5})),
    ("sales", cursor({"sort": "sales", "id": True, "s": 1})),
    ("sales", cursor({"sort": "sales", "id": 1, "s": 2**70})),
    ("newest", cursor([1, 2])),
    ("newest", "%%%"),
])
def test_crafted_catalog_cursors_are_422_not_500(api, sort, raw):
    r = api.get("/api/tracks", params={"sort": sort, "cursor": raw})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "-1"])
def test_a_preview_start_that_is_not_a_time_is_422_not_500(api, value):
    r = api.upload(api.login(1), music_bytes(1, 3), preview_start=value)
    assert r.status_code == 422, r.text
    assert "preview_start" in r.json()["detail"]
