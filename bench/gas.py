"""Gas benchmark: Marketplace vs OpenZeppelin 4.9 PaymentSplitter, measured in one run on
a private Anvil. Run: `make bench-gas` (or `.venv/bin/python bench/gas.py`)."""
from __future__ import annotations

import contextlib
import io
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ninety.deploy import load_project  # noqa: E402
from ninety.supervisor import free_port  # noqa: E402

ETH = "0x" + "00" * 20
SIZES = (1, 5, 50, 100)


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


def people(accounts, n):
    return sorted((accounts.add() for _ in range(n)), key=lambda a: int(a.address, 16))


def equal_shares(n):
    shares = [1_000_000 // n] * n
    shares[0] += 1_000_000 - sum(shares)
    return shares


def measure(project, accounts):
    owner, fan = accounts[0], accounts[2]
    rows = []
    m = project.Marketplace.deploy(accounts[9], 500, {"from": owner})
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

    # Sponsor pools: deposits, publishing an epoch, claims against roots of 10 and 1,000 leaves.
    from ninety.merkle import Allocation, MerkleTree

    sponsor = accounts[4]
    rows.append(("pool deposit ETH (first in epoch)", M, m.depositToPool(0, ETH, 10**18, {"from": sponsor, "value": 10**18}).gas_used))
    rows.append(("pool deposit ETH (again)", M, m.depositToPool(0, ETH, 10**18, {"from": sponsor, "value": 10**18}).gas_used))
    for epoch, leaves in ((0, 10), (1, 1000)):
        if epoch:
            m.depositToPool(epoch, ETH, 10**18, {"from": sponsor, "value": 10**18})
        pool = m.poolBalance(epoch, ETH)
        fee = pool // 10
        each = (pool - fee) // leaves
        allocations = [Allocation(str(sid), ETH, each - i) for i in range(leaves)]
        tree = MerkleTree(epoch, allocations)
        total = sum(a.amount for a in allocations)
        tx = m.publishEpoch(epoch, "0x" + tree.root.hex(), "bafkreibench", [total], [fee], {"from": owner})
        rows.append((f"publishEpoch (1 token, {leaves} allocations)", M, tx.gas_used))
        a = allocations[leaves // 2]
        proof = ["0x" + p.hex() for p in tree.proof(a)]
        rows.append((f"claimFromPool ({leaves} allocations)", M, m.claimFromPool(epoch, a.split_id, ETH, a.amount, proof, {"from": fan}).gas_used))

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
