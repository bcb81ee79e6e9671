"""`ninety verify`: rebuild the ledger from the chain alone and diff it with the database.

At the database's checkpoint block it recomputes every row from the contract's logs and
every balance from the contract itself (`owed`, `splitBalance` via eth_call at that
block), then lists each difference. Nothing is read from the database to build the
expectation, so a tampered, partial or stale ledger shows up."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from eth_abi import decode, encode
from eth_utils import keccak
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from indexer.events import Decoder, Event
from indexer.mapping import POOL_COLUMNS, Context, deltas, map_events
from ninety.chain import MissingStateError, Rpc

T = SQLModel.metadata.tables
# Columns compared per table (chain refs are part of every row's identity).
COMPARED = {
    "split": ("split_id", "recipient_count"),
    "track": ("track_id", "artist", "split_id", "token", "price", "listed", "metadata_cid", "blocked",
              "block_reason_cid", "price_sort"),
    "track_update": ("track_id", "price", "listed"),
    "track_split_change": ("track_id", "previous_split_id", "split_id", "block_time"),
    "split_proposal": ("track_id", "split_id", "must_consent", "status", "block_time"),
    "split_consent": ("track_id", "split_id", "payee", "missing", "block_time"),
    "split_proposal_cancellation": ("track_id", "block_time"),
    "track_block": ("track_id", "blocked", "reason_cid", "block_time"),
    "catalog_signer_change": ("previous_signer", "new_signer"),
    "sale": ("track_id", "buyer", "token", "amount", "platform_fee", "split_id", "artist", "fee_recipient", "block_time"),
    "distribution": ("split_id", "token", "amount"),
    "withdrawal": ("account", "token", "amount", "paid_to"),
    "fee_change": ("previous_bps", "new_bps"),
    "fee_recipient_change": ("previous_recipient", "new_recipient"),
    "token_allowance": ("token", "allowed"),
    "sales_pause": ("paused",),
    "pool_deposit": ("epoch", "sponsor", "token", "amount", "block_time"),
    "pool_withdrawal": ("epoch", "sponsor", "token", "amount", "block_time"),
    "pool_settlement": ("epoch", "token", "pool", "allocated", "platform_fee", "carried_over", "carried_to_epoch",
                        "fee_recipient", "block_time"),
    "epoch": ("epoch", "root", "listens_root", "report_cid", "block_time"),
    "pool_rules": ("from_epoch", "rules_hash", "rules_cid", "block_time"),
    "pool_claim": ("epoch", "split_id", "token", "amount", "block_time"),
}
REF = ("block_number", "block_hash", "tx_hash", "log_index")


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


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def onchain_balances(rpc: Rpc, contract: str, block: int, accounts: list[tuple[str, str]],
                     splits: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    tag = hex(block)
    owed_sel, split_sel = _selector("owed(address,address)"), _selector("splitBalance(bytes32,address)")
    calls: list[tuple[str, list[Any]]] = []
    for account, token in accounts:
        data = owed_sel + encode(["address", "address"], [account, token])
        calls.append(("eth_call", [{"to": contract, "data": "0x" + data.hex()}, tag]))
    for split_id, token in splits:
        data = split_sel + encode(["bytes32", "address"], [bytes.fromhex(split_id[2:]), token])
        calls.append(("eth_call", [{"to": contract, "data": "0x" + data.hex()}, tag]))
    results = [decode(["uint256"], bytes.fromhex(r[2:]))[0] for r in rpc.batch_chunked(calls)]
    owed = dict(zip(accounts, results[: len(accounts)]))
    balances = dict(zip(splits, results[len(accounts):]))
    return owed, balances


def onchain_pools(rpc: Rpc, contract: str, block: int, keys: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """(poolBalance, poolUnclaimed) for each (epoch, token) at `block`."""
    calls: list[tuple[str, list[Any]]] = []
    for name in ("poolBalance(uint256,address)", "poolUnclaimed(uint256,address)"):
        sel = _selector(name)
        calls += [("eth_call", [{"to": contract, "data": "0x" + (sel + encode(["uint256", "address"], [e, t])).hex()}, hex(block)])
                  for e, t in keys]
    values = [decode(["uint256"], bytes.fromhex(r[2:]))[0] for r in rpc.batch_chunked(calls)]
    return list(zip(values[: len(keys)], values[len(keys):]))


def onchain_rules(rpc: Rpc, contract: str, block: int, epochs: list[int]) -> list[str]:
    """poolRulesHash(epoch) at `block` for each epoch, as 0x-hex."""
    sel = _selector("poolRulesHash(uint256)")
    calls = [("eth_call", [{"to": contract, "data": "0x" + (sel + encode(["uint256"], [e])).hex()}, hex(block)])
             for e in epochs]
    return ["0x" + bytes(decode(["bytes32"], bytes.fromhex(r[2:]))[0]).hex() for r in rpc.batch_chunked(calls)]


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

        d = deltas(rows.tables, lambda sid: splits[sid])
        for table, keys, cols, expected_map in (
            ("account_balance", ("account", "token"), ("credited", "withdrawn"), d.account),
            ("split_balance", ("split_id", "token"), ("received", "distributed"), d.split),
            ("track_stats", ("track_id", "token"), ("sales", "gross", "fees"), d.track),
            ("artist_stats", ("artist", "token"), ("sales", "gross", "fees"), d.artist),
            ("artist_buyer", ("artist", "token", "buyer"), ("sales",), d.buyer),
            ("track_day", ("track_id", "token", "day"), ("sales", "gross"), d.track_day),
            ("track_split", ("track_id", "split_id", "token"), ("net",), d.track_split),
            ("pool_total", ("epoch", "token"), POOL_COLUMNS, d.pool),
        ):
            t = T[table]
            have_agg = {tuple(r[k] for k in keys): [int(r[c]) for c in cols] for r in conn.execute(select(t)).mappings()}
            want_agg = {k: v for k, v in expected_map.items() if any(v)}
            for key in sorted(set(want_agg) | {k for k, v in have_agg.items() if any(v)}, key=str):
                want, got = want_agg.get(key, [0] * len(cols)), have_agg.get(key, [0] * len(cols))
                if want != got:
                    diffs.append(f"{table} {key}: {dict(zip(cols, got))} in the database, {dict(zip(cols, want))} from the chain's events")

        # The contract's own view of what it owes, at the same block.
        accounts = sorted(d.account)
        split_keys = sorted(d.split)
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
        pool_keys = sorted(d.pool)
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
