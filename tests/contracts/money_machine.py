"""The state machine of test_invariants.py: the model's state, its invariants checked after
every step, and its rules, one mixin per theme (money_sales.py, money_split_changes.py,
money_pools.py). Hypothesis finds rules and invariants by name over the whole class, so
their order, and a derandomized run, are the same as with one class."""
from collections import defaultdict

from brownie import chain
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant

from conftest import ETH, losers
from money_pools import pool_rules
from money_releases import release_rules
from money_sales import sales_rules
from money_split_changes import split_change_rules


def views(market, calls):
    """The answers of the marketplace's views `calls` ((view, *args) each), read in one
    eth_call (a multicall): the invariants read dozens of figures after every step."""
    if not calls:
        return []
    answers = market.multicall.call([fn.encode_input(*args) for fn, *args in calls])
    return [fn.decode_output(answer) for (fn, *_), answer in zip(calls, answers)]


def money_machine(market, usdc, accounts, owner, fee_recipient, fan, releases=True):
    """The state machine class (and a dict counting what its runs did); `releases`: with
    the rules of money_releases.py."""
    stats = defaultdict(int)
    people = list(accounts[1:8])
    by_address = {p.address: p for p in [*people, fee_recipient, accounts[8]]}
    tokens = [ETH, usdc.address]
    for p in people:
        usdc.mint(p, 10**15, {"from": owner})
        usdc.approve(market, 2**256 - 1, {"from": p})
    rules = [make(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens)
             for make in (sales_rules, split_change_rules, pool_rules, *([release_rules] if releases else []))]

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
            self.releases = {}  # release id -> its member track ids, in order

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
            tids = list(self.track_split)
            for tid, got in zip(tids, views(market, [(market.tracks, tid) for tid in tids])):
                assert got[1] == self.track_split[tid], tid
            # pendingSplitChange answers for the track's current change count: a proposal
            # another change killed reads as none, unless the same change was proposed again.
            now = {(tid, new): missing for (tid, new, count), missing in self.proposals.items()
                   if count == self.track_changes[tid]}
            asks = []
            for tid, new in {(tid, new) for tid, new, _ in self.proposals}:
                missing = now.get((tid, new), set())
                # Each payee still to consent, and one who need not (the first other payee).
                asked = sorted(missing) + [p for p in self.splits[new][0] if p not in missing][:1]
                asks += [(tid, new, p, (len(missing), p in missing)) for p in asked]
            got = views(market, [(market.pendingSplitChange, tid, new, p) for tid, new, p, _ in asks])
            for (tid, new, p, expected), answer in zip(asks, got):
                assert (int(answer[0]), bool(answer[1])) == expected, (tid, new, p)

        @invariant()
        def listing_flags_match_model(self):
            tids = [t[0] for t in self.tracks]
            for tid, got in zip(tids, views(market, [(market.tracks, tid) for tid in tids])):
                assert list(got)[4:] == [tid not in self.unlisted, tid in self.blocked], tid

        @invariant()
        def releases_hold_their_artists_tracks(self):
            """Every release holds, in its order, 1 to 100 distinct tracks of its own artist,
            none of them a release."""
            calls = []
            for rid, members in self.releases.items():
                calls += [(market.tracks, rid), (market.releaseTracks, rid)]
                calls += [call for m in members for call in ((market.tracks, m), (market.releaseTracks, m))]
            answers = iter(views(market, calls))
            for rid, members in self.releases.items():
                artist = next(answers)[0]
                held = [int(m) for m in next(answers)]
                assert held == members and 1 <= len(set(held)) == len(held) <= 100, (rid, held, members)
                for m in members:
                    assert next(answers)[0] == artist, (rid, m)
                    assert list(next(answers)) == [], (rid, m)

        @invariant()
        def chain_matches_model_and_owes_exactly_what_it_holds(self):
            """Every figure equals the model's; and, summed as read from the chain (the
            model lists every account and split ever credited), per token: held ==
            owed() + splitBalance() + pools + unclaimed, so what the contract owes never
            exceeds what it holds and the balance sentinel is never counted as money."""
            figures = [(market.owed, who, token, amount) for (who, token), amount in self.owed.items()]
            figures += [(market.splitBalance, sid, token, amount)
                        for (sid, token), amount in self.split_balance.items()]
            figures += [(market.poolBalance, epoch, token, amount) for (epoch, token), amount in self.pool.items()]
            figures += [(market.poolUnclaimed, epoch, token, amount)
                        for (epoch, token), amount in self.unclaimed.items()]
            read = defaultdict(int)
            for (fn, key, token, amount), on_chain in zip(figures, views(market, [f[:3] for f in figures])):
                assert on_chain == amount, (fn.abi["name"], key, token)
                read[token] += on_chain
            for key, out in self.withdrawn.items():
                assert out <= self.credited[key]
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
