"""Gas benchmark: Marketplace vs OpenZeppelin 4.9 PaymentSplitter, measured in one run on
a private Anvil. Run: `make bench-gas` (or `.venv/bin/python bench/gas.py`)."""
from __future__ import annotations

import contextlib
import io
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak  # noqa: E402

from ninety.deploy import load_project  # noqa: E402
from ninety.supervisor import free_port  # noqa: E402

ETH = "0x" + "00" * 20
SIZES = (1, 5, 50, 100)
EPOCH_SECONDS = 3600


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)  # brownie's own deprecation chatter
    project = load_project()
    from brownie import accounts, network
    from brownie._config import CONFIG

    CONFIG.networks["development"]["cmd_settings"]["port"] = free_port()
    rows: list[tuple[str, str, int]] = []
    with contextlib.redirect_stdout(io.StringIO()):
        network.connect("development")
        rows = measure(project, accounts)
        network.disconnect()
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'contract':<22}  {'gas':>10}")
    print(f"{'-' * width}  {'-' * 22}  {'-' * 10}")
    for op, who, gas in rows:
        print(f"{op:<{width}}  {who:<22}  {gas:>10,}")


def attested_registration(m, owner, sid):
    """Gas of a listing with a catalog signer's attestation (then registration is opened
    again, so the rest of the benchmark lists as before)."""
    from brownie import chain

    from ninety.attest import CatalogSigner

    signer = CatalogSigner("0x" + "42" * 32)
    m.setCatalogSigner(signer.address, {"from": owner})
    cid = "bafkreibenchmarkattestedmetadatacid00000000000000000000"
    wire = signer.sign_listing(cid, owner.address, chain.id, m.address, chain.time() + 3600)
    gas = m.registerTrack(cid, sid, ETH, 10**15, bytes.fromhex(wire[2:]), {"from": owner}).gas_used
    m.setCatalogSigner(ETH, {"from": owner})
    return gas


def goto_epoch(m, epoch):
    """Move Anvil's clock a minute into `epoch` and mine a block."""
    from brownie import chain, web3

    target = m.epochStart() + epoch * m.epochSeconds() + 60
    chain.sleep(max(target - web3.eth.get_block("latest")["timestamp"], 0))
    chain.mine()


def people(accounts, n):
    return sorted((accounts.add() for _ in range(n)), key=lambda a: int(a.address, 16))


def equal_shares(n):
    shares = [1_000_000 // n] * n
    shares[0] += 1_000_000 - sum(shares)
    return shares


def measure(project, accounts):
    owner, fan = accounts[0], accounts[2]
    rows = []
    m = project.Marketplace.deploy(accounts[9], 500, EPOCH_SECONDS, {"from": owner})
    m.setPoolRules("0x" + keccak(b"bench rules").hex(), "bafkreibenchrules", {"from": owner})
    usdc = project.MockUSDC.deploy({"from": owner})
    dai = project.MockUSDC.deploy({"from": owner})
    for token in (usdc, dai):
        m.setTokenAllowed(token, True, {"from": owner})
        token.mint(fan, 10**15, {"from": owner})
        token.approve(m, 2**256 - 1, {"from": fan})
    M = "Marketplace"
    for n in SIZES:
        payees = people(accounts, n)
        tx = m.createSplit([p.address for p in payees], equal_shares(n), {"from": owner})
        sid = tx.return_value
        rows.append((f"createSplit ({n} recipients)", M, tx.gas_used))
        reg = m.registerTrack("bafkreibenchmarkmetadatacid0000000000000000000000000000", sid, ETH, 10**15, b"", {"from": owner})
        if n == 1:
            rows.append(("registerTrack (open registration)", M, reg.gas_used))
            rows.append(("registerTrack (attested)", M, attested_registration(m, owner, sid)))
        eth_track = reg.return_value
        usdc_track = m.registerTrack("bafkreibench", sid, usdc, 10**6, b"", {"from": owner}).return_value
        first = m.buy(eth_track, 10**15, {"from": fan, "value": 10**15}).gas_used
        steady = m.buy(eth_track, 10**15, {"from": fan, "value": 10**15}).gas_used
        rows.append((f"buy ETH, first sale ({n} recipients)", M, first))
        rows.append((f"buy ETH, steady state ({n} recipients)", M, steady))
        first = m.buy(usdc_track, 10**6, {"from": fan}).gas_used
        steady = m.buy(usdc_track, 10**6, {"from": fan}).gas_used
        rows.append((f"buy ERC-20, first sale ({n} recipients)", M, first))
        rows.append((f"buy ERC-20, steady state ({n} recipients)", M, steady))
        rows.append((f"distribute ETH ({n} recipients, first)", M, m.distribute(sid, ETH, {"from": fan}).gas_used))
        if n == 1:
            for _ in range(10):
                m.buy(eth_track, 10**15, {"from": fan, "value": 10**15})
            rows.append(("distribute ETH (1 recipient, 10 sales later)", M, m.distribute(sid, ETH, {"from": fan}).gas_used))
    # Withdraw: one payee owed in 1 and in 3 tokens.
    solo = accounts[3]
    sid = m.createSplit([solo.address], [1_000_000], {"from": owner}).return_value
    tracks = {t: m.registerTrack("w", sid, t, 10**6, b"", {"from": owner}).return_value for t in (ETH, usdc, dai)}
    for t, tid in tracks.items():
        for _ in range(5):
            m.buy(tid, 10**6, {"from": fan, "value": 10**6 if t == ETH else 0})
        m.distribute(sid, t, {"from": fan})
    rows.append(("withdraw (1 token, after 5 sales)", M, m.withdraw(solo, [ETH], {"from": fan}).gas_used))
    for t, tid in tracks.items():
        for _ in range(50):
            m.buy(tid, 10**6, {"from": fan, "value": 10**6 if t == ETH else 0})
        m.distribute(sid, t, {"from": fan})
    rows.append(("withdraw (1 token, after 50 sales)", M, m.withdraw(solo, [ETH], {"from": fan}).gas_used))
    rows.append(("withdraw (3 tokens)", M, m.withdraw(solo, [ETH, usdc, dai], {"from": fan}).gas_used))

    # Sponsor pools: deposits, publishing an ended epoch (1 and 2 tokens; after 300 empty
    # epochs), claims against roots of 10 and 1,000 leaves. Time moves by Anvil's clock.
    from ninety.merkle import Allocation, MerkleTree

    sponsor = accounts[4]
    current = m.currentEpoch()
    rows.append(("pool deposit ETH (first in epoch)", M, m.depositToPool(current, ETH, 10**18, {"from": sponsor, "value": 10**18}).gas_used))
    rows.append(("pool deposit ETH (again)", M, m.depositToPool(current, ETH, 10**18, {"from": sponsor, "value": 10**18}).gas_used))
    rows.append(("pool deposit ERC-20 (first in epoch)", M, m.depositToPool(current, usdc, 10**9, {"from": fan}).gas_used))
    rows.append(("pool withdraw ETH (before the end)", M, m.withdrawPoolDeposit(current, ETH, 10**17, {"from": sponsor}).gas_used))
    m.depositToPool(current + 1, ETH, 10**18, {"from": sponsor, "value": 10**18})
    m.depositToPool(current + 302, ETH, 10**18, {"from": sponsor, "value": 10**18})

    def publish(epoch, leaves, label):
        """Publish `epoch` once it has ended: per token, 10% of the pool as the fee (the
        cap: 1/9 of what is allocated) and the rest in `leaves` allocations (nothing carried)."""
        goto_epoch(m, epoch + 1)
        allocated, fees, allocations = [], [], []
        for token in (str(t) for t in m.poolTokens(epoch)):
            pool = m.poolBalance(epoch, token)
            fee = pool // 10
            amounts = [(pool - fee) // leaves - i for i in range(leaves)]
            amounts[0] += pool - fee - sum(amounts)
            allocations += [Allocation(str(sid), token.lower(), amount) for amount in amounts]
            allocated.append(pool - fee)
            fees.append(fee)
        tree = MerkleTree(epoch, allocations)
        tx = m.publishEpoch(epoch, "0x" + tree.root.hex(), "0x" + "11" * 32, "bafkreibench", allocated, fees, {"from": owner})
        rows.append((label, M, tx.gas_used))
        a = allocations[len(allocations) // 2]
        proof = ["0x" + p.hex() for p in tree.proof(a)]
        return lambda: m.claimFromPool(epoch, a.split_id, a.token, a.amount, proof, {"from": fan}).gas_used

    claim = publish(current, 10, "publishEpoch (2 tokens)")
    rows.append(("claimFromPool (20 allocations)", M, claim()))
    claim = publish(current + 1, 1000, "publishEpoch (1 token)")
    rows.append(("claimFromPool (1000 allocations)", M, claim()))
    publish(current + 302, 10, "publishEpoch (1 token, 300 empty epochs skipped)")

    # The peer: OpenZeppelin 4.9 PaymentSplitter, one per recipient set.
    P = "OZ 4.9 PaymentSplitter"
    for n in SIZES:
        payees = people(accounts, n)
        splitter = project.PeerPaymentSplitter.deploy([p.address for p in payees], [1] * n, {"from": owner})
        rows.append((f"deploy splitter ({n} payees)", P, splitter.tx.gas_used))
        fan.transfer(splitter, 10**15)
        steady = fan.transfer(splitter, 10**15).gas_used
        rows.append((f"receive ETH, steady state ({n} payees)", P, steady))
        release = splitter.release["address"](payees[0], {"from": fan}).gas_used
        rows.append((f"release ETH to 1 payee ({n} payees)", P, release))
    return rows


if __name__ == "__main__":
    main()
