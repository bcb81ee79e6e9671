"""Deploy the Marketplace: `brownie run scripts/deploy.py --network <name>`.

Reads the settings (ninety.config) and two variables of its own, as a Brownie script takes
no arguments:
  NINETY_DEPLOYER_KEY     private key of the deployer (dev networks: brownie's accounts[0])
  NINETY_FEE_RECIPIENT    receives platform fees (default: the deployer)
  NINETY_FEE_BPS          platform fee in basis points, 0..1000 (default 500 = 5%)
  NINETY_DEPLOYMENTS_DIR  where <chain id>.json is recorded (default ./deployments)
  NINETY_FORCE_DEPLOY=1   deploy again on a chain that already has one
  NINETY_EPOCH_SECONDS    sponsor-pool epoch length in seconds of block time (default a week)
"""
import os

from brownie import accounts, network

from ninety.cli.deploy import deploy_marketplace
from ninety.config import load_settings


def main():
    settings = load_settings()
    if settings.deployer_key:
        deployer = accounts.add(settings.deployer_key)
    elif network.show_active() in ("development", "anvil") or len(accounts) > 0:
        deployer = accounts[0]
    else:
        raise SystemExit("set NINETY_DEPLOYER_KEY to the deployer's private key")
    record = deploy_marketplace(
        deployer,
        settings.deployments_dir,
        fee_recipient=settings.fee_recipient,
        fee_bps=settings.fee_bps,
        force=os.environ.get("NINETY_FORCE_DEPLOY") == "1",
        epoch_seconds=int(os.environ.get("NINETY_EPOCH_SECONDS") or 7 * 24 * 3600),
    )
    print(f"Marketplace: {record['address']} (chain {record['chain_id']}, block {record['deploy_block']})")
