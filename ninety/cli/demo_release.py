"""The demo's album, as the studio makes one: the API pins its artwork and metadata, the
artist's wallet creates a split fair to the tracks' collaborators (each earning from a
sale of the album at least what a sale of their track pays them, the least the catalog
attests), gets a fresh attestation and registers the release; then a fan buys it with a
permit, in one transaction."""
from __future__ import annotations

import json
import time
from typing import Any, Sequence

import requests
from web3 import Web3

from ninety.cli.demo_media import synth_png
from ninety.errors import NinetyError

# The Modular Ensemble's three tracks (11 mUSDC bought one by one) for 9 mUSDC.
RELEASE = {"title": "Modular Works", "price": "9 mUSDC", "genre": "Electronic", "release_type": "album",
           "description": "The Modular Ensemble's first three pieces together, for less than the three bought "
           "one by one."}
RELEASE_BUYER = 2  # the fan wallet `ninety up` prints


def fair_split(splits: Sequence[Sequence[tuple[int, int]]], prices: Sequence[int], artist: int,
               price: int) -> list[tuple[int, int]]:
    """A release's split from its tracks' splits (wallet index, ppm) and prices and its own
    price (> 0), all in the release's token: each other payee at what a sale of each track
    pays it, as a share of the release's price (rounded up), the rest to the artist, as
    backend/release_splits.py suggests."""
    total: dict[int, int] = {}
    for split, track_price in zip(splits, prices):
        for wallet, share in split:
            total[wallet] = total.get(wallet, 0) + share * track_price
    others = [(w, -(-s // price)) for w, s in sorted(total.items()) if w != artist and s > 0]
    rest = 1_000_000 - sum(s for _, s in others)
    if rest < 0:
        least = -(-sum(s for w, s in total.items() if w != artist) // 1_000_000)
        raise ValueError(f"a release priced {price} pays its collaborators less than their tracks do: price it at "
                         f"least {least}")
    return [(artist, rest), *others] if rest > 0 else others  # createSplit refuses a zero share


def seed_release(seeder: Any, members: Sequence[int], member_splits: Sequence[Sequence[tuple[int, int]]],
                 wallet: int, artist_name: str) -> int:
    """Register the album of track ids `members` from dev wallet `wallet` (once) and sell it
    once; its release id, after the store offers it. Progress is kept in the seeder's state."""
    release = seeder.state.get("release")
    if release is None:
        seeder.say(f"  demo: {artist_name} makes an album of {len(members)} tracks, priced {RELEASE['price']}")
        headers = seeder._login(wallet)
        token, price = seeder._price(RELEASE["price"])
        r = seeder.http.post(
            f"{seeder.api}/api/releases", headers=headers, timeout=120,
            data={"title": RELEASE["title"], "description": RELEASE["description"], "genre": RELEASE["genre"],
                  "release_type": RELEASE["release_type"], "track_ids": json.dumps(list(members)),
                  "price": str(price), "token": token},
            files={"artwork": ("cover.png", synth_png(100), "image/png")})
        if r.status_code != 201:
            raise NinetyError(f"demo release upload failed: HTTP {r.status_code} {r.text[:300]}")
        cid = r.json()["metadata_cid"]
        # The tracks' prices as the ledger has them (all in the album's token, mUSDC).
        prices = [int(seeder.http.get(f"{seeder.api}/api/tracks/{t}", timeout=10).json()["price"]) for t in members]
        recipients, shares = seeder._split(tuple(fair_split(member_splits, prices, wallet, price)))
        f = seeder.market.functions
        seeder._call(wallet, f.createSplit(recipients, shares))  # an existing split is returned as is
        split = [{"address": a, "share_ppm": p} for a, p in zip(recipients, shares)]
        a = seeder.http.post(f"{seeder.api}/api/uploads/{cid}/attestation", headers=headers, timeout=30,
                             json={"split": split, "token": token, "price": str(price)})
        if a.status_code != 200:
            raise NinetyError(f"demo release attestation refused: HTTP {a.status_code} {a.text[:300]}")
        receipt = seeder._call(wallet, f.registerRelease(
            cid, a.json()["split_id"], Web3.to_checksum_address(token), price, list(members),
            bytes.fromhex(a.json()["attestation"].removeprefix("0x"))))
        release = int(seeder.market.events.ReleaseRegistered().process_receipt(receipt)[0]["args"]["releaseId"])
        seeder.state["release"] = release
        seeder._save()
    if not seeder.state.get("release_sale"):
        token, price = seeder._price(RELEASE["price"])
        seeder.say(f"  demo: a fan buys the album for {RELEASE['price']} with a permit (one transaction)")
        receipt = seeder._buy(RELEASE_BUYER, release, token, price)
        seeder.state["release_sale"] = int(receipt["blockNumber"])
        seeder._save()
    seeder._wait_block_indexed(int(seeder.state["release_sale"]))
    deadline = time.monotonic() + 60
    while not _available(seeder, release):
        if time.monotonic() > deadline:
            raise NinetyError(f"release {release} is on chain but the store does not offer it after 60 s; "
                              "see the indexer log")
        time.sleep(0.5)
    return release


def _available(seeder: Any, release: int) -> bool:
    try:
        r = seeder.http.get(f"{seeder.api}/api/releases/{release}", timeout=10)
        return r.status_code == 200 and bool(r.json().get("available"))
    except (requests.RequestException, ValueError):
        return False
