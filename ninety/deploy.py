"""Deploy the Marketplace through Brownie and record where it went.

`scripts/deploy.py` (for `brownie run scripts/deploy.py --network <name>`) and
`ninety deploy` / `ninety up` both end in `deploy_marketplace`.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

from ninety.contract import abi_hash, deployment_path, read_deployment
from ninety.errors import DeploymentError
from ninety.paths import ROOT, use_repo_tools

log = logging.getLogger(__name__)

DEV_CHAIN_IDS = {31337, 1337}


def load_project() -> Any:
    """Load (and if needed compile) the Brownie project in this process."""
    use_repo_tools()
    from brownie import project

    loaded = project.get_loaded_projects()
    if loaded:
        return loaded[0]
    p = project.load(ROOT, name="NinetyProject")
    # Brownie 1.22's compiled code crashes writing its own deployment artifacts for live
    # networks; we keep our own record (deployments/<chain id>.json), so turn theirs off.
    # `_path` is only read again to locate those artifacts once the project is loaded.
    p._path = None
    # Brownie also files live deployments in its own database; its compiled state module
    # crashes doing so (in a background thread, after the deployment succeeded).
    import brownie.network.contract as brownie_contract

    brownie_contract._add_deployment = lambda *args, **kwargs: None
    return p


def connect(rpc_url: str | None = None, network_name: str | None = None) -> None:
    """Connect brownie to a named network, or to any RPC URL as a transient network."""
    from brownie import network
    from brownie._config import CONFIG

    if network.is_connected():
        return
    if rpc_url:
        from web3 import Web3

        try:
            chain_id = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10})).eth.chain_id
        except Exception as e:
            raise DeploymentError(f"cannot reach the chain at {rpc_url}: {e}") from e
        CONFIG.networks["ninety-rpc"] = {
            "id": "ninety-rpc", "name": "Ninety RPC", "host": rpc_url, "chainid": chain_id,
        }
        network_name = "ninety-rpc"
    network.connect(network_name or "development")


def deploy_marketplace(
    deployer: Any,
    deployments_dir: Path,
    *,
    fee_recipient: str | None = None,
    fee_bps: int = 500,
    force: bool = False,
    dev_token: bool | None = None,
    catalog_signer: str | None = None,
) -> dict[str, Any]:
    """Deploy Marketplace (and, on dev chains, MockUSDC, allowed for sales); record
    `<deployments_dir>/<chain id>.json`. Refuses a second deployment unless `force`.
    `catalog_signer` is the address whose attestations listings need (None: open
    registration, any wallet may list any CID)."""
    from brownie import chain, web3

    project = load_project()
    chain_id = int(chain.id)
    existing = read_deployment(deployments_dir, chain_id)
    if existing is not None and not force:
        if web3.eth.get_code(existing.address):
            raise DeploymentError(
                f"chain {chain_id} already has a Marketplace at {existing.address} "
                f"({deployment_path(deployments_dir, chain_id)}); pass --force to deploy another"
            )
        log.warning("recorded Marketplace %s has no code on chain %s: deploying again", existing.address, chain_id)
    if not 0 <= fee_bps <= 1000:
        raise DeploymentError(f"platform fee must be 0..1000 basis points (at most 10%), got {fee_bps}")
    recipient = fee_recipient or deployer.address
    chatter = io.StringIO()  # brownie prints every transaction; keep it for the debug log
    with contextlib.redirect_stdout(chatter):
        record = _deploy(project, deployer, chain_id, recipient, fee_bps, dev_token, catalog_signer)
    log.debug("brownie output:\n%s", chatter.getvalue())
    deployments_dir.mkdir(parents=True, exist_ok=True)
    path = deployment_path(deployments_dir, chain_id)
    path.write_text(json.dumps(record, indent=2) + "\n")
    log.info("Marketplace deployed at %s on chain %s (block %s); recorded in %s",
             record["address"], chain_id, record["deploy_block"], path)
    return record


def _deploy(project: Any, deployer: Any, chain_id: int, recipient: str, fee_bps: int,
            dev_token: bool | None, catalog_signer: str | None) -> dict[str, Any]:
    market = project.Marketplace.deploy(recipient, fee_bps, {"from": deployer})
    tx = market.tx
    if catalog_signer:
        market.setCatalogSigner(catalog_signer, {"from": deployer})
    record: dict[str, Any] = {
        "chain_id": chain_id,
        "address": market.address,
        "deploy_block": tx.block_number,
        "tx_hash": tx.txid,
        "abi_hash": abi_hash(market.abi),
        "fee_recipient": recipient,
        "fee_bps": fee_bps,
        "catalog_signer": catalog_signer or "0x" + "00" * 20,
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tokens": {},
    }
    if dev_token if dev_token is not None else chain_id in DEV_CHAIN_IDS:
        usdc = project.MockUSDC.deploy({"from": deployer})
        market.setTokenAllowed(usdc, True, {"from": deployer})
        record["tokens"]["mUSDC"] = {"address": usdc.address, "symbol": "mUSDC", "decimals": 6}
    return record
