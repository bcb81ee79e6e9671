"""indexer.metadata.parse_metadata: the track fields of an ERC-721-style metadata JSON,
whoever wrote it (our uploads, other tools, an attacker)."""
from __future__ import annotations

import json

import pytest

from indexer.metadata import MAX_METADATA_BYTES, MetadataTooLargeError, parse_metadata


def parsed(doc) -> dict:
    return parse_metadata(json.dumps(doc).encode())


def test_the_fields_our_uploads_write_are_read():
    doc = {"name": "Night Drive", "artist": "The Testers", "genre": "synthwave", "duration": 182.5,
           "image": "ipfs://bafyart", "animation_url": "ipfs://bafypreview", "audio_cid": "bafyaudio",
           "properties": {"uploaded_by": "0xABCDEF0000000000000000000000000000000001"}}
    assert parsed(doc) == {"title": "Night Drive", "artist_name": "The Testers", "genre": "synthwave",
                           "duration": 182.5, "artwork_cid": "bafyart", "preview_cid": "bafypreview",
                           "audio_cid": "bafyaudio", "uploaded_by": "0xabcdef0000000000000000000000000000000001"}


def test_title_wins_over_name_and_top_level_wins_over_properties():
    doc = {"title": "Top", "name": "Name", "properties": {"title": "Inner", "artist": "Inner Artist", "genre": "jazz"},
           "genre": "rock"}
    got = parsed(doc)
    assert got["title"] == "Top" and got["genre"] == "rock" and got["artist_name"] == "Inner Artist"


def test_empty_values_fall_through_to_the_next_source():
    got = parsed({"title": "", "name": "From name", "artist": "", "properties": {"artist": "From properties"}})
    assert got["title"] == "From name" and got["artist_name"] == "From properties"


def test_explicit_cids_win_and_paths_after_a_cid_are_dropped():
    got = parsed({"name": "x", "artwork_cid": "bafyexplicit", "image": "ipfs://bafyimage",
                  "preview_cid": "ipfs://bafypre/clip.mp3"})
    assert got["artwork_cid"] == "bafyexplicit" and got["preview_cid"] == "bafypre"


def test_missing_or_unusable_optional_fields_are_none():
    got = parsed({"name": "Only a name", "duration": "3:02", "image": 12, "animation_url": "ipfs://",
                  "properties": "not an object"})
    assert got == {"title": "Only a name", "artist_name": None, "genre": None, "duration": None,
                   "artwork_cid": None, "preview_cid": None, "audio_cid": None, "uploaded_by": None}


def test_an_integer_duration_becomes_a_float():
    got = parsed({"name": "x", "duration": 240})
    assert got["duration"] == 240.0 and isinstance(got["duration"], float)


def test_long_texts_are_cut_to_the_columns_widths():
    got = parsed({"name": "t" * 400, "artist": "a" * 400, "genre": "g" * 150,
                  "properties": {"uploaded_by": "0x" + "F" * 60}})
    assert got["title"] == "t" * 300 and got["artist_name"] == "a" * 300 and got["genre"] == "g" * 100
    assert got["uploaded_by"] == "0x" + "f" * 40


def test_a_number_as_artist_is_kept_as_text():
    assert parsed({"name": "x", "artist": 2001})["artist_name"] == "2001"


@pytest.mark.parametrize("raw, message", [
    (b"[1, 2]", "not a JSON object"),
    (b'"a string"', "not a JSON object"),
    (b'{"artist": "no title"}', "no title"),
    (b'{"name": 5}', "no title"),
])
def test_documents_without_an_object_or_a_title_are_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_metadata(raw)


def test_invalid_json_is_a_value_error():
    with pytest.raises(ValueError):
        parse_metadata(b"{not json")


def test_a_document_over_the_cap_is_refused_before_it_is_parsed():
    raw = b" " * MAX_METADATA_BYTES + b"{}"  # would be a valid object, if it were read
    with pytest.raises(MetadataTooLargeError):
        parse_metadata(raw)
    assert parse_metadata(b" " * (MAX_METADATA_BYTES - 20) + b'{"name": "fits"}')["title"] == "fits"
