"""`ninety`: the command line, and the command layer's home. The composition root: the
only package that wires the shared core (ninety.*) to the indexer and the backend.

- commands/: one module per command group (up; deploy; index and verify; statement; epoch;
  moderate; token; serve and migrate), registered on `app` below in the order `--help`
  lists them;
- the jobs they run: supervisor and services (`ninety up`'s children), demo (the first
  run's catalog), deploy (Brownie), epoch_close and moderation (the owner's key).

Commands import their heavy dependencies (web3, eth_account, Brownie, uvicorn, the indexer,
the backend, and the job modules that load them) inside the function that needs them, so
`ninety --help` starts in a third of a second: the only function-level imports of project
modules allowed anywhere (tests/test_architecture.py checks the rest).
"""
from __future__ import annotations

import typer

from ninety.cli.commands import deploy, epoch, ledger, moderate, serve, statement, token, up

app = typer.Typer(
    help="Ninety: a music marketplace where artists keep at least 90% of every sale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(up.up)
app.command()(deploy.deploy)
app.command()(ledger.index)
app.command()(ledger.verify)
app.command()(statement.statement)
app.add_typer(epoch.app, name="epoch")
app.add_typer(moderate.app, name="moderate")
app.add_typer(token.app, name="token")
app.command()(serve.serve)
app.command()(serve.migrate)


def main() -> None:  # pragma: no cover - console entry point
    app()
