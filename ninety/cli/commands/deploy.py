"""`ninety deploy`: the Marketplace through Brownie, on any chain."""
from __future__ import annotations

import contextlib
import re
from typing import Optional

import typer

from ninety.cli.shared import console, dev_account, fail, setup_logging
from ninety.config import load_settings
from ninety.errors import NinetyError


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
    setup_logging(False)
    from ninety.attest import load_signer

    settings = load_settings()
    signer: str | None
    if catalog_signer is None:
        signer = load_signer(settings).address
    elif catalog_signer.lower() == "none":
        signer = None
    elif re.fullmatch(r"0x[0-9a-fA-F]{40}", catalog_signer):
        signer = catalog_signer
    else:
        fail(f"--catalog-signer must be an address or 'none', got {catalog_signer!r}")
    rpc_url = rpc_url or (None if network else settings.rpc_url)
    if not rpc_url and not network:
        fail("say where to deploy: --network NAME, --rpc-url URL or NINETY_RPC_URL")
    try:
        from brownie import accounts, chain

        from ninety.cli.deploy import connect, deploy_marketplace, load_project
        from ninety.config import DEV_CHAIN_IDS
        from ninety.ipfs import Ipfs

        load_project()
        connect(rpc_url=rpc_url, network_name=network)
        if settings.deployer_key:
            deployer = accounts.add(settings.deployer_key)
        elif int(chain.id) in DEV_CHAIN_IDS:
            deployer = accounts.add(dev_account(settings.mnemonic, 0)[1])
        else:
            fail("set NINETY_DEPLOYER_KEY to the deployer's private key")
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
        fail(str(e))
    console.print(f"Marketplace {record['address']} on chain {record['chain_id']} (block {record['deploy_block']})")
