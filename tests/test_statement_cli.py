"""`ninety statement` and `ninety verify --statement` as a user runs them (subprocesses),
over a ledger the real indexer built from real Anvil activity across a month boundary, on
SQLite and PostgreSQL: the command prints the API's statement; verify matches the chain,
then finds and names a withdrawal row tampered in the database."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

from tests.backend.test_statements import world  # noqa: F401  (the fixture: SQLite and PostgreSQL)
from tests.support.statements import build

NINETY = [sys.executable, "-m", "ninety.cli"]
T = SQLModel.metadata.tables


@pytest.fixture(scope="module")
def anvil(clock_anvil):
    """A chain of this module's own: the statements' world jumps the clock to the next
    month's first second, which no other test should inherit (tests/conftest.py)."""
    return clock_anvil


def run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NINETY, *args], env=env, capture_output=True, text=True, timeout=300)


def test_statement_command_and_verify_statement(world, tmp_path):  # noqa: F811
    stack = world
    s = build(stack.world, stack.services.ipfs)
    stack.sync()
    env = {**os.environ, "NINETY_DATA_DIR": str(tmp_path / "cli"), "NINETY_RPC_URL": stack.settings.rpc_url,
           "NINETY_DB_URL": stack.settings.database_url, "NINETY_CONTRACT_ADDRESS": stack.world.market.address,
           "NINETY_START_BLOCK": str(stack.world.deploy_block)}

    out = run(env, "statement", s.collab, s.after)
    assert out.returncode == 0, out.stderr
    api = stack.client.get(f"/api/ledger/artists/{s.collab}/statements/{s.after}").json()
    assert json.loads(out.stdout) == api
    csv_file, pdf_file = tmp_path / "s.csv", tmp_path / "s.pdf"
    assert run(env, "statement", s.collab, s.after, "--format", "csv", "--out", str(csv_file)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    for t in api["tokens"]:
        assert {r["kind"]: r["amount"] for r in rows if r["section"] == "summary" and r["token"] == t["token"]} == \
            {k: t[k] for k in ("opening_owed", "credited_from_sales", "credited_from_pool_claims",
                               "credited_platform_fees", "credited_unattributed", "credits", "withdrawals",
                               "closing_owed")}
    assert run(env, "statement", s.collab, s.after, "--format", "pdf", "--out", str(pdf_file)).returncode == 0
    assert pdf_file.read_bytes().startswith(b"%PDF")
    bad = run(env, "statement", s.collab, "2026-13")
    assert bad.returncode != 0 and "not a month" in bad.stderr

    ok = run(env, "verify", "--statement", s.collab, s.after)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "statement matches the chain" in ok.stderr
    ok_before = run(env, "verify", "--statement", s.artist, s.before)
    assert ok_before.returncode == 0, ok_before.stdout + ok_before.stderr

    # Tamper one of the collaborator's withdrawals in the month: verify names it.
    w = T["withdrawal"]
    with stack.services.engine.begin() as conn:
        row = conn.execute(select(w).where(w.c.account == s.collab, w.c.block_time >= s.boundary)).mappings().one()
        conn.execute(update(w).where(w.c.id == row["id"]).values(amount=int(row["amount"]) - 1))
    bad = run(env, "verify", "--statement", s.collab, s.after)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    said = " ".join(bad.stderr.split())
    assert "withdrawals" in said and "closing_owed" in said
    assert f"{row['tx_hash']}:{row['log_index']}" in said and f"is {int(row['amount']) - 1} in the database" in said
    # The month before is untouched by that row: still a match.
    assert run(env, "verify", "--statement", s.collab, s.before).returncode == 0
