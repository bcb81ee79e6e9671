"""`ninety epoch close N`: count the epoch's free downloads, build the allocation report
(ninety/epochs.py holds the rule), pin it to IPFS, publish its root from the owner's key
and keep the report for the API."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from eth_account import Account
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from web3 import Web3

from backend.models import EpochReport, FreeDownload
from ninety.contract import Deployment, load_abi
from ninety.epochs import build_report, report_bytes
from ninety.errors import NinetyError
from ninety.ipfs import Ipfs


def close_epoch(engine: Engine, w3: Web3, ipfs: Ipfs, deployment: Deployment, owner_key: str, epoch: int,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    market = w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=load_abi("Marketplace"))
    open_epoch = market.functions.openEpoch().call()
    if epoch != open_epoch:
        raise NinetyError(f"epoch {epoch} cannot be closed: the open epoch is {open_epoch} (epochs close in order)")
    owner = market.functions.owner().call()
    sender = Account.from_key(owner_key)
    if sender.address != owner:
        raise NinetyError(f"the key given is {sender.address}, but only the owner {owner} can publish an epoch")
    tokens = market.functions.poolTokens(epoch).call()
    pools = [(t.lower(), market.functions.poolBalance(epoch, t).call()) for t in tokens]
    with Session(engine) as db:
        fd = FreeDownload
        counts = [(int(t), s, int(n)) for t, s, n in db.execute(
            select(fd.track_id, fd.split_id, func.count()).where(fd.epoch == epoch).group_by(fd.track_id, fd.split_id))]
    fee_bps = market.functions.platformFeeBps().call()
    report = build_report(chain_id=w3.eth.chain_id, contract=deployment.address, epoch=epoch, fee_bps=fee_bps,
                          pools=pools, track_downloads=counts)
    body = report_bytes(report)
    cid = ipfs.add_bytes(body)
    say(f"epoch {epoch}: {sum(n for _, _, n in counts)} free downloads of {len(counts)} tracks; "
        f"{len(report['allocations'])} allocations; report pinned as {cid}")
    by_token = {s["token"]: s for s in report["settlements"]}
    allocated = [int(by_token[t.lower()]["allocated"]) for t in tokens]
    fees = [int(by_token[t.lower()]["platform_fee"]) for t in tokens]
    fn = market.functions.publishEpoch(epoch, bytes.fromhex(report["root"][2:]), cid, allocated, fees)
    tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=120)
    if receipt["status"] != 1:
        raise NinetyError(f"publishEpoch reverted (transaction {receipt['transactionHash'].hex()})")
    with Session(engine) as db:
        db.merge(EpochReport(epoch=epoch, report_cid=cid, report_json=json.dumps(report), created_at=time.time()))
        db.commit()
    say(f"epoch {epoch} published in block {receipt['blockNumber']}: root {report['root']}")
    return report
