"""Listing releases on a test world through the real contract, and their metadata as the
API pins it (README: "Releases")."""
from __future__ import annotations

import json
from typing import Any, Sequence

from web3 import Web3

from ninety.market import ETH


def register_release(world, cid: str, split_id: str, track_ids: Sequence[int], artist: str,
                     token: str = ETH, price: int = 10**15) -> int:
    """List release `cid` of `track_ids` as `artist` (an attestation when the world needs
    them); its id."""
    m = world.market
    attestation = world.attest(cid, artist, split_id, list(track_ids))
    if isinstance(attestation, str):
        attestation = bytes.fromhex(attestation.removeprefix("0x"))
    fn = m.contract.functions.registerRelease(cid, split_id, Web3.to_checksum_address(token), price,
                                              list(track_ids), attestation)
    release_id = int(fn.call({"from": Web3.to_checksum_address(artist)}))
    m.send(fn, artist)
    return release_id


def release_metadata(track_ids: Sequence[int], uploaded_by: str, *, title: str = "Night Shift",
                     artwork_cid: str | None = "bafkreireleaseartwork", **properties: Any) -> dict[str, Any]:
    """A release's metadata JSON, shaped as POST /api/releases pins it."""
    props: dict[str, Any] = {"kind": "release", "release_type": "album", "title": title, "artist": "The Testers",
                             "genre": "synthwave", "artwork_cid": artwork_cid, "tracks": list(track_ids),
                             "uploaded_by": uploaded_by.lower()}
    props.update(properties)
    doc: dict[str, Any] = {"name": title, "description": "A test release", "properties": props}
    if artwork_cid:
        doc["image"] = f"ipfs://{artwork_cid}"
    return doc


def track_metadata(title: str, uploaded_by: str, n: int = 0) -> dict[str, Any]:
    """A genuine-looking track's metadata JSON (files named by made-up CIDs)."""
    return {"name": title, "image": f"ipfs://bafkreiartwork{n}", "animation_url": f"ipfs://bafkreipreview{n}",
            "properties": {"artist": "The Testers", "title": title, "genre": "synthwave", "duration": 120.0 + n,
                           "audio_cid": f"bafkreiaudio{n}", "uploaded_by": uploaded_by.lower()}}


def pin(ipfs, doc: dict[str, Any]) -> str:
    return ipfs.add_bytes(json.dumps(doc).encode())
