"""Stateful property tests: random sequences of splits, tracks, sales, fee changes,
takedowns (block, unblock, and the artist relisting), split changes (proposeSplit landing
at once or waiting, acceptSplit by the right payee, a stranger, twice, or for a proposal
that another change or the artist's cancelSplitProposals killed), distributions
(including no-ops), withdrawals (including no-ops and withdrawTo another address),
one-click batches (multicall of distribute + withdraw, and of claim + distribute +
withdraw, by several payees of one split), sponsor pools (deposits, taking them back,
time moving forward by whole epochs, publishes valid and invalid, claims and claims
again) and releases (registered and refused, a member taken down, bought with `buy` or
`buyWithPermit`: fresh, front-run and stale permits), checked against a Python model after
every step.
Besides the model, after every step:
- what the contract owes never exceeds what it holds: for every token, its balance equals
  exactly the sum, read from the chain, of `owed()` + `splitBalance()` + unpublished pools
  + unclaimed allocations (the balance sentinel is never money: every figure is exact);
- every split change that cut a payee's share (leaving counts as zero) had that payee's
  consent, an on-chain SplitChangeAccepted for that very change, unless the payee was the
  artist who proposed it; `pendingSplitChange` matches the model's open proposals;
- the platform's pool income (sum of PoolSettled fees) never exceeds 1/9 of everything
  allocated; an ended epoch's pools never change until published, except by a rescue
  withdrawal;
- every release holds, in its order, distinct tracks of its own artist, none a release.

Brownie 1.22.2's own `state_machine` fixture is broken (mypyc), so this drives Hypothesis's
RuleBasedStateMachine directly, isolating each run with chain.snapshot()/chain.revert()
(which also puts block time back).
"""
from unittest.mock import patch

from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize
from hypothesis.strategies._internal.featureflags import FeatureFlags

from conftest import ETH, losers
from money_machine import money_machine


def run_every_rule(machine, stats, paths, examples=20, steps=25):
    """Run `machine` with every rule available at every step (swarm testing off: it can
    leave a whole run without the rules that matter), derandomized so the runs, and so the
    paths they reach, are the same every time; then check each of `paths` was taken."""
    machine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    with patch.object(FeatureFlags, "is_enabled", lambda self, name: True):
        machine.TestCase().runTest()
    print(dict(stats))
    for path in paths:
        assert stats[path] > 0, (path, dict(stats))


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
    # Without the release rules: the class bodies below (whose source seeds the derandomized
    # runs) stay as they were, so the runs, and the paths they reach, are the same.
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan, releases=False)
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

    # The runs reach every pool path, not only deposits.
    run_every_rule(Pools, stats, ("publish", "skip", "carry", "claim", "refused_publish", "locked", "rescue",
                                  "batch_claim"), examples=30, steps=30)


def test_split_changes_and_batches_keep_their_invariants(market, usdc, accounts, owner, fee_recipient, fan):
    """Split changes, sales, distributions, withdrawals (to the payee and elsewhere) and
    one-click batches alone, every rule available at every step, derandomized so the paths
    checked at the end are reached on every run: a change landing at once, one waiting and
    landing on the last consent, a consent refused (stranger, gainer, twice), a consent to a
    proposal another change killed, a pending proposal proposed again, and the no-ops."""
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan, releases=False)
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

    run_every_rule(SplitChanges, stats, ("change_at_once", "change_proposed", "change_consented", "consent_refused",
                                         "cancel", "consent_to_dead_proposal", "proposal_pending", "withdraw_to",
                                         "batch", "noop_distribute", "noop_withdraw"))


def test_releases_and_permits_keep_their_invariants(market, usdc, accounts, owner, fee_recipient, fan):
    """Tracks, releases of them (and the refused ones), takedowns of a member or a release,
    the artist relisting, sales with `buy` and with `buyWithPermit` (fresh, front-run,
    expired and used permits), distributions and withdrawals alone, every rule available at
    every step, derandomized so the paths checked at the end are reached on every run."""
    Money, stats = money_machine(market, usdc, accounts, owner, fee_recipient, fan)
    people = list(accounts[1:8])

    class Releases(Money):
        deposit = take_deposit_back = time_passes = publish = claim = batch_claim = None
        propose_split = accept_split = cancel_proposals = set_fee = withdraw_to = batch_payout = None

        @initialize()
        def seed_tracks(self):
            """Two artists with three tracks each (ETH and USDC), on a split of both."""
            duo = sorted(people[:2], key=lambda a: int(a.address, 16))
            split = ([a.address for a in duo], [600_000, 400_000])
            sid = str(market.createSplit(*split, {"from": owner}).return_value)
            self.splits[sid] = split
            for artist in duo:
                for token, price in ((ETH, 10**15), (usdc.address, 2_000_000), (ETH, 0)):
                    tid = market.registerTrack("cid", sid, token, price, b"", {"from": artist}).return_value
                    self.tracks.append((tid, token, price, sid, artist))
                    self.track_split[tid] = sid
                    self.track_changes[tid] = 0

    run_every_rule(Releases, stats, ("release", "release_refused", "release_sale", "release_refused_member",
                                     "block_member", "permit_sale", "permit_front_run", "permit_failed"))
