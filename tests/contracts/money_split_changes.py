"""The money machine's rules for split changes: proposeSplit (landing at once or waiting for
consents), acceptSplit and cancelSplitProposals."""
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from conftest import losers, refused


def split_change_rules(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens):
    """SplitChangeRules: a mixin of the money machine's rules (money_machine.py), over its
    contracts, accounts and run counts."""

    class SplitChangeRules:
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

    return SplitChangeRules
