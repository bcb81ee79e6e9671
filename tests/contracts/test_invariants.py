"""Stateful property tests: random sequences of splits, tracks, sales, fee changes,
takedowns (block, unblock, and the artist relisting), distributions, withdrawals and
sponsor pools (deposits, taking them back, publishing
epochs, claims), checked against a Python model after every step.

Brownie 1.22.2's own `state_machine` fixture is broken (mypyc), so this drives Hypothesis's
RuleBasedStateMachine directly, isolating each run with chain.snapshot()/chain.revert().
"""
from collections import defaultdict

from brownie import chain
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conftest import ETH
from ninety.merkle import Allocation, MerkleTree

MAX_FEE_BPS = 1000


def test_money_is_conserved_over_random_activity(market, usdc, accounts, owner, fee_recipient, fan):
    people = list(accounts[1:8])
    tokens = [ETH, usdc.address]
    for p in people:
        usdc.mint(p, 10**15, {"from": owner})
        usdc.approve(market, 2**256 - 1, {"from": p})

    class Money(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            chain.snapshot()
            self.splits = {}  # split id -> (recipients, shares)
            self.tracks = []  # (track id, token, price)
            self.owed = defaultdict(int)  # (account, token) -> model owed
            self.split_balance = defaultdict(int)  # (split id, token) -> model balance
            self.credited = defaultdict(int)  # (account, token) -> all ever credited
            self.withdrawn = defaultdict(int)
            self.fee_bps = market.platformFeeBps()
            self.epoch = market.openEpoch()
            self.pool = defaultdict(int)  # (epoch, token) -> open pool
            self.deposits = defaultdict(int)  # (epoch, sponsor, token) -> deposited
            self.unclaimed = defaultdict(int)  # (epoch, token) -> published, not claimed
            self.claims = []  # (epoch, allocation, proof) not yet claimed
            self.blocked = set()  # track ids the owner blocked
            self.unlisted = set()  # track ids their artist unlisted

        def teardown(self):
            chain.revert()

        @initialize()
        def start(self):
            self.fee_recipient = str(fee_recipient)

        @rule(data=st.data(), n=st.integers(1, 4))
        def create_split(self, data, n):
            chosen = sorted(
                data.draw(st.lists(st.sampled_from(people), min_size=n, max_size=n, unique=True)),
                key=lambda a: int(a.address, 16),
            )
            cuts = sorted(data.draw(st.lists(st.integers(1, 999_999), min_size=n - 1, max_size=n - 1, unique=True)))
            bounds = [0] + cuts + [1_000_000]
            shares = [b - a for a, b in zip(bounds, bounds[1:])]
            sid = market.createSplit([c.address for c in chosen], shares, {"from": chosen[0]}).return_value
            self.splits[str(sid)] = ([c.address for c in chosen], shares)

        @precondition(lambda self: self.splits)
        @rule(data=st.data(), token=st.sampled_from(tokens), price=st.integers(0, 10**18))
        def register(self, data, token, price):
            sid = data.draw(st.sampled_from(sorted(self.splits)))
            artist = data.draw(st.sampled_from(people))
            if token != ETH:
                price = max(price // 10**12, 1)
            tid = market.registerTrack("cid", sid, token, price, b"", {"from": artist}).return_value
            self.tracks.append((tid, token, price, sid, artist))

        @precondition(lambda self: self.tracks)
        @rule(data=st.data(), extra=st.integers(0, 10**18))
        def buy(self, data, extra):
            tid, token, price, sid, _ = data.draw(st.sampled_from(self.tracks))
            buyer = data.draw(st.sampled_from(people))
            amount = price + (extra if token == ETH else extra // 10**12)
            value = amount if token == ETH else 0
            if tid in self.blocked or tid in self.unlisted:
                try:
                    market.buy(tid, amount, {"from": buyer, "value": value})
                except Exception:
                    return
                raise AssertionError(f"track {tid} was sold while blocked or unlisted")
            tx = market.buy(tid, amount, {"from": buyer, "value": value})
            sale = tx.events["Sale"]
            fee = amount * self.fee_bps // 10_000
            assert sale["amount"] == amount and sale["platformFee"] == fee
            # Payees get at least 90% of every sale, to the wei.
            assert (amount - fee) * 10 >= amount * 9
            self.split_balance[(sid, token)] += amount - fee
            self.owed[(self.fee_recipient, token)] += fee
            self.credited[(self.fee_recipient, token)] += fee

        @precondition(lambda self: self.tracks)
        @rule(data=st.data())
        def block_or_unblock(self, data):
            tid = data.draw(st.sampled_from(self.tracks))[0]
            if tid in self.blocked:
                market.unblockTrack(tid, "bafkreiunblock", {"from": owner})
                self.blocked.discard(tid)
            else:
                market.blockTrack(tid, "bafkreiblock", {"from": owner})
                self.blocked.add(tid)

        @precondition(lambda self: self.tracks)
        @rule(data=st.data(), listed=st.booleans())
        def artist_relists(self, data, listed):
            tid, token, price, sid, artist = data.draw(st.sampled_from(self.tracks))
            market.updateTrack(tid, price, sid, listed, {"from": artist})
            (self.unlisted.discard if listed else self.unlisted.add)(tid)

        @rule(bps=st.integers(0, 2000))
        def set_fee(self, bps):
            if bps > MAX_FEE_BPS:
                try:
                    market.setPlatformFee(bps, {"from": owner})
                except Exception:
                    return
                raise AssertionError(f"fee {bps} above the cap was accepted")
            market.setPlatformFee(bps, {"from": owner})
            self.fee_bps = bps

        @precondition(lambda self: any(self.split_balance.values()))
        @rule(data=st.data())
        def distribute(self, data):
            sid, token = data.draw(st.sampled_from(sorted(k for k, v in self.split_balance.items() if v)))
            amount = self.split_balance.pop((sid, token))
            market.distribute(sid, token, {"from": fan})
            recipients, shares = self.splits[sid]
            parts = [amount * s // 1_000_000 for s in shares]
            parts[0] += amount - sum(parts)
            for r, part in zip(recipients, parts):
                self.owed[(r, token)] += part
                self.credited[(r, token)] += part

        @rule(data=st.data())
        def withdraw(self, data):
            who = data.draw(st.sampled_from([*(p.address for p in people), self.fee_recipient]))
            expected = {t: self.owed[(who, t)] for t in tokens}
            if not any(expected.values()):
                return
            before = (market.balance(), usdc.balanceOf(market))
            tx = market.withdraw(who, tokens, {"from": fan})
            paid = {str(e["token"]): e["amount"] for e in tx.events["Withdrawal"]}
            for t in tokens:
                assert paid.get(t, 0) == expected[t]
                self.withdrawn[(who, t)] += expected[t]
                self.owed[(who, t)] = 0
            assert before[0] - market.balance() == expected[ETH]
            assert before[1] - usdc.balanceOf(market) == expected[usdc.address]

        @rule(data=st.data(), token=st.sampled_from(tokens), amount=st.integers(1, 10**18), later=st.booleans())
        def deposit(self, data, token, amount, later):
            sponsor = data.draw(st.sampled_from(people))
            epoch = self.epoch + (1 if later else 0)
            if token != ETH:
                amount = max(amount // 10**12, 1)
            market.depositToPool(epoch, token, amount, {"from": sponsor, "value": amount if token == ETH else 0})
            self.pool[(epoch, token)] += amount
            self.deposits[(epoch, sponsor.address, token)] += amount

        @precondition(lambda self: any(v for (e, _, _), v in self.deposits.items() if e >= self.epoch))
        @rule(data=st.data(), part=st.integers(1, 100))
        def take_deposit_back(self, data, part):
            epoch, sponsor, token = data.draw(st.sampled_from(
                sorted(k for k, v in self.deposits.items() if v and k[0] >= self.epoch)))
            amount = max(self.deposits[(epoch, sponsor, token)] * part // 100, 1)
            market.withdrawPoolDeposit(epoch, token, amount, {"from": sponsor})
            self.deposits[(epoch, sponsor, token)] -= amount
            self.pool[(epoch, token)] -= amount

        @precondition(lambda self: self.splits)
        @rule(data=st.data(), fee_permille=st.integers(0, 150))
        def publish(self, data, fee_permille):
            epoch = self.epoch
            pool_tokens = [str(t) for t in market.poolTokens(epoch)]
            allocated, fees, allocations = [], [], []
            for token in pool_tokens:
                pool = self.pool[(epoch, token)]
                fee = pool * fee_permille // 1000
                if fee * 10 > pool:  # above 10%: refused, whatever else is right
                    fee = pool // 10
                chosen = data.draw(st.lists(st.sampled_from(sorted(self.splits)), min_size=1, max_size=3, unique=True))
                each = (pool - fee) // (len(chosen) + data.draw(st.integers(0, 1)))  # sometimes some carries over
                for sid in chosen:
                    if each:
                        allocations.append(Allocation(sid, token.lower(), each))
                allocated.append(each * len(chosen))
                fees.append(fee)
            if not allocations:
                allocations = [Allocation(sorted(self.splits)[0], ETH, 0)]
            tree = MerkleTree(epoch, allocations)
            market.publishEpoch(epoch, "0x" + tree.root.hex(), "bafkreireport", allocated, fees, {"from": owner})
            for token, alloc, fee in zip(pool_tokens, allocated, fees):
                pool = self.pool.pop((epoch, token), 0)
                self.unclaimed[(epoch, token)] = alloc
                self.owed[(self.fee_recipient, token)] += fee
                self.credited[(self.fee_recipient, token)] += fee
                self.pool[(epoch + 1, token)] += pool - alloc - fee
            self.claims += [(epoch, a, ["0x" + p.hex() for p in tree.proof(a)]) for a in allocations if a.amount]
            self.epoch += 1

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def claim(self, data):
            epoch, a, proof = self.claims.pop(data.draw(st.integers(0, len(self.claims) - 1)))
            token = next(t for t in tokens if t.lower() == a.token)
            market.claimFromPool(epoch, a.split_id, token, a.amount, proof, {"from": fan})
            self.unclaimed[(epoch, token)] -= a.amount
            self.split_balance[(a.split_id, token)] += a.amount
            try:  # the same allocation twice: refused
                market.claimFromPool(epoch, a.split_id, token, a.amount, proof, {"from": fan})
            except Exception:
                return
            raise AssertionError("an allocation was claimed twice")

        @invariant()
        def books_balance(self):
            for token in tokens:
                held = market.balance() if token == ETH else usdc.balanceOf(market)
                owed = sum(v for (a, t), v in self.owed.items() if t == token)
                unallotted = sum(v for (s, t), v in self.split_balance.items() if t == token)
                pools = sum(v for (e, t), v in self.pool.items() if t == token)
                unclaimed = sum(v for (e, t), v in self.unclaimed.items() if t == token)
                assert held == owed + unallotted + pools + unclaimed

        @invariant()
        def listing_flags_match_model(self):
            for tid, *_ in self.tracks:
                assert list(market.tracks(tid))[4:] == [tid not in self.unlisted, tid in self.blocked]

        @invariant()
        def chain_matches_model(self):
            for (who, token), amount in self.owed.items():
                assert market.owed(who, token) == amount
            for (sid, token), amount in self.split_balance.items():
                assert market.splitBalance(sid, token) == amount
            for key, out in self.withdrawn.items():
                assert out <= self.credited[key]
            for (epoch, token), amount in self.pool.items():
                assert market.poolBalance(epoch, token) == amount
            for (epoch, token), amount in self.unclaimed.items():
                assert market.poolUnclaimed(epoch, token) == amount

    Money.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Money.TestCase().runTest()
