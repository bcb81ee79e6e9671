"""The money machine's rules for releases and permit purchases: registering releases of the
machine's tracks (and the refused ones), blocking a release's member, and buying any
listing with buyWithPermit (a fresh permit, one someone else submitted first, and stale
ones that must fail)."""
from brownie import accounts as all_accounts
from brownie import chain
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from conftest import ETH, permit, refused_with

# A wallet with a key of its own (Anvil's accounts have approved the marketplace for ever:
# a permit would overwrite that allowance). Derived from a fixed seed so runs repeat.
PERMIT_BUYER_KEY = "0x" + keccak(b"ninety money machine permit buyer").hex()


def permit_buyer(usdc, owner):
    """The permit buyer's brownie account, funded with ETH for gas and USDC, no allowance."""
    buyer = next((a for a in all_accounts if getattr(a, "private_key", None) == PERMIT_BUYER_KEY), None)
    buyer = buyer or all_accounts.add(PERMIT_BUYER_KEY)
    owner.transfer(buyer, 10**20)
    usdc.mint(buyer, 10**15, {"from": owner})
    return buyer


def release_rules(market, usdc, accounts, owner, fee_recipient, fan, stats, people, by_address, tokens):
    """ReleaseRules: a mixin of the money machine's rules (money_machine.py), over its
    contracts, accounts and run counts."""
    buyer = permit_buyer(usdc, owner)

    class ReleaseRules:
        def own_tracks(self, artist):
            return [t[0] for t in self.tracks if t[4] == artist and t[0] not in self.releases]

        @precondition(lambda self: any(t[0] not in self.releases for t in self.tracks))
        @rule(data=st.data(), token=st.sampled_from(tokens), price=st.integers(0, 10**18),
              mode=st.sampled_from(["ok", "ok", "ok", "ok", "blocked", "other", "release", "twice"]))
        def register_release(self, data, token, price, mode):
            """An artist lists a release of some of its own unblocked tracks, in any order;
            or tries one with a blocked track, someone else's, a release, or a track twice."""
            artist = data.draw(st.sampled_from(sorted({t[4] for t in self.tracks if t[0] not in self.releases},
                                                      key=lambda a: a.address)))
            own = self.own_tracks(artist)
            free = [t for t in own if t not in self.blocked]
            members = data.draw(st.lists(st.sampled_from(free), min_size=1, max_size=min(4, len(free)), unique=True)
                                ) if free else []
            sid = data.draw(st.sampled_from(sorted(self.splits)))
            if token != ETH:
                price = max(price // 10**12, 1)
            wrong = {
                "blocked": ([t for t in own if t in self.blocked], "Marketplace__TrackBlocked: {}"),
                "other": ([t[0] for t in self.tracks if t[4] != artist],
                          "Marketplace__NotArtist: {}, " + artist.address + ", {artist}"),
                "release": ([t[0] for t in self.tracks if t[0] in self.releases and t[4] == artist],
                            "Marketplace__ReleaseInRelease: {}"),
                "twice": (members, "Marketplace__DuplicateTrack: {}"),
            }.get(mode)
            if wrong and wrong[0]:
                bad = data.draw(st.sampled_from(wrong[0]))
                owner_of = next(t[4] for t in self.tracks if t[0] == bad).address
                stats["release_refused"] += 1
                return refused_with(wrong[1].format(bad, artist=owner_of), market.registerRelease, "cid", sid,
                                    token, price, [*members, bad], b"", {"from": artist})
            if not members:
                return
            tx = market.registerRelease("cid", sid, token, price, members, b"", {"from": artist})
            rid = tx.return_value
            event = tx.events["ReleaseRegistered"]
            assert event["releaseId"] == rid and [int(m) for m in event["trackIds"]] == members
            self.tracks.append((rid, token, price, sid, artist))
            self.releases[rid] = members
            self.track_split[rid] = sid
            self.track_changes[rid] = 0
            stats["release"] += 1

        @precondition(lambda self: self.releases)
        @rule(data=st.data())
        def block_member(self, data):
            """The owner blocks (or unblocks) a track that is on a release."""
            member = data.draw(st.sampled_from(sorted({m for ms in self.releases.values() for m in ms})))
            if member in self.blocked:
                market.unblockTrack(member, "bafkreiunblock", {"from": owner})
                self.blocked.discard(member)
            else:
                market.blockTrack(member, "bafkreiblock", {"from": owner})
                self.blocked.add(member)
            stats["block_member"] += 1

        @precondition(lambda self: self.tracks)
        @rule(data=st.data(), extra=st.integers(0, 10**6),
              mode=st.sampled_from(["ok", "ok", "ok", "front_run", "expired", "used"]))
        def buy_with_permit(self, data, extra, mode):
            """The permit buyer buys any listing with buyWithPermit. A USDC listing: a fresh
            permit, one a stranger submitted first, or one expired or already used (refused,
            the allowance being 0). An ETH listing: the permit is ignored, no ETH is sent."""
            tid, token, price, _, _ = data.draw(st.sampled_from(self.listing_choice(data)))
            amount = price + extra if token != ETH else price
            nonce = usdc.nonces(buyer)
            until = chain.time() + 3600
            args = (tid, amount, until)
            if token != ETH:
                assert usdc.allowance(buyer, market) == 0
                if mode == "expired" or (mode == "used" and nonce):
                    until = chain.time() - 1 if mode == "expired" else until
                    v_r_s = permit(usdc, buyer.private_key, buyer, market, amount, until,
                                   nonce - 1 if mode == "used" else nonce)
                    stats["permit_failed"] += 1
                    return refused_with(f"Marketplace__PermitFailed: {usdc.address}, 0, {amount}",
                                        market.buyWithPermit, tid, amount, until, *v_r_s, {"from": buyer})
                v_r_s = permit(usdc, buyer.private_key, buyer, market, amount, until)
            else:
                v_r_s = (27, "0x" + "00" * 32, "0x" + "00" * 32)  # never looked at
            refusal = self.refusal(tid)
            if refusal is None and token == ETH and amount:
                refusal = f"Marketplace__WrongEthValue: 0, {amount}"
            if refusal:
                refused_with(refusal, market.buyWithPermit, *args, *v_r_s, {"from": buyer})
                assert usdc.nonces(buyer) == nonce  # the permit went back with the purchase
                return
            if mode == "front_run" and token != ETH:
                usdc.permit(buyer, market, amount, until, *v_r_s, {"from": fan})
                stats["permit_front_run"] += 1
            tx = market.buyWithPermit(*args, *v_r_s, {"from": buyer})
            self.model_sale(tx, tid, token, amount)
            if token != ETH:
                assert usdc.allowance(buyer, market) == 0 and usdc.nonces(buyer) == nonce + 1
                stats["permit_sale"] += 1

    return ReleaseRules
