"""A release must not cut its tracks' collaborators out.

The contract lets an artist put any of its own tracks on a release with any split, so
without a rule an artist could sell a track's recording inside a cheap album whose split
pays only itself, and the track's co-payees would earn nothing from those sales: the cut
the contract forbids for the track itself (a split change needs the consent of who loses).
The API attests a release only if its split pays every other payee of its tracks at least
that payee's average share over the release's tracks (each track weighing the same, as
the release sells them together). Open registration cannot enforce this, as for relisting."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

TOTAL_PPM = 1_000_000


@dataclass(frozen=True)
class Loser:
    address: str
    owed_ppm: int  # the least share this split must give
    given_ppm: int


def fair_shares(member_splits: Sequence[Sequence[tuple[str, int]]]) -> dict[str, int]:
    """Each payee's average share (ppm, rounded down) over the tracks, a track without the
    payee counting as zero."""
    n = len(member_splits)
    if n == 0:
        return {}
    total: dict[str, int] = {}
    for split in member_splits:
        for address, share in split:
            total[address.lower()] = total.get(address.lower(), 0) + int(share)
    return {a: s // n for a, s in total.items()}


def losers(member_splits: Sequence[Sequence[tuple[str, int]]], artist: str,
           recipients: Sequence[str], shares: Sequence[int]) -> list[Loser]:
    """The payees (other than `artist`, who chooses) the release's split would pay less
    than their fair share, in address order; empty: the split keeps everyone whole."""
    given = {r.lower(): int(s) for r, s in zip(recipients, shares)}
    me = artist.lower()
    return [Loser(a, owed, given.get(a, 0)) for a, owed in sorted(fair_shares(member_splits).items())
            if a != me and given.get(a, 0) < owed]


def suggested_split(member_splits: Sequence[Sequence[tuple[str, int]]], artist: str) -> list[tuple[str, int]]:
    """The smallest fair split: every other payee at its fair share, the rest (rounding
    included) to the artist; sorted by address as the contract wants."""
    me = artist.lower()
    shares = {a: s for a, s in fair_shares(member_splits).items() if a != me and s > 0}
    rest = TOTAL_PPM - sum(shares.values())
    if rest:  # an artist paid by none of its tracks gets none: createSplit refuses a zero share
        shares[me] = rest
    return sorted(shares.items())
