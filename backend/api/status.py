"""GET /api/status: is the ledger current, and are the chain and IPFS reachable?"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import SQLModel

from backend.deps import DbDep, ServicesDep
from ninety.chain import RpcError
from ninety.contract import ETH, load_abi

router = APIRouter(tags=["status"])


class TokenOut(BaseModel):
    address: str
    symbol: str
    decimals: int


class StatusOut(BaseModel):
    chain_id: int | None
    contract: str | None
    deploy_block: int | None
    indexed_block: int | None
    head_block: int | None
    lag_blocks: int | None
    chain_reachable: bool
    ipfs_reachable: bool | None
    reorgs: int | None
    tokens: list[TokenOut]


@router.get("/api/status", response_model=StatusOut)
def status(services: ServicesDep, db: DbDep) -> StatusOut:
    """Chain id, contract, indexed block, head, lag and node reachability. Answers even
    when the chain or IPFS is down (then says so)."""
    dep = services.deployment
    cp = None
    if dep is not None:
        t = SQLModel.metadata.tables["checkpoint"]
        cp = db.execute(select(t).where(t.c.contract == dep.address.lower())).mappings().first()
    head = None
    if services.rpc is not None:
        try:
            head = services.rpc.block_number()
        except RpcError:
            head = None
    indexed = cp["block_number"] if cp else None
    # Payment tokens as the ledger knows them: ETH, then each token's last allowance event.
    allowed: dict[str, bool] = {}
    ta = SQLModel.metadata.tables["token_allowance"]
    for token, ok in db.execute(select(ta.c.token, ta.c.allowed).order_by(ta.c.block_number, ta.c.log_index)):
        allowed[token] = bool(ok)
    tokens = [TokenOut(address=t, symbol=s, decimals=d) for t in [ETH] + sorted(t for t, ok in allowed.items() if ok)
              for s, d in [services.tokens.info(t)]]
    return StatusOut(
        chain_id=services.chain_id,
        contract=dep.address.lower() if dep else None,
        deploy_block=dep.deploy_block if dep else None,
        indexed_block=indexed,
        head_block=head,
        lag_blocks=max(0, head - indexed) if head is not None and indexed is not None else None,
        chain_reachable=head is not None,
        ipfs_reachable=services.ipfs.ping() if services.ipfs is not None else None,
        reorgs=cp["reorgs"] if cp else None,
        tokens=tokens,
    )


class ContractOut(BaseModel):
    chain_id: int | None
    address: str | None
    deploy_block: int | None
    abi: list[dict[str, Any]]


@router.get("/api/contract", response_model=ContractOut)
def contract(services: ServicesDep) -> ContractOut:
    """The Marketplace this server indexes, with its ABI: what a wallet or an auditor's
    script needs to call it or decode its events and errors."""
    dep = services.deployment
    return ContractOut(chain_id=services.chain_id, address=dep.address if dep else None,
                       deploy_block=dep.deploy_block if dep else None, abi=_abi())


def _abi() -> list[dict[str, Any]]:
    global _ABI
    if _ABI is None:
        _ABI = load_abi("Marketplace")
    return _ABI


_ABI: list[dict[str, Any]] | None = None
