"""From rows to aggregate deltas, and the contract's split arithmetic (`allot`).

The same `deltas` function serves indexing (sign +1, rows just built) and reorg undo
(sign -1, rows read back from the database), so the aggregates can only ever move together
with the rows they sum. The tables and their columns are the registry's `AGGREGATES`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping

from ninety.ledger.registry import AGGREGATES, SUMMED

TOTAL_SHARES_PPM = 1_000_000

# Aggregate table -> key -> one integer per column of the table, in the registry's order.
Deltas = dict[str, dict[tuple[Any, ...], list[int]]]
Recipients = Callable[[str], list[tuple[str, int]]]


def allot(amount: int, recipients: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The contract's distribute(): floor by share, rounding dust to the first recipient."""
    parts = [(r, amount * s // TOTAL_SHARES_PPM) for r, s in recipients]
    dust = amount - sum(p for _, p in parts)
    first, part = parts[0]
    return [(first, part + dust), *parts[1:]]


def new_deltas() -> Deltas:
    """Empty deltas: every aggregate table, each key starting at zeros."""
    return {a.table: defaultdict(lambda n=len(a.columns): [0] * n) for a in AGGREGATES}


def _sales(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    # Sales are summed per combination of what the aggregates are keyed by first (a backfill
    # step of 10,000 sales of one track has a handful), then each sum goes to its seven
    # aggregate rows: a dictionary update per sale instead of seven.
    groups: dict[tuple[Any, ...], list[int]] = {}
    for s in rows:
        key = (s["track_id"], s["token"], s["artist"], s["split_id"], s["fee_recipient"], s["buyer"],
               int(s["block_time"]) // 86400)
        amount, fee = int(s["amount"]), int(s["platform_fee"])
        g = groups.get(key)
        if g is None:
            groups[key] = [1, amount, fee]
        else:
            g[0] += 1
            g[1] += amount
            g[2] += fee
    account, split, track, artist = d["account_balance"], d["split_balance"], d["track_stats"], d["artist_stats"]
    buyers, track_day, track_split = d["artist_buyer"], d["track_day"], d["track_split"]
    for (track_id, token, artist_, split_id, fee_recipient, buyer, day), (count, amount, fee) in groups.items():
        if fee:
            account[(fee_recipient, token)][0] += sign * fee
        split[(split_id, token)][0] += sign * (amount - fee)
        for key, stats in (((track_id, token), track), ((artist_, token), artist)):
            row = stats[key]
            row[0] += sign * count
            row[1] += sign * amount
            row[2] += sign * fee
        buyers[(artist_, token, buyer)][0] += sign * count
        row = track_day[(track_id, token, day)]
        row[0] += sign * count
        row[1] += sign * amount
        track_split[(track_id, split_id, token)][0] += sign * (amount - fee)


def _distributions(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, recipients: Recipients) -> None:
    account, split = d["account_balance"], d["split_balance"]
    for x in rows:
        amount, token = int(x["amount"]), x["token"]
        split[(x["split_id"], token)][1] += sign * amount
        for recipient, part in allot(amount, recipients(x["split_id"])):
            account[(recipient, token)][0] += sign * part


def _withdrawals(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    account = d["account_balance"]
    for w in rows:
        account[(w["account"], w["token"])][1] += sign * int(w["amount"])


def _pool_deposits(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    for x in rows:
        d["pool_total"][(int(x["epoch"]), x["token"])][0] += sign * int(x["amount"])


def _pool_withdrawals(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    for x in rows:
        d["pool_total"][(int(x["epoch"]), x["token"])][1] += sign * int(x["amount"])


def _pool_settlements(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    pool, account = d["pool_total"], d["account_balance"]
    for x in rows:
        epoch, token = int(x["epoch"]), x["token"]
        row = pool[(epoch, token)]
        row[2] += sign * int(x["pool"])
        row[3] += sign * int(x["allocated"])
        # The carry-over went into the pool of the epoch current at publication.
        pool[(int(x["carried_to_epoch"]), token)][0] += sign * int(x["carried_over"])
        if int(x["platform_fee"]):
            account[(x["fee_recipient"], token)][0] += sign * int(x["platform_fee"])


def _pool_claims(rows: Iterable[Mapping[str, Any]], d: Deltas, sign: int, _: Recipients) -> None:
    pool, split = d["pool_total"], d["split_balance"]
    for x in rows:
        pool[(int(x["epoch"]), x["token"])][4] += sign * int(x["amount"])
        split[(x["split_id"], x["token"])][0] += sign * int(x["amount"])


# Summed event table -> what its rows add (one function per table, as the registry lists them).
ADDERS = {"sale": _sales, "distribution": _distributions, "withdrawal": _withdrawals,
          "pool_deposit": _pool_deposits, "pool_withdrawal": _pool_withdrawals,
          "pool_settlement": _pool_settlements, "pool_claim": _pool_claims}
assert tuple(ADDERS) == SUMMED


def deltas(
    tables: Mapping[str, Iterable[Mapping[str, Any]]],
    split_recipients: Recipients,
    sign: int = 1,
    into: Deltas | None = None,
) -> Deltas:
    """What the rows of `tables` (ledger table name -> rows) add to the aggregates."""
    d = into if into is not None else new_deltas()
    for table, add in ADDERS.items():
        rows = tables.get(table)
        if rows:
            add(rows, d, sign, split_recipients)
    return d
