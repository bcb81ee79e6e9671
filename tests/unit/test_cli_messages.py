"""The command line's error lines are plain text: brackets in a message (a usage line, a
node's error) are printed, not swallowed as Rich markup."""
from __future__ import annotations

from typer.testing import CliRunner

from ninety.cli import app


def test_a_usage_error_keeps_its_brackets():
    result = CliRunner().invoke(app, ["verify", "epoch"])
    assert result.exit_code == 1
    assert "usage: ninety verify [epoch N]" in result.output
