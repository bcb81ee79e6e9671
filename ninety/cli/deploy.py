"""Deploy the Marketplace through Brownie and record where it went.

`scripts/deploy.py` (for `brownie run scripts/deploy.py --network <name>`) and
`ninety deploy` / `ninety up` both end in `deploy_marketplace`.

Brownie is imported inside the functions that use it: it must find the repository's
tools first (`use_repo_tools`), and it is slow to import.

Brownie resolves contract sources and remappings (`node_modules/@openzeppelin/…`) against
the working directory; everything here runs it from the project's root (`at_project_root`),
so `ninety deploy` works from any directory. Paths given by the caller are made absolute
first.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

from ninety.config import DEV_CHAIN_IDS
from ninety.contract import abi_hash, deployment_path, read_deployment
from ninety.epochs.rules import canonical, default_rules, rules_cid, rules_hash
from ninety.errors import DeploymentError
from ninety.paths import require_project, use_repo_tools

log = logging.getLogger(__name__)

# Sponsor-pool epochs: a week on real chains; `ninety up` uses DEV_EPOCH_SECONDS so a
# newcomer sees an epoch end (and `ninety epoch close --advance` can move the clock).
WEEK = 7 * 24 * 3600
DEV_EPOCH_SECONDS = 600


@contextlib.contextmanager
def at_project_root() -> Iterator[Path]:
    """Run the enclosed Brownie calls from the project's root, then return to where the
    caller was (Brownie reads sources relative to the working directory)."""
    root = require_project()
    try:
        before: str | None = os.getcwd()
    except OSError:  # the caller's directory was removed: nowhere to return to
        before = None
    os.chdir(root)
    try:
        yield root
    finally:
        if before is not None:
            with contextlib.suppress(OSError):
                os.chdir(before)


def load_project() -> Any:
    """Load (and if needed compile) the Brownie project in this process."""
    use_repo_tools()
    from brownie import project

    loaded = project.get_loaded_projects()
    if loaded:
        return loaded[0]
    with at_project_root() as root:
        p = project.load(root, name="NinetyProject")
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
    with at_project_root():
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
    epoch_seconds: int = WEEK,
    pin: Any = None,
) -> dict[str, Any]:
    """Deploy Marketplace (and, on dev chains, MockUSDC, allowed for sales); record
    `<deployments_dir>/<chain id>.json`. Refuses a second deployment unless `force`.
    `catalog_signer` is the address whose attestations listings need (None: open
    registration, any wallet may list any CID). Sponsor-pool epochs last `epoch_seconds`;
    the default pool rules are committed for epoch 0 on, pinned with `pin(bytes) -> cid`
    when given and always written next to the deployment record (pin that file if not)."""
    deployments_dir = Path(deployments_dir).resolve()  # before moving to the project root
    project = load_project()
    with at_project_root():
        return _deploy_and_record(project, deployer, deployments_dir, fee_recipient=fee_recipient, fee_bps=fee_bps,
                                  force=force, dev_token=dev_token, catalog_signer=catalog_signer,
                                  epoch_seconds=epoch_seconds, pin=pin)


def _deploy_and_record(project: Any, deployer: Any, deployments_dir: Path, *, fee_recipient: str | None,
                       fee_bps: int, force: bool, dev_token: bool | None, catalog_signer: str | None,
                       epoch_seconds: int, pin: Any) -> dict[str, Any]:
    from brownie import chain, web3

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
    if not 1 <= epoch_seconds < 2**32:
        raise DeploymentError(f"an epoch must last 1 second to 136 years, got {epoch_seconds} s")
    recipient = fee_recipient or deployer.address
    chatter = io.StringIO()  # brownie prints every transaction; keep it for the debug log
    with contextlib.redirect_stdout(chatter):
        record = _deploy(project, deployer, chain_id, recipient, fee_bps, dev_token, catalog_signer, epoch_seconds)
        rules_path = deployments_dir / f"{chain_id}-pool-rules.json"
        _commit_rules(record, deployer, project, fee_bps, rules_path, pin)
    log.debug("brownie output:\n%s", chatter.getvalue())
    deployments_dir.mkdir(parents=True, exist_ok=True)
    path = deployment_path(deployments_dir, chain_id)
    path.write_text(json.dumps(record, indent=2) + "\n")
    log.info("Marketplace deployed at %s on chain %s (block %s); recorded in %s",
             record["address"], chain_id, record["deploy_block"], path)
    return record


def _commit_rules(record: dict[str, Any], deployer: Any, project: Any, fee_bps: int, path: Path, pin: Any) -> None:
    """Commit the default pool rules: 0.001 ETH (and 1 unit of each dev stablecoin)
    qualifies a listener, multiplier 1, the deployment's fee rate."""
    qualifying = {"0x" + "00" * 20: 10**15}
    for token in record["tokens"].values():
        qualifying[token["address"]] = 10 ** int(token["decimals"])
    rules = default_rules(fee_bps, qualifying)
    body = canonical(rules)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    cid = rules_cid(body)
    pinned = False
    if pin is not None:
        try:
            pinned = pin(body) == cid
        except Exception as e:  # the contract is deployed already: record it, say what to pin
            log.warning("could not pin the pool rules to IPFS: %s", e)
    market = project.Marketplace.at(record["address"])
    market.setPoolRules(rules_hash(rules), cid, {"from": deployer})
    record["pool_rules"] = {"hash": "0x" + rules_hash(rules).hex(), "cid": cid, "file": path.name}
    if not pinned:
        log.warning("pool rules not pinned: pin %s (CID %s) so anyone, and the API, can read them", path, cid)


def _deploy(project: Any, deployer: Any, chain_id: int, recipient: str, fee_bps: int,
            dev_token: bool | None, catalog_signer: str | None, epoch_seconds: int) -> dict[str, Any]:
    market = project.Marketplace.deploy(recipient, fee_bps, epoch_seconds, {"from": deployer})
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
        "epoch_seconds": epoch_seconds,
        "catalog_signer": catalog_signer or "0x" + "00" * 20,
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tokens": {},
    }
    if dev_token if dev_token is not None else chain_id in DEV_CHAIN_IDS:
        usdc = project.MockUSDC.deploy({"from": deployer})
        market.setTokenAllowed(usdc, True, {"from": deployer})
        record["tokens"]["mUSDC"] = {"address": usdc.address, "symbol": "mUSDC", "decimals": 6}
    return record
