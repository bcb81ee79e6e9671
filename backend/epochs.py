"""Sponsor-pool epochs on the server: the current epoch by block time and a wallet's
standing for the Pools page (the rule itself is in the ninety/epochs/ package; closing an
epoch is the owner's job, ninety/cli/epoch_close.py).

`standing` and `epoch_counts` read the indexed ledger, so they are a live estimate; the
report `ninety epoch close` publishes is computed from the chain alone, as `ninety verify
epoch` recomputes it."""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlmodel import SQLModel

import ninety.models  # noqa: F401  (registers the ledger tables read through T below)
from backend.models import FreeDownload
from backend.services import Services
from ninety.epochs.allocation import Purchase, distributable, fees_paid, qualification
from ninety.epochs.onchain import ChainView, clock_of, rules_document
from ninety.epochs.rules import EpochClock, Rules
from ninety.errors import NinetyError

T = SQLModel.metadata.tables
_lock = threading.Lock()
_clocks: dict[str, EpochClock] = {}
_rules: dict[tuple[str, str], tuple[dict[str, Any], Rules]] = {}


def _contract(services: Services) -> str:
    if services.rpc is None or services.deployment is None:
        raise NinetyError("this server has no chain configured (NINETY_RPC_URL and a deployment)")
    return str(services.deployment.address).lower()


def clock(services: Services) -> EpochClock:
    """The contract's epoch clock (immutable: read once)."""
    contract = _contract(services)
    with _lock:
        if contract not in _clocks:
            _clocks[contract] = clock_of(services.rpc, contract)
        return _clocks[contract]


def current_epoch(services: Services) -> tuple[int, int, int]:
    """(epoch, head block number, head timestamp), by the chain's latest block."""
    head = services.rpc.call("eth_getBlockByNumber", ["latest", False])
    number, when = int(head["number"], 16), int(head["timestamp"], 16)
    return clock(services).epoch_at(when), number, when


def rules_for(services: Services, epoch: int) -> tuple[dict[str, Any], Rules]:
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


def _counted(db: Any, services: Services, epoch: int) -> dict[str, int]:
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


def epoch_counts(db: Any, services: Services, epoch: int) -> tuple[int, int]:
    """(qualified listeners with a recorded download, their recorded downloads) so far."""
    counted = _counted(db, services, epoch)
    return len(counted), sum(counted.values())


def standing(db: Any, services: Services, epoch: int, wallet: str, *, amounts: bool = True) -> dict[str, Any]:
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
