"""What an address is called, the one rule every route names addresses by: its artist
profile's name (PUT /api/artists/me/profile) if it has one, else the artist name in the
metadata of its newest genuine listing not taken down, else None (the web app then
shows a short address). A listing's metadata is whatever its registrant pinned, so only
genuine ones (checked, uploaded by that wallet) may name it; a copy listed by another
wallet never names anybody, and nor does a listing the owner took down (`ninety moderate
block`): an impersonating artist name is a reason to take one down, and it must then stop
naming the wallet on every page, as fans.py already hides the listing's title."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import func, select
from sqlmodel import SQLModel

from backend.models import ArtistProfile

T = SQLModel.metadata.tables


def names_for(db: Any, addresses: Iterable[str]) -> dict[str, str | None]:
    """{address: display name or None} for each of `addresses` (lower-case 0x addresses,
    as the ledger stores them): two indexed queries whatever their number."""
    wanted = list(dict.fromkeys(a.lower() for a in addresses if a))
    names: dict[str, str | None] = dict.fromkeys(wanted)
    if not wanted:
        return names
    profile = ArtistProfile.__table__  # type: ignore[attr-defined]
    for address, name in db.execute(select(profile.c.address, profile.c.name).where(profile.c.address.in_(wanted))):
        names[address] = name
    rest = [a for a in wanted if names[a] is None]
    if rest:
        track = T["track"]
        newest = (select(func.max(track.c.track_id))
                  .where(track.c.artist.in_(rest), track.c.genuine.is_(True), track.c.blocked.is_(False),
                         track.c.artist_name.is_not(None),
                         track.c.artist_name != "")
                  .group_by(track.c.artist))
        for address, name in db.execute(select(track.c.artist, track.c.artist_name)
                                        .where(track.c.track_id.in_(newest))):
            names[address] = name
    return names


def name_of(db: Any, address: str) -> str | None:
    return names_for(db, [address])[address.lower()]
