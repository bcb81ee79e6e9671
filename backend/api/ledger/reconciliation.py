"""Reconciliation: the database against the chain at the ledger's last indexed block."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from backend.api.ledger.common import T, chain
from backend.deps import DbDep, ServicesDep
from backend.errors import ApiError
from backend.snapshots import Snapshots, checkpoint
from ninety.chain import MissingStateError
from ninety.contract import ETH
from ninety.reads import onchain_balances, onchain_holdings, onchain_pools

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


class TokenCheck(BaseModel):
    token: str
    token_symbol: str
    contract_balance: str
    ledger_owed: str
    ledger_unallotted: str
    ledger_pools: str
    ledger_liabilities: str
    ok: bool


class Difference(BaseModel):
    kind: str
    key: str
    chain: str
    ledger: str


class Reconciliation(BaseModel):
    ok: bool
    block: int
    block_hash: str
    tokens: list[TokenCheck]
    accounts_checked: int
    splits_checked: int
    differences: list[Difference]


# One reconciliation per checkpoint (block hash), however many clients ask: it costs a
# few chain reads per account, split, token and pool.
_reconciliations = Snapshots(16)


@router.get("/reconciliation", response_model=Reconciliation,
            responses={304: {"description": "Not modified (ETag)"},
                       429: {"description": "Too many reconciliations from this client (Retry-After)"}})
def reconciliation(request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The database against the chain at the ledger's last indexed block: per token, the
    contract's balance vs what the ledger says it owes (owed + not yet allotted + sponsor
    pools, open or unclaimed); per pool, `poolBalance()` and `poolUnclaimed()`; per
    account, the contract's `owed()` vs the ledger; per split, `splitBalance()` vs the
    ledger. `ok` only when everything matches.

    Computed once per ledger checkpoint and kept: it carries an ETag that changes with the
    checkpoint's block hash, like the summaries."""
    _, contract = chain(services)
    at = checkpoint(db, contract)
    if at is None:
        raise ApiError(503, "the ledger has not been built yet: is the indexer running?")
    return _reconciliations.respond(request, ("reconciliation", services.chain_id, contract, at[1]),
                                    lambda: _reconcile(services, db, contract, at))


def _reconcile(services: Any, db: Any, contract: str, at: tuple[int, str]) -> Reconciliation:
    try:
        return _reconcile_at(services, db, contract, at)
    except MissingStateError as e:  # a pruned node: say so, not "the chain RPC is unavailable"
        raise ApiError(503, str(e.needs("reconciliation")), title="Archive node needed") from None


def _reconcile_at(services: Any, db: Any, contract: str, at: tuple[int, str]) -> Reconciliation:
    rpc, _ = chain(services)
    block = at[0]
    cp = {"block_number": at[0], "block_hash": at[1]}
    accounts = {(r["account"], r["token"]): int(r["credited"]) - int(r["withdrawn"])
                for r in db.execute(select(T["account_balance"])).mappings()}
    splits = {(r["split_id"], r["token"]): int(r["received"]) - int(r["distributed"])
              for r in db.execute(select(T["split_balance"])).mappings()}
    # Sponsor pools: what the contract still holds per (epoch, token), open or unclaimed.
    pools = {(int(r["epoch"]), r["token"]): (int(r["funded"]) - int(r["withdrawn"]) - int(r["settled"]),
                                              int(r["allocated"]) - int(r["claimed"]))
             for r in db.execute(select(T["pool_total"])).mappings()}
    token_set = {ETH} | {t for _, t in accounts} | {t for _, t in splits} | {t for _, t in pools} | {
        r[0] for r in db.execute(select(T["token_allowance"].c.token).distinct())}
    token_list = sorted(token_set)
    balances = onchain_holdings(rpc, contract, block, token_list)
    acct_keys = sorted(accounts)
    split_keys = sorted(splits)
    chain_owed, chain_split = onchain_balances(rpc, contract, block, acct_keys, split_keys)
    pool_keys = sorted(pools)
    chain_pools = dict(zip(pool_keys, onchain_pools(rpc, contract, block, pool_keys)))
    canonical = rpc.headers([block])[0]["hash"].lower()
    diffs: list[Difference] = []
    if canonical != cp["block_hash"]:
        diffs.append(Difference(kind="block", key=str(block), chain=canonical, ledger=cp["block_hash"]))
    checks = []
    for t, held in zip(token_list, balances):
        owed = sum(v for (_, tok), v in accounts.items() if tok == t)
        unallotted = sum(v for (_, tok), v in splits.items() if tok == t)
        pooled = sum(a + b for (_, tok), (a, b) in pools.items() if tok == t)
        liabilities = owed + unallotted + pooled
        ok = held == liabilities
        if not ok:
            diffs.append(Difference(kind="token_balance", key=t, chain=str(held), ledger=str(liabilities)))
        checks.append(TokenCheck(token=t, token_symbol=services.tokens.info(t)[0], contract_balance=str(held),
                                 ledger_owed=str(owed), ledger_unallotted=str(unallotted), ledger_pools=str(pooled),
                                 ledger_liabilities=str(liabilities), ok=ok))
    for key in acct_keys:
        if (onchain := chain_owed[key]) != accounts[key]:
            diffs.append(Difference(kind="owed", key=f"{key[0]}/{key[1]}", chain=str(onchain), ledger=str(accounts[key])))
    for key in split_keys:
        if (onchain := chain_split[key]) != splits[key]:
            diffs.append(Difference(kind="split_balance", key=f"{key[0]}/{key[1]}", chain=str(onchain),
                                    ledger=str(splits[key])))
    for key in pool_keys:
        for kind, ledger_value, chain_value in (("pool_balance", pools[key][0], chain_pools[key][0]),
                                                ("pool_unclaimed", pools[key][1], chain_pools[key][1])):
            if ledger_value != chain_value:
                diffs.append(Difference(kind=kind, key=f"{key[0]}/{key[1]}", chain=str(chain_value), ledger=str(ledger_value)))
    return Reconciliation(ok=not diffs, block=block, block_hash=cp["block_hash"], tokens=checks,
                          accounts_checked=len(acct_keys), splits_checked=len(split_keys), differences=diffs)
