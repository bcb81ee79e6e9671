"""A release must not cut its tracks' collaborators out.

The contract lets an artist put any of its own tracks on a release with any split, so
without a rule an artist could sell a track's recording inside a cheap album whose split
pays only itself, and the track's co-payees would earn nothing from those sales: the cut
the contract forbids for the track itself (a split change needs the consent of who loses).

The rule: every payee p of the release's tracks other than the artist gets from the
release's split at least fair(p) = max(avg_R(p), max_other(p)), rounded down to ppm, where
- avg_R(p) is p's share over the members priced in the release's token R, each weighing
  by its price (what a buyer of the tracks one by one would pay for it), so a throwaway
  1-wei track cannot dilute a valuable shared one; equal weights among them if all their
  prices are 0. A free member (price 0) is worth 0 in any token, so it counts here too;
- max_other(p) is p's largest share over the members priced above 0 in another token:
  those cannot be weighed against R, so p keeps its whole share of them.
When the others' fair shares add up to more than 100% no split is fair: the tracks priced
in another token must be repriced in R (or left out).

Prices are the artist's to move, so the API judges a release by this rule where it is
read (backend/release_fairness.py), not only when it attests it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

TOTAL_PPM = 1_000_000


@dataclass(frozen=True)
class Member:
    """One track of a release, as the rule sees it."""
    split: Sequence[tuple[str, int]]  # (recipient, share_ppm)
    token: str
    price: int
    track_id: int = 0


@dataclass(frozen=True)
class Loser:
    address: str
    owed_ppm: int  # the least share this split must give
    given_ppm: int


class CannotBeFair(ValueError):
    """The other payees' fair shares add up to more than 100%."""

    def __init__(self, token: str, owed_ppm: int, track_ids: list[int]) -> None:
        self.token, self.owed_ppm, self.track_ids = token, owed_ppm, track_ids
        super().__init__(
            f"no split of a release priced in {token} can be fair to these tracks' collaborators: their fair "
            f"shares add up to {owed_ppm / 10_000:g}%, because tracks {', '.join(map(str, track_ids))} are priced "
            f"in another token (each collaborator keeps its whole share of those). Reprice them in {token}, or "
            "leave them out of the release")


def _weighed(member: Member, token: str) -> bool:
    return member.token.lower() == token.lower() or int(member.price) == 0


def fair_shares(members: Sequence[Member], token: str) -> dict[str, int]:
    """fair(p) for every payee of the members (the artist included), in ppm, rounded down."""
    inside = [m for m in members if _weighed(m, token)]
    outside = [m for m in members if not _weighed(m, token)]
    weights = [int(m.price) for m in inside]
    if not any(weights):
        weights = [1] * len(inside)
    total_weight = sum(weights)
    weighted: dict[str, int] = {}
    for member, weight in zip(inside, weights):
        for address, share in member.split:
            weighted[address.lower()] = weighted.get(address.lower(), 0) + int(share) * weight
    fair = {a: s // total_weight for a, s in weighted.items()}
    for member in outside:
        for address, share in member.split:
            fair[address.lower()] = max(fair.get(address.lower(), 0), int(share))
    return fair


def losers(members: Sequence[Member], token: str, artist: str,
           recipients: Sequence[str], shares: Sequence[int]) -> list[Loser]:
    """The payees (other than `artist`, who chooses) the release's split would pay less
    than their fair share, in address order; empty: the split keeps everyone whole."""
    given: dict[str, int] = {}
    for r, s in zip(recipients, shares):
        given[r.lower()] = given.get(r.lower(), 0) + int(s)
    me = artist.lower()
    return [Loser(a, owed, given.get(a, 0)) for a, owed in sorted(fair_shares(members, token).items())
            if a != me and given.get(a, 0) < owed]


def suggested_split(members: Sequence[Member], token: str, artist: str) -> list[tuple[str, int]]:
    """The smallest fair split: every other payee at its fair share, the rest (rounding
    included) to the artist; sorted by address as the contract wants, no zero share
    (createSplit refuses one: an artist none of its tracks pays gets none). Raises
    CannotBeFair when the others are owed more than 100%."""
    me = artist.lower()
    shares = {a: s for a, s in fair_shares(members, token).items() if a != me and s > 0}
    owed = sum(shares.values())
    if owed > TOTAL_PPM:
        raise CannotBeFair(token, owed, [m.track_id for m in members if not _weighed(m, token)])
    if owed < TOTAL_PPM:
        shares[me] = TOTAL_PPM - owed
    return sorted(shares.items())


def common_token(members: Sequence[Member]) -> str | None:
    """The members' token when they all have the same one."""
    tokens = {m.token.lower() for m in members}
    return tokens.pop() if len(tokens) == 1 else None
