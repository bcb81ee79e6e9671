"""Releases in ninety.ledger and the metadata parser, without a node: a ReleaseRegistered
is a listing row of kind 'release' with its members in order, the same events as a track's
apply to it, and a release's metadata is read as a release."""
from __future__ import annotations

import json

import pytest

from indexer.metadata import MAX_RELEASE_TRACKS, parse_listing, parse_metadata
from ninety.contract import ETH
from ninety.ledger.aggregates import deltas
from ninety.ledger.mapping import map_events
from ninety.ledger.registry import COMPARED, KINDS, log_values, mismatches
from ninety.ledger.rows import Context
from tests.unit.test_mapping import TIMES, A, B, F, S, S2, events

RELEASE = {"releaseId": 4, "artist": A, "splitId": S2, "token": ETH, "price": 9000, "metadataCid": "bafyrelease",
           "trackIds": [3, 1, 2]}


def context() -> Context:
    return Context(fee_recipient=F, split_recipients=lambda sid: [(A, 1_000_000)], track_artist=lambda tid: A)


def test_a_release_is_a_track_row_of_kind_release_with_its_members_in_order():
    out = map_events(events(
        ("TrackRegistered", {"trackId": 1, "artist": A, "token": ETH, "metadataCid": "bafyone", "price": 10,
                             "splitId": S}, 10),
        ("ReleaseRegistered", RELEASE, 11),
    ), context(), TIMES)
    track, release = out.tables["track"]
    assert (track["kind"], release["kind"]) == ("track", "release")
    assert set(track) == set(release)
    assert {k: release[k] for k in ("track_id", "artist", "split_id", "registered_split_id", "price",
                                    "registered_price", "listed", "blocked", "metadata_cid", "block_time")} == {
        "track_id": 4, "artist": A, "split_id": S2, "registered_split_id": S2, "price": 9000, "registered_price": 9000,
        "listed": True, "blocked": False, "metadata_cid": "bafyrelease", "block_time": 1_012}
    assert out.release_tracks == [{"release_id": 4, "position": 0, "track_id": 3},
                                  {"release_id": 4, "position": 1, "track_id": 1},
                                  {"release_id": 4, "position": 2, "track_id": 2}]


def test_the_events_of_a_listing_apply_to_a_release_and_its_sales_are_its_own():
    out = map_events(events(
        ("ReleaseRegistered", RELEASE, 10),
        ("TrackUpdated", {"trackId": 4, "price": 12_000, "listed": False}, 11),
        ("TrackSplitChanged", {"trackId": 4, "previousSplitId": S2, "splitId": S}, 11),
        ("TrackBlocked", {"trackId": 4, "reasonCid": "bafyreason"}, 12),
        ("Sale", {"trackId": 4, "buyer": B, "token": ETH, "amount": 12_000, "platformFee": 600, "splitId": S}, 12),
    ), context(), TIMES)
    release = out.tables["track"][0]
    assert (release["price"], release["listed"], release["split_id"], release["blocked"]) == (12_000, False, S, True)
    assert not out.track_state and not out.split_state and not out.block_state
    sale = out.tables["sale"][0]
    assert (sale["track_id"], sale["artist"]) == (4, A)
    d = deltas(out.tables, context().split_recipients)
    assert d["track_stats"] == {(4, ETH): [1, 12_000, 600]}
    assert d["track_split"] == {(4, S, ETH): [11_400]}


def test_a_proof_compares_a_release_rows_kind_and_id_with_its_log():
    e = events(("ReleaseRegistered", RELEASE, 10))[0]
    assert KINDS["ReleaseRegistered"].table == KINDS["TrackRegistered"].table == "track"
    assert "kind" in COMPARED["track"]
    row = map_events([e], context(), TIMES).tables["track"][0]
    assert log_values(e)["kind"] == "release" and mismatches("track", row, e) == []
    assert mismatches("track", {**row, "kind": "track"}, e) == ["kind"]
    assert mismatches("track", {**row, "track_id": 1}, e) == ["track_id"]


def parsed(doc) -> tuple[dict, list[int] | None]:
    return parse_listing(json.dumps(doc).encode())


RELEASE_DOC = {"name": "Night Shift", "description": "d", "image": "ipfs://bafyart", "external_url": "https://x",
               "animation_url": "ipfs://bafyclip", "audio_cid": "bafyaudio", "duration": 300,
               "properties": {"kind": "release", "release_type": "ep", "title": "Night Shift", "artist": "The Testers",
                              "genre": "synthwave", "artwork_cid": "bafyart", "tracks": [5, 2, 9],
                              "uploaded_by": "0xABCDEF0000000000000000000000000000000001"}}


def test_release_metadata_gives_its_fields_and_its_track_list():
    fields, tracks = parsed(RELEASE_DOC)
    assert tracks == [5, 2, 9]
    assert fields == {"title": "Night Shift", "artist_name": "The Testers", "genre": "synthwave", "duration": None,
                      "artwork_cid": "bafyart", "preview_cid": None, "audio_cid": None,
                      "uploaded_by": "0xabcdef0000000000000000000000000000000001"}
    assert parse_metadata(json.dumps(RELEASE_DOC).encode()) == fields


def test_track_metadata_has_no_track_list_even_with_one():
    doc = {"name": "Song", "properties": {"tracks": [1, 2], "kind": "track"}}
    assert parsed(doc)[1] is None


@pytest.mark.parametrize("tracks", [None, [], "1,2,3", {"0": 1}, [1, 2.0], [1, "2"], [False], [0], [-3], [2**31],
                                    list(range(1, MAX_RELEASE_TRACKS + 2))])
def test_release_metadata_without_a_usable_track_list_is_refused(tracks):
    doc = json.loads(json.dumps(RELEASE_DOC))
    doc["properties"]["tracks"] = tracks
    with pytest.raises(ValueError, match="properties.tracks"):
        parsed(doc)


def test_the_largest_release_is_read():
    doc = json.loads(json.dumps(RELEASE_DOC))
    doc["properties"]["tracks"] = list(range(1, MAX_RELEASE_TRACKS + 1))
    assert parsed(doc)[1] == list(range(1, MAX_RELEASE_TRACKS + 1))
