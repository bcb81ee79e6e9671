"""`ninety index` and `ninety verify`: the ledger mirrored from the chain, and checked
against it (the whole ledger, or one published sponsor-pool epoch)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from ninety.cli.shared import console, fail, setup_logging
from ninety.config import Settings, load_settings
from ninety.contract import Deployment, resolve_deployment
from ninety.errors import NinetyError


def index(
    once: bool = typer.Option(False, "--once", help="Stop when caught up with the head."),
    metrics_port: int = typer.Option(0, "--metrics-port", envvar="NINETY_INDEXER_METRICS_PORT",
                                     help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Mirror the Marketplace's events into the ledger database: backfill with progress,
    then follow the head (reorg-safe). Creates the schema in an empty database."""
    setup_logging(verbose)
    from indexer import service

    try:
        service.run(load_settings(), once=once, metrics_port=metrics_port or None, console=console)
    except KeyboardInterrupt:
        console.print("stopped")
    except NinetyError as e:
        fail(str(e))


def verify(
    what: Optional[str] = typer.Argument(None, help="Nothing for the ledger, or `epoch` to check a published epoch."),
    epoch: Optional[int] = typer.Argument(None, min=0, help="The epoch number, with `epoch`."),
    report: Optional[Path] = typer.Option(None, "--report", help="Check this copy of the report instead of the "
                                          "one the chain names (its CID must still match)."),
    receipts: Optional[Path] = typer.Option(None, "--receipts", help="A JSON list of free-download receipts "
                                            "({wallet, track_id, epoch, receipt}) that must be in the report."),
    statement: Optional[tuple[str, str]] = typer.Option(None, "--statement", metavar="ADDRESS YYYY-MM",
                                                        help="Check one monthly statement instead of the ledger."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Recompute the ledger from the chain alone (events and the contract's balances) and
    diff it with the database. Exit 0 only when they match.

    `ninety verify epoch N` needs only NINETY_RPC_URL, NINETY_IPFS_API and the deployment:
    it fetches epoch N's report by the CID the contract recorded, checks its rules against
    the on-chain commitment, recovers every download signature, re-finds every listener's
    qualifying sales and fees on chain, recomputes weights, allocations, the fee, every
    proof and both roots, and compares them with the chain. Anyone can run it.

    `ninety verify --statement ADDRESS YYYY-MM` recomputes that monthly statement from the
    chain's logs and compares it with the database's, line by line."""
    setup_logging(verbose)
    if statement and statement[0] is not None:
        from ninety.cli.commands.statement import verify_statement

        verify_statement(*statement)
        return
    if what is not None:
        if what != "epoch" or epoch is None:
            fail("usage: ninety verify [epoch N]")
        _verify_epoch(epoch, report, receipts)
        return
    from indexer.verify import verify as run_verify
    from ninety.db import ensure_schema, make_engine

    settings = load_settings()
    try:
        rpc, chain_id, deployment = _chain_and_deployment(settings)
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
        height, diffs = run_verify(rpc, engine, deployment.address, deployment.deploy_block)
    except NinetyError as e:
        fail(str(e))
    _exit_on_differences(diffs, f"between the database and chain {chain_id} at block {height}")
    console.print(f"[green]ledger matches the chain[/] (chain {chain_id}, contract {deployment.address}, block {height})")


def _chain_and_deployment(settings: Settings) -> tuple[Any, int, Deployment]:
    """The RPC client, chain id and Marketplace deployment the checks run against."""
    from indexer.service import connect_chain

    if not settings.rpc_url:
        raise NinetyError("set NINETY_RPC_URL to the chain to check against")
    rpc, chain_id = connect_chain(settings.rpc_url)
    return rpc, chain_id, resolve_deployment(settings, chain_id)


def _exit_on_differences(diffs: list[str], where: str) -> None:
    if diffs:
        console.print(f"[bold red]{len(diffs)} difference(s)[/] {where}:")
        for d in diffs:
            console.print(f"  - {d}", soft_wrap=True)
        raise typer.Exit(1)


def _verify_epoch(epoch: int, report_path: Optional[Path], receipts_path: Optional[Path]) -> None:
    from ninety.epochs.check import check_report
    from ninety.epochs.onchain import published_epoch
    from ninety.ipfs import Ipfs, local_cid, to_base32

    settings = load_settings()
    try:
        rpc, chain_id, deployment = _chain_and_deployment(settings)
        try:
            published = published_epoch(rpc, deployment.address.lower(), epoch, deployment.deploy_block)
        except LookupError as e:
            raise NinetyError(str(e)) from None
        cid = published.report_cid
        receipts = []
        if receipts_path is not None:
            try:
                receipts = json.loads(receipts_path.read_text())
                if not isinstance(receipts, list):
                    raise ValueError("expected a JSON list of {wallet, track_id, epoch, receipt}")
            except (OSError, ValueError) as e:
                raise NinetyError(f"cannot read the receipts in {receipts_path}: {e}") from None
        diffs = []
        if report_path is not None:
            body = report_path.read_bytes()
            if local_cid(body) != to_base32(cid):
                diffs.append(f"{report_path} is not the report the chain names: its CID is {local_cid(body)}, "
                             f"the contract recorded {cid}")
        else:
            if not settings.ipfs_api:
                raise NinetyError("set NINETY_IPFS_API to fetch the report (or pass --report FILE)")
            with Ipfs(settings.ipfs_api) as ipfs:
                body = ipfs.cat(cid)  # verified against the CID
        try:
            report = json.loads(body)
            diffs += check_report(report, rpc=rpc, chain_id=chain_id, contract=deployment.address, epoch=epoch,
                                  deploy_block=deployment.deploy_block, receipts=receipts,
                                  progress=lambda line: console.print(line, soft_wrap=True))
        except (ValueError, KeyError, TypeError) as e:
            diffs.append(f"the report is not a Ninety epoch report ({e.__class__.__name__}: {e})")
    except NinetyError as e:
        fail(str(e))
    _exit_on_differences(diffs, f"in epoch {epoch}: it does not check out")
    counted = sum(1 for x in report["listens"] if x.get("counted"))
    console.print(f"[green]epoch {epoch} checks out[/]: report {cid}; rules match the on-chain commitment; "
                  f"{len(report['listens'])} signed downloads ({counted} counted) and their listeners' sales "
                  f"re-checked on chain; {len(report['allocations'])} allocations, the fee and both roots recomputed"
                  + (f"; {len(receipts)} receipts found in the report" if receipts else ""), soft_wrap=True)
