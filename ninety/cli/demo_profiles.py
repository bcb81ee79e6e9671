"""The demo artists' profiles, saved as an artist saves one in the studio: signed in,
through PUT /api/artists/me/profile (the avatar checked and re-encoded like artwork, the
profile JSON pinned to IPFS), so the artist pages a newcomer opens have a face and words."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ninety.cli.demo_media import synth_png
from ninety.errors import NinetyError


@dataclass(frozen=True)
class DemoProfile:
    wallet: int  # index of the dev mnemonic's account (an artist of ninety/cli/demo.py)
    bio: str
    links: tuple[tuple[str, str], ...]  # (label, url)


PROFILES = (
    DemoProfile(1, "Ada Lovetone writes slow, bright songs at sunrise and records them the same morning. "
                   "Folk on Tuesdays, ambient the rest of the week.",
                (("Website", "https://ada-lovetone.example/"), ("Tour dates", "https://ada-lovetone.example/tour"))),
    DemoProfile(3, "Three friends, one modular synth and a rule: every piece is played live, in one take.",
                (("Patch notes", "https://modular-ensemble.example/patches"),)),
    DemoProfile(4, "Lo-fi jazz from a borrowed tape deck in a Kyoto flat. Open Air is free: sign your "
                   "download and the sponsor pool pays us.",
                (("Shop", "https://kyoto-tape-club.example/"),
                 ("Mailing list", "https://kyoto-tape-club.example/letters"))),
)
AVATAR_SEED = 100  # avatars are synthesised like covers, from seeds the tracks do not use


def seed_profiles(seeder: Any, names: dict[int, str]) -> None:
    """Save each demo artist's profile (`names`: wallet index -> artist name), once."""
    done: list[int] = seeder.state.setdefault("profiles", [])
    for p in PROFILES:
        if p.wallet in done:
            continue
        seeder.say(f"  demo: {names[p.wallet]} writes a bio and picks an avatar")
        headers = seeder._login(p.wallet)
        r = seeder.http.put(
            f"{seeder.api}/api/artists/me/profile", headers=headers, timeout=60,
            data={"name": names[p.wallet], "bio": p.bio,
                  "links": json.dumps([{"label": label, "url": url} for label, url in p.links])},
            files={"avatar": ("avatar.png", synth_png(AVATAR_SEED + p.wallet, size=192), "image/png")})
        if r.status_code != 200:
            raise NinetyError(f"demo profile of {names[p.wallet]!r} failed: HTTP {r.status_code} {r.text[:300]}")
        done.append(p.wallet)
        seeder._save()
