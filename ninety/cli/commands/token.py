"""`ninety token allow|disallow`: the ERC-20s tracks may be priced in (the owner's tools)."""
from __future__ import annotations

import re
from typing import Any, Optional

import typer

from ninety.cli.shared import console, fail, owner_chain, setup_logging
from ninety.config import load_settings
from ninety.contract import Deployment
from ninety.errors import NinetyError

app = typer.Typer(help="ERC-20 tokens tracks may be priced in (the owner's tools).", no_args_is_help=True)


def _token_owner_chain(token: str) -> tuple[Any, Deployment, str, str]:
    """(web3, deployment, owner key, checksummed token) after the checks both commands share:
    a contract, not the Marketplace, and a key that is the owner's."""
    from eth_account import Account

    from ninety.tokens import TokenError, check_owner, require_contract

    w3, deployment, key = owner_chain(load_settings())
    token = require_contract(w3, token)
    if token.lower() == deployment.address.lower():
        raise TokenError(f"{token} is the Marketplace itself, not a token")
    check_owner(w3, deployment, Account.from_key(key).address)
    return w3, deployment, key, token


@app.command("allow")
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
    setup_logging(False)
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
        fail(escape(str(e)))
    console.print(f"{token} allowed in block {number}: tracks can now be priced in it")


@app.command("disallow")
def token_disallow(token: str = typer.Argument(..., help="The ERC-20's address.")) -> None:
    """Stop TOKEN being used for new tracks, sales and pool deposits. Balances already owed
    in it stay withdrawable, and its split balances can still be distributed. Needs
    NINETY_OWNER_KEY."""
    setup_logging(False)
    from rich.markup import escape

    from ninety.tokens import TokenError, is_allowed, set_allowed

    try:
        w3, deployment, key, token = _token_owner_chain(token)
        if not is_allowed(w3, deployment, token):
            raise TokenError(f"{token} is not allowed on the Marketplace {deployment.address}: nothing to disallow")
        number = set_allowed(w3, deployment, key, token, False)
    except NinetyError as e:
        fail(escape(str(e)))
    console.print(f"{token} disallowed in block {number}: its tracks can no longer be bought nor listed, and no "
                  "pool deposits in it; balances already owed in it stay withdrawable (withdraw, withdrawTo)",
                  soft_wrap=True)
