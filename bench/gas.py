"""Gas benchmark: Marketplace vs OpenZeppelin 4.9 PaymentSplitter, measured in one run on
a private Anvil. Run: `make bench-gas` (or `.venv/bin/python bench/gas.py`). Prints a table
and writes bench/results/gas.json: [{"contract", "operation", "payees", "gas"}].

The money-path operations, at 2, 10, 50 and 100 payees:
  createSplit              create the split (the peer: deploy a PaymentSplitter)
  buyEth, buyErc20         a sale once the split and fee balances exist (the peer: a plain
                           transfer into the splitter, no fee, no event)
  distributeSteady         distribute when every payee already holds a balance
  distributeAfterWithdraw  distribute when every payee withdrew since the last one
  withdraw                 one payee withdraws one token (the peer: release to one payee)
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak  # noqa: E402

from ninety.attest import CatalogSigner  # noqa: E402
from ninety.cli.deploy import load_project  # noqa: E402
from ninety.cli.supervisor import free_port  # noqa: E402
from ninety.contract import ETH  # noqa: E402
from ninety.merkle import Allocation, MerkleTree  # noqa: E402

PAYEES = (2, 10, 50, 100)
EPOCH_SECONDS = 3600
RESULTS = Path(__file__).resolve().parent / "results" / "gas.json"
MARKETPLACE = "Marketplace"
PEER = "OZ 4.9 PaymentSplitter"


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)  # brownie's own deprecation chatter
    project = load_project()
    from brownie import accounts, network
    from brownie._config import CONFIG

    CONFIG.networks["development"]["cmd_settings"]["port"] = free_port()
    with contextlib.redirect_stdout(io.StringIO()):
        network.connect("development")
        paths = money_paths(project, accounts)
        rows = other_operations(project, accounts)
        network.disconnect()
    print_money_paths(paths)
    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'contract':<22}  {'gas':>10}")
    print(f"{'-' * width}  {'-' * 22}  {'-' * 10}")
    for op, who, gas in rows:
        print(f"{op:<{width}}  {who:<22}  {gas:>10,}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(paths, indent=1) + "\n")
    print(f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


def print_money_paths(paths: list[dict]) -> None:
    ops = list(dict.fromkeys(p["operation"] for p in paths))
    cell = {(p["contract"], p["operation"], p["payees"]): p["gas"] for p in paths}
    header = f"{'operation':<24}  {'contract':<22}" + "".join(f"  {f'{n} payees':>11}" for n in PAYEES)
    print(header)
    print("-" * len(header))
    for op in ops:
        for who in (MARKETPLACE, PEER):
            if not any((who, op, n) in cell for n in PAYEES):
                continue
            figures = "".join(f"  {cell[(who, op, n)]:>11,}" if (who, op, n) in cell else f"  {'-':>11}" for n in PAYEES)
            print(f"{op:<24}  {who:<22}{figures}")


def money_paths(project, accounts) -> list[dict]:
    """The six money-path operations at each split size, on the Marketplace and the peer."""
    owner, fan = accounts[0], accounts[2]
    m = project.Marketplace.deploy(accounts[9], 500, EPOCH_SECONDS, {"from": owner})
    usdc = project.MockUSDC.deploy({"from": owner})
    m.setTokenAllowed(usdc, True, {"from": owner})
    usdc.mint(fan, 10**15, {"from": owner})
    usdc.approve(m, 2**256 - 1, {"from": fan})
    out = []

    def row(contract, operation, n, gas):
        out.append({"contract": contract, "operation": operation, "payees": n, "gas": gas})

    for n in PAYEES:
        payees = people(accounts, n)
        recipients, shares = [p.address for p in payees], equal_shares(n)
        tx = m.createSplit(recipients, shares, {"from": owner})
        sid = tx.return_value
        row(MARKETPLACE, "createSplit", n, tx.gas_used)
        eth_track = m.registerTrack("bafkreibench", sid, ETH, 10**15, b"", {"from": owner}).return_value
        usdc_track = m.registerTrack("bafkreibench", sid, usdc, 10**6, b"", {"from": owner}).return_value
        # The first sale and distribution create the split's, the fee's and every payee's slot.
        m.buy(eth_track, 10**15, {"from": fan, "value": 10**15})
        m.distribute(sid, ETH, recipients, shares, {"from": fan})
        row(MARKETPLACE, "buyEth", n, m.buy(eth_track, 10**15, {"from": fan, "value": 10**15}).gas_used)
        m.buy(usdc_track, 10**6, {"from": fan})
        row(MARKETPLACE, "buyErc20", n, m.buy(usdc_track, 10**6, {"from": fan}).gas_used)
        row(MARKETPLACE, "distributeSteady", n, m.distribute(sid, ETH, recipients, shares, {"from": fan}).gas_used)
        withdrawals = [m.withdraw(p, [ETH], {"from": p}).gas_used for p in payees]
        row(MARKETPLACE, "withdraw", n, withdrawals[-1])
        m.buy(eth_track, 10**15, {"from": fan, "value": 10**15})
        row(MARKETPLACE, "distributeAfterWithdraw", n, m.distribute(sid, ETH, recipients, shares, {"from": fan}).gas_used)

        # The peer: one PaymentSplitter per recipient set; a sale is a plain transfer in.
        token = project.MockUSDC.deploy({"from": owner})
        token.mint(fan, 10**15, {"from": owner})
        splitter = project.PeerPaymentSplitter.deploy(recipients, [1] * n, {"from": owner})
        row(PEER, "createSplit", n, splitter.tx.gas_used)
        fan.transfer(splitter, 10**15)
        row(PEER, "buyEth", n, fan.transfer(splitter, 10**15).gas_used)
        token.transfer(splitter, 10**6, {"from": fan})
        row(PEER, "buyErc20", n, token.transfer(splitter, 10**6, {"from": fan}).gas_used)
        splitter.release["address"](payees[0], {"from": fan})
        fan.transfer(splitter, 10**15)
        row(PEER, "withdraw", n, splitter.release["address"](payees[0], {"from": fan}).gas_used)
    return out


def attested_registration(m, owner, sid):
    """Gas of a listing with a catalog signer's attestation (then registration is opened
    again, so the rest of the benchmark lists as before)."""
    from brownie import chain


    signer = CatalogSigner("0x" + "42" * 32)
    m.setCatalogSigner(signer.address, {"from": owner})
    cid = "bafkreibenchmarkattestedmetadatacid00000000000000000000"
    wire = signer.sign_listing(cid, owner.address, str(sid), chain.id, m.address, chain.time() + 3600)
    gas = m.registerTrack(cid, sid, ETH, 10**15, bytes.fromhex(wire[2:]), {"from": owner}).gas_used
    m.setCatalogSigner(ETH, {"from": owner})
    return gas


def releases_and_permits(project, accounts, m, usdc, sid):
    """Registering an attested release of 10 tracks, buying it, and a purchase with an
    EIP-2612 permit, each once the split's and the fee's balances exist (as `buy` above)."""
    from brownie import chain
    from eth_account import Account

    owner, fan = accounts[0], accounts[2]
    rows = []
    calls = [m.registerTrack.encode_input(f"bafkreibenchreleasetrack{i}", sid, ETH, 10**15, b"") for i in range(10)]
    tracks = [e["trackId"] for e in m.multicall(calls, {"from": owner}).events["TrackRegistered"]]
    signer = CatalogSigner("0x" + "42" * 32)
    m.setCatalogSigner(signer.address, {"from": owner})
    cid = "bafkreibenchmarkattestedreleasecid0000000000000000000000"
    wire = signer.sign_listing(cid, owner.address, str(sid), chain.id, m.address, chain.time() + 3600,
                               track_ids=tracks)
    tx = m.registerRelease(cid, sid, ETH, 10**16, tracks, bytes.fromhex(wire[2:]), {"from": owner})
    m.setCatalogSigner(ETH, {"from": owner})
    rows.append(("registerRelease (10 tracks, attested)", MARKETPLACE, tx.gas_used))
    release = tx.return_value
    m.buy(release, 10**16, {"from": fan, "value": 10**16})
    rows.append(("buy release of 10 tracks (ETH)", MARKETPLACE,
                 m.buy(release, 10**16, {"from": fan, "value": 10**16}).gas_used))

    # A buyer with a key of its own and no allowance; its second purchase is measured (its
    # first also writes its permit nonce's slot from zero, once in the wallet's life).
    buyer = accounts.add("0x" + keccak(b"ninety bench permit buyer").hex())
    owner.transfer(buyer, 10**18)
    usdc.mint(buyer, 10**12, {"from": owner})
    track = m.registerTrack("bafkreibenchpermit", sid, usdc, 10**6, b"", {"from": owner}).return_value
    _, name, version, chain_id, contract, _, _ = usdc.eip712Domain()
    domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": str(contract)}
    permit_types = {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                               {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                               {"name": "deadline", "type": "uint256"}]}

    def buy_with_permit():
        deadline = chain.time() + 3600
        message = {"owner": buyer.address, "spender": m.address, "value": 10**6, "nonce": usdc.nonces(buyer),
                   "deadline": deadline}
        signed = Account.sign_typed_data(buyer.private_key, domain_data=domain, message_types=permit_types,
                                         message_data=message)
        r, s = (x.to_bytes(32, "big") for x in (signed.r, signed.s))
        return m.buyWithPermit(track, 10**6, deadline, signed.v, r, s, {"from": buyer}).gas_used

    buy_with_permit()
    rows.append(("buyWithPermit (MockUSDC)", MARKETPLACE, buy_with_permit()))
    return rows


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


def other_operations(project, accounts):
    """Listing (tracks and releases), permit purchases, multi-token withdrawals, split
    changes, batches and sponsor pools."""
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
    M = MARKETPLACE
    solo = accounts[3]
    sid = m.createSplit([solo.address], [1_000_000], {"from": owner}).return_value
    solo_split = ([solo.address], [1_000_000])
    reg = m.registerTrack("bafkreibenchmarkmetadatacid0000000000000000000000000000", sid, ETH, 10**15, b"", {"from": owner})
    rows.append(("registerTrack (open registration)", M, reg.gas_used))
    rows.append(("registerTrack (attested)", M, attested_registration(m, owner, sid)))
    rows += releases_and_permits(project, accounts, m, usdc, sid)

    # Withdraw in 3 tokens; to another address; a batch whose steps someone already did.
    tracks = {t: m.registerTrack("w", sid, t, 10**6, b"", {"from": owner}).return_value for t in (ETH, usdc, dai)}
    for t, tid in tracks.items():
        for _ in range(2):
            m.buy(tid, 10**6, {"from": fan, "value": 10**6 if t == ETH else 0})
        m.distribute(sid, t, *solo_split, {"from": fan})
    m.withdraw(solo, [ETH, usdc, dai], {"from": fan})
    for t, tid in tracks.items():
        m.buy(tid, 10**6, {"from": fan, "value": 10**6 if t == ETH else 0})
        m.distribute(sid, t, *solo_split, {"from": fan})
    rows.append(("withdraw (3 tokens)", M, m.withdraw(solo, [ETH, usdc, dai], {"from": fan}).gas_used))
    m.buy(tracks[ETH], 10**6, {"from": fan, "value": 10**6})
    m.distribute(sid, ETH, *solo_split, {"from": fan})
    rows.append(("withdrawTo (1 token, another address)", M, m.withdrawTo(accounts[5], [ETH], {"from": solo}).gas_used))
    m.buy(tracks[ETH], 10**6, {"from": fan, "value": 10**6})
    batch = [m.distribute.encode_input(sid, ETH, *solo_split), m.withdraw.encode_input(solo, [ETH])]
    rows.append(("multicall [distribute, withdraw] (1 payee)", M, m.multicall(batch, {"from": solo}).gas_used))
    rows.append(("  the same batch again: both steps no-ops", M, m.multicall(batch, {"from": solo}).gas_used))

    # Split changes: a raise for a collaborator lands at once; a cut waits for consent.
    duo = people(accounts, 2)
    before = ([duo[0].address, duo[1].address], [500_000, 500_000])
    after = ([duo[0].address, duo[1].address], [400_000, 600_000])
    a, b = (m.createSplit(*x, {"from": owner}).return_value for x in (before, after))
    tid = m.registerTrack("s", a, ETH, 10**15, b"", {"from": duo[0]}).return_value
    tx = m.proposeSplit(tid, before, after, {"from": duo[0]})
    rows.append(("proposeSplit (no loser: lands at once)", M, tx.gas_used))
    tx = m.proposeSplit(tid, after, before, {"from": duo[0]})
    rows.append(("proposeSplit (1 payee must consent)", M, tx.gas_used))
    rows.append(("acceptSplit (the last consent: lands)", M, m.acceptSplit(tid, a, {"from": duo[1]}).gas_used))

    # Sponsor pools: deposits, publishing an ended epoch (1 and 2 tokens; after 300 empty
    # epochs), claims against roots of 10 and 1,000 leaves. Time moves by Anvil's clock.

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
    rows.append(("  the same claim again: a no-op", M, claim()))
    claim = publish(current + 1, 1000, "publishEpoch (1 token)")
    rows.append(("claimFromPool (1000 allocations)", M, claim()))
    publish(current + 302, 10, "publishEpoch (1 token, 300 empty epochs skipped)")
    return rows


if __name__ == "__main__":
    main()
