"""`ninety epoch close`: publish an ended sponsor-pool epoch (the owner's key)."""
from __future__ import annotations

from typing import Optional

import typer

from ninety.cli.shared import fail, owner_key, paced, say, setup_logging
from ninety.config import load_settings
from ninety.contract import resolve_deployment
from ninety.errors import NinetyError

app = typer.Typer(help="Sponsor-pool epochs.", no_args_is_help=True)


@app.command("close")
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
    setup_logging(verbose)
    from web3 import Web3

    from ninety.cli.epoch_close import close_epoch
    from ninety.db import ensure_schema, make_engine
    from ninety.ipfs import Ipfs

    settings = load_settings()
    try:
        if not settings.rpc_url or not settings.ipfs_api:
            raise NinetyError("set NINETY_RPC_URL and NINETY_IPFS_API (the report is pinned to IPFS)")
        w3 = Web3(paced(settings.rpc_url))
        chain_id = w3.eth.chain_id
        deployment = resolve_deployment(settings, chain_id)
        key = owner_key(settings, chain_id)
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
        with Ipfs(settings.ipfs_api) as ipfs:
            close_epoch(engine, w3, ipfs, deployment, key, epoch, advance=advance, say=say)
    except NinetyError as e:
        fail(str(e))
