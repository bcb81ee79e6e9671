"""`ninety statement ADDRESS YYYY-MM` (an address's monthly statement from the ledger
database, as JSON, CSV or PDF) and `ninety verify --statement ADDRESS YYYY-MM` (the same
statement recomputed from the chain's logs alone, compared line by line)."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Optional

import typer

from ninety.cli.shared import console, fail, setup_logging
from ninety.config import Settings, load_settings
from ninety.errors import NinetyError

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _check(address: str, month: str) -> str:
    from ninety.ledger.statement import month_bounds

    if not ADDRESS.fullmatch(address):
        fail(f"{address!r} is not an address (0x followed by 40 hex digits)")
    try:
        month_bounds(month)
    except ValueError as e:
        fail(f"month {e}")
    return address.lower()


def _ledger(settings: Settings, need_chain: bool) -> tuple[Any, str, Any, Any]:
    """(engine, contract, rpc or None, deployment or None): the contract is the deployment's
    when a chain is configured, else NINETY_CONTRACT_ADDRESS, else the database's only ledger."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    from ninety.db import ensure_schema, make_engine

    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    rpc = deployment = None
    if settings.rpc_url or need_chain:
        from indexer.service import connect_chain
        from ninety.contract import resolve_deployment

        if not settings.rpc_url:
            raise NinetyError("set NINETY_RPC_URL to the chain to check against")
        rpc, chain_id = connect_chain(settings.rpc_url)
        deployment = resolve_deployment(settings, chain_id)
        return engine, deployment.address.lower(), rpc, deployment
    if settings.contract_address:
        return engine, settings.contract_address.lower(), None, None
    with engine.connect() as conn:
        contracts = list(conn.execute(select(SQLModel.metadata.tables["checkpoint"].c.contract)).scalars())
    if len(contracts) != 1:
        raise NinetyError("set NINETY_RPC_URL or NINETY_CONTRACT_ADDRESS: the database has "
                          f"{len(contracts)} ledgers")
    return engine, contracts[0], None, None


def _build(engine: Any, contract: str, rpc: Any, deployment: Any, who: str, month: str) -> dict[str, Any]:
    from backend.statements import build, ledger_time
    from backend.tokens import Tokens
    from ninety.ledger.statement import not_begun

    tokens = Tokens(rpc, deployment)
    with engine.connect() as conn:
        if not_begun(month, time.time(), ledger_time(conn, contract)):
            raise NinetyError(f"month {month} has not begun (UTC)")
        out = build(conn, contract, who, month, tokens.info)
    if out is None:
        raise NinetyError(f"the database has no ledger for {contract} yet: run `ninety index`")
    return out


def statement(
    address: str = typer.Argument(..., help="The payee's or artist's address."),
    month: str = typer.Argument(..., help="The calendar month, YYYY-MM (UTC)."),
    format: str = typer.Option("json", "--format", "-f", help="json, csv or pdf."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """An address's statement for a calendar month, per token, from the ledger database:
    opening owed, credits (sales through splits, sponsor-pool claims, platform fees),
    withdrawals, closing owed; as an artist, each listing's sales. Each line names its
    ledger row (tx_hash, log_index). `ninety verify --statement` checks it against the chain."""
    setup_logging(verbose)
    if format not in ("json", "csv", "pdf"):
        fail("--format must be json, csv or pdf")
    who = _check(address, month)
    from backend.statements import to_csv, to_pdf

    try:
        engine, contract, rpc, deployment = _ledger(load_settings(), need_chain=False)
        body = _build(engine, contract, rpc, deployment, who, month)
    except NinetyError as e:
        fail(str(e))
    data: bytes = (to_pdf(body) if format == "pdf" else to_csv(body).encode() if format == "csv"
                   else (json.dumps(body, indent=2) + "\n").encode())
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as e:
            fail(f"cannot write {out}: {e}")
        console.print(f"statement of {who} for {month} written to {out} ({len(data)} bytes)")
        return
    if format == "pdf" and typer.get_text_stream("stdout").isatty():
        fail("a PDF on a terminal: pass --out FILE")
    typer.get_binary_stream("stdout").write(data)


def _last_block_before(rpc: Any, ts: int, low: int, high: int) -> int | None:
    """The last block in [low, high] whose timestamp is before `ts` (block times never go
    back), or None when `low`'s is not; by bisection, a few dozen headers."""
    def time_of(n: int) -> int:
        return int(rpc.headers([n])[0]["timestamp"], 16)

    if time_of(low) >= ts:
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if time_of(mid) < ts:
            low = mid
        else:
            high = mid - 1
    return low


def verify_statement(address: str, month: str) -> None:
    """`ninety verify --statement ADDRESS MONTH`: the database's statement against the one
    recomputed from the chain's logs and block timestamps up to the CHAIN's horizon (the
    month's last block once the chain has passed the month's end, else its head), not the
    database's: a ledger that stopped indexing, or was rolled back, fails here instead of
    agreeing with itself. Closing owed is checked against the contract's owed() at that
    block and opening owed against owed() at the last block before the month (eth_call at
    a past block: the node must keep that state, as an archive node or Anvil does), so a
    mistake both sides share, or events both miss (a start block set too late), still
    shows. Every difference printed; exit 1 on any."""
    from ninety.ledger.statement import differences, from_chain, month_bounds
    from ninety.reads import onchain_balances

    who = _check(address, month)
    start, end = month_bounds(month)
    try:
        engine, contract, rpc, deployment = _ledger(load_settings(), need_chain=True)
        have = _build(engine, contract, rpc, deployment, who, month)
        height = int(have["as_of_block"])
        diffs = []
        canonical = rpc.headers([height])[0]["hash"].lower()
        if canonical != have["ledger_block_hash"]:
            diffs.append(f"checkpoint block {height} is {have['ledger_block_hash']} in the database but "
                         f"{canonical} on chain")
        head = rpc.block_number()
        first = deployment.deploy_block
        head_time = int(rpc.headers([head])[0]["timestamp"], 16)
        finished = head_time >= end
        horizon = (_last_block_before(rpc, end, first, head) if finished else head)
        if horizon is None:  # the whole month is before the contract's first block
            horizon = first - 1
        if height < horizon:
            diffs.append(f"the ledger is behind the chain: the database's statement is as of block {height}, "
                         + (f"the month ends at block {horizon} on chain" if finished else
                            f"the chain's head is block {horizon}")
                         + " (run `ninety index`); the differences below are what it misses")
        want = from_chain(rpc, contract, first, horizon, who, month)
        diffs += differences(have, want)
        before = _last_block_before(rpc, start, first, horizon) if horizon >= first else None
        keys = [(who, t["token"]) for t in want["tokens"]]
        for label, block, figure in (("closing_owed", horizon, "closing_owed"),
                                     ("opening_owed", before, "opening_owed")):
            if block is None or block < first:
                continue  # before the contract existed: nothing was owed, and the events say so
            try:
                owed, _ = onchain_balances(rpc, contract, block, keys, [])
            except Exception as e:  # a node that prunes old state cannot answer for a past block
                diffs.append(f"cannot read owed() at block {block} to check {label} ({e.__class__.__name__}: "
                             f"{str(e)[:200]}): use a node that keeps historical state (an archive node)")
                continue
            for t in want["tokens"]:
                if owed[(who, t["token"])] != int(t[figure]):
                    diffs.append(f"{t['token']} {label}: {t[figure]} from the chain's events, "
                                 f"{owed[(who, t['token'])]} from the contract's owed() at block {block}")
    except NinetyError as e:
        fail(str(e))
    if diffs:
        console.print(f"[bold red]{len(diffs)} difference(s)[/] in the statement of {who} for {month} "
                      f"between the database (block {height}) and the chain (block {horizon}):", soft_wrap=True)
        for d in diffs:
            console.print(f"  - {d}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
    lines = sum(len(t["lines"]) + len(t["artist_sales"]) for t in want["tokens"])
    console.print(f"[green]statement matches the chain[/]: {who} {month}, {len(want['tokens'])} token(s), "
                  f"{lines} line(s), block {horizon}; opening and closing owed equal the contract's owed()",
                  soft_wrap=True)
