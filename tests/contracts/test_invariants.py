"""Stateful property tests: random sequences of splits, tracks, sales, fee changes,
takedowns (block, unblock, and the artist relisting), split changes (proposeSplit landing
at once or waiting, acceptSplit by the right payee, a stranger, twice, or for a proposal
that another change or the artist's cancelSplitProposals killed), distributions
(including no-ops), withdrawals (including no-ops and withdrawTo another address),
one-click batches (multicall of distribute + withdraw, and of claim + distribute +
withdraw, by several payees of one split) and sponsor pools (deposits, taking them back,
time moving forward by whole epochs, publishes valid and invalid, claims and claims
again), checked against a Python model after every step.
Besides the model, after every step:
- what the contract owes never exceeds what it holds: for every token, its balance equals
  exactly the sum, read from the chain, of `owed()` + `splitBalance()` + unpublished pools
  + unclaimed allocations (the balance sentinel is never money: every figure is exact);
- every split change that cut a payee's share (leaving counts as zero) had that payee's
  consent, an on-chain SplitChangeAccepted for that very change, unless the payee was the
  artist who proposed it; `pendingSplitChange` matches the model's open proposals;
- the platform's pool income (sum of PoolSettled fees) never exceeds 1/9 of everything
  allocated; an ended epoch's pools never change until published, except by a rescue
  withdrawal.

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


def losers(current, new, artist):
    """The payees of `current` whose share `new` lowers (leaving = 0), but the artist, in
    `current`'s order: whose consent the change needs."""
    kept = dict(zip(*new))
    return [r for r, share in zip(*current) if kept.get(r, 0) < share and r != artist]


def money_machine(market, usdc, accounts, owner, fee_recipient, fan):
    """The state machine class (and a dict counting what its runs did)."""
    stats = defaultdict(int)
    people = list(accounts[1:8])
    by_address = {p.address: p for p in [*people, fee_recipient, accounts[8]]}
    tokens = [ETH, usdc.address]
    for p in people:
        usdc.mint(p, 10**15, {"from": owner})
        usdc.approve(market, 2**256 - 1, {"from": p})

    class Money(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            chain.snapshot()
            self.splits = {}  # split id -> (recipients, shares)
            self.tracks = []  # (track id, token, price, first split id, artist)
            self.track_split = {}  # track id -> its split now
            self.track_changes = {}  # track id -> how many split changes landed
            self.proposals = {}  # (track, split, change count) -> payees whose consent is missing
            self.consents = set()  # (track, split, change count, payee) from SplitChangeAccepted
            self.changes = []  # (track, previous split, split, change count, artist) that landed
            self.claimed = []  # (epoch, allocation, proof) already claimed
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
            self.track_split[tid] = sid
            self.track_changes[tid] = 0

        @precondition(lambda self: self.tracks)
        @rule(data=st.data(), extra=st.integers(0, 10**18))
        def buy(self, data, extra):
            tid, token, price, _, _ = data.draw(st.sampled_from(self.tracks))
            sid = self.track_split[tid]
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
            assert sale["amount"] == amount and sale["platformFee"] == fee and sale["splitId"] == sid
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
            market.updateTrack(tid, price, listed, {"from": artist})
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

        def model_distribute(self, sid, token):
            """The model's side of a distribute: returns the amount allotted."""
            amount = self.split_balance.pop((sid, token), 0)
            recipients, shares = self.splits[sid]
            parts = [amount * s // 1_000_000 for s in shares]
            parts[0] += amount - sum(parts)
            for r, part in zip(recipients, parts):
                self.owed[(r, token)] += part
                self.credited[(r, token)] += part
            return amount

        @precondition(lambda self: self.splits)
        @rule(data=st.data(), pick=st.integers(0, 3))
        def distribute(self, data, pick):
            waiting = sorted(k for k, v in self.split_balance.items() if v)
            if waiting and pick:
                sid, token = data.draw(st.sampled_from(waiting))
            else:  # any split: often nothing to allot, a no-op
                sid, token = data.draw(st.sampled_from(sorted(self.splits))), data.draw(st.sampled_from(tokens))
            tx = market.distribute(sid, token, *self.splits[sid], {"from": fan})
            amount = self.model_distribute(sid, token)
            assert tx.return_value == amount
            if amount:
                assert list(tx.events["SplitDistributed"].values()) == [sid, token, amount]
            else:
                assert "SplitDistributed" not in tx.events
                stats["noop_distribute"] += 1

        def model_withdraw(self, who, to, tx):
            """Check `tx`'s Withdrawal events against the model (paying `who`'s balance to
            `to`) and update it; returns what was paid per token."""
            expected = {t: self.owed[(who, t)] for t in tokens}
            withdrawals = list(tx.events["Withdrawal"]) if "Withdrawal" in tx.events else []
            assert [(e["account"], str(e["token"]), e["amount"], e["to"]) for e in withdrawals] == [
                (who, t, expected[t], to) for t in tokens if expected[t]]
            for t in tokens:
                self.withdrawn[(who, t)] += expected[t]
                self.owed[(who, t)] = 0
            if not withdrawals:
                stats["noop_withdraw"] += 1
            return expected

        @rule(data=st.data())
        def withdraw(self, data):
            who = data.draw(st.sampled_from([*(p.address for p in people), self.fee_recipient]))
            before = (market.balance(), usdc.balanceOf(market), by_address[who].balance(), usdc.balanceOf(who))
            tx = market.withdraw(who, tokens, {"from": fan, "gas_price": 0})
            paid = self.model_withdraw(who, who, tx)
            assert before[0] - market.balance() == paid[ETH] == by_address[who].balance() - before[2]
            assert before[1] - usdc.balanceOf(market) == paid[usdc.address] == usdc.balanceOf(who) - before[3]

        @rule(data=st.data())
        def withdraw_to(self, data):
            """A payee has its balance paid to another address (or its own)."""
            who = data.draw(st.sampled_from([*people, fee_recipient]))
            to = data.draw(st.sampled_from([*people, accounts[8]]))
            before = (market.balance(), usdc.balanceOf(market), to.balance(), usdc.balanceOf(to))
            tx = market.withdrawTo(to, tokens, {"from": who, "gas_price": 0})
            paid = self.model_withdraw(who.address, to.address, tx)
            assert before[0] - market.balance() == paid[ETH] == to.balance() - before[2]
            assert before[1] - usdc.balanceOf(market) == paid[usdc.address] == usdc.balanceOf(to) - before[3]
            stats["withdraw_to"] += 1

        @precondition(lambda self: self.splits)
        @rule(data=st.data(), token=st.sampled_from(tokens), clicks=st.integers(1, 2))
        def batch_payout(self, data, token, clicks):
            """Payees of one split each send the one-click multicall([distribute, withdraw]);
            all but the first find the split distributed already."""
            sid = data.draw(st.sampled_from(sorted(self.splits)))
            recipients, shares = self.splits[sid]
            for payee in recipients[:clicks]:
                calls = [market.distribute.encode_input(sid, token, recipients, shares),
                         market.withdraw.encode_input(payee, [token])]
                before = by_address[payee].balance() if token == ETH else usdc.balanceOf(payee)
                tx = market.multicall(calls, {"from": payee, "gas_price": 0})
                amount = self.model_distribute(sid, token)
                assert ("SplitDistributed" in tx.events) == bool(amount)
                owed = self.owed[(payee, token)]
                withdrawals = list(tx.events["Withdrawal"]) if "Withdrawal" in tx.events else []
                assert [e["amount"] for e in withdrawals] == ([owed] if owed else [])
                self.withdrawn[(payee, token)] += owed
                self.owed[(payee, token)] = 0
                after = by_address[payee].balance() if token == ETH else usdc.balanceOf(payee)
                assert after - before == owed
                stats["batch"] += 1

        # ------------------------------------------------------------ split changes

        def land(self, tx, tid, previous, new):
            """A split change landed in `tx`: check its event and record it."""
            assert list(tx.events["TrackSplitChanged"].values()) == [tid, previous, new]
            artist = next(t[4] for t in self.tracks if t[0] == tid)
            self.changes.append((tid, previous, new, self.track_changes[tid], artist.address))
            self.track_split[tid] = new
            self.track_changes[tid] += 1

        @precondition(lambda self: self.tracks and len(self.splits) > 1)
        @rule(data=st.data(), mode=st.sampled_from(["ok", "ok", "ok", "ok", "wrong", "stranger", "again"]))
        def propose_split(self, data, mode):
            tid, _, _, _, artist = data.draw(st.sampled_from(self.tracks))
            current = self.track_split[tid]
            new = data.draw(st.sampled_from(sorted(self.splits)))
            waiting = sorted((t, n) for (t, n, c), m in self.proposals.items() if m and c == self.track_changes[t])
            if mode == "again" and waiting:  # propose a change that waits for consents again
                tid, new = data.draw(st.sampled_from(waiting))
                artist = next(t[4] for t in self.tracks if t[0] == tid)
                current = self.track_split[tid]
            if mode == "stranger":
                other = data.draw(st.sampled_from([p for p in people if p != artist]))
                return refused("Marketplace__NotArtist", market.proposeSplit, tid, self.splits[current],
                               self.splits[new], {"from": other})
            if new == current:
                return refused("Marketplace__SplitUnchanged", market.proposeSplit, tid, self.splits[current],
                               self.splits[new], {"from": artist})
            if mode == "wrong":
                return refused("Marketplace__WrongSplitData", market.proposeSplit, tid, self.splits[new],
                               self.splits[new], {"from": artist})
            must = losers(self.splits[current], self.splits[new], artist.address)
            key = (tid, new, self.track_changes[tid])
            if must and self.proposals.get(key):
                stats["proposal_pending"] += 1
                return refused("Marketplace__ProposalPending", market.proposeSplit, tid, self.splits[current],
                               self.splits[new], {"from": artist})
            tx = market.proposeSplit(tid, self.splits[current], self.splits[new], {"from": artist})
            assert tx.return_value is (not must)
            if not must:
                assert "SplitChangeProposed" not in tx.events
                self.land(tx, tid, current, new)
                stats["change_at_once"] += 1
            else:
                assert "TrackSplitChanged" not in tx.events
                assert list(tx.events["SplitChangeProposed"].values()) == [tid, new, must]
                self.proposals[key] = set(must)
                stats["change_proposed"] += 1

        @precondition(lambda self: self.proposals)
        @rule(data=st.data())
        def cancel_proposals(self, data):
            """The artist withdraws a track's pending proposals: they all die, the split stays."""
            tid = data.draw(st.sampled_from(sorted({t for t, _, _ in self.proposals})))
            artist = next(t[4] for t in self.tracks if t[0] == tid)
            tx = market.cancelSplitProposals(tid, {"from": artist})
            assert list(tx.events["SplitProposalsCancelled"].values()) == [tid]
            assert "TrackSplitChanged" not in tx.events
            self.track_changes[tid] += 1
            stats["cancel"] += 1

        @precondition(lambda self: self.proposals)
        @rule(data=st.data(), right_payee=st.booleans(), which=st.sampled_from(["alive", "alive", "dead", "any"]))
        def accept_split(self, data, right_payee, which):
            keys = sorted(self.proposals)
            alive = [k for k in keys if k[2] == self.track_changes[k[0]] and self.proposals[k]]
            dead = [k for k in keys if k[2] != self.track_changes[k[0]]]
            keys = {"alive": alive, "dead": dead}.get(which) or keys
            key = data.draw(st.sampled_from(keys))
            tid, new, count = key
            missing = self.proposals[key]
            if right_payee and missing:
                who = data.draw(st.sampled_from(sorted(missing)))
            else:
                who = data.draw(st.sampled_from([p.address for p in people]))
            alive = count == self.track_changes[tid]
            if not (alive and who in missing):
                stats["consent_refused" if alive else "consent_to_dead_proposal"] += 1
                return refused("Marketplace__ConsentNotNeeded", market.acceptSplit, tid, new,
                               {"from": by_address[who]})
            tx = market.acceptSplit(tid, new, {"from": by_address[who]})
            missing.discard(who)
            event = tx.events["SplitChangeAccepted"]
            assert list(event.values()) == [tid, new, who, len(missing)]
            self.consents.add((tid, new, count, who))
            assert tx.return_value is (not missing)
            if missing:
                assert "TrackSplitChanged" not in tx.events
            else:
                self.land(tx, tid, self.track_split[tid], new)
                stats["change_consented"] += 1

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
            tx = market.claimFromPool(epoch, a.split_id, token, a.amount, proof, {"from": fan})
            assert tx.return_value is True
            self.unclaimed[(epoch, token)] -= a.amount
            self.split_balance[(a.split_id, token)] += a.amount
            self.claimed.append((epoch, a, proof))
            stats["claim"] += 1
            again = market.claimFromPool(epoch, a.split_id, token, a.amount, proof, {"from": fan})
            assert again.return_value is False and "PoolClaimed" not in again.events

        @precondition(lambda self: self.claims or self.claimed)
        @rule(data=st.data(), clicks=st.integers(1, 2))
        def batch_claim(self, data, clicks):
            """Payees of the allocation's split each send multicall([claimFromPool,
            distribute, withdraw]): the first claims (unless claimed already) and
            distributes, the others' claim and distribute are no-ops; all are paid."""
            pool = self.claims if self.claims and data.draw(st.booleans()) else (self.claimed or self.claims)
            epoch, a, proof = pool[data.draw(st.integers(0, len(pool) - 1))]
            token = next(t for t in tokens if t.lower() == a.token)
            recipients, shares = self.splits[a.split_id]
            for payee in recipients[:clicks]:
                calls = [market.claimFromPool.encode_input(epoch, a.split_id, token, a.amount, proof),
                         market.distribute.encode_input(a.split_id, token, recipients, shares),
                         market.withdraw.encode_input(payee, [token])]
                tx = market.multicall(calls, {"from": payee, "gas_price": 0})
                fresh = (epoch, a, proof) in self.claims
                assert ("PoolClaimed" in tx.events) == fresh
                if fresh:
                    self.claims.remove((epoch, a, proof))
                    self.claimed.append((epoch, a, proof))
                    self.unclaimed[(epoch, token)] -= a.amount
                    self.split_balance[(a.split_id, token)] += a.amount
                    stats["claim"] += 1
                amount = self.model_distribute(a.split_id, token)
                assert ("SplitDistributed" in tx.events) == bool(amount)
                owed = self.owed[(payee, token)]
                withdrawals = list(tx.events["Withdrawal"]) if "Withdrawal" in tx.events else []
                assert [e["amount"] for e in withdrawals] == ([owed] if owed else [])
                self.withdrawn[(payee, token)] += owed
                self.owed[(payee, token)] = 0
                stats["batch_claim"] += 1

        @invariant()
        def every_cut_had_the_payees_consent(self):
            for tid, previous, new, count, artist in self.changes:
                for payee in losers(self.splits[previous], self.splits[new], artist):
                    assert (tid, new, count, payee) in self.consents, (tid, previous, new, payee)

        @invariant()
        def split_changes_match_model(self):
            for tid, split in self.track_split.items():
                assert market.tracks(tid)[1] == split
            # pendingSplitChange answers for the track's current change count: a proposal
            # another change killed reads as none, unless the same change was proposed again.
            now = {(tid, new): missing for (tid, new, count), missing in self.proposals.items()
                   if count == self.track_changes[tid]}
            for tid, new in {(tid, new) for tid, new, _ in self.proposals}:
                missing = now.get((tid, new), set())
                # Each payee still to consent, and one who need not (the first other payee).
                asked = sorted(missing) + [p for p in self.splits[new][0] if p not in missing][:1]
                for p in asked:
                    got = market.pendingSplitChange(tid, new, p)
                    assert (int(got[0]), bool(got[1])) == (len(missing), p in missing), (tid, new, p)

        @invariant()
        def listing_flags_match_model(self):
            for tid, *_ in self.tracks:
                assert list(market.tracks(tid))[4:] == [tid not in self.unlisted, tid in self.blocked]

        @invariant()
        def chain_matches_model_and_owes_exactly_what_it_holds(self):
            """Every figure equals the model's; and, summed as read from the chain (the
            model lists every account and split ever credited), per token: held ==
            owed() + splitBalance() + pools + unclaimed, so what the contract owes never
            exceeds what it holds and the balance sentinel is never counted as money."""
            read = defaultdict(int)
            for (who, token), amount in self.owed.items():
                on_chain = market.owed(who, token)
                assert on_chain == amount
                read[token] += on_chain
            for (sid, token), amount in self.split_balance.items():
                on_chain = market.splitBalance(sid, token)
                assert on_chain == amount
                read[token] += on_chain
            for key, out in self.withdrawn.items():
                assert out <= self.credited[key]
            for (epoch, token), amount in self.pool.items():
                on_chain = market.poolBalance(epoch, token)
                assert on_chain == amount
                read[token] += on_chain
            for (epoch, token), amount in self.unclaimed.items():
                on_chain = market.poolUnclaimed(epoch, token)
                assert on_chain == amount
                read[token] += on_chain
            assert market.balance() == read[ETH]
            assert usdc.balanceOf(market) == read[usdc.address]
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
    """Sales, takedowns, split changes, distributions, withdrawals, batches and pools all
    interleaved (Hypothesis' swarm testing runs each example with a random subset of the
    rules)."""
    Money, _ = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    Money.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Money.TestCase().runTest()


def test_pools_keep_their_invariants_over_random_activity(market, usdc, accounts, owner, fee_recipient, fan):
    """The pool rules alone (deposits, taking back, time, publishes valid and not, claims
    and claim batches, distributions, withdrawals), every rule available at every step (swarm testing off: it
    can leave a whole run without a publish), derandomized so the paths it reaches (checked
    at the end) are the same on every run; the test above explores at random."""
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    people = list(accounts[1:8])

    class Pools(Money):
        # Sales and split-change rules off: their steps go to the pools.
        register = buy = block_or_unblock = artist_relists = set_fee = None
        propose_split = accept_split = cancel_proposals = None
        withdraw_to = batch_payout = None  # covered by the tests above and below

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
    for path in ("publish", "skip", "carry", "claim", "refused_publish", "locked", "rescue", "batch_claim"):
        assert stats[path] > 0, (path, dict(stats))


def test_split_changes_and_batches_keep_their_invariants(market, usdc, accounts, owner, fee_recipient, fan):
    """Split changes, sales, distributions, withdrawals (to the payee and elsewhere) and
    one-click batches alone, every rule available at every step, derandomized so the paths
    checked at the end are reached on every run: a change landing at once, one waiting and
    landing on the last consent, a consent refused (stranger, gainer, twice), a consent to a
    proposal another change killed, a pending proposal proposed again, and the no-ops."""
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    people = list(accounts[1:8])

    class SplitChanges(Money):
        deposit = take_deposit_back = time_passes = publish = claim = batch_claim = None
        block_or_unblock = artist_relists = set_fee = create_split = register = None

        @initialize()
        def seed(self):
            """Three payees (one of them the artist) and splits among them that raise,
            cut and drop each other; two tracks on the first split."""
            trio = sorted(people[:3], key=lambda a: int(a.address, 16))
            for shares in ([500_000, 300_000, 200_000], [400_000, 400_000, 200_000], [600_000, 200_000, 200_000],
                           [200_000, 300_000, 500_000], [1_000_000, 0, 0], [0, 500_000, 500_000]):
                chosen = [(p, s) for p, s in zip(trio, shares) if s]
                recipients = [p.address for p, _ in chosen]
                sid = market.createSplit(recipients, [s for _, s in chosen], {"from": owner}).return_value
                self.splits[str(sid)] = (recipients, [s for _, s in chosen])
            first = next(iter(self.splits))
            for artist in trio[:2]:
                tid = market.registerTrack("cid", first, ETH, 0, b"", {"from": artist}).return_value
                self.tracks.append((tid, ETH, 0, first, artist))
                self.track_split[tid] = first
                self.track_changes[tid] = 0
                # A change waiting for consents from the start.
                cut = next(c for c in self.splits if losers(self.splits[first], self.splits[c], artist.address))
                must = losers(self.splits[first], self.splits[cut], artist.address)
                tx = market.proposeSplit(tid, self.splits[first], self.splits[cut], {"from": artist})
                assert tx.events["SplitChangeProposed"]["mustConsent"] == must
                self.proposals[(tid, cut, 0)] = set(must)

    SplitChanges.TestCase.settings = settings(
        max_examples=20,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    with patch.object(FeatureFlags, "is_enabled", lambda self, name: True):
        SplitChanges.TestCase().runTest()
    print(dict(stats))
    for path in ("change_at_once", "change_proposed", "change_consented", "consent_refused", "cancel",
                 "consent_to_dead_proposal", "proposal_pending", "withdraw_to", "batch", "noop_distribute",
                 "noop_withdraw"):
        assert stats[path] > 0, (path, dict(stats))
