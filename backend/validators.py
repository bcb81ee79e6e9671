"""Validators for the values clients send in paths and query strings, shared by the
routers so that every endpoint refuses the same input with the same words (422)."""
from __future__ import annotations

import re

from backend.errors import ApiError

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def address(value: str | None, name: str) -> str | None:
    """`value` lower-cased when it is an address, None when absent; 422 otherwise."""
    if value is None:
        return None
    if not ADDRESS.match(value):
        raise ApiError(422, f"{name} {value!r} is not an address (0x followed by 40 hex digits)")
    return value.lower()


def tx_hash(value: str) -> str:
    """`value` lower-cased when it is a transaction hash; 422 otherwise."""
    if not TX_HASH.match(value):
        raise ApiError(422, f"{value!r} is not a transaction hash (0x followed by 64 hex digits)")
    return value.lower()
