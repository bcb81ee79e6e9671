"""The state machine of test_invariants.py: the model's state, its invariants checked after
every step, and its rules, one mixin per theme (money_sales.py, money_split_changes.py,
money_pools.py). Hypothesis finds rules and invariants by name over the whole class, so
their order, and a derandomized run, are the same as with one class."""
from collections import defaultdict

from brownie import chain
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant

from conftest import ETH, losers
from money_pools import pool_rules
from money_sales import sales_rules
from money_split_changes import split_change_rules


def money_machine(market, usdc, accounts, owner, fee_recipient, fan):
    """The state machine class (and a dict counting what its runs did)."""
    stats = defaultdict(int)
    people = list(accounts[1:8])
    by_address = {p.address: p for p in [*people, fee_recipient, accounts[8]]}
    tokens = [ETH, usdc.address]
    for p in people:
        usdc.mint(p, 10**15, {"from": owner})
        usdc.approve(market, 2**256 - 1, {"from": p})
    rules = [make(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens)
             for make in (sales_rules, split_change_rules, pool_rules)]

    class Money(*rules, RuleBasedStateMachine):
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
