"""Monthly statements' test world: sales on both sides of a month boundary (23:59:59 on the
last day, 00:00:00 on the 1st, set by Anvil's evm_setNextBlockTimestamp), distributions,
withdrawals, a sponsor-pool claim; and what a statement must say, computed here from the
chain's logs alone (web3 event logs and block timestamps, the contract's documented split
rounding written out again), never from the ledger or ninety.ledger.statement."""
from __future__ import annotations

import calendar
import datetime as dt

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ninety.epochs.allocation import distributable, fee_on
from ninety.market import ETH
from ninety.merkle import Allocation, MerkleTree
from tests.indexer.releases import pin, register_release, release_metadata, track_metadata
from tests.support.activity import advance_epoch

UTC = dt.timezone.utc


def month_of(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def next_month_start(ts: int) -> int:
    d = dt.datetime.fromtimestamp(ts, UTC)
    return calendar.timegm((d.year + (d.month == 12), d.month % 12 + 1, 1, 0, 0, 0))


def at(w3, ts: int) -> None:
    """The next block is mined at `ts` exactly."""
    w3.provider.make_request("evm_setNextBlockTimestamp", [ts])


@dataclass
class Scenario:
    artist: str
    collab: str
    third: str
    fee_recipient: str
    boundary: int  # 00:00:00 UTC on the 1st of month `after`
    before: str  # the month holding boundary - 1
    after: str
    listings: dict[str, int] = field(default_factory=dict)
    split: str = ""


def build(world, ipfs) -> Scenario:
    """Wallet 1 (artist) lists T1, T2 and release R (of T1, T2) on a three-payee split with
    shares that do not divide evenly, and T3 on a split of its own; sales, distributions
    and withdrawals before the boundary, a sale at boundary - 1 and one at boundary, a pool
    claim into the split after it, a distribution and withdrawals, then a sale left
    undistributed."""
    w3, m = world.w3, world.market
    a = world.accounts
    artist, collab, third, buyer1, buyer2, sponsor = a[1], a[2], a[5], a[3], a[4], a[6]
    fee_recipient = m.contract.functions.feeRecipient().call()
    head = w3.eth.get_block("latest")["timestamp"]
    boundary = next_month_start(head + 4 * 3600)  # room for the setup before 23:59:59
    s = Scenario(artist.lower(), collab.lower(), third.lower(), fee_recipient.lower(), boundary,
                 month_of(boundary - 1), month_of(boundary))
    split = m.create_split([(artist, 500_001), (collab, 333_333), (third, 166_666)], artist)
    solo = m.create_split([(artist, 1_000_000)], artist)
    s.split = split
    ids = []
    for i, price in enumerate((10**15 + 7, 3 * 10**15 + 1)):
        cid = pin(ipfs, track_metadata(f"Statement Song {i}", artist, 40 + i))
        ids.append(m.register(cid, split, ETH, price, artist, world.attest(cid, artist, split)))
    cid = pin(ipfs, track_metadata("Solo Song", artist, 42))
    t3 = m.register(cid, solo, ETH, 2 * 10**15, artist, world.attest(cid, artist, solo))
    usdc = world.usdc.address
    cid = pin(ipfs, track_metadata("Stable Song", artist, 43))
    t4 = m.register(cid, split, usdc, 1_234_567, artist, world.attest(cid, artist, split))
    release = register_release(world, pin(ipfs, release_metadata(ids, artist, title="Boundary EP")), split, ids,
                               artist, price=5 * 10**15 + 3)
    s.listings = {"T1": ids[0], "T2": ids[1], "T3": t3, "R": release, "T4": t4}
    # Before the boundary (the month of the setup): a sale of each split, paid out; a withdrawal.
    m.buy(ids[0], 10**15 + 7, buyer1)
    m.buy(t3, 2 * 10**15, buyer2)
    m.distribute(split, ETH, buyer1)
    m.distribute(solo, ETH, buyer1)
    m.withdraw(collab, [ETH], collab)
    at(w3, boundary - 1)  # 23:59:59 on the last day: the earlier month's sale
    m.buy(ids[1], 3 * 10**15 + 1, buyer1)
    at(w3, boundary)  # 00:00:00 on the 1st: the later month's
    m.buy(release, 5 * 10**15 + 3, buyer2)
    # A sponsor pool of this epoch, allocated to the split once the epoch ends, claimed.
    f = m.contract.functions
    epoch = f.currentEpoch().call()
    m.deposit_to_pool(epoch, ETH, 10**16 + 11, sponsor)
    advance_epoch(world)
    bps = 500
    each = distributable(10**16 + 11, bps)
    allocation = Allocation(split, ETH, each)
    tree = MerkleTree(epoch, [allocation])
    m.publish_epoch(epoch, tree.root, b"\x00" * 32, f"bafkreistatement{epoch}", [each], [fee_on(each, bps)], world.owner)
    m.claim_from_pool(epoch, allocation, tree.proof(allocation), sponsor)
    m.distribute(split, ETH, sponsor)  # pays out the 23:59:59 sale, the 00:00:00 one and the claim
    m.withdraw(collab, [ETH], collab)
    m.withdraw(artist, [ETH], buyer1)
    m.buy(ids[0], 10**15 + 7, buyer1)  # left in the split: waiting
    m.buy(t4, 1_234_567, buyer2, token=usdc)  # the stablecoin (6 decimals): a page of its own
    m.distribute(split, usdc, buyer2)
    return s


# ------------------------------------------------------------------ the chain's side


def _all_logs(m, name: str, start: int) -> list[Any]:
    return list(getattr(m.contract.events, name).get_logs(from_block=start))


def _ref(log) -> tuple[str, int]:
    """(transaction hash, log index): how a statement line names the event it comes from."""
    return "0x" + bytes(log["transactionHash"]).hex(), log["logIndex"]


def expected(world, address: str, month: str, token: str = ETH) -> dict[str, Any]:
    """What `address`'s statement in `token` for `month` must say, from logs alone: opening,
    credits (distributions by the contract's rounding: floor by share, the remainder to
    the first payee; platform fees), withdrawals, closing; distribution credits in the
    month; the payee's share of each distribution source; the artist's listings' sales."""
    m, w3 = world.market, world.w3
    start_block = world.deploy_block
    who, token = address.lower(), token.lower()

    def _logs(m, name: str, start: int) -> list[Any]:  # noqa: F811  (only this token's, where the event has one)
        return [e for e in _all_logs(m, name, start) if "token" not in e["args"] or e["args"]["token"].lower() == token]

    y, mo = (int(x) for x in month.split("-"))
    start = calendar.timegm((y, mo, 1, 0, 0, 0))
    end = calendar.timegm((y + (mo == 12), mo % 12 + 1, 1, 0, 0, 0))
    times: dict[int, int] = {}

    def time_of(log) -> int:
        n = log["blockNumber"]
        if n not in times:
            times[n] = w3.eth.get_block(n)["timestamp"]
        return times[n]

    splits = {"0x" + bytes(e["args"]["splitId"]).hex(): ([r.lower() for r in e["args"]["recipients"]],
                                                          list(e["args"]["sharesPpm"]))
              for e in _logs(m, "SplitCreated", start_block)}
    artists = {int(e["args"]["trackId"]): e["args"]["artist"].lower() for e in _logs(m, "TrackRegistered", start_block)}
    artists.update({int(e["args"]["releaseId"]): e["args"]["artist"].lower()
                    for e in _logs(m, "ReleaseRegistered", start_block)})
    fee_to = [(e["blockNumber"], e["logIndex"], e["args"]["newRecipient"].lower())
              for e in _logs(m, "FeeRecipientChanged", start_block)]

    def fee_recipient_at(log) -> str:
        return [r for b, i, r in fee_to if (b, i) < (log["blockNumber"], log["logIndex"])][-1]

    out = {"opening": 0, "distributed": 0, "fees": 0, "withdrawals": 0, "distributions": [], "listings": {},
           "refs": set()}

    def fee_of(log) -> int:
        return int(log["args"]["platformFee"]) if "platformFee" in log["args"] else int(log["args"]["fee"])

    def count_fee(log, t: int, fee: int) -> None:
        """A platform fee (of a sale or a pool settlement) is the recipient's at the time."""
        if fee and fee_recipient_at(log) == who and t < end:
            if t < start:
                out["opening"] += fee
            else:
                out["fees"] += fee
                out["refs"].add(_ref(log))

    for e in _logs(m, "SplitDistributed", start_block):
        sid = "0x" + bytes(e["args"]["splitId"]).hex()
        recipients, shares = splits[sid]
        if who not in recipients:
            continue
        amount = int(e["args"]["amount"])
        parts = [amount * s // 1_000_000 for s in shares]
        parts[0] = amount - sum(parts[1:])
        mine = sum(p for r, p in zip(recipients, parts) if r == who)
        t = time_of(e)
        if t < start:
            out["opening"] += mine
        elif t < end:
            out["distributed"] += mine
            tx, index = _ref(e)
            out["distributions"].append({"split": sid, "amount": amount, "credit": mine, "tx": tx, "log": index})
            out["refs"].add((tx, index))
    for e in _logs(m, "Sale", start_block):
        t, fee = time_of(e), fee_of(e)
        count_fee(e, t, fee)
        tid = int(e["args"]["trackId"])
        if artists.get(tid) == who and start <= t < end:
            amount = int(e["args"]["amount"])
            row = out["listings"].setdefault(tid, [0, 0, 0, 0])
            row[0] += 1
            row[1] += amount
            row[2] += fee
            row[3] += amount - fee
    for e in _logs(m, "PoolSettled", start_block):
        count_fee(e, time_of(e), fee_of(e))
    for e in _logs(m, "Withdrawal", start_block):
        if e["args"]["account"].lower() != who:
            continue
        t = time_of(e)
        amount = int(e["args"]["amount"])
        if t < start:
            out["opening"] -= amount
        elif t < end:
            out["withdrawals"] += amount
            out["refs"].add(_ref(e))
    out["credits"] = out["distributed"] + out["fees"]
    out["closing"] = out["opening"] + out["credits"] - out["withdrawals"]
    return out


def sale_nets(world) -> dict[tuple[str, int], tuple[int, int, int]]:
    """(tx, log) of each Sale -> (listing id, net, block time); of each PoolClaimed -> (-epoch-1, amount, time)."""
    m, w3 = world.market, world.w3
    out = {}
    for e in _all_logs(m, "Sale", world.deploy_block):
        fee = int(e["args"]["platformFee"]) if "platformFee" in e["args"] else int(e["args"]["fee"])
        out[_ref(e)] = (
            int(e["args"]["trackId"]), int(e["args"]["amount"]) - fee, w3.eth.get_block(e["blockNumber"])["timestamp"])
    for e in _all_logs(m, "PoolClaimed", world.deploy_block):
        out[_ref(e)] = (
            -int(e["args"]["epoch"]) - 1, int(e["args"]["amount"]), w3.eth.get_block(e["blockNumber"])["timestamp"])
    return out


def in_units(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)



