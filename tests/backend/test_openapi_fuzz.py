"""Schemathesis against the live API (uvicorn, real ledger, real chain and IPFS): every
operation of the OpenAPI schema, at least 500 generated cases, no 5xx, and responses
that match the schema. Schemathesis needs a newer Hypothesis than brownie allows, so it
lives in its own virtualenv, which `make test` creates and names in NINETY_SCHEMATHESIS."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from ninety.paths import ROOT
from ninety.cli.supervisor import free_port
from tests.support.activity import random_activity

SCHEMATHESIS = os.environ.get("NINETY_SCHEMATHESIS")


@pytest.mark.skipif(not SCHEMATHESIS, reason="set NINETY_SCHEMATHESIS to a schemathesis binary (make test does)")
def test_the_api_survives_schemathesis(stack, tmp_path):
    random_activity(stack.world, 40, seed=8)
    stack.indexer.run(once=True)
    token = stack.login(2)["Authorization"].removeprefix("Bearer ")
    port = free_port()
    env = {**os.environ, "NINETY_DATA_DIR": str(stack.settings.data_dir), "NINETY_RPC_URL": stack.settings.rpc_url,
           "NINETY_IPFS_API": stack.settings.ipfs_api, "NINETY_DB_URL": stack.settings.database_url,
           "NINETY_CONTRACT_ADDRESS": stack.world.market.address, "NINETY_START_BLOCK": str(stack.world.deploy_block),
           "NINETY_PUBLIC_URL": "http://127.0.0.1:8000",
           # The fuzzer signs in and exports far faster than any person: limits have their own tests.
           "NINETY_RATE_LIMITS": "off"}
    log_path = tmp_path / "server.log"
    log = open(log_path, "w")  # a file, not a pipe: an unread pipe would block the server
    server = subprocess.Popen([sys.executable, "-m", "ninety.cli", "serve", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the API did not start"
                time.sleep(0.2)
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "not_a_server_error,response_schema_conformance",
             # Logout would revoke the token the rest of the run signs in with. One worker:
             # two threads once tripped CPython 3.11's ast (Hypothesis describing a strategy).
             "--exclude-path", "/api/auth/logout",
             "-H", f"Authorization: Bearer {token}", "--max-examples", "40", "--workers", "1",
             "--request-timeout", "20", "--seed", "1", "--no-color"],
            capture_output=True, text=True, timeout=900,
        )
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    out = run.stdout + run.stderr
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "schemathesis.log").write_text(out)  # the whole report, for when it fails
    assert run.returncode == 0, out[-6000:] + "\nserver log:\n" + log_path.read_text()[-3000:]
    generated = re.search(r"(\d+) generated", out)
    assert generated and int(generated.group(1)) >= 500, out[-3000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", out)
    assert "Tested: " in out and selected and int(selected[1]) == int(selected[2]) - 1, out[-3000:]  # all but logout
    assert "401 Unauthorized" not in out, "the fuzzer's session stopped working: signed-in routes went untested"
