"""Per-row proofs: one ledger row beside its transaction, its raw log and the log's
decoding, with whether every column the log determines says what the row says."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from backend.api.ledger.common import T, chain
from backend.deps import DbDep, LogIndex, ServicesDep
from backend.errors import ApiError
from backend.validators import tx_hash as valid_tx_hash
from ninety.ledger.events import Decoder
from ninety.ledger.registry import EVENT_TABLES, mismatches

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


class Proof(BaseModel):
    table: str
    row: dict[str, Any]
    block_number: int
    block_hash: str
    canonical_block_hash: str
    canonical: bool
    transaction: dict[str, Any]
    log: dict[str, Any]
    decoded: dict[str, Any]
    matches: bool


@router.get("/proofs/{tx_hash}/{log_index}", response_model=Proof)
def proof(tx_hash: str, log_index: LogIndex, services: ServicesDep, db: DbDep) -> Proof:
    """Everything needed to check one ledger row against any RPC: its block (and whether
    that block is still canonical), its transaction, the raw log and its decoding, and
    whether the decoded log says what the row says. A release's row (table `track`, kind
    'release') carries its tracks in order (`tracks`, from `release_track`), compared
    with the log's `trackIds`."""
    tx_hash = valid_tx_hash(tx_hash)
    if log_index < 0:
        raise ApiError(422, "log_index cannot be negative")
    found = None
    for name in EVENT_TABLES:
        t = T[name]
        row = db.execute(select(t).where(t.c.tx_hash == tx_hash, t.c.log_index == log_index)).mappings().first()
        if row is not None:
            found = (name, {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53 else v)
                            for k, v in row.items()})
            break
    if found is None:
        raise ApiError(404, f"no ledger row for log {log_index} of transaction {tx_hash}")
    table, row = found
    if table == "track" and row.get("kind") == "release":
        # A release's members are part of what its log says: shown and compared with it.
        rt = T["release_track"]
        row["tracks"] = [int(t) for t in db.execute(select(rt.c.track_id).where(rt.c.release_id == row["track_id"])
                                                    .order_by(rt.c.position)).scalars()]
    rpc, contract = chain(services)
    receipt, tx, header = rpc.batch([("eth_getTransactionReceipt", [tx_hash]), ("eth_getTransactionByHash", [tx_hash]),
                                     ("eth_getBlockByNumber", [hex(int(row["block_number"])), False])])
    if receipt is None or tx is None:
        raise ApiError(404, f"transaction {tx_hash} is not on the chain (any more): the row is orphaned")
    log = next((lg for lg in receipt["logs"] if int(lg["logIndex"], 16) == log_index), None)
    if log is None:
        raise ApiError(404, f"transaction {tx_hash} has no log {log_index} on the chain")
    event = Decoder().decode(log)
    decoded = {"event": event.name, "args": {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                                             for k, v in event.args.items()}} if event else {}
    canonical_hash = header["hash"].lower() if header else ""
    # The registry names every column the log alone determines, for every event table.
    matches = (event is not None and log["address"].lower() == contract
               and log["blockHash"].lower() == row["block_hash"] and not mismatches(table, row, event)
               and ("tracks" not in row or row["tracks"] == [int(t) for t in event.args.get("trackIds", [])]))
    return Proof(
        table=table, row=row, block_number=int(row["block_number"]), block_hash=row["block_hash"],
        canonical_block_hash=canonical_hash, canonical=canonical_hash == row["block_hash"],
        transaction={k: tx.get(k) for k in ("hash", "from", "to", "value", "input", "blockNumber", "blockHash",
                                            "transactionIndex", "nonce")},
        log={k: log.get(k) for k in ("address", "topics", "data", "logIndex", "blockNumber", "blockHash",
                                     "transactionHash")},
        decoded=decoded, matches=matches,
    )
