"""GET /api/status: is the ledger current, and are the chain and IPFS reachable?"""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import SQLModel

from backend.deps import DbDep, ServicesDep
from ninety.chain import RpcError

router = APIRouter(tags=["status"])


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
    )
