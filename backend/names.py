"""What an address is called, the one rule every route names addresses by: its artist
profile's name (PUT /api/artists/me/profile) if it has one, else the artist name in the
metadata of its newest genuine listing not taken down, else None (the web app then
shows a short address). A listing's metadata is whatever its registrant pinned, so only
genuine ones (checked, uploaded by that wallet) may name it; a copy listed by another
wallet never names anybody, and nor does a listing the owner took down (`ninety moderate
block`): an impersonating artist name is a reason to take one down, and it must then stop
naming the wallet on every page, as fans.py already hides the listing's title."""
from __future__ import annotations

import re
import unicodedata
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
    # A name saved before the rules below, or a listing's artist name (its metadata is the
    # uploader's), is shown only if it passes them: no address-shaped or invisible name.
    for address, name in db.execute(select(profile.c.address, profile.c.name).where(profile.c.address.in_(wanted))):
        names[address] = name if _shown(name) else None
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
            names[address] = name if _shown(name) else None
    return names


def _shown(name: str | None) -> bool:
    return bool(name) and name_problem(normal_name(name)) is None


def name_of(db: Any, address: str) -> str | None:
    return names_for(db, [address])[address.lower()]


# ---------------------------------------------------------------- what a name may be

MAX_MARKS = 3  # combining marks on one character: enough for Thai or Devanagari, not a "zalgo" flood
# Characters that render as nothing though they are letters or symbols to Unicode (so
# neither strip() nor a control-character check removes them): Hangul fillers, the Braille
# blank, the Mongolian vowel separator, Khmer's inherent vowels. They have no use in a
# name, and inside one they stand in for a space ("Ada\u3164Lovetone").
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
# Letters of these scripts look alike (Latin o, Cyrillic о, Greek ο): a name mixing them
# is how one wallet passes for another's name.
_LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")
# Cyrillic and Greek look-alikes of a to f, x and o, for the address check below.
_HEX_SKELETON = str.maketrans("хХχΧ×аАαΑВβΒсСϲϹеЕεΕОоΟο", "xxxxxaaaabbbcccceeeeoooo")
# An address, or the short form the web app prints for an address without a name
# (0x1234…abcd, NFKC turns … into ...): at least 0x and four hex digits.
_ADDRESS_LIKE = re.compile(r"0x[0-9a-f]{4}", re.IGNORECASE)
# The same with a letter O for the 0 ("Ox7099..." reads as an address), only where a word
# starts: "Foxface" is a name.
_ADDRESS_LIKE_O = re.compile(r"(?<![0-9a-z])[0o]x[0-9a-f]{4}", re.IGNORECASE)


def name_problem(name: str) -> str | None:
    """Why `name` (NFKC-normalised, as `normal_name` returns it) cannot be a display name,
    or None when it can: it must show something, look like no address and not mix
    Latin, Cyrillic and Greek letters."""
    problem = visible_problem(name)
    if problem:
        return problem
    marks = 0
    for ch in name:
        marks = marks + 1 if unicodedata.category(ch)[0] == "M" else 0
        if marks > MAX_MARKS:
            return f"must not stack more than {MAX_MARKS} combining marks on one character"
    skeleton = name.translate(_HEX_SKELETON)
    if _ADDRESS_LIKE.search(skeleton) or _ADDRESS_LIKE_O.search(skeleton):
        return "must not look like a wallet address (0x and hex digits): names stand in for addresses on every page"
    scripts = {s for ch in name if unicodedata.category(ch)[0] == "L"
               for s in [unicodedata.name(ch, "").split(" ")[0]] if s in _LOOKALIKE_SCRIPTS}
    if len(scripts) > 1:
        return "must not mix " + " and ".join(sorted(s.title() for s in scripts)) + " letters (they look alike)"
    return None


def visible_problem(text: str) -> str | None:
    """Why `text` (a name, a link's label) would show as nothing or as blanks, or None."""
    if any(ch in BLANKS for ch in text):
        return "must not contain blank characters that show as nothing (Hangul filler, Braille blank)"
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in text):
        return "must contain a visible letter, digit or symbol"
    return None


def normal_name(value: str) -> str:
    """`value` in NFKC (fullwidth and mathematical letters become plain ones, … becomes
    ...), its runs of spaces one space as a page shows them."""
    return " ".join(unicodedata.normalize("NFKC", value).split())
