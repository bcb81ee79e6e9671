"""Sponsor-pool epochs on the server: the current epoch by block time, a wallet's standing
for the Pools page, and `ninety epoch close`, which judges every recorded free download
against the chain, applies the rule (ninety/epochs.py holds it), pins the report to IPFS,
publishes both roots from the owner's key and keeps the report for the API.

`standing` and `epoch_counts` read the indexed ledger, so they are a live estimate; the
report `close_epoch` publishes is computed from the chain alone, as `ninety verify epoch`
recomputes it."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any, Callable

from eth_account import Account
from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel
from web3 import Web3

import ninety.models  # noqa: F401  (registers the ledger tables read through T below)
from backend.models import EpochReport, FreeDownload
from ninety.contract import Deployment, load_abi
from ninety.epochs import (ChainView, EpochClock, Purchase, Rules, build_report, clock_of, compute, distributable,
                           fees_paid, gather, qualification, report_bytes, rules_document)
from ninety.errors import NinetyError
from ninety.ipfs import Ipfs

T = SQLModel.metadata.tables
DEV_CHAINS = {31337, 1337}
_lock = threading.Lock()
_clocks: dict[str, EpochClock] = {}
_rules: dict[tuple[str, str], tuple[dict[str, Any], Rules]] = {}


def _contract(services: Any) -> str:
    if services.rpc is None or services.deployment is None:
        raise NinetyError("this server has no chain configured (NINETY_RPC_URL and a deployment)")
    return str(services.deployment.address).lower()


def clock(services: Any) -> EpochClock:
    """The contract's epoch clock (immutable: read once)."""
    contract = _contract(services)
    with _lock:
        if contract not in _clocks:
            _clocks[contract] = clock_of(services.rpc, contract)
        return _clocks[contract]


def current_epoch(services: Any) -> tuple[int, int, int]:
    """(epoch, head block number, head timestamp), by the chain's latest block."""
    head = services.rpc.call("eth_getBlockByNumber", ["latest", False])
    number, when = int(head["number"], 16), int(head["timestamp"], 16)
    return clock(services).epoch_at(when), number, when


def rules_for(services: Any, epoch: int) -> tuple[dict[str, Any], Rules]:
    """The rules committed for `epoch` (cached by their hash, read from the contract)."""
    contract = _contract(services)
    key = (contract, ChainView(services.rpc, contract).rules_hash(epoch))
    with _lock:
        if key in _rules:
            return _rules[key]
    if services.ipfs is None:
        raise NinetyError("this server has no IPFS node to read the pool rules from")
    try:
        document = rules_document(services.rpc, services.ipfs, contract, epoch, services.deployment.deploy_block)
    except LookupError as e:
        raise NinetyError(str(e)) from None
    value = (document, Rules.parse(document))
    with _lock:
        _rules[key] = value
    return value


def _window_purchases(db: Any, clock_: EpochClock, rules: Rules, epoch: int,
                      wallets: list[str] | None) -> dict[str, list[Purchase]]:
    """Indexed sales bought in the window from splits that do not pay the buyer, by
    `wallets`, or (None) by every wallet that recorded a free download in the epoch: a
    join, so wallets that never bought (however many) cost nothing here."""
    start, end = clock_.window(epoch, rules.window)
    sale, sr, fd = T["sale"], T["split_recipient"], T["free_download"]
    paid_back = select(sr.c.split_id).where(sr.c.split_id == sale.c.split_id, sr.c.recipient == sale.c.buyer).exists()
    query = select(sale).where(sale.c.block_time >= start, sale.c.block_time < end, ~paid_back)
    if wallets is None:
        listened = select(fd.c.wallet).where(fd.c.epoch == epoch, fd.c.wallet == sale.c.buyer).exists()
        query = query.where(listened)
    else:
        query = query.where(sale.c.buyer.in_(wallets))
    out: dict[str, list[Purchase]] = defaultdict(list)
    for r in db.execute(query).mappings():
        out[r["buyer"]].append(Purchase(r["buyer"], r["tx_hash"], int(r["log_index"]), int(r["track_id"]), r["token"],
                                        int(r["amount"]), int(r["platform_fee"]), int(r["block_time"])))
    return out


def _pools(db: Any, epoch: int) -> list[tuple[str, int]]:
    pt = T["pool_total"]
    rows = db.execute(select(pt).where(pt.c.epoch == epoch).order_by(pt.c.token)).mappings()
    return [(r["token"], int(r["funded"]) - int(r["withdrawn"]) - int(r["settled"])) for r in rows]


def _counted(db: Any, services: Any, epoch: int) -> dict[str, int]:
    """Recorded downloads per qualified listener in the epoch (as the ledger stands now)."""
    _, rules = rules_for(services, epoch)
    bought = _window_purchases(db, clock(services), rules, epoch, None)
    qualified = [w for w, mine in bought.items() if qualification(rules, mine)[0]]
    if not qualified:
        return {}
    fd = T["free_download"]
    rows = db.execute(select(fd.c.wallet, func.count()).where(fd.c.epoch == epoch, fd.c.wallet.in_(qualified))
                      .group_by(fd.c.wallet))
    return {str(w): int(n) for w, n in rows}


def epoch_counts(db: Any, services: Any, epoch: int) -> tuple[int, int]:
    """(qualified listeners with a recorded download, their recorded downloads) so far."""
    counted = _counted(db, services, epoch)
    return len(counted), sum(counted.values())


def standing(db: Any, services: Any, epoch: int, wallet: str, *, amounts: bool = True) -> dict[str, Any]:
    """Whether `wallet` qualifies in `epoch` now, why not, and (with `amounts`) how much it
    could direct per pool token if the epoch ended now (an estimate from the ledger)."""
    wallet = wallet.lower()
    _, rules = rules_for(services, epoch)
    mine = _window_purchases(db, clock(services), rules, epoch, [wallet]).get(wallet, [])
    qualifies, reason = qualification(rules, mine)
    fd = FreeDownload
    downloads = int(db.execute(select(func.count()).select_from(fd).where(fd.epoch == epoch, fd.wallet == wallet))
                    .scalar() or 0)
    can_direct = []
    if qualifies and amounts:
        counted = _counted(db, services, epoch)
        n = len(counted) + (0 if wallet in counted else 1)
        fees = fees_paid(mine)
        for token, pool in _pools(db, epoch):
            cap = rules.multiplier * fees.get(token, 0) // rules.window
            can_direct.append({"token": token, "amount": str(min(distributable(pool, rules.fee_bps) // n, cap))})
    return {"qualifies": qualifies, "reason": reason, "can_direct": can_direct, "free_downloads": downloads}


# ------------------------------------------------------------------ closing an epoch

def _advance_to(w3: Web3, when: int) -> None:
    """Dev chains only: move Anvil's clock to `when` and mine a block there."""
    now = w3.eth.get_block("latest")["timestamp"]
    if when > now:
        w3.provider.make_request("evm_increaseTime", [when - now])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def pending_epoch(market: Any, current: int) -> int | None:
    """The first ended epoch with a pool that is not published yet (None if none)."""
    for e in range(market.functions.nextEpochToPublish().call(), current):
        if market.functions.poolTokens(e).call():
            return e
    return None


def _records(engine: Engine, epoch: int) -> tuple[list[tuple[str, int, str, int]], list[int]]:
    """The epoch's recorded downloads (wallet, track, signature, block), sorted, and which
    of their tracks the API judged not genuine."""
    with Session(engine) as db:
        fd = FreeDownload
        records = sorted((r.wallet, int(r.track_id), r.signature, int(r.block_number))
                         for r in db.execute(select(fd).where(fd.epoch == epoch)).scalars())
        track = T["track"]
        ids = sorted({t for _, t, _, _ in records})
        not_genuine = [int(t) for (t,) in db.execute(select(track.c.track_id).where(
            track.c.track_id.in_(ids), track.c.genuine.is_(False)))] if ids else []
    return records, not_genuine


def close_epoch(engine: Engine, w3: Web3, ipfs: Ipfs, deployment: Deployment, owner_key: str, epoch: int | None = None,
                *, advance: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    from ninety.chain import Rpc

    rpc = Rpc(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    contract = deployment.address.lower()
    market = w3.eth.contract(address=Web3.to_checksum_address(contract), abi=load_abi("Marketplace"))
    owner = market.functions.owner().call()
    sender = Account.from_key(owner_key)
    if sender.address != owner:
        raise NinetyError(f"the key given is {sender.address}, but only the owner {owner} can publish an epoch")
    clock_ = clock_of(rpc, contract)
    current = market.functions.currentEpoch().call()
    next_ = market.functions.nextEpochToPublish().call()
    if epoch is None:
        epoch = pending_epoch(market, current)
        if epoch is None:
            if not advance:
                raise NinetyError(f"no ended epoch has a pool to publish (epoch {current} is current; "
                                  f"the next to publish is {next_})")
            epoch = current
    if epoch < next_:
        raise NinetyError(f"epoch {epoch} is already published (the next to publish is {next_})")
    if epoch >= current:
        if not advance:
            ends = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(clock_.end_of(epoch)))
            raise NinetyError(f"epoch {epoch} has not ended: it ends at {ends} by block time "
                              f"(on a dev chain, --advance moves the clock)")
        if w3.eth.chain_id not in DEV_CHAINS:
            raise NinetyError("--advance moves the chain's clock: only on a dev chain (Anvil)")
        say(f"moving the dev chain's clock to the end of epoch {epoch}")
        _advance_to(w3, clock_.end_of(epoch))
        current = market.functions.currentEpoch().call()
    earlier = pending_epoch(market, epoch)
    if earlier is not None:
        raise NinetyError(f"epoch {earlier} has a pool and is not published: epochs are published in order")
    rules_doc = rules_document(rpc, ipfs, contract, epoch, deployment.deploy_block)
    rules = Rules.parse(rules_doc)
    view = ChainView(rpc, contract, deployment.deploy_block)
    pools = view.pools(epoch)
    # The API records a download only while its chain head is inside the epoch; one whose
    # write lands while we judge (a lagging RPC node) shows up as a changed record set:
    # judge again, so no receipted download is left out.
    records: list[tuple[str, int, str, int]] | None = None
    for _ in range(3):
        seen = records
        records, not_genuine = _records(engine, epoch)
        if records == seen:
            break
        say(f"epoch {epoch}: judging {len(records)} recorded free downloads against the chain")
        listens, purchases = gather(view, chain_id=w3.eth.chain_id, clock=clock_, epoch=epoch, rules=rules,
                                    records=records, from_block=deployment.deploy_block, to_block=rpc.block_number())
    else:
        raise NinetyError(f"free downloads for epoch {epoch} are still being recorded: is an API's chain node "
                          "lagging? Try again in a minute")
    outcome = compute(epoch, rules, pools, listens, purchases, not_genuine)
    report = build_report(chain_id=w3.eth.chain_id, contract=contract, epoch=epoch, clock=clock_, rules=rules_doc,
                          outcome=outcome, not_genuine=not_genuine)
    cid = ipfs.add_bytes(report_bytes(report))
    counted = sum(1 for x in outcome.listens if x["counted"])
    listeners = sum(1 for x in outcome.listeners if x["counted_tracks"])
    assert records is not None
    say(f"epoch {epoch}: {counted} of {len(records)} free downloads counted, from {listeners} qualified listeners; "
        f"{len(report['allocations'])} allocations; report pinned as {cid}")
    by_token = {s["token"]: s for s in report["settlements"]}
    tokens = [t for t, _ in pools]
    allocated = [int(by_token[t]["allocated"]) for t in tokens]
    fees = [int(by_token[t]["platform_fee"]) for t in tokens]
    fn = market.functions.publishEpoch(epoch, bytes.fromhex(report["root"][2:]), bytes.fromhex(report["listens_root"][2:]),
                                       cid, allocated, fees)
    tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=120)
    if receipt["status"] != 1:
        raise NinetyError(f"publishEpoch reverted (transaction {receipt['transactionHash'].hex()})")
    with Session(engine) as db:
        db.merge(EpochReport(epoch=epoch, report_cid=cid, report_json=json.dumps(report), created_at=time.time()))
        db.commit()
    say(f"epoch {epoch} published in block {receipt['blockNumber']}: root {report['root']}, "
        f"listens root {report['listens_root']}")
    return report
