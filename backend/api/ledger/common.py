"""What the ledger's routers share: the ledger tables and the chain the server reads."""
from __future__ import annotations

from typing import Any

from sqlmodel import SQLModel

from backend.errors import ApiError

T = SQLModel.metadata.tables


def chain(services: Any) -> tuple[Any, str]:
    """(the RPC client, the contract's lowercase address), or a 503 without a chain."""
    if services.rpc is None or services.deployment is None:
        raise ApiError(503, "this server has no chain configured (NINETY_RPC_URL)")
    return services.rpc, services.deployment.address.lower()
