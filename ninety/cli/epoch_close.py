"""`ninety epoch close`: the owner-key job that judges every recorded free download of an
ended epoch against the chain, applies the committed rule (the ninety/epochs/ package
holds it), pins the report to IPFS, publishes both roots from the owner's key and keeps
the report for the API (backend.models.EpochReport).

The report is computed from the chain alone, as `ninety verify epoch` recomputes it; only
the list of recorded downloads (and which tracks the API judged not genuine) comes from
the database."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from eth_account import Account
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel
from web3 import Web3

import ninety.models  # noqa: F401  (registers the ledger tables read through T below)
from backend.models import EpochReport, FreeDownload
from ninety.chain import Rpc
from ninety.config import DEV_CHAIN_IDS
from ninety.contract import Deployment, load_abi
from ninety.epochs.allocation import build_report, compute, report_bytes
from ninety.epochs.onchain import ChainView, clock_of, gather, rules_document
from ninety.epochs.rules import Rules
from ninety.errors import NinetyError
from ninety.ipfs import Ipfs

T = SQLModel.metadata.tables


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
    """Judge epoch `epoch`'s recorded free downloads against the chain (default: the first
    ended epoch with a pool), apply its committed rules, pin the report to IPFS, publish its
    roots from `owner_key` and keep the report for the API. `advance` (dev chains only)
    moves the chain's clock to the epoch's end first."""
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
        if w3.eth.chain_id not in DEV_CHAIN_IDS:
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
