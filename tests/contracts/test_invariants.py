"""Stateful property tests: random sequences of splits, tracks, sales, fee changes,
takedowns (block, unblock, and the artist relisting), distributions, withdrawals and
sponsor pools (deposits, taking them back, time moving forward by whole epochs,
publishes valid and invalid, claims), checked against a Python model after every step.
Besides the model: every token's balance equals owed + split balances + unpublished pools
+ unclaimed allocations; the platform's pool income (sum of PoolSettled fees) never
exceeds 1/9 of everything allocated; an ended epoch's pools never change until published,
except by a rescue withdrawal.

Brownie 1.22.2's own `state_machine` fixture is broken (mypyc), so this drives Hypothesis's
RuleBasedStateMachine directly, isolating each run with chain.snapshot()/chain.revert()
(which also puts block time back).
"""
from collections import defaultdict
from unittest.mock import patch

from brownie import chain
from brownie.exceptions import VirtualMachineError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from hypothesis.strategies._internal.featureflags import FeatureFlags

from conftest import ETH, goto_epoch
from ninety.merkle import Allocation, MerkleTree

MAX_FEE_BPS = 1000
ZERO_ROOT = "0x" + "00" * 32


def refused(error, fn, *args):
    """Call a transaction that must revert with the custom error `error`."""
    try:
        fn(*args)
    except VirtualMachineError as exc:
        assert str(exc.revert_msg).startswith(error + ":"), (error, exc.revert_msg)
        return
    raise AssertionError(f"{fn} {args} was accepted; expected {error}")


def money_machine(market, usdc, accounts, owner, fee_recipient, fan):
    """The state machine class (and a dict counting what its runs did)."""
    stats = defaultdict(int)
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
            self.now = market.currentEpoch()  # moves only by the time_passes rule
            self.next = market.nextEpochToPublish()
            self.pool = defaultdict(int)  # (epoch, token) -> unpublished pool
            self.pool_tokens = defaultdict(list)  # epoch -> tokens in first-deposit order
            self.at_end = {}  # (epoch, token) -> the pool when its epoch ended
            self.settled_fees = defaultdict(int)  # token -> sum of PoolSettled.platformFee
            self.settled_allocated = defaultdict(int)  # token -> sum of PoolSettled.allocated
            self.deposits = defaultdict(int)  # (epoch, sponsor, token) -> deposited
            self.unclaimed = defaultdict(int)  # (epoch, token) -> published, not claimed
            self.claims = []  # (epoch, allocation, proof) not yet claimed
            self.blocked = set()  # track ids the owner blocked
            self.unlisted = set()  # track ids their artist unlisted

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

        # ------------------------------------------------------------ sponsor pools

        @rule(data=st.data(), token=st.sampled_from(tokens), amount=st.integers(1, 10**18),
              ahead=st.sampled_from([0, 0, 0, 1, 2, 1000, 1001, -1]))
        def deposit(self, data, token, amount, ahead):
            sponsor = data.draw(st.sampled_from(people))
            if token != ETH:
                amount = max(amount // 10**12, 1)
            epoch = self.now + ahead
            value = amount if token == ETH else 0
            if ahead == 1001:
                return refused("Marketplace__EpochTooFar", market.depositToPool, epoch, token, amount,
                               {"from": sponsor, "value": value})
            if ahead < 0:  # an ended epoch's pools never change
                if epoch >= 0:
                    refused("Marketplace__EpochEnded", market.depositToPool, epoch, token, amount,
                            {"from": sponsor, "value": value})
                return
            market.depositToPool(epoch, token, amount, {"from": sponsor, "value": value})
            self.add_to_pool(epoch, token, amount)
            self.deposits[(epoch, sponsor.address, token)] += amount

        def add_to_pool(self, epoch, token, amount):
            self.pool[(epoch, token)] += amount
            if token not in self.pool_tokens[epoch]:
                self.pool_tokens[epoch].append(token)

        @precondition(lambda self: any(self.deposits.values()))
        @rule(data=st.data(), part=st.sampled_from([1, 10, 50, 100]))
        def take_deposit_back(self, data, part):
            epoch, sponsor, token = data.draw(st.sampled_from(sorted(k for k, v in self.deposits.items() if v)))
            amount = max(self.deposits[(epoch, sponsor, token)] * part // 100, 1)
            if epoch < self.now:
                if epoch < self.next:
                    return refused("Marketplace__EpochAlreadyPublished", market.withdrawPoolDeposit,
                                   epoch, token, amount, {"from": sponsor})
                if self.now < epoch + 9:
                    stats["locked"] += 1
                    return refused("Marketplace__DepositLocked", market.withdrawPoolDeposit,
                                   epoch, token, amount, {"from": sponsor})
                self.at_end[(epoch, token)] -= amount  # a rescue: the one change an ended pool allows
                stats["rescue"] += 1
            market.withdrawPoolDeposit(epoch, token, amount, {"from": sponsor})
            self.deposits[(epoch, sponsor, token)] -= amount
            self.pool[(epoch, token)] -= amount

        @rule(epochs=st.sampled_from([1, 1, 1, 2, 3, 9]))
        def time_passes(self, epochs):
            target = self.now + epochs
            goto_epoch(market, target)
            # What each pool held when its epoch ended: it must stay so until published.
            for (epoch, token), amount in self.pool.items():
                if self.now <= epoch < target:
                    self.at_end[(epoch, token)] = market.poolBalance(epoch, token)
            self.now = target

        def pending(self):
            """The first epoch with a pool (any token listed) not yet published, if ended."""
            funded = [e for e, ts in self.pool_tokens.items() if ts and self.next <= e < self.now]
            return min(funded) if funded else None

        @precondition(lambda self: self.splits and self.now > self.next)
        @rule(data=st.data(), mode=st.sampled_from(["ok", "ok", "ok", "ok", "fee", "pool", "order", "early"]))
        def publish(self, data, mode):
            pending = self.pending()
            if mode == "order" and pending is not None and pending + 1 < self.now:
                epoch = data.draw(st.integers(pending + 1, self.now - 1))
                stats["refused_publish"] += 1
                return refused("Marketplace__NotNextEpoch", market.publishEpoch, epoch, ZERO_ROOT, ZERO_ROOT,
                               "bafkreireport", [], [], {"from": owner})
            if mode == "early":
                stats["refused_publish"] += 1
                return refused("Marketplace__EpochNotEnded", market.publishEpoch, self.now, ZERO_ROOT, ZERO_ROOT,
                               "bafkreireport", [], [], {"from": owner})
            # The pending epoch, or an empty one before it (those before it are then skipped).
            last = self.now - 1 if pending is None else pending
            epoch = data.draw(st.integers(self.next, last)) if data.draw(st.booleans()) else last
            pool_tokens = list(self.pool_tokens[epoch])
            assert [str(t) for t in market.poolTokens(epoch)] == pool_tokens
            allocated, fees, allocations = [], [], []
            for token in pool_tokens:
                pool = self.pool[(epoch, token)]
                # What share of the pool is paid out, and a fee: none, the off-chain rule's
                # (5% of what is paid out), the cap (1/9 of what is allocated), or any below it.
                alloc = pool * data.draw(st.sampled_from([0, 1, 50, 95, 100])) // 100
                cap = min(alloc // 9, pool - alloc)
                kind = data.draw(st.sampled_from(["zero", "rule", "cap", "any"]))
                if kind == "any":
                    fee = data.draw(st.integers(0, cap))
                else:
                    fee = {"zero": 0, "rule": min(alloc * 500 // 9500, cap), "cap": cap}[kind]
                chosen = data.draw(st.lists(st.sampled_from(sorted(self.splits)), min_size=1, max_size=3, unique=True))
                parts = [alloc // len(chosen)] * len(chosen)
                parts[0] += alloc - sum(parts)
                allocations += [Allocation(sid, token.lower(), part) for sid, part in zip(chosen, parts) if part]
                allocated.append(alloc)
                fees.append(fee)
            tree = MerkleTree(epoch, allocations or [Allocation(sorted(self.splits)[0], ETH, 0)])
            root = "0x" + tree.root.hex()
            args = (epoch, root, "0x" + "11" * 32, "bafkreireport")
            if mode in ("fee", "pool") and pool_tokens:
                # One token's figures broken, the others right: the whole publish is refused.
                i = data.draw(st.integers(0, len(pool_tokens) - 1))
                pool = self.pool[(epoch, pool_tokens[i])]
                if mode == "fee" and allocated[i] // 9 + 1 <= pool - allocated[i]:
                    bad = list(fees)
                    bad[i] = allocated[i] // 9 + 1
                    stats["refused_publish"] += 1
                    refused("Marketplace__PoolFeeAboveCap", market.publishEpoch, *args, allocated, bad, {"from": owner})
                elif mode == "pool":
                    bad = list(allocated)
                    bad[i] = pool - fees[i] + 1
                    stats["refused_publish"] += 1
                    refused("Marketplace__AllocationAbovePool", market.publishEpoch, *args, bad, fees, {"from": owner})
            tx = market.publishEpoch(*args, allocated, fees, {"from": owner})
            events = list(tx.events["PoolSettled"]) if "PoolSettled" in tx.events else []
            assert len(events) == len(pool_tokens)
            for event, token, alloc, fee in zip(events, pool_tokens, allocated, fees):
                pool = self.pool.pop((epoch, token), 0)
                carried = pool - alloc - fee
                assert list(event.values()) == [epoch, token, pool, alloc, fee, carried, self.now]
                self.settled_fees[token] += event["platformFee"]
                self.settled_allocated[token] += event["allocated"]
                self.unclaimed[(epoch, token)] = alloc
                self.owed[(self.fee_recipient, token)] += fee
                self.credited[(self.fee_recipient, token)] += fee
                if carried:
                    self.add_to_pool(self.now, token, carried)
                    stats["carry"] += 1
            self.claims += [(epoch, a, ["0x" + p.hex() for p in tree.proof(a)]) for a in allocations]
            self.next = epoch + 1
            stats["publish"] += 1
            stats["skip"] += pending is None or epoch < pending

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def claim(self, data):
            epoch, a, proof = self.claims.pop(data.draw(st.integers(0, len(self.claims) - 1)))
            token = next(t for t in tokens if t.lower() == a.token)
            market.claimFromPool(epoch, a.split_id, token, a.amount, proof, {"from": fan})
            self.unclaimed[(epoch, token)] -= a.amount
            self.split_balance[(a.split_id, token)] += a.amount
            stats["claim"] += 1
            refused("Marketplace__AlreadyClaimed", market.claimFromPool, epoch, a.split_id, token, a.amount, proof,
                    {"from": fan})

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
            assert market.nextEpochToPublish() == self.next and market.currentEpoch() == self.now

        @invariant()
        def platform_takes_at_most_a_ninth_of_what_pools_pay_out(self):
            for token in tokens:
                assert self.settled_fees[token] * 9 <= self.settled_allocated[token]

        @invariant()
        def ended_pools_do_not_change_until_published(self):
            for (epoch, token), amount in self.at_end.items():
                if self.next <= epoch < self.now:
                    assert market.poolBalance(epoch, token) == amount

        def teardown(self):
            stats["runs"] += 1
            chain.revert()

    return Money, stats


def test_money_is_conserved_over_random_activity(market, usdc, accounts, owner, fee_recipient, fan):
    """Sales, takedowns, distributions, withdrawals and pools all interleaved (Hypothesis'
    swarm testing runs each example with a random subset of the rules)."""
    Money, _ = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    Money.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Money.TestCase().runTest()


def test_pools_keep_their_invariants_over_random_activity(market, usdc, accounts, owner, fee_recipient, fan):
    """The pool rules alone (deposits, taking back, time, publishes valid and not, claims,
    distributions, withdrawals), every rule available at every step (swarm testing off: it
    can leave a whole run without a publish), derandomized so the paths it reaches (checked
    at the end) are the same on every run; the test above explores at random."""
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    people = list(accounts[1:8])

    class Pools(Money):
        # Sales rules off: their steps go to the pools.
        register = buy = block_or_unblock = artist_relists = set_fee = None

        @initialize()
        def seed_splits(self):
            for i, n in enumerate((1, 2, 3)):
                chosen = sorted(people[i:i + n], key=lambda a: int(a.address, 16))
                shares = [1_000_000 // n] * n
                shares[0] += 1_000_000 - sum(shares)
                sid = market.createSplit([c.address for c in chosen], shares, {"from": chosen[0]}).return_value
                self.splits[str(sid)] = ([c.address for c in chosen], shares)

    Pools.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=30,
        deadline=None,
        derandomize=True,  # the same runs every time: the coverage checked below is stable
        suppress_health_check=list(HealthCheck),
    )
    with patch.object(FeatureFlags, "is_enabled", lambda self, name: True):
        Pools.TestCase().runTest()
    print(dict(stats))
    # The runs reached every pool path, not only deposits.
    for path in ("publish", "skip", "carry", "claim", "refused_publish", "locked", "rescue"):
        assert stats[path] > 0, (path, dict(stats))
