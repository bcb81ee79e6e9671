"""`ninety verify`: rebuild the ledger from the chain alone and diff it with the database.

At the database's checkpoint block it recomputes every row from the contract's logs and
every balance from the contract itself (`owed`, `splitBalance` via eth_call at that
block), then lists each difference. Nothing is read from the database to build the
expectation, so a tampered, partial or stale ledger shows up."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from sqlalchemy import Engine, or_, select
from sqlmodel import SQLModel

import ninety.models  # noqa: F401  (registers the tables read through T)
from ninety.chain import MissingStateError, Rpc
from ninety.ledger.aggregates import deltas
from ninety.ledger.events import Decoder, Event
from ninety.ledger.mapping import map_events
from ninety.ledger.registry import AGGREGATES, COMPARED, REF
from ninety.ledger.rows import Context
from ninety.reads import onchain_balances, onchain_pools, onchain_release_tracks, onchain_rules

T = SQLModel.metadata.tables


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int,)) or (hasattr(v, "as_integer_ratio") and not isinstance(v, float)):
        return int(v)
    return v


def chain_events(rpc: Rpc, contract: str, start: int, end: int, decoder: Decoder,
                 progress: Callable[[int], None] | None = None) -> list[Event]:
    """Every event of `contract` in [start, end], through the client's adaptive getLogs
    (ranges fit to the provider, NINETY_INDEX_MAX_RANGE at most)."""
    if progress is None:
        return decoder.decode_all(rpc.get_logs(contract, start, end))
    events: list[Event] = []
    low = start
    while low <= end:
        high = min(end, low + 16 * rpc.log_span - 1)  # a few queries between progress reports
        events += decoder.decode_all(rpc.get_logs(contract, low, high))
        progress(high)
        low = high + 1
    return events


def verify(rpc: Rpc, engine: Engine, contract: str, start_block: int,
           progress: Callable[[int], None] | None = None) -> tuple[int, list[str]]:
    """Returns (block verified at, differences). Reads the contract's state at the ledger's
    checkpoint block: on a pruned node whose state for it is gone, a MissingStateError
    says so ("this node is not an archive node; verify needs state at block N")."""
    try:
        return _verify(rpc, engine, contract, start_block, progress)
    except MissingStateError as e:
        raise e.needs("verify") from None


def _verify(rpc: Rpc, engine: Engine, contract: str, start_block: int,
            progress: Callable[[int], None] | None) -> tuple[int, list[str]]:
    contract = contract.lower()
    diffs: list[str] = []
    with engine.connect() as conn:
        cp = conn.execute(select(T["checkpoint"]).where(T["checkpoint"].c.contract == contract)).mappings().first()
    if cp is None or cp["block_number"] < start_block:
        height = rpc.block_number()
        diffs.append(f"the database has no ledger for {contract} yet (chain head is {height})")
    else:
        height = cp["block_number"]
        canonical = rpc.headers([height])[0]["hash"].lower()
        if canonical != cp["block_hash"]:
            diffs.append(f"checkpoint block {height} is {cp['block_hash']} in the database but {canonical} on chain")

    events = chain_events(rpc, contract, start_block, height, Decoder(), progress)
    unknown: Callable[[Any], Any] = lambda key: (_ for _ in ()).throw(KeyError(key))  # noqa: E731
    ctx = Context(fee_recipient="0x" + "00" * 20, split_recipients=unknown, track_artist=unknown)
    need_times = sorted({e.block_number for e in events if e.block_time is None})
    times = {n: int(h["timestamp"], 16) for n, h in zip(need_times, rpc.headers(need_times))} if need_times else {}
    rows = map_events(events, ctx, times)
    # One batch: every update and split change finds its track, every proposal its closing change.
    assert not rows.track_state and not rows.split_state and not rows.block_state

    with engine.connect() as conn:
        for table, cols in COMPARED.items():
            expected = {(r["tx_hash"], r["log_index"]): r for r in rows.tables.get(table, [])}
            t = T[table]
            have = {(r["tx_hash"], r["log_index"]): dict(r) for r in conn.execute(
                select(t).where(t.c.block_number <= height)).mappings()}
            for key in sorted(expected.keys() - have.keys()):
                diffs.append(f"{table}: missing row for log {key[0]}:{key[1]} (block {expected[key]['block_number']})")
            for key in sorted(have.keys() - expected.keys()):
                diffs.append(f"{table}: row for log {key[0]}:{key[1]} (block {have[key]['block_number']}) is not on chain")
            for key in sorted(expected.keys() & have.keys()):
                for col in (*REF, *cols):
                    want, got = _norm(expected[key][col]), _norm(have[key][col])
                    if want != got:
                        diffs.append(f"{table} {key[0]}:{key[1]}: {col} is {got!r} in the database, {want!r} on chain")

        splits: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for r in rows.split_recipients:
            splits[r["split_id"]].append((r["recipient"], r["share_ppm"]))
        sr = T["split_recipient"]
        have_sr = defaultdict(list)
        for split_id, recipient, share in conn.execute(select(sr.c.split_id, sr.c.recipient, sr.c.share_ppm).order_by(sr.c.split_id, sr.c.position)):
            have_sr[split_id].append((recipient, int(share)))
        for split_id in sorted(set(splits) | set(have_sr)):
            if splits.get(split_id) != have_sr.get(split_id):
                diffs.append(f"split_recipient {split_id}: {have_sr.get(split_id)} in the database, {splits.get(split_id)} on chain")

        diffs += _release_diffs(rpc, contract, height, conn, rows.release_tracks)

        d = deltas(rows.tables, lambda sid: splits[sid])
        for agg in AGGREGATES:
            table, keys, cols, expected_map = agg.table, agg.keys, agg.columns, d[agg.table]
            t = T[table]
            have_agg = {tuple(r[k] for k in keys): [int(r[c]) for c in cols] for r in conn.execute(select(t)).mappings()}
            want_agg = {k: v for k, v in expected_map.items() if any(v)}
            for key in sorted(set(want_agg) | {k for k, v in have_agg.items() if any(v)}, key=str):
                want, got = want_agg.get(key, [0] * len(cols)), have_agg.get(key, [0] * len(cols))
                if want != got:
                    diffs.append(f"{table} {key}: {dict(zip(cols, got))} in the database, {dict(zip(cols, want))} from the chain's events")

        # The contract's own view of what it owes, at the same block.
        accounts = sorted(d["account_balance"])
        split_keys = sorted(d["split_balance"])
        owed, balances = onchain_balances(rpc, contract, height, accounts, split_keys)
        ab = {tuple(r[:2]): (int(r[2]), int(r[3])) for r in conn.execute(select(T["account_balance"]))}
        for key in accounts:
            credited, withdrawn = ab.get(key, (0, 0))
            if credited - withdrawn != owed[key]:
                diffs.append(f"owed{key}: {credited - withdrawn} in the database, {owed[key]} from the contract")
        sb = {tuple(r[:2]): (int(r[2]), int(r[3])) for r in conn.execute(select(T["split_balance"]))}
        for key in split_keys:
            received, distributed = sb.get(key, (0, 0))
            if received - distributed != balances[key]:
                diffs.append(f"splitBalance{key}: {received - distributed} in the database, {balances[key]} from the contract")
        # Sponsor pools as the contract has them.
        pt = {(int(r[0]), r[1]): [int(x) for x in r[2:]] for r in conn.execute(select(T["pool_total"]))}
        pool_keys = sorted(d["pool_total"])
        for key, (balance, unclaimed) in zip(pool_keys, onchain_pools(rpc, contract, height, pool_keys)):
            funded, withdrawn, settled, allocated, claimed = pt.get(key, [0] * 5)
            if funded - withdrawn - settled != balance:
                diffs.append(f"poolBalance{key}: {funded - withdrawn - settled} in the database, {balance} from the contract")
            if allocated - claimed != unclaimed:
                diffs.append(f"poolUnclaimed{key}: {allocated - claimed} in the database, {unclaimed} from the contract")
        # Committed pool rules as the contract applies them: per `from_epoch`, the last
        # PoolRulesSet wins (a later one for the same epoch replaces it).
        rules: dict[int, str] = {}
        for r in conn.execute(select(T["pool_rules"]).order_by(T["pool_rules"].c.block_number,
                                                              T["pool_rules"].c.log_index)).mappings():
            rules[int(r["from_epoch"])] = r["rules_hash"]
        for epoch, want in zip(sorted(rules), onchain_rules(rpc, contract, height, sorted(rules))):
            if rules[epoch] != want:
                diffs.append(f"poolRulesHash({epoch}): {rules[epoch]} in the database, {want} from the contract")
    return height, diffs


def _release_diffs(rpc: Rpc, contract: str, height: int, conn: Any, logged: list[dict[str, Any]]) -> list[str]:
    """Each release's members in the database against its ReleaseRegistered log and against
    the contract's `releaseTracks` at `height` (the kind of each `track` row is compared
    with the rest of its columns)."""
    from_logs: dict[int, list[int]] = defaultdict(list)
    for r in logged:  # in each release's order
        from_logs[r["release_id"]].append(r["track_id"])
    rt, track = T["release_track"], T["track"]
    have: dict[int, list[int]] = defaultdict(list)
    # Releases indexed past `height` meanwhile are not the chain's at `height`: left out,
    # like the rows of every table.
    for release_id, track_id in conn.execute(
            select(rt.c.release_id, rt.c.track_id).outerjoin(track, track.c.track_id == rt.c.release_id)
            .where(or_(track.c.block_number.is_(None), track.c.block_number <= height))
            .order_by(rt.c.release_id, rt.c.position)):
        have[int(release_id)].append(int(track_id))
    ids = sorted(set(from_logs) | set(have))
    diffs = []
    for release_id, onchain in zip(ids, onchain_release_tracks(rpc, contract, height, ids)):
        got, logged_ids = have.get(release_id), from_logs.get(release_id)
        if got != logged_ids:
            diffs.append(f"release_track {release_id}: {got} in the database, {logged_ids} in its log")
        if got != (onchain or None):
            diffs.append(f"release_track {release_id}: {got} in the database, {onchain} from the contract")
    return diffs
