"""`ninety up`: the embedded stack (chain, IPFS node, deployment, indexer, API, demo)."""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import typer

from ninety.cli.shared import console, dev_account, fail, log, paced, setup_logging
from ninety.config import Settings, load_settings
from ninety.contract import Deployment
from ninety.errors import NinetyError

if TYPE_CHECKING:
    from ninety.cli.supervisor import Supervisor


def up(
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Seed a demo catalog on the first run."),
    reset: bool = typer.Option(False, "--reset", help="Delete the data dir first and start from empty data."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the embedded stack: chain, IPFS node, contract deployment, indexer, API and web.

    With NINETY_RPC_URL / NINETY_IPFS_API set, uses those instead of starting its own.
    Ctrl-C stops everything it started."""
    setup_logging(verbose)
    from web3 import Web3

    from ninety.cli.services import anvil_service, api_service, indexer_service, ipfs_service
    from ninety.cli.supervisor import DataDirLock, Supervisor, clear_data_dir
    from ninety.db import ensure_schema, make_engine, redact_url
    from ninety.errors import ServiceError

    base = load_settings()
    base.data_dir.mkdir(parents=True, exist_ok=True)
    # One `ninety up` per data dir, refused before anything starts (or is reset).
    claim = DataDirLock(base.data_dir)
    try:
        claim.acquire()
    except ServiceError as e:
        fail(str(e))
    if reset:
        console.print(f"--reset: removing everything in {base.data_dir}")
        clear_data_dir(base.data_dir, keep=claim.path)
    Supervisor.install_signal_handlers()
    supervisor = Supervisor(base.data_dir)
    try:
        # The chain and the IPFS node need nothing from each other: they boot side by side
        # (the IPFS repo of a first run is made meanwhile too).
        rpc_url = base.rpc_url
        if base.embedded_chain:
            anvil = supervisor.launch(anvil_service(
                base.data_dir,
                port=base.chain_port,
                mnemonic=base.mnemonic,
                state_file=base.data_dir / "chain" / "state.json",
            ))
            rpc_url = anvil.url
        ipfs_api = base.ipfs_api
        if base.embedded_ipfs:
            ipfs_api = supervisor.launch(ipfs_service(base.data_dir, api_port=base.ipfs_api_port)).url
        supervisor.wait_ready()
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
            # Set here: the children have NINETY_RPC_URL, which makes the default 1 s
            # (Settings: 0.25 s on the embedded chain, which mines on demand).
            "NINETY_POLL_INTERVAL": f"{base.poll_interval:g}",
        }
        head = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10})).eth.block_number
        # The schema first, here: then the indexer and the API, which would each create it,
        # start side by side without racing to (the API serves while the indexer catches up).
        engine = make_engine(settings.database_url)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
        supervisor.launch(indexer_service(base.data_dir, child_env, settings.database_url, deployment.address, head))
        api = supervisor.launch(api_service(base.data_dir, child_env, base.api_port, public_url=base.public_url))
        supervisor.wait_ready()
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
        fail(str(e))
    finally:
        supervisor.stop_all()
        claim.release()


def _deploy_if_needed(settings: Settings, rpc_url: str) -> Deployment:
    """On the embedded dev chain, deploy once and reuse the record later. On a real chain
    never deploy implicitly: use the recorded (or configured) deployment."""
    from web3 import Web3

    from ninety.attest import load_signer
    from ninety.cli.deploy import DEV_EPOCH_SECONDS, connect, deploy_marketplace, load_project
    from ninety.contract import read_deployment, resolve_deployment
    from ninety.ipfs import Ipfs

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    if not settings.embedded_chain:
        return resolve_deployment(settings, w3.eth.chain_id)
    existing = read_deployment(settings.deployments_dir, w3.eth.chain_id)
    if existing and w3.eth.get_code(existing.address):
        log.info("Marketplace already deployed at %s", existing.address)
        return existing
    from brownie import accounts  # slow, and only after load_project has found the repository's tools

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
            catalog_signer=load_signer(settings).address,
            epoch_seconds=DEV_EPOCH_SECONDS,
            pin=ipfs.add_bytes if ipfs is not None else None,
        )
    return Deployment.from_json(record)


def _seed_demo(settings: Settings, api_url: str, rpc_url: str, deployment: Deployment, *, seed: bool) -> str | None:
    """The demo catalog, on the first run of a data dir only, and on the embedded dev
    chain only. A first run with --no-demo means no demo in that data dir, ever."""
    from web3 import Web3

    from ninety.cli.demo_catalog import ARTISTS, TRACKS, demo_state, skip_demo

    if not settings.embedded_chain:
        return None
    state = demo_state(settings.data_dir)
    if state.get("skipped"):
        return None
    if state.get("complete"):
        return (f"{len(TRACKS)} tracks and an album by {len(ARTISTS)} artists "
                "(seeded on the first run; --reset to start over)")
    if not seed:
        if not state:
            skip_demo(settings.data_dir)
        return None
    # The seeder and the epoch job are slow to import: only for a run that seeds.
    from ninety.cli.demo import Seeder
    from ninety.cli.epoch_close import close_epoch
    from ninety.db import make_engine
    from ninety.ipfs import Ipfs

    console.print("Seeding the demo catalog (first run only; --no-demo skips it)…")

    def close(epoch: int) -> dict[str, Any]:
        engine = make_engine(settings.database_url)
        try:
            with Ipfs(settings.ipfs_api) as ipfs:
                return close_epoch(engine, Web3(paced(rpc_url)), ipfs,
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
    return (f"{len(TRACKS)} tracks and an album by {len(ARTISTS)} artists, with sales, a withdrawal, a published "
            "sponsor-pool epoch and a split change waiting for consent")


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
                fail(f"{service.name} stopped again; see {service.log_path}")
            log.warning("%s stopped unexpectedly; restarting it (log: %s)", service.name, service.log_path)
            last_restart[service.name] = now
            service.restart()
