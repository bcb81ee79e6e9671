"""The money machine's rules for splits, tracks, sales, takedowns, fees, distributions,
withdrawals and one-click payout batches."""
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from conftest import ETH, MAX_FEE_BPS, refused_with


def sales_rules(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens):
    """SalesRules: a mixin of the money machine's rules (money_machine.py), over its
    contracts, accounts and run counts."""

    class SalesRules:
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
            tid, token, price, _, _ = data.draw(st.sampled_from(self.listing_choice(data)))
            buyer = data.draw(st.sampled_from(people))
            amount = price + (extra if token == ETH else extra // 10**12)
            value = amount if token == ETH else 0
            refusal = self.refusal(tid)
            if refusal:
                return refused_with(refusal, market.buy, tid, amount, {"from": buyer, "value": value})
            self.model_sale(market.buy(tid, amount, {"from": buyer, "value": value}), tid, token, amount)

        def listing_choice(self, data):
            """What a buyer picks from: every listing, or half the time (once there are any)
            the releases alone, which are few among the tracks. Without releases nothing more
            is drawn, so the derandomized runs without them are unchanged."""
            if self.releases and data.draw(st.booleans()):
                return [t for t in self.tracks if t[0] in self.releases]
            return self.tracks

        def refusal(self, tid):
            """The error `buy` must refuse listing `tid` with now, or None: the listing's own
            block, then its listing, then (a release) its first blocked member."""
            if tid in self.blocked:
                return f"Marketplace__TrackBlocked: {tid}"
            if tid in self.unlisted:
                return f"Marketplace__TrackNotListed: {tid}"
            member = next((m for m in self.releases.get(tid, ()) if m in self.blocked), None)
            if member is not None:
                stats["release_refused_member"] += 1
                return f"Marketplace__TrackBlocked: {member}"
            return None

        def model_sale(self, tx, tid, token, amount):
            """Check a sale of `tid` for `amount` and credit it in the model."""
            sid = self.track_split[tid]
            sale = tx.events["Sale"]
            fee = amount * self.fee_bps // 10_000
            assert sale["trackId"] == tid and sale["amount"] == amount and sale["platformFee"] == fee
            assert sale["splitId"] == sid
            # Payees get at least 90% of every sale, to the wei.
            assert (amount - fee) * 10 >= amount * 9
            self.split_balance[(sid, token)] += amount - fee
            self.owed[(self.fee_recipient, token)] += fee
            self.credited[(self.fee_recipient, token)] += fee
            if tid in self.releases:
                stats["release_sale"] += 1

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

    return SalesRules
