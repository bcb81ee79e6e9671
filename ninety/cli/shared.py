"""What every command shares: the console (stderr), logging, failing with an exit code,
the dev chain's accounts and the owner's chain."""
from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from ninety.config import Settings
from ninety.contract import Deployment, resolve_deployment
from ninety.errors import NinetyError

# Piped to a file or a test, lines stay whole instead of wrapping at 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 240)
log = logging.getLogger("ninety")
# Anvil's chain id: the owner's key defaults to the dev mnemonic's first account there.
DEV_CHAIN_ID = 31337


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("urllib3", "web3", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 1) -> NoReturn:
    # The message is plain text (it may quote a chain error or "[epoch N]"), not markup.
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def say(line: str) -> None:
    """A progress line from a job, printed whole."""
    console.print(line, soft_wrap=True)


def dev_account(mnemonic: str, index: int) -> tuple[str, str]:
    """(address, private key) of the mnemonic's `index`th account, as Anvil derives it."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return acct.address, "0x" + acct.key.hex().removeprefix("0x")


def paced(url: str) -> Any:
    """web3's HTTP provider kept to NINETY_RPC_RPS, waiting out 429 and -32005 answers."""
    from ninety.rpc_limits import http_provider

    return http_provider(url, timeout=30)


def owner_key(settings: Settings, chain_id: int) -> str:
    """NINETY_OWNER_KEY, or on the dev chain the dev mnemonic's first account."""
    key = settings.owner_key or (dev_account(settings.mnemonic, 0)[1] if chain_id == DEV_CHAIN_ID else None)
    if not key:
        raise NinetyError("set NINETY_OWNER_KEY to the Marketplace owner's private key")
    return key


def owner_chain(settings: Settings) -> tuple[Any, Deployment, str]:
    """(web3, deployment, owner key) for the owner's commands."""
    from web3 import Web3

    if not settings.rpc_url:
        raise NinetyError("set NINETY_RPC_URL")
    w3 = Web3(paced(settings.rpc_url))
    chain_id = w3.eth.chain_id
    key = owner_key(settings, chain_id)
    return w3, resolve_deployment(settings, chain_id), key
