"""From decoded events to ledger rows: each event's kind (the registry) gives its table and
its log columns, and its function in `rows` completes the row. No if/elif per event: a
new kind is a registry entry."""
from __future__ import annotations

from typing import Iterable

from ninety.ledger.events import Event
from ninety.ledger.registry import KINDS
from ninety.ledger.rows import Batch, Context, Rows


def map_events(events: Iterable[Event], ctx: Context, block_times: dict[int, int]) -> Rows:
    """The rows of `events` (in chain order); `ctx` moves along (the fee recipient) and,
    afterwards, also finds the splits created in this batch. Events of kinds the ledger
    does not keep are skipped."""
    b = Batch(ctx)
    tables = b.out.tables
    for e in events:
        kind = KINDS.get(e.name)
        if kind is None:
            continue
        row = kind.row(e, e.args)
        if kind.timed:
            row["block_time"] = e.block_time if e.block_time is not None else block_times[e.block_number]
        kind.build(e, row, b)
        tables[kind.table].append(row)
    # Later lookups in this batch (a distribution of a split created in it) see new splits.
    lookup, new_splits = ctx.split_recipients, b.new_splits
    ctx.split_recipients = lambda sid: new_splits[sid] if sid in new_splits else lookup(sid)
    return b.out
