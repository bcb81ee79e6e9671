"""What an artist does to sell a release, against the API (in-process `Stack` or a live
`ninety serve`) and the chain: post the release form, ask the attestation for a split,
create that split and send registerRelease."""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from web3 import Web3

from ninety.market import ETH
from tests.support.media import png_bytes

Post = Callable[..., Any]  # (path, data=, files=, json=, headers=) -> response


def release_form(track_ids: Sequence[int] | str, artwork: bytes | None = None,
                 **fields: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """(data, files) of POST /api/releases; `track_ids` a list (sent as JSON) or raw text."""
    ids = track_ids if isinstance(track_ids, str) else json.dumps(list(track_ids))
    data = {"title": "Night Shift", "description": "Two tracks after dark", "genre": "synthwave",
            "release_type": "ep", "track_ids": ids, **fields}
    return data, {"artwork": ("cover.png", png_bytes(10, 120, 200) if artwork is None else artwork, "image/png")}


def register(world, post_json: Post, headers: dict[str, str], metadata_cid: str, artist: str,
             track_ids: Sequence[int], price: int, token: str = ETH,
             split: Sequence[tuple[str, int]] | None = None, attest_price: int | None = None) -> int:
    """Attest `metadata_cid` for `split` (default: all to `artist`) at `price` in `token`
    (or at `attest_price`: the price the attestation is asked for need not be the one
    listed) through the API, create the split and register the release from `artist`'s
    wallet; the release's id."""
    pairs = list(split or [(artist, 1_000_000)])
    r = post_json(f"/api/uploads/{metadata_cid}/attestation",
                  {"split": [{"address": a, "share_ppm": s} for a, s in pairs], "token": token,
                   "price": str(price if attest_price is None else attest_price)}, headers)
    assert r.status_code == 200, r.text
    att = r.json()
    m = world.market
    assert m.create_split(pairs, artist) == att["split_id"]
    fn = m.contract.functions.registerRelease(metadata_cid, att["split_id"], Web3.to_checksum_address(token), price,
                                              list(track_ids), bytes.fromhex(att["attestation"][2:]))
    release_id = int(fn.call({"from": Web3.to_checksum_address(artist)}))
    m.send(fn, artist)
    return release_id
