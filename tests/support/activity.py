"""Random but reproducible Marketplace activity on a dev chain, through the real contract."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from web3 import Web3

from ninety.market import ETH, Market, deploy_direct, web3_for


@dataclass
class World:
    w3: Web3
    market: Market
    usdc: object
    accounts: list[str]
    splits: list[str] = field(default_factory=list)
    tracks: list[tuple[int, str, int]] = field(default_factory=list)  # (id, token, price)
    deploy_block: int = 0
    blocked: set[int] = field(default_factory=set)  # track ids the owner took down
    catalog: object = None  # ninety.attest.CatalogSigner once listings need attestations
    listed: int = 0  # listings made, for unique metadata CIDs (an attested CID lists once)

    def attest(self, cid: str, artist: str, split_id: str, track_ids: list[int] | None = None) -> str | bytes:
        """The attestation registerTrack needs for `artist` to list `cid` with `split_id`
        (registerRelease's, of `track_ids`, when given; none while registration is open)."""
        if self.catalog is None:
            return b""
        deadline = self.w3.eth.get_block("latest")["timestamp"] + 3600
        return self.catalog.sign_listing(cid, artist, split_id, self.w3.eth.chain_id, self.market.address, deadline,
                                         track_ids)

    def require_attestations(self, catalog) -> None:
        self.catalog = catalog
        self.market.set_catalog_signer(catalog.address, self.owner)
    # Sponsor pools: (epoch, sponsor, token) -> deposited; allocations published, not claimed.
    deposits: dict[tuple[int, str, str], int] = field(default_factory=dict)
    claims: list[tuple[int, object, list[str]]] = field(default_factory=list)
    # Split changes proposed and waiting for consents: (track id, split id).
    proposals: list[tuple[int, str]] = field(default_factory=list)

    @property
    def owner(self) -> str:
        return self.accounts[0]


def new_world(rpc_url: str, fee_bps: int = 500, pin=None, epoch_seconds: int = 3600) -> World:
    """A fresh Marketplace with funded, approving accounts. `pin(bytes) -> cid` puts the
    pool rules on IPFS (the API reads them from there)."""
    w3 = web3_for(rpc_url)
    accounts = [str(a) for a in w3.eth.accounts]
    start = w3.eth.block_number
    market, usdc = deploy_direct(w3, accounts[0], accounts[9], fee_bps, epoch_seconds=epoch_seconds, pin=pin)
    world = World(w3, market, usdc, accounts, deploy_block=start + 1)
    sent = []
    for a in accounts[1:8]:
        sent.append(usdc.functions.mint(a, 10**15).transact({"from": accounts[0]}))
        sent.append(usdc.functions.approve(market.address, 2**256 - 1).transact({"from": a}))
    # Anvil answers eth_sendTransaction before its miner has run: wait, so that nothing
    # after this reads a balance or an allowance that is not there yet.
    for tx in sent:
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return world


def advance_epoch(world: World) -> None:
    """Move the dev chain's clock to the next epoch and mine a block there."""
    f = world.market.contract.functions
    start, seconds = f.epochStart().call(), f.epochSeconds().call()
    now = world.w3.eth.get_block("latest")["timestamp"]
    world.w3.provider.make_request("evm_increaseTime", [seconds - (now - start) % seconds])
    world.w3.provider.make_request("evm_mine", [])


def pinned_world(rpc_url: str, ipfs_url: str, **kwargs) -> World:
    """`new_world` with its pool rules on the IPFS node, as `ninety deploy` leaves them
    (the API reads them from there to judge listeners)."""
    from ninety.ipfs import Ipfs

    with Ipfs(ipfs_url) as ipfs:
        return new_world(rpc_url, pin=ipfs.add_bytes, **kwargs)


def sign_free_download(key: str, chain_id: int, contract: str, track_id: int, epoch: int) -> str:
    """What a wallet's eth_signTypedData_v4 gives for FreeDownload(trackId, epoch): written
    out here from the spec, not from the server's code."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    message = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "FreeDownload": [{"name": "trackId", "type": "uint256"}, {"name": "epoch", "type": "uint256"}]},
        "primaryType": "FreeDownload",
        "domain": {"name": "Ninety", "version": "1", "chainId": chain_id, "verifyingContract": contract},
        "message": {"trackId": track_id, "epoch": epoch},
    }
    return "0x" + bytes(Account.sign_message(encode_typed_data(full_message=message), key).signature).hex()


def record_free_download(stack, key: str, track: int, epoch: int, split_id: str) -> dict:
    """A signed free download written into `stack`'s ledger as the API records it (at the
    current head, with the server's receipt); returns the receipt entry a listener keeps."""
    import time

    from eth_account import Account
    from sqlmodel import Session

    from backend.models import FreeDownload

    m, w3 = stack.world.market, stack.world.w3
    head = w3.eth.get_block("latest")
    wallet = Account.from_key(key).address.lower()
    signature = sign_free_download(key, w3.eth.chain_id, m.address, track, epoch)
    receipt = stack.services.catalog.sign_receipt(w3.eth.chain_id, m.address, wallet, track, epoch, head["number"],
                                                  signature)
    with Session(stack.services.engine) as db:
        db.add(FreeDownload(epoch=epoch, track_id=track, wallet=wallet, split_id=split_id, signature=signature,
                            block_number=head["number"], block_time=head["timestamp"], receipt=receipt,
                            created_at=time.time()))
        db.commit()
    return {"wallet": wallet, "track_id": track, "epoch": epoch, "block_number": head["number"], "signature": signature,
            "receipt": receipt}


def pool_step(world: World, rng: random.Random) -> None:
    """One sponsor-pool action: a deposit, taking part of one back, the clock moving to the
    next epoch, publishing the first ended epoch with a pool (allocations to random splits
    within the distributable part, the fee on what is allocated, sometimes a carry-over) or
    a claim."""
    from ninety.epochs.allocation import distributable, fee_on
    from ninety.merkle import Allocation, MerkleTree

    m, people = world.market, world.accounts[1:8]
    f = m.contract.functions
    epoch = f.currentEpoch().call()
    roll = rng.random()
    if roll < 0.1:
        advance_epoch(world)
    elif roll < 0.45:
        token = rng.choice([ETH, world.usdc.address])
        amount = rng.randint(1, 10**16) if token == ETH else rng.randint(1, 10**7)
        sponsor, target = rng.choice(people), epoch + rng.choice([0, 0, 1])
        m.deposit_to_pool(target, token, amount, sponsor)
        key = (target, sponsor, token)
        world.deposits[key] = world.deposits.get(key, 0) + amount
    elif roll < 0.55:
        open_deposits = [k for k, v in world.deposits.items() if v and k[0] >= epoch]
        if open_deposits:
            target, sponsor, token = rng.choice(open_deposits)
            amount = rng.randint(1, world.deposits[(target, sponsor, token)])
            m.send(m.contract.functions.withdrawPoolDeposit(target, Web3.to_checksum_address(token), amount), sponsor)
            world.deposits[(target, sponsor, token)] -= amount
    elif roll < 0.75 and world.splits:
        pending = next((e for e in range(f.nextEpochToPublish().call(), epoch) if f.poolTokens(e).call()), None)
        if pending is None:
            if f.poolTokens(epoch).call():  # the current epoch has a pool: let it end, publish next time
                advance_epoch(world)
            return
        allocations, allocated, fees = [], [], []
        bps = rng.randint(0, 1000)
        for token in f.poolTokens(pending).call():
            pool = f.poolBalance(pending, token).call()
            distinct = sorted(set(world.splits))  # the same split may have been created twice
            chosen = rng.sample(distinct, min(len(distinct), rng.randint(1, 3)))
            each = distributable(pool, bps) // (len(chosen) + rng.choice([0, 1]))
            allocations += [Allocation(sid, token.lower(), each) for sid in chosen if each]
            allocated.append(each * len(chosen))
            fees.append(fee_on(each * len(chosen), bps))
        if not allocations:
            allocations = [Allocation(world.splits[0], ETH, 0)]
        tree = MerkleTree(pending, allocations)
        m.publish_epoch(pending, tree.root, b"\x00" * 32, f"bafkreireport{pending}", allocated, fees, world.owner)
        world.claims += [(pending, a, tree.proof(a)) for a in allocations if a.amount]
    elif world.claims:
        epoch_of, a, proof = world.claims.pop(rng.randrange(len(world.claims)))
        m.claim_from_pool(epoch_of, a, proof, rng.choice(people))


def moderation_step(world: World, rng: random.Random) -> None:
    """The owner blocks or unblocks a track, or changes the catalog signer (then sets the
    world's own again, so the other steps can still list)."""
    m = world.market
    if world.tracks and rng.random() < 0.8:
        tid = rng.choice(world.tracks)[0]
        if tid in world.blocked:
            m.unblock_track(tid, f"bafkreiunblock{tid}", world.owner)
            world.blocked.discard(tid)
        else:
            m.block_track(tid, f"bafkreiblock{tid}", world.owner)
            world.blocked.add(tid)
    else:
        m.set_catalog_signer(rng.choice(world.accounts), world.owner)
        m.set_catalog_signer(world.catalog.address if world.catalog is not None else ETH, world.owner)


def random_activity(world: World, steps: int, seed: int = 1, pools: bool = True) -> None:
    rng = random.Random(seed)
    pool_rng = random.Random(seed + 1_000_003)  # a stream of its own: the other actions keep their order
    moderation_rng = random.Random(seed + 2_000_003)
    people = world.accounts[1:8]
    m = world.market
    for _ in range(steps):
        if pools and pool_rng.random() < 0.15:
            pool_step(world, pool_rng)
        if moderation_rng.random() < 0.05:
            moderation_step(world, moderation_rng)
        roll = rng.random()
        if not world.splits or roll < 0.08:
            chosen = rng.sample(people, rng.randint(1, 4))
            cuts = sorted(rng.sample(range(1, 1_000_000), len(chosen) - 1))
            bounds = [0, *cuts, 1_000_000]
            world.splits.append(m.create_split(list(zip(chosen, [b - a for a, b in zip(bounds, bounds[1:])])), chosen[0]))
        elif len(world.tracks) < 2 or roll < 0.18:
            token = rng.choice([ETH, world.usdc.address])
            price = rng.randint(0, 10**16) if token == ETH else rng.randint(1, 10**7)
            world.listed += 1
            cid, artist = f"bafkreitrack{world.listed}", rng.choice(people)
            split = rng.choice(world.splits)
            tid = m.register(cid, split, token, price, artist, world.attest(cid, artist, split))
            world.tracks.append((tid, token, price))
        elif roll < 0.70:
            tid, token, price = rng.choice(world.tracks)
            amount, buyer = price + rng.randint(0, 10**15 if token == ETH else 10**6), rng.choice(people)
            if tid not in world.blocked:  # a taken-down track cannot be bought
                m.buy(tid, amount, buyer, token)
        elif roll < 0.80:
            sid = rng.choice(world.splits)
            for token in (ETH, world.usdc.address):
                # Now and then with nothing to distribute: a no-op, not a revert.
                if m.contract.functions.splitBalance(sid, Web3.to_checksum_address(token)).call() or rng.random() < 0.2:
                    m.distribute(sid, token, rng.choice(people))
        elif roll < 0.88:
            who = rng.choice([*people, world.accounts[9]])
            tokens = [t for t in (ETH, world.usdc.address) if m.owed(who, t)]
            if tokens and rng.random() < 0.3:
                m.withdraw_to(rng.choice(world.accounts[1:]), tokens, who)  # paid to another address
            elif tokens or rng.random() < 0.2:  # with nothing owed: a no-op, not a revert
                m.withdraw(who, tokens or [ETH], rng.choice(people))
        elif roll < 0.91:
            m.send(m.contract.functions.setPlatformFee(rng.randint(0, 1000)), world.owner)
        else:
            split_step(world, rng)


def split_step(world: World, rng: random.Random) -> None:
    """The artist changes a track's price or listing, proposes another split for it (taking
    effect at once when nobody loses share) or withdraws its pending proposals, or a payee
    who would lose share consents."""
    m = world.market
    roll = rng.random()
    if world.proposals and roll < 0.06:  # the artist withdraws a track's pending proposals
        tid, _ = world.proposals[rng.randrange(len(world.proposals))]
        m.cancel_split_proposals(tid, m.contract.functions.tracks(tid).call()[0])
        world.proposals = [p for p in world.proposals if p[0] != tid]
        return
    if world.proposals and roll < 0.3:
        tid, sid = world.proposals.pop(rng.randrange(len(world.proposals)))
        current = m.track_split(tid)
        for payee in m.split_data(current)[0]:
            missing, must = m.pending_split_change(tid, sid, payee)
            if missing and must and rng.random() < 0.8:
                m.accept_split(tid, sid, payee)
        return
    i = rng.randrange(len(world.tracks))
    tid, token, _ = world.tracks[i]
    artist = m.contract.functions.tracks(tid).call()[0]
    if roll < 0.65:
        sid = rng.choice(world.splits)
        # An unchanged split or the same pending proposal again would revert: skipped.
        if sid != m.track_split(tid) and not m.pending_split_change(tid, sid, artist)[0]:
            if not m.propose_split(tid, sid, artist):
                world.proposals.append((tid, sid))
        return
    price = rng.randint(1, 10**7)
    listed = rng.random() < 0.9
    m.update_track(tid, price, listed, artist)
    if listed:
        world.tracks[i] = (tid, token, price)
    else:
        del world.tracks[i]
