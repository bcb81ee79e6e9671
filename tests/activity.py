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

    @property
    def owner(self) -> str:
        return self.accounts[0]


def new_world(rpc_url: str, fee_bps: int = 500) -> World:
    w3 = web3_for(rpc_url)
    accounts = [str(a) for a in w3.eth.accounts]
    market, usdc = deploy_direct(w3, accounts[0], accounts[9], fee_bps)
    world = World(w3, market, usdc, accounts, deploy_block=w3.eth.block_number - 2)
    for a in accounts[1:8]:
        usdc.functions.mint(a, 10**15).transact({"from": accounts[0]})
        usdc.functions.approve(market.address, 2**256 - 1).transact({"from": a})
    return world


def random_activity(world: World, steps: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    people = world.accounts[1:8]
    m = world.market
    for _ in range(steps):
        roll = rng.random()
        if not world.splits or roll < 0.08:
            chosen = rng.sample(people, rng.randint(1, 4))
            cuts = sorted(rng.sample(range(1, 1_000_000), len(chosen) - 1))
            bounds = [0, *cuts, 1_000_000]
            world.splits.append(m.create_split(list(zip(chosen, [b - a for a, b in zip(bounds, bounds[1:])])), chosen[0]))
        elif len(world.tracks) < 2 or roll < 0.18:
            token = rng.choice([ETH, world.usdc.address])
            price = rng.randint(0, 10**16) if token == ETH else rng.randint(1, 10**7)
            tid = m.register(f"bafkreitrack{len(world.tracks)}", rng.choice(world.splits), token, price, rng.choice(people))
            world.tracks.append((tid, token, price))
        elif roll < 0.70:
            tid, token, price = rng.choice(world.tracks)
            m.buy(tid, price + rng.randint(0, 10**15 if token == ETH else 10**6), rng.choice(people), token)
        elif roll < 0.82:
            sid = rng.choice(world.splits)
            for token in (ETH, world.usdc.address):
                if m.contract.functions.splitBalance(sid, Web3.to_checksum_address(token)).call():
                    m.distribute(sid, token, rng.choice(people))
        elif roll < 0.92:
            who = rng.choice([*people, world.accounts[9]])
            tokens = [t for t in (ETH, world.usdc.address) if m.owed(who, t)]
            if tokens:
                m.withdraw(who, tokens, rng.choice(people))
        elif roll < 0.96:
            m.send(m.contract.functions.setPlatformFee(rng.randint(0, 1000)), world.owner)
        else:
            i = rng.randrange(len(world.tracks))
            tid, token, _ = world.tracks[i]
            artist = m.contract.functions.tracks(tid).call()[0]
            price = rng.randint(1, 10**7)
            listed = rng.random() < 0.9
            m.send(m.contract.functions.updateTrack(tid, price, rng.choice(world.splits), listed), artist)
            if listed:
                world.tracks[i] = (tid, token, price)
            else:
                del world.tracks[i]
