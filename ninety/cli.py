"""`ninety`: the command line. The composition root: the only module that wires the
shared core to the indexer and the backend (imported inside commands, so `--help` is fast).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler

from ninety.attest import load_signer
from ninety.config import Settings, load_settings
from ninety.contract import Deployment
from ninety.errors import NinetyError
from ninety.supervisor import Supervisor

app = typer.Typer(
    help="Ninety: a music marketplace where artists keep at least 90% of every sale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped to a file or a test, lines stay whole instead of wrapping at 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 240)
log = logging.getLogger("ninety")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("urllib3", "web3", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def dev_account(mnemonic: str, index: int) -> tuple[str, str]:
    """(address, private key) of the mnemonic's `index`th account, as Anvil derives it."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return acct.address, "0x" + acct.key.hex().removeprefix("0x")


def _deploy_if_needed(settings: Settings, rpc_url: str) -> Deployment:
    """On the embedded dev chain, deploy once and reuse the record later. On a real chain
    never deploy implicitly: use the recorded (or configured) deployment."""
    from web3 import Web3

    from ninety.contract import read_deployment, resolve_deployment

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    if not settings.embedded_chain:
        return resolve_deployment(settings, w3.eth.chain_id)
    existing = read_deployment(settings.deployments_dir, w3.eth.chain_id)
    if existing and w3.eth.get_code(existing.address):
        log.info("Marketplace already deployed at %s", existing.address)
        return existing
    from brownie import accounts

    from ninety.deploy import DEV_EPOCH_SECONDS, connect, deploy_marketplace, load_project
    from ninety.ipfs import Ipfs

    load_project()
    connect(rpc_url=rpc_url)
    deployer = accounts.add(dev_account(settings.mnemonic, 0)[1])
    console.print(f"Sponsor-pool epochs on this dev chain last {DEV_EPOCH_SECONDS // 60} minutes of block time "
                  "(a week by default with `ninety deploy`).")
    with Ipfs(settings.ipfs_api) if settings.ipfs_api else contextlib.nullcontext() as ipfs:
        record = deploy_marketplace(
            deployer,
            settings.deployments_dir,
            fee_recipient=settings.fee_recipient,
            fee_bps=settings.fee_bps,
            force=existing is not None,
            catalog_signer=load_signer(settings.data_dir).address,
            epoch_seconds=DEV_EPOCH_SECONDS,
            pin=ipfs.add_bytes if ipfs is not None else None,
        )
    return Deployment.from_json(record)


@app.command()
def up(
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Seed a demo catalog on the first run."),
    reset: bool = typer.Option(False, "--reset", help="Delete the data dir first and start from empty data."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the embedded stack: chain, IPFS node, contract deployment, indexer, API and web.

    With NINETY_RPC_URL / NINETY_IPFS_API set, uses those instead of starting its own.
    Ctrl-C stops everything it started."""
    _setup_logging(verbose)
    from ninety.db import redact_url
    from ninety.errors import ServiceError
    from ninety.supervisor import (DataDirLock, anvil_service, api_service, clear_data_dir, indexer_service,
                                   ipfs_service)

    base = load_settings()
    base.data_dir.mkdir(parents=True, exist_ok=True)
    # One `ninety up` per data dir, refused before anything starts (or is reset).
    claim = DataDirLock(base.data_dir)
    try:
        claim.acquire()
    except ServiceError as e:
        _fail(str(e))
    if reset:
        console.print(f"--reset: removing everything in {base.data_dir}")
        clear_data_dir(base.data_dir, keep=claim.path)
    Supervisor.install_signal_handlers()
    supervisor = Supervisor(base.data_dir)
    try:
        rpc_url = base.rpc_url
        if base.embedded_chain:
            anvil = supervisor.start(anvil_service(
                base.data_dir,
                port=base.chain_port,
                mnemonic=base.mnemonic,
                state_file=base.data_dir / "chain" / "state.json",
            ))
            rpc_url = anvil.url
        ipfs_api = base.ipfs_api
        if base.embedded_ipfs:
            ipfs_api = supervisor.start(ipfs_service(base.data_dir, api_port=base.ipfs_api_port)).url
        # A local chain's deployment lives with the chain, in the data dir.
        deployments_dir = base.data_dir / "deployments" if base.embedded_chain else base.deployments_dir
        settings = Settings(**{**base.__dict__, "ipfs_api": ipfs_api, "deployments_dir": deployments_dir})
        deployment = _deploy_if_needed(settings, rpc_url)
        child_env = {
            "NINETY_DATA_DIR": str(base.data_dir),
            "NINETY_RPC_URL": rpc_url or "",
            "NINETY_IPFS_API": ipfs_api or "",
            "NINETY_DB_URL": settings.database_url,
            "NINETY_DEPLOYMENTS_DIR": str(deployments_dir),
            # A dev chain mines on demand: poll often so a sale shows up within a second.
            "NINETY_POLL_INTERVAL": os.environ.get("NINETY_POLL_INTERVAL") or ("0.25" if base.embedded_chain else "1"),
        }
        from web3 import Web3

        head = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10})).eth.block_number
        supervisor.start(indexer_service(base.data_dir, child_env, settings.database_url, deployment.address, head))
        api = supervisor.start(api_service(base.data_dir, child_env, base.api_port))
        demo_line = _seed_demo(settings, api.url, rpc_url, deployment, seed=demo)

        lines = [
            "[bold green]Ninety is up[/]",
            f"  Web app       {api.url}/",
            f"  API           {api.url}/api/status",
            f"  API docs      {api.url}/docs",
            f"  Chain RPC     {rpc_url}  (chain {deployment.chain_id})",
            f"  IPFS API      {ipfs_api}",
            f"  Marketplace   {deployment.address}",
            f"  Ledger        {redact_url(settings.database_url)}  (indexer log: {base.data_dir / 'logs' / 'indexer.log'})",
        ]
        for symbol, token in deployment.tokens.items():
            lines.append(f"  {symbol:<13} {token.address}")
        if base.embedded_chain:
            lines.append("  [yellow]Dev wallets (dev chain only, never use these keys elsewhere):[/]")
            for role, index in (("artist", 1), ("fan", 2)):
                address, key = dev_account(settings.mnemonic, index)
                lines.append(f"    {role:<6} {address}  key {key}")
        if demo_line:
            lines.append(f"  Demo          {demo_line}")
        lines.append(f"  Data dir      {base.data_dir}   (Ctrl-C stops everything)")
        console.print("\n".join(lines), soft_wrap=True)
        _watch(supervisor)
    except KeyboardInterrupt:
        console.print("stopping…")
    except NinetyError as e:
        _fail(str(e))
    finally:
        supervisor.stop_all()
        claim.release()


def _seed_demo(settings: Settings, api_url: str, rpc_url: str, deployment: Deployment, *, seed: bool) -> str | None:
    """The demo catalog, on the first run of a data dir only, and on the embedded dev
    chain only. A first run with --no-demo means no demo in that data dir, ever."""
    from ninety.demo import ARTISTS, TRACKS, Seeder

    if not settings.embedded_chain:
        return None
    state = Seeder.state_of(settings.data_dir)
    if state.get("skipped"):
        return None
    if state.get("complete"):
        return f"{len(TRACKS)} tracks by {len(ARTISTS)} artists (seeded on the first run; --reset to start over)"
    if not seed:
        if not state:
            Seeder.skip(settings.data_dir)
        return None
    console.print("Seeding the demo catalog (first run only; --no-demo skips it)…")

    def close(epoch: int) -> dict[str, Any]:
        from web3 import Web3

        from backend.epochs import close_epoch
        from ninety.db import make_engine
        from ninety.ipfs import Ipfs

        engine = make_engine(settings.database_url)
        try:
            with Ipfs(settings.ipfs_api) as ipfs:
                return close_epoch(engine, Web3(_paced(rpc_url)), ipfs,
                                   deployment, dev_account(settings.mnemonic, 0)[1], epoch, advance=True,
                                   say=lambda line: console.print(f"  demo: {line}", soft_wrap=True))
        finally:
            engine.dispose()

    try:
        Seeder(api_url, rpc_url, deployment, lambda i: dev_account(settings.mnemonic, i), settings.data_dir,
               say=lambda line: console.print(line, soft_wrap=True), close_epoch=close).run()
    except Exception as e:  # the product is up without it; the next run goes on where this one stopped
        log.exception("seeding the demo catalog failed")
        return f"[red]incomplete ({e.__class__.__name__}: {str(e)[:200]}); the next run continues it[/]"
    return f"{len(TRACKS)} tracks by {len(ARTISTS)} artists, with sales, a withdrawal, a published sponsor-pool epoch and a split change waiting for consent"


def _watch(supervisor: Supervisor) -> None:
    """Block until interrupted; restart a service that dies, once per minute at most."""
    last_restart: dict[str, float] = {}
    while True:
        time.sleep(0.5)
        for service in supervisor.services:
            if service.alive():
                continue
            now = time.monotonic()
            if now - last_restart.get(service.name, -1e9) < 60:
                _fail(f"{service.name} stopped again; see {service.log_path}")
            log.warning("%s stopped unexpectedly; restarting it (log: %s)", service.name, service.log_path)
            last_restart[service.name] = now
            service.restart()


@app.command()
def deploy(
    network: Optional[str] = typer.Option(None, "--network", "-n", help="A Brownie network id."),
    rpc_url: Optional[str] = typer.Option(None, "--rpc-url", help="Any JSON-RPC URL (default: NINETY_RPC_URL)."),
    force: bool = typer.Option(False, "--force", help="Deploy again on a chain that already has one."),
    fee_bps: Optional[int] = typer.Option(None, "--fee-bps", min=0, max=1000, help="Platform fee, basis points (max 1000 = 10%)."),
    fee_recipient: Optional[str] = typer.Option(None, "--fee-recipient", help="Receives platform fees (default: deployer)."),
    catalog_signer: Optional[str] = typer.Option(
        None, "--catalog-signer",
        help="Address whose attestations listings need (default: the API's key, NINETY_CATALOG_KEY or "
             "<data dir>/catalog.key); 'none' opens registration to any wallet and CID."),
    epoch_seconds: int = typer.Option(7 * 24 * 3600, "--epoch-seconds", min=1, max=2**32 - 1,
                                      help="Length of a sponsor-pool epoch in seconds of block time (default: a week)."),
) -> None:
    """Deploy the Marketplace through Brownie; record deployments/<chain id>.json.

    The deployer's key comes from NINETY_DEPLOYER_KEY (on a dev chain, the dev mnemonic's
    first account)."""
    _setup_logging(False)
    settings = load_settings()
    signer: str | None
    if catalog_signer is None:
        signer = load_signer(settings.data_dir).address
    elif catalog_signer.lower() == "none":
        signer = None
    elif re.fullmatch(r"0x[0-9a-fA-F]{40}", catalog_signer):
        signer = catalog_signer
    else:
        _fail(f"--catalog-signer must be an address or 'none', got {catalog_signer!r}")
    rpc_url = rpc_url or (None if network else settings.rpc_url)
    if not rpc_url and not network:
        _fail("say where to deploy: --network NAME, --rpc-url URL or NINETY_RPC_URL")
    try:
        from brownie import accounts, chain

        from ninety.deploy import DEV_CHAIN_IDS, connect, deploy_marketplace, load_project

        load_project()
        connect(rpc_url=rpc_url, network_name=network)
        key = os.environ.get("NINETY_DEPLOYER_KEY")
        if key:
            deployer = accounts.add(key)
        elif int(chain.id) in DEV_CHAIN_IDS:
            deployer = accounts.add(dev_account(settings.mnemonic, 0)[1])
        else:
            _fail("set NINETY_DEPLOYER_KEY to the deployer's private key")
        from ninety.ipfs import Ipfs

        with Ipfs(settings.ipfs_api) if settings.ipfs_api else contextlib.nullcontext() as ipfs:
            record = deploy_marketplace(
                deployer,
                settings.deployments_dir,
                fee_recipient=fee_recipient or settings.fee_recipient,
                fee_bps=settings.fee_bps if fee_bps is None else fee_bps,
                force=force,
                catalog_signer=signer,
                epoch_seconds=epoch_seconds,
                pin=ipfs.add_bytes if ipfs is not None else None,
            )
    except NinetyError as e:
        _fail(str(e))
    console.print(f"Marketplace {record['address']} on chain {record['chain_id']} (block {record['deploy_block']})")


@app.command()
def index(
    once: bool = typer.Option(False, "--once", help="Stop when caught up with the head."),
    metrics_port: int = typer.Option(0, "--metrics-port", envvar="NINETY_INDEXER_METRICS_PORT",
                                     help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Mirror the Marketplace's events into the ledger database: backfill with progress,
    then follow the head (reorg-safe). Creates the schema in an empty database."""
    _setup_logging(verbose)
    from indexer import service

    try:
        service.run(load_settings(), once=once, metrics_port=metrics_port or None, console=console)
    except KeyboardInterrupt:
        console.print("stopped")
    except NinetyError as e:
        _fail(str(e))


@app.command()
def verify(
    what: Optional[str] = typer.Argument(None, help="Nothing for the ledger, or `epoch` to check a published epoch."),
    epoch: Optional[int] = typer.Argument(None, min=0, help="The epoch number, with `epoch`."),
    report: Optional[Path] = typer.Option(None, "--report", help="Check this copy of the report instead of the "
                                          "one the chain names (its CID must still match)."),
    receipts: Optional[Path] = typer.Option(None, "--receipts", help="A JSON list of free-download receipts "
                                            "({wallet, track_id, epoch, receipt}) that must be in the report."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Recompute the ledger from the chain alone (events and the contract's balances) and
    diff it with the database. Exit 0 only when they match.

    `ninety verify epoch N` needs only NINETY_RPC_URL, NINETY_IPFS_API and the deployment:
    it fetches epoch N's report by the CID the contract recorded, checks its rules against
    the on-chain commitment, recovers every download signature, re-finds every listener's
    qualifying sales and fees on chain, recomputes weights, allocations, the fee, every
    proof and both roots, and compares them with the chain. Anyone can run it."""
    _setup_logging(verbose)
    if what is not None:
        if what != "epoch" or epoch is None:
            _fail("usage: ninety verify [epoch N]")
        _verify_epoch(epoch, report, receipts)
        return
    from indexer.service import connect_chain
    from indexer.verify import verify as run_verify
    from ninety.contract import resolve_deployment
    from ninety.db import ensure_schema, make_engine

    settings = load_settings()
    try:
        rpc, chain_id, deployment = _chain_and_deployment(settings)
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
        height, diffs = run_verify(rpc, engine, deployment.address, deployment.deploy_block)
    except NinetyError as e:
        _fail(str(e))
    _exit_on_differences(diffs, f"between the database and chain {chain_id} at block {height}")
    console.print(f"[green]ledger matches the chain[/] (chain {chain_id}, contract {deployment.address}, block {height})")


def _chain_and_deployment(settings: Settings) -> tuple[Any, int, Deployment]:
    """The RPC client, chain id and Marketplace deployment the checks run against."""
    from indexer.service import connect_chain
    from ninety.contract import resolve_deployment

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
    import json

    from ninety.epochs import check_report, published_epoch
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
        _fail(str(e))
    _exit_on_differences(diffs, f"in epoch {epoch}: it does not check out")
    counted = sum(1 for x in report["listens"] if x.get("counted"))
    console.print(f"[green]epoch {epoch} checks out[/]: report {cid}; rules match the on-chain commitment; "
                  f"{len(report['listens'])} signed downloads ({counted} counted) and their listeners' sales "
                  f"re-checked on chain; {len(report['allocations'])} allocations, the fee and both roots recomputed"
                  + (f"; {len(receipts)} receipts found in the report" if receipts else ""), soft_wrap=True)


epoch_app = typer.Typer(help="Sponsor-pool epochs.", no_args_is_help=True)
app.add_typer(epoch_app, name="epoch")


@epoch_app.command("close")
def epoch_close(
    epoch: Optional[int] = typer.Argument(None, min=0, help="The ended epoch to publish (default: the first ended "
                                          "epoch with a pool; epochs publish in order)."),
    advance: bool = typer.Option(False, "--advance", help="Dev chain only: move the chain's clock to the epoch's "
                                 "end and mine a block, instead of waiting for it."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Judge the ended epoch's signed free downloads against the chain, apply the committed
    rules, pin the report to IPFS and publish its roots. Needs the owner's key:
    NINETY_OWNER_KEY (on a dev chain, the dev mnemonic's first account)."""
    _setup_logging(verbose)
    from web3 import Web3

    from backend.epochs import close_epoch
    from ninety.contract import resolve_deployment
    from ninety.db import ensure_schema, make_engine
    from ninety.ipfs import Ipfs

    settings = load_settings()
    try:
        if not settings.rpc_url or not settings.ipfs_api:
            raise NinetyError("set NINETY_RPC_URL and NINETY_IPFS_API (the report is pinned to IPFS)")
        w3 = Web3(_paced(settings.rpc_url))
        chain_id = w3.eth.chain_id
        deployment = resolve_deployment(settings, chain_id)
        key = os.environ.get("NINETY_OWNER_KEY") or (dev_account(settings.mnemonic, 0)[1] if chain_id == 31337 else None)
        if not key:
            raise NinetyError("set NINETY_OWNER_KEY to the Marketplace owner's private key")
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
        with Ipfs(settings.ipfs_api) as ipfs:
            close_epoch(engine, w3, ipfs, deployment, key, epoch, advance=advance,
                        say=lambda line: console.print(line, soft_wrap=True))
    except NinetyError as e:
        _fail(str(e))


moderate_app = typer.Typer(help="Takedowns and duplicate-upload refusals (the owner's tools).", no_args_is_help=True)
app.add_typer(moderate_app, name="moderate")


def _paced(url: str) -> Any:
    """web3's HTTP provider kept to NINETY_RPC_RPS, waiting out 429 and -32005 answers."""
    from ninety.chain import http_provider

    return http_provider(url, timeout=30)


def _owner_chain(settings: Settings) -> tuple[Any, Deployment, str]:
    from web3 import Web3

    from ninety.contract import resolve_deployment

    if not settings.rpc_url:
        raise NinetyError("set NINETY_RPC_URL")
    w3 = Web3(_paced(settings.rpc_url))
    chain_id = w3.eth.chain_id
    key = os.environ.get("NINETY_OWNER_KEY") or (dev_account(settings.mnemonic, 0)[1] if chain_id == 31337 else None)
    if not key:
        raise NinetyError("set NINETY_OWNER_KEY to the Marketplace owner's private key")
    return w3, resolve_deployment(settings, chain_id), key


def _set_blocked(track: int, reason: Path, blocked: bool) -> None:
    from backend.moderation import pin_reason, set_blocked
    from ninety.ipfs import Ipfs

    settings = load_settings()
    try:
        if not settings.ipfs_api:
            raise NinetyError("set NINETY_IPFS_API: the reason is pinned to IPFS")
        try:
            text = reason.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise NinetyError(f"cannot read the reason from {reason}: {e}") from None
        w3, deployment, key = _owner_chain(settings)
        with Ipfs(settings.ipfs_api) as ipfs:
            cid = pin_reason(ipfs, track, "block" if blocked else "unblock", text)
        number = set_blocked(w3, deployment, key, track, blocked, cid)
    except NinetyError as e:
        _fail(str(e))
    console.print(f"track {track} {'blocked' if blocked else 'unblocked'} in block {number}; public reason ipfs://{cid}")


@moderate_app.command("block")
def moderate_block(
    track: int = typer.Argument(..., min=1, help="The track id."),
    reason: Path = typer.Option(..., "--reason", help="A text file with the public reason (redact personal data: "
                                                      "it is pinned to IPFS for anyone to read)."),
) -> None:
    """Take a track down: it can no longer be bought or downloaded, its recording cannot be
    uploaded again, and what its payees earned stays theirs. Needs NINETY_OWNER_KEY."""
    _setup_logging(False)
    _set_blocked(track, reason, True)


@moderate_app.command("unblock")
def moderate_unblock(
    track: int = typer.Argument(..., min=1, help="The track id."),
    reason: Path = typer.Option(..., "--reason", help="A text file with the public reason."),
) -> None:
    """Lift a takedown (e.g. after a counter-notice). Needs NINETY_OWNER_KEY."""
    _setup_logging(False)
    _set_blocked(track, reason, False)


@moderate_app.command("allow")
def moderate_allow(
    refusal: int = typer.Argument(..., min=1, help="The refused upload's id (from `ninety moderate queue`)."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (kept for the record)."),
) -> None:
    """Let the wallet of a refused upload upload that recording after all (a licensed
    sample, the same artist's new wallet)."""
    _setup_logging(False)
    from backend.moderation import allow
    from ninety.db import ensure_schema, make_engine

    engine = make_engine(load_settings().database_url)
    ensure_schema(engine)
    try:
        r = allow(engine, refusal, note)
    except NinetyError as e:
        _fail(str(e))
    console.print(f"refusal {r.id} allowed: {r.wallet} may now upload {r.file_name} (audio {r.audio_hash[:16]}…)")


@moderate_app.command("queue")
def moderate_queue() -> None:
    """Refused uploads (not yet allowed) and open counter-notices, newest first."""
    _setup_logging(False)
    from backend.moderation import queue
    from ninety.db import ensure_schema, make_engine

    engine = make_engine(load_settings().database_url)
    ensure_schema(engine)
    refusals, notices = queue(engine)
    print(f"refused uploads ({len(refusals)}):")
    for r in refusals:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created_at))
        detail = f"similarity {r.similarity:.2f}, {r.overlap_seconds:.0f} s" if r.match_kind == "fingerprint" else "same audio"
        print(f"  {r.id:>5}  {when}  {r.wallet}  {r.file_name!r} matches track {r.matched_track_id}"
              f"{' (taken down)' if r.blocked_match else ''}: {r.match_kind}, {detail}")
    print(f"open counter-notices ({len(notices)}):")
    for n in notices:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(n.created_at))
        about = f"refusal {n.refusal_id}" if n.refusal_id is not None else f"track {n.track_id}"
        print(f"  {n.id:>5}  {when}  {n.wallet}  about {about}; contact {n.contact!r}")
        print(f"         {n.statement[:300]!r}")


@moderate_app.command("backfill")
def moderate_backfill() -> None:
    """Hash and fingerprint uploads made before duplicate detection existed (decrypts each
    from IPFS); run once after upgrading. Safe to run again."""
    _setup_logging(False)
    from backend.crypto import MasterKey
    from backend.moderation import backfill
    from ninety.db import ensure_schema, make_engine
    from ninety.ipfs import Ipfs

    settings = load_settings()
    if not settings.ipfs_api:
        _fail("set NINETY_IPFS_API")
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    with Ipfs(settings.ipfs_api) as ipfs:
        done = backfill(engine, ipfs, MasterKey.load(os.environ.get("NINETY_MASTER_KEY"), settings.data_dir),
                        say=lambda line: console.print(line, soft_wrap=True))
    console.print(f"{done} uploads fingerprinted")


token_app = typer.Typer(help="ERC-20 tokens tracks may be priced in (the owner's tools).", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _token_owner_chain(token: str) -> tuple[Any, Deployment, str, str]:
    """(web3, deployment, owner key, checksummed token) after the checks both commands share:
    a contract, not the Marketplace, and a key that is the owner's."""
    from eth_account import Account

    from ninety.tokens import TokenError, check_owner, require_contract

    w3, deployment, key = _owner_chain(load_settings())
    token = require_contract(w3, token)
    if token.lower() == deployment.address.lower():
        raise TokenError(f"{token} is the Marketplace itself, not a token")
    check_owner(w3, deployment, Account.from_key(key).address)
    return w3, deployment, key, token


@token_app.command("allow")
def token_allow(
    token: str = typer.Argument(..., help="The ERC-20's address."),
    force: bool = typer.Option(False, "--force", help="Allow it even if the probe fails or cannot run."),
    probe_holder: Optional[str] = typer.Option(
        None, "--probe-holder", help="A wallet that holds the token, to probe as (default: the owner). Nothing is "
                                     "spent: the probe runs in an eth_call."),
) -> None:
    """Let tracks be priced in TOKEN, after a probe that spends nothing: as a holder, it
    sends a little with transfer and with transferFrom inside an eth_call (state override)
    and checks what balanceOf says. Tokens that revert or answer false on ordinary
    transfers, or whose balances do not follow what was sent, are refused; fee-on-transfer
    tokens pass (the Marketplace credits what arrives). See the README's token policy.
    Needs NINETY_OWNER_KEY."""
    _setup_logging(False)
    from eth_account import Account
    from rich.markup import escape

    from ninety.tokens import ProbeUnavailable, TokenError, is_allowed, probe, set_allowed

    try:
        w3, deployment, key, token = _token_owner_chain(token)
        if is_allowed(w3, deployment, token):
            raise TokenError(f"{token} is already allowed on the Marketplace {deployment.address}")
        holder = probe_holder or Account.from_key(key).address
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", holder):
            raise TokenError(f"--probe-holder must be an address, got {holder!r}")
        try:
            report = probe(w3, token, holder)
        except ProbeUnavailable as e:
            if not force:
                raise TokenError(f"{e} (--force allows it anyway)") from None
            console.print(f"[yellow]warning:[/] {escape(str(e))}", soft_wrap=True)
            console.print("[yellow]--force: allowing it unprobed[/]")
        else:
            name = f"{report.symbol or '?'}, {report.decimals if report.decimals is not None else '?'} decimals"
            console.print(f"probe of {token} ({escape(name)}) as {report.holder}, "
                          f"who holds {report.balance}:", soft_wrap=True)
            for check in report.checks:
                mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
                console.print(f"  {mark} {check.name}: {escape(check.detail)}", soft_wrap=True)
            for note in report.notes:
                console.print(f"  [yellow]note[/] {escape(note)}", soft_wrap=True)
            if not report.passed:
                failed = ", ".join(c.name for c in report.failed)
                if not force:
                    raise TokenError(f"refused: the probe failed ({failed}, above). A token like this would lock "
                                     "sales or make the Marketplace owe more than it holds (--force allows it anyway)")
                console.print(f"[yellow]warning: --force: allowing it although the probe failed ({escape(failed)})[/]",
                              soft_wrap=True)
        number = set_allowed(w3, deployment, key, token, True)
    except NinetyError as e:
        _fail(escape(str(e)))
    console.print(f"{token} allowed in block {number}: tracks can now be priced in it")


@token_app.command("disallow")
def token_disallow(token: str = typer.Argument(..., help="The ERC-20's address.")) -> None:
    """Stop TOKEN being used for new tracks, sales and pool deposits. Balances already owed
    in it stay withdrawable, and its split balances can still be distributed. Needs
    NINETY_OWNER_KEY."""
    _setup_logging(False)
    from rich.markup import escape

    from ninety.tokens import TokenError, is_allowed, set_allowed

    try:
        w3, deployment, key, token = _token_owner_chain(token)
        if not is_allowed(w3, deployment, token):
            raise TokenError(f"{token} is not allowed on the Marketplace {deployment.address}: nothing to disallow")
        number = set_allowed(w3, deployment, key, token, False)
    except NinetyError as e:
        _fail(escape(str(e)))
    console.print(f"{token} disallowed in block {number}: its tracks can no longer be bought nor listed, and no "
                  "pool deposits in it; balances already owed in it stay withdrawable (withdraw, withdrawTo)",
                  soft_wrap=True)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Default NINETY_API_HOST (127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Default NINETY_API_PORT (8000)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Processes serving the API (one core each); default 1."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the HTTP API (OpenAPI at /docs) and the web app."""
    _setup_logging(verbose)
    import uvicorn

    from backend.app import build_services, create_app

    settings = load_settings()
    settings = Settings(**{**settings.__dict__, "api_host": host or settings.api_host,
                           "api_port": port or settings.api_port})
    try:
        # Built here even with several workers: it creates or checks the schema once, and
        # a bad setting fails before any worker starts.
        app_ = create_app(build_services(settings))
    except NinetyError as e:
        _fail(str(e))
    log_level = "info" if verbose else "warning"
    # proxy_headers=False: uvicorn would otherwise take X-Forwarded-For from any loopback
    # peer; the app reads it itself, from NINETY_TRUSTED_PROXIES only (backend/ratelimit.py).
    if workers == 1:
        uvicorn.run(app_, host=settings.api_host, port=settings.api_port, log_level=log_level, proxy_headers=False)
        return
    # Worker processes import the app by name and build it from the same environment.
    os.environ["NINETY_API_HOST"], os.environ["NINETY_API_PORT"] = settings.api_host, str(settings.api_port)
    uvicorn.run("backend.app:app_from_environment", factory=True, workers=workers,
                host=settings.api_host, port=settings.api_port, log_level=log_level, proxy_headers=False)


@app.command()
def migrate() -> None:
    """Bring the ledger database (NINETY_DB_URL) to this version's schema."""
    _setup_logging(False)
    from ninety.db import current_revision, head_revision, make_engine
    from ninety.db import migrate as run_migrate

    engine = make_engine(load_settings().database_url)
    before = current_revision(engine)
    run_migrate(engine)
    console.print(f"schema at {head_revision()} (was {before or 'empty'})")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
