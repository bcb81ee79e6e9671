"""`ninety token allow` / `ninety token disallow` as the owner runs them, on a real Anvil
with a Marketplace deployed by `ninety deploy`: the probe lets ordinary and fee-on-transfer
tokens through, refuses tokens that answer false, revert, or report inflated balances
(saying which check failed), `--force` overrides it, and only the owner's key is taken."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.contract import describe_revert
from ninety.paths import BUILD_DIR

NINETY = [sys.executable, "-m", "ninety.cli"]
OWNER = dev_account(DEV_MNEMONIC, 0)[0]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory):
    """An Anvil of its own with a Marketplace `ninety deploy` put there; yields (url, env)."""
    from ninety.cli.services import anvil_service
    from ninety.cli.supervisor import Supervisor

    tmp = tmp_path_factory.mktemp("token_cli")
    with Supervisor(tmp / "chain") as sup:
        anvil = sup.start(anvil_service(tmp / "chain", port=None))
        env = {**os.environ, "NINETY_DEPLOYMENTS_DIR": str(tmp / "deployments"), "NINETY_DATA_DIR": str(tmp / "data"),
               "NINETY_RPC_URL": anvil.url}
        env.pop("NINETY_OWNER_KEY", None)
        env.pop("NINETY_CONTRACT_ADDRESS", None)
        deployed = subprocess.run([*NINETY, "deploy", "--rpc-url", anvil.url], env=env, capture_output=True, text=True,
                                  timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield anvil.url, env


@pytest.fixture(scope="module")
def w3(chain) -> Web3:
    return Web3(Web3.HTTPProvider(chain[0]))


@pytest.fixture(scope="module")
def market(w3: Web3, chain) -> Any:
    record = json.loads((Path(chain[1]["NINETY_DEPLOYMENTS_DIR"]) / "31337.json").read_text())
    abi = json.loads((BUILD_DIR / "Marketplace.json").read_text())["abi"]
    return w3.eth.contract(address=record["address"], abi=abi)


@pytest.fixture(scope="module")
def deploy_token(w3: Web3):
    """Deploy a test token from the build output, mint some to the owner, apply `setup`."""
    def deploy(name: str, *args: Any, mint: int = 10**24, holder: str = OWNER) -> Any:
        build = json.loads((BUILD_DIR / f"{name}.json").read_text())
        factory = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": OWNER}))
        token = w3.eth.contract(address=receipt.contractAddress, abi=build["abi"])
        if mint:
            w3.eth.wait_for_transaction_receipt(token.functions.mint(holder, mint).transact({"from": OWNER}))
        return token
    return deploy


def ninety_token(chain, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run([*NINETY, "token", *args], env={**chain[1], **(env or {})}, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def allowed(market: Any, token: Any) -> bool:
    return bool(market.functions.tokenAllowed(token.address).call())


def test_token_commands_have_help():
    said = {}
    for args in (["token"], ["token", "allow"], ["token", "disallow"]):
        out = subprocess.run([*NINETY, *args, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "Usage" in out.stdout, out.stderr
        said[args[-1]] = out.stdout
    assert "allow" in said["token"] and "disallow" in said["token"]
    assert "--force" in said["allow"] and "--probe-holder" in said["allow"]


def test_an_ordinary_token_passes_the_probe_and_is_allowed(chain, market, deploy_token, w3):
    token = deploy_token("MockUSDC")
    balance = token.functions.balanceOf(OWNER).call()
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 0, said
    assert "ok transfer: transfer of 10000 returns true; sender -10000, recipient +10000" in said, said
    assert "ok transferFrom:" in said and "FAIL" not in said and f"{token.address} allowed in block" in said
    assert allowed(market, token)
    assert token.functions.balanceOf(OWNER).call() == balance, "the probe spent nothing"
    # Allowing it twice is refused, plainly.
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 1 and f"{token.address} is already allowed" in said, said


def test_a_fee_on_transfer_token_passes(chain, market, deploy_token):
    token = deploy_token("FeeOnTransferToken")
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 0, said
    assert "fee on transfer: the Marketplace credits what arrives" in said and "FAIL" not in said, said
    assert allowed(market, token)


def test_a_token_without_return_values_passes(chain, market, deploy_token):
    token = deploy_token("WeirdNoReturnToken")
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 0 and "returns nothing (USDT-style; SafeERC20 accepts it)" in said, said
    assert allowed(market, token)


def test_a_token_that_returns_false_is_refused_with_the_reason(chain, market, deploy_token, w3):
    token = deploy_token("WeirdFalseToken")
    w3.eth.wait_for_transaction_receipt(token.functions.setRefuse(True).transact({"from": OWNER}))
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 1, said
    assert "FAIL transfer: transfer of 10000000000000000 returns false instead of reverting" in said, said
    assert "refused: the probe failed (transfer, transferFrom, above)" in said and "--force allows it anyway" in said
    assert not allowed(market, token)


def test_a_token_that_reverts_on_transfer_is_refused_and_force_overrides(chain, market, deploy_token, w3):
    token = deploy_token("WeirdPausableToken")
    w3.eth.wait_for_transaction_receipt(token.functions.setPaused(True).transact({"from": OWNER}))
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 1, said
    assert "FAIL transfer: transfer of 10000000000000000 reverts: custom error 0xe7792495" in said, said
    assert "note paused(): the issuer can pause it" in said
    assert not allowed(market, token)
    code, said = ninety_token(chain, "allow", token.address, "--force")
    assert code == 0, said
    assert "warning: --force: allowing it although the probe failed" in said and "allowed in block" in said
    assert allowed(market, token)


def test_a_token_reporting_inflated_balances_is_refused(chain, market, deploy_token):
    token = deploy_token("WeirdInflatedBalanceToken")
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 1, said
    assert "the recipient's balance rose by 11000000000000000 (more than was sent: balances are inconsistent)" in said
    assert not allowed(market, token)


def test_a_holder_without_balance_is_said_plainly_and_probe_holder_fixes_it(chain, market, deploy_token):
    holder = dev_account(DEV_MNEMONIC, 5)[0]
    token = deploy_token("MockUSDC", holder=holder)
    code, said = ninety_token(chain, "allow", token.address)
    assert code == 1, said
    assert f"the probe holder {OWNER} holds none of {token.address}" in said and "--probe-holder" in said, said
    assert not allowed(market, token)
    code, said = ninety_token(chain, "allow", token.address, "--probe-holder", holder)
    assert code == 0 and f"as {holder}" in said, said
    assert allowed(market, token)


def test_disallow_keeps_owed_balances_withdrawable(chain, market, deploy_token, w3):
    token = deploy_token("MockUSDC")
    assert ninety_token(chain, "allow", token.address)[0] == 0
    # A sale in it, distributed: the artist is owed.
    artist = dev_account(DEV_MNEMONIC, 1)[0]
    tx = market.functions.createSplit([artist], [1_000_000]).transact({"from": artist})
    split = market.events.SplitCreated().process_receipt(w3.eth.wait_for_transaction_receipt(tx))[0]["args"]["splitId"]
    w3.eth.wait_for_transaction_receipt(market.functions.setCatalogSigner("0x" + "00" * 20).transact({"from": OWNER}))
    w3.eth.wait_for_transaction_receipt(
        market.functions.registerTrack("bafkreitoken", split, token.address, 1000, b"").transact({"from": artist}))
    track = market.functions.trackCount().call()
    w3.eth.wait_for_transaction_receipt(token.functions.approve(market.address, 10**6).transact({"from": OWNER}))
    w3.eth.wait_for_transaction_receipt(market.functions.buy(track, 1000).transact({"from": OWNER}))
    w3.eth.wait_for_transaction_receipt(
        market.functions.distribute(split, token.address, [artist], [1_000_000]).transact({"from": OWNER}))
    owed = market.functions.owed(artist, token.address).call()
    assert owed > 0

    code, said = ninety_token(chain, "disallow", token.address)
    assert code == 0 and "balances already owed in it stay withdrawable" in said, said
    assert not allowed(market, token)
    with pytest.raises(Exception) as refused:
        market.functions.buy(track, 1000).call({"from": OWNER})
    assert describe_revert(refused.value.args[0]) == f"Marketplace__TokenNotAllowed({token.address.lower()})"
    w3.eth.wait_for_transaction_receipt(market.functions.withdraw(artist, [token.address]).transact({"from": OWNER}))
    assert token.functions.balanceOf(artist).call() == owed
    code, said = ninety_token(chain, "disallow", token.address)
    assert code == 1 and "is not allowed" in said and "nothing to disallow" in said, said


def test_only_the_owner_key_is_taken(chain, market, deploy_token):
    token = deploy_token("MockUSDC")
    stranger, key = dev_account(DEV_MNEMONIC, 3)
    for args in (("allow", token.address), ("disallow", token.address)):
        code, said = ninety_token(chain, *args, env={"NINETY_OWNER_KEY": key})
        assert code == 1, said
        assert f"the key's address {stranger} is not the Marketplace owner ({OWNER})" in said, said
    assert not allowed(market, token)


def test_an_address_without_code_or_a_bad_address_is_refused(chain, market):
    nobody = dev_account(DEV_MNEMONIC, 4)[0]
    code, said = ninety_token(chain, "allow", nobody)
    assert code == 1 and f"{nobody} is not a contract on this chain" in said, said
    code, said = ninety_token(chain, "allow", "0x1234")
    assert code == 1 and "is not an address" in said, said
    code, said = ninety_token(chain, "allow", market.address)
    assert code == 1 and "is the Marketplace itself" in said, said


class OverrideRefusingProxy:
    """A JSON-RPC proxy in front of Anvil that refuses eth_call's third parameter (state
    overrides), in the words of a node that does not know it."""

    def __init__(self, upstream: str) -> None:
        proxy = self
        self.upstream = upstream
        self.refused = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if call.get("method") == "eth_call" and len(call.get("params", [])) > 2:
                    proxy.refused += 1
                    answer = {"jsonrpc": "2.0", "id": call.get("id"),
                              "error": {"code": -32602, "message": "too many arguments, want at most 2"}}
                else:
                    answer = requests.post(proxy.upstream, json=call, timeout=30).json()
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_rpc_without_state_overrides_needs_force(chain, market, deploy_token):
    token = deploy_token("MockUSDC")
    proxy = OverrideRefusingProxy(chain[0])
    try:
        code, said = ninety_token(chain, "allow", token.address, env={"NINETY_RPC_URL": proxy.url})
        assert code == 1, said
        assert "this RPC refused an eth_call with a state override" in said and "--force" in said, said
        assert proxy.refused == 1 and not allowed(market, token)
        code, said = ninety_token(chain, "allow", token.address, "--force", env={"NINETY_RPC_URL": proxy.url})
        assert code == 0 and "--force: allowing it unprobed" in said, said
        assert allowed(market, token)
    finally:
        proxy.close()


# Every test token, as deployed and set up, and what the probe must say of it: passes or
# not, and a note it must print (the README's token policy covers what no call can see).
VERDICTS = [
    ("MockUSDC", (), None, True, None),
    ("FeeOnTransferToken", (), None, True, None),
    ("WeirdNoReturnToken", (), None, True, None),
    ("WeirdDecimalsToken", (2,), None, True, None),
    ("WeirdDecimalsToken", (24,), None, True, None),
    ("WeirdZeroRevertToken", (), None, True, None),
    ("WeirdHookToken", (), None, True, None),
    ("WeirdFalseToken", (), None, True, None),  # false only when a transfer cannot be made
    ("WeirdRebasingToken", (), None, True, "rebasing"),
    ("WeirdPausableToken", (), None, True, "pause"),
    ("WeirdBlocklistToken", (), None, True, "blocklist"),
    ("WeirdFalseToken", (), ("setRefuse", True), False, None),
    ("WeirdPausableToken", (), ("setPaused", True), False, "pause"),
    ("WeirdBlocklistToken", (), ("setBlocked", OWNER, True), False, "blocklist"),
    ("WeirdInflatedBalanceToken", (), None, False, None),
]


@pytest.mark.parametrize("name,args,setup,passes,note", VERDICTS,
                         ids=[f"{v[0]}{v[1] or ''}{'-' + v[2][0] if v[2] else ''}" for v in VERDICTS])
def test_what_the_probe_says_of_each_test_token(w3, deploy_token, name, args, setup, passes, note):
    from ninety.tokens import probe

    token = deploy_token(name, *args)
    before = token.functions.balanceOf(OWNER).call()
    if setup:
        w3.eth.wait_for_transaction_receipt(getattr(token.functions, setup[0])(*setup[1:]).transact({"from": OWNER}))
    report = probe(w3, token.address, OWNER)
    assert report.passed is passes, report.checks
    assert [c.name for c in report.checks] == ["balanceOf", "balance within supply", "transfer", "approve",
                                               "transferFrom"]
    if note:
        assert any(note in n for n in report.notes), report.notes
    else:
        assert not report.notes, report.notes
    assert token.functions.balanceOf(OWNER).call() == before, "the probe spent nothing"
