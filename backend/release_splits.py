"""A release must not cut its tracks' collaborators out.

The contract lets an artist put any of its own tracks on a release with any split, so
without a rule an artist could sell a track's recording inside a cheap album whose split
pays only itself, and the track's co-payees would earn nothing from those sales: the cut
the contract forbids for the track itself (a split change needs the consent of who loses).

The rule, a promise in plain words: a collaborator earns at least as much from each sale
of a release as from a sale of their track on its own. For a release priced P in token R,
every payee p of its tracks other than the artist gets from the release's split at least
fair(p) = max(owed(p), whole(p)), in ppm, where
- owed(p) = ceil(sum over the members priced in R of s_i(p) * price_i / P): what p earns
  from selling each of those tracks once, as a share of the release's price. Any weighing
  by the tracks' prices is the artist's to game (its own filler tracks priced high dilute
  a shared one); the release's price is what the buyer actually pays instead of the
  tracks. A free member adds nothing;
- whole(p) is p's largest share over the members priced above 0 in another token: those
  cannot be compared with P, so p keeps its whole share of them.
A free release (P = 0) cannot be fair to a payee of a member priced above 0. When the
others' fair shares add up to more than 100% no split is fair: the release needs a higher
price (the least is named), or its tracks priced in another token repriced in R.

Prices are the artist's to move, so the API judges a release by this rule where it is
read and at each sale (backend/release_fairness.py), not only when it attests it."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Sequence

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


def amount_text(amount: int, symbol: str | None = None, decimals: int = 0) -> str:
    """`amount` base units in the token's unit (4000000 with mUSDC, 6: "4 mUSDC")."""
    if symbol is None:
        return f"{amount} base units"
    value = Decimal(amount).scaleb(-decimals).normalize()
    return f"{value:f} {symbol}"


class CannotBeFair(ValueError):
    """The other payees' fair shares add up to more than 100% at this price."""

    def __init__(self, token: str, price: int, owed_ppm: int, least_price: int | None,
                 track_ids: list[int]) -> None:
        # least_price: the least price in `token` making a fair split exist (None when the
        # tracks priced in another token alone are owed more than 100%: `track_ids`).
        self.token, self.price, self.owed_ppm = token, price, owed_ppm
        self.least_price, self.track_ids = least_price, track_ids
        super().__init__(self.explain())

    def explain(self, unit: Callable[[int], str] | None = None) -> str:
        show = unit or amount_text
        if self.least_price is None:
            return (f"no split of a release priced in {self.token} can be fair to these tracks' collaborators: "
                    f"tracks {', '.join(map(str, self.track_ids))} are priced in another token (each collaborator "
                    f"keeps its whole share of those) and their shares add up to {self.owed_ppm / 10_000:g}%. "
                    f"Reprice them in {self.token}, or take them out of the release")
        also = (f", reprice tracks {', '.join(map(str, self.track_ids))} in {self.token}" if self.track_ids else "")
        return (f"priced at {show(self.price)} this release pays its tracks' collaborators less than a sale of "
                f"their tracks does; price it at {show(self.least_price)} or more (or take tracks out{also})")


def _compared(member: Member, token: str) -> bool:
    return member.token.lower() == token.lower()


def _paid_others(members: Sequence[Member], artist: str) -> bool:
    me = artist.lower()
    return any(int(m.price) > 0 and int(s) > 0 and a.lower() != me for m in members for a, s in m.split)


def fair_shares(members: Sequence[Member], token: str, price: int, artist: str) -> dict[str, int]:
    """fair(p) in ppm for every payee other than `artist`; raises CannotBeFair when their
    sum passes 100% (or the release is free and a priced member pays one of them)."""
    me, price = artist.lower(), int(price)
    earned: dict[str, int] = {}  # sum of s_i(p) * price_i over the members priced in `token`
    whole: dict[str, int] = {}
    for m in members:
        if int(m.price) == 0:
            continue
        for address, share in m.split:
            a = address.lower()
            if a == me:
                continue
            if _compared(m, token):
                earned[a] = earned.get(a, 0) + int(share) * int(m.price)
            else:
                whole[a] = max(whole.get(a, 0), int(share))
    outside = [m.track_id for m in members if int(m.price) > 0 and not _compared(m, token)]
    # However high the price, each payee of a member priced in `token` is owed at least 1 ppm.
    floor = sum(max(1 if earned.get(a) else 0, whole.get(a, 0)) for a in earned.keys() | whole.keys())
    if floor > TOTAL_PPM:
        raise CannotBeFair(token, price, floor, None, outside)
    if price == 0:
        if _paid_others(members, me):
            raise CannotBeFair(token, price, TOTAL_PPM + 1, _least_price(earned, whole, 1), outside)
        return {}
    fair = {a: -(-e // price) for a, e in earned.items()}
    for a, s in whole.items():
        fair[a] = max(fair.get(a, 0), s)
    owed = sum(fair.values())
    if owed > TOTAL_PPM:
        raise CannotBeFair(token, price, owed, _least_price(earned, whole, price), outside)
    return fair


def _least_price(earned: dict[str, int], whole: dict[str, int], price: int) -> int:
    """The least price at which the fair shares fit in 100%: ceil(sum earned / 100%) when no
    member is priced in another token; with some, the least P where sum max(ceil(e/P), w) fits
    (found by bisection from there: the sum only falls as P rises, and fits at some P, the
    caller has checked)."""
    def fits(p: int) -> bool:
        return sum(max(-(-earned.get(a, 0) // p), whole.get(a, 0)) for a in earned.keys() | whole.keys()) <= TOTAL_PPM

    low = max(1, -(-sum(earned.values()) // TOTAL_PPM))
    if fits(low):
        return low
    high = max(low, price) * 2
    while not fits(high):
        high *= 2
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return low


def losers(members: Sequence[Member], token: str, price: int, artist: str,
           recipients: Sequence[str], shares: Sequence[int]) -> list[Loser]:
    """The payees (other than `artist`, who chooses) the release's split would pay less
    than their fair share, in address order; empty: the split keeps everyone whole.
    Raises CannotBeFair when no split can."""
    given: dict[str, int] = {}
    for r, s in zip(recipients, shares):
        given[r.lower()] = given.get(r.lower(), 0) + int(s)
    return [Loser(a, owed, given.get(a, 0)) for a, owed in sorted(fair_shares(members, token, price, artist).items())
            if given.get(a, 0) < owed]


def suggested_split(members: Sequence[Member], token: str, price: int, artist: str) -> list[tuple[str, int]]:
    """The smallest fair split: every other payee at its fair share, the rest (rounding
    included) to the artist; sorted by address as the contract wants, no zero share
    (createSplit refuses one: an artist none of its tracks pays gets none). Raises
    CannotBeFair when the others are owed more than 100%."""
    me = artist.lower()
    shares = {a: s for a, s in fair_shares(members, token, price, artist).items() if s > 0}
    owed = sum(shares.values())
    if owed < TOTAL_PPM:
        shares[me] = TOTAL_PPM - owed
    return sorted(shares.items())


def common_token(members: Sequence[Member]) -> str | None:
    """The members' token when they all have the same one."""
    tokens = {m.token.lower() for m in members}
    return tokens.pop() if len(tokens) == 1 else None


def tracks_price(members: Sequence[Member], token: str) -> int:
    """What the members priced in `token` cost bought one by one (a release's default price)."""
    return sum(int(m.price) for m in members if _compared(m, token))
