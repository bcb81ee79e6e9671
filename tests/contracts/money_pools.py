"""The money machine's rules for sponsor pools: deposits, taking them back, time passing by
whole epochs, publishes valid and invalid, claims and claim batches."""
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from conftest import ETH, ZERO_ROOT, goto_epoch, refused
from ninety.merkle import Allocation, MerkleTree


def pool_rules(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens):
    """PoolRules: a mixin of the money machine's rules (money_machine.py), over its
    contracts, accounts and run counts."""

    class PoolRules:
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

    return PoolRules
