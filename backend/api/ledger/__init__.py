"""The public ledger for auditors: sales and withdrawals (JSON pages or streamed CSV),
summaries per artist and per track, splits, reconciliation against the chain, and
per-row proofs, one module each; `router` and `splits_router` are what the app mounts.

Everything here is read-only and public. Amounts are exact integers in the token's base
unit, as decimal strings, with the token's symbol and decimals alongside."""
from __future__ import annotations

from fastapi import APIRouter

from backend.api.ledger import events, proofs, reconciliation, splits, statements, summaries

# Every module's routes, in the order they were always declared (the order of the OpenAPI
# paths). Gathered, not nested with include_router: a route of a nested router reports
# only its own part of the path, which the request metrics use as their label.
router = APIRouter()
for part in (events, summaries, splits, reconciliation, proofs, statements):
    router.routes.extend(part.router.routes)
splits_router = splits.splits_router
