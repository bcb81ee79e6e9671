"""proposeSplit, acceptSplit, cancelSplitProposals and pendingSplitChange: an artist
moves a track's future sales to another split at once when no payee loses share, and
otherwise only once every payee who would lose share (other than the artist) accepted on
chain; any split change of the track, or the artist's cancel, kills its pending
proposals, even when the track later returns to the same split."""
import pytest

from conftest import ETH, sorted_split, split_data, split_id_of

ZERO_SPLIT = "0x" + "00" * 32


@pytest.fixture(scope="module")
def a(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def b(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def make_split(market, accounts):
    """Create a split from (account, share) pairs; returns (split id, SplitData tuple)."""
    def make(pairs):
        recipients, shares = sorted_split(pairs)
        sid = market.createSplit(recipients, shares, {"from": accounts[0]}).return_value
        return sid, (recipients, shares)
    return make


@pytest.fixture(scope="module")
def start(make_split, artist, a, b):
    """The track's split: artist 50%, a 30%, b 20%."""
    return make_split([(artist, 500_000), (a, 300_000), (b, 200_000)])


@pytest.fixture(scope="module")
def track(market, artist, start):
    return market.registerTrack("bafkreichanges", start[0], ETH, 0, b"", {"from": artist}).return_value


def pending(market, track, split_id, payee):
    missing, must = market.pendingSplitChange(track, split_id, payee)
    return int(missing), bool(must)


def split_of_track(market, track):
    return market.tracks(track)[1]


def changed(tx, track, previous, new):
    assert list(tx.events["TrackSplitChanged"].values()) == [track, previous, new]
    return True


# ---------------------------------------------------------------- changes that need no consent


def test_a_change_with_no_loser_lands_at_once(market, artist, a, b, start, track, make_split):
    to, data = make_split([(artist, 400_000), (a, 350_000), (b, 250_000)])  # artist cuts own share
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is True
    assert changed(tx, track, start[0], to)
    assert "SplitChangeProposed" not in tx.events
    assert split_of_track(market, track) == to
    assert pending(market, track, to, a) == (0, False)


def test_a_raise_for_a_collaborator_lands_at_once(market, artist, a, b, start, track, make_split):
    to, data = make_split([(artist, 300_000), (a, 500_000), (b, 200_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is True and changed(tx, track, start[0], to)


def test_adding_a_payee_from_the_artists_share_lands_at_once(market, artist, a, b, start, track, make_split,
                                                            accounts):
    to, data = make_split([(artist, 400_000), (a, 300_000), (b, 200_000), (accounts[5], 100_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is True and changed(tx, track, start[0], to)


def test_the_artist_may_drop_out_entirely_without_consent(market, artist, a, b, start, track, make_split):
    to, data = make_split([(a, 600_000), (b, 400_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is True and changed(tx, track, start[0], to)


def test_sales_after_a_change_go_to_the_new_split(market, artist, a, b, fan, start, track, make_split):
    market.buy(track, 1000, {"from": fan, "value": 1000})
    to, data = make_split([(artist, 400_000), (a, 400_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    tx = market.buy(track, 2000, {"from": fan, "value": 2000})
    assert tx.events["Sale"]["splitId"] == to
    assert market.splitBalance(start[0], ETH) == 950 and market.splitBalance(to, ETH) == 1900


# ---------------------------------------------------------------- changes that wait


def test_a_cut_waits_for_the_payee_who_loses(market, artist, a, b, fan, start, track, make_split):
    to, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is False
    assert "TrackSplitChanged" not in tx.events
    assert list(tx.events["SplitChangeProposed"].values()) == [track, to, [a]]
    assert split_of_track(market, track) == start[0]
    assert pending(market, track, to, a) == (1, True)
    assert pending(market, track, to, b) == (1, False)
    assert pending(market, track, to, artist) == (1, False)
    # Sales still go to the current split while the change waits.
    assert market.buy(track, 1000, {"from": fan, "value": 1000}).events["Sale"]["splitId"] == start[0]

    tx = market.acceptSplit(track, to, {"from": a})
    assert tx.return_value is True
    assert list(tx.events["SplitChangeAccepted"].values()) == [track, to, a, 0]
    assert changed(tx, track, start[0], to)
    assert split_of_track(market, track) == to
    assert pending(market, track, to, a) == (0, False)


def test_a_removal_waits_for_the_payee_removed(market, artist, a, b, start, track, make_split):
    to, data = make_split([(artist, 700_000), (a, 300_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.return_value is False
    assert tx.events["SplitChangeProposed"]["mustConsent"] == [b]
    assert pending(market, track, to, b) == (1, True)


def test_every_loser_must_accept_and_the_last_consent_lands(market, artist, a, b, start, track, make_split):
    to, data = make_split([(artist, 800_000), (a, 100_000), (b, 100_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.events["SplitChangeProposed"]["mustConsent"] == sorted_split([(a, 0), (b, 0)])[0]
    assert pending(market, track, to, a) == (2, True)

    first = market.acceptSplit(track, to, {"from": b})
    assert first.return_value is False
    assert list(first.events["SplitChangeAccepted"].values()) == [track, to, b, 1]
    assert "TrackSplitChanged" not in first.events
    assert split_of_track(market, track) == start[0]
    assert pending(market, track, to, b) == (1, False)
    assert pending(market, track, to, a) == (1, True)

    last = market.acceptSplit(track, to, {"from": a})
    assert last.return_value is True
    assert list(last.events["SplitChangeAccepted"].values()) == [track, to, a, 0]
    assert changed(last, track, start[0], to)


def test_a_payee_who_gains_is_not_asked(market, artist, a, b, start, track, make_split, reverts_with):
    to, data = make_split([(artist, 500_000), (a, 100_000), (b, 400_000)])
    tx = market.proposeSplit(track, start[1], data, {"from": artist})
    assert tx.events["SplitChangeProposed"]["mustConsent"] == [a]
    with reverts_with("Marketplace__ConsentNotNeeded", track, to, b.address):
        market.acceptSplit(track, to, {"from": b})


def test_a_track_of_an_artist_outside_its_split(market, accounts, a, b, make_split, reverts_with):
    """The artist need not be a payee: every payee who loses must consent."""
    artist = accounts[6]
    sid, data = make_split([(a, 500_000), (b, 500_000)])
    track = market.registerTrack("bafkreioutside", sid, ETH, 0, b"", {"from": artist}).return_value
    to, next_ = make_split([(a, 400_000), (b, 400_000), (artist, 200_000)])
    tx = market.proposeSplit(track, data, next_, {"from": artist})
    assert tx.events["SplitChangeProposed"]["mustConsent"] == sorted_split([(a, 0), (b, 0)])[0]


# ---------------------------------------------------------------- proposeSplit refusals


def test_propose_with_the_wrong_current_data_reverts(market, artist, a, b, start, track, make_split,
                                                    reverts_with):
    to, data = make_split([(artist, 400_000), (a, 350_000), (b, 250_000)])
    recipients, shares = start[1]
    wrong = [
        (list(reversed(recipients)), list(reversed(shares))),  # wrong order
        (recipients, [shares[1], shares[0], shares[2]] if shares[0] != shares[1] else list(reversed(shares))),
        (recipients + ["0x" + "ff" * 20], shares + [0]),  # an extra recipient
        (recipients[:2], shares[:2]),  # one missing
        data,  # another split's data
    ]
    for current in wrong:
        with reverts_with("Marketplace__WrongSplitData", start[0]):
            market.proposeSplit(track, current, data, {"from": artist})
    assert split_of_track(market, track) == start[0]


def test_propose_to_a_split_never_created_reverts(market, artist, a, b, start, track, reverts_with):
    recipients, shares = sorted_split([(artist, 900_000), (a, 50_000), (b, 50_000)])
    with reverts_with("Marketplace__UnknownSplit", split_id_of(recipients, shares)):
        market.proposeSplit(track, start[1], (recipients, shares), {"from": artist})


def test_propose_the_current_split_reverts(market, artist, start, track, reverts_with):
    with reverts_with("Marketplace__SplitUnchanged", track, start[0]):
        market.proposeSplit(track, start[1], start[1], {"from": artist})


def test_only_the_artist_proposes(market, artist, a, start, track, make_split, reverts_with):
    _, data = make_split([(a, 1_000_000)])
    with reverts_with("Marketplace__NotArtist", track, a.address, artist.address):
        market.proposeSplit(track, start[1], data, {"from": a})


def test_propose_for_an_unknown_track_reverts(market, artist, start, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 99):
        market.proposeSplit(99, start[1], start[1], {"from": artist})


def test_proposing_a_pending_change_again_reverts(market, artist, a, b, start, track, make_split, reverts_with):
    to, data = make_split([(artist, 800_000), (a, 100_000), (b, 100_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    with reverts_with("Marketplace__ProposalPending", track, to):
        market.proposeSplit(track, start[1], data, {"from": artist})
    market.acceptSplit(track, to, {"from": a})
    # Half accepted: still pending, and proposing again does not reset the consents.
    with reverts_with("Marketplace__ProposalPending", track, to):
        market.proposeSplit(track, start[1], data, {"from": artist})
    assert pending(market, track, to, a) == (1, False)
    assert pending(market, track, to, b) == (1, True)


def test_two_different_proposals_may_wait_side_by_side(market, artist, a, b, start, track, make_split):
    cut_a, data_a = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    cut_b, data_b = make_split([(artist, 600_000), (a, 300_000), (b, 100_000)])
    market.proposeSplit(track, start[1], data_a, {"from": artist})
    market.proposeSplit(track, start[1], data_b, {"from": artist})
    assert pending(market, track, cut_a, a) == (1, True)
    assert pending(market, track, cut_b, b) == (1, True)


# ---------------------------------------------------------------- acceptSplit refusals


def test_a_stranger_cannot_accept(market, artist, a, b, start, track, make_split, accounts, reverts_with):
    to, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    for who in (accounts[7], artist):
        with reverts_with("Marketplace__ConsentNotNeeded", track, to, who.address):
            market.acceptSplit(track, to, {"from": who})
    assert pending(market, track, to, a) == (1, True)


def test_the_same_payee_cannot_accept_twice(market, artist, a, b, start, track, make_split, reverts_with):
    to, data = make_split([(artist, 800_000), (a, 100_000), (b, 100_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    market.acceptSplit(track, to, {"from": a})
    with reverts_with("Marketplace__ConsentNotNeeded", track, to, a.address):
        market.acceptSplit(track, to, {"from": a})
    assert split_of_track(market, track) == start[0]
    assert pending(market, track, to, b) == (1, True)


def test_accepting_what_was_never_proposed_reverts(market, a, start, track, reverts_with):
    with reverts_with("Marketplace__ConsentNotNeeded", track, start[0], a.address):
        market.acceptSplit(track, start[0], {"from": a})
    with reverts_with("Marketplace__ConsentNotNeeded", 99, ZERO_SPLIT, a.address):
        market.acceptSplit(99, ZERO_SPLIT, {"from": a})


def test_accepting_after_the_change_landed_reverts(market, artist, a, b, start, track, make_split, reverts_with):
    to, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    market.acceptSplit(track, to, {"from": a})
    with reverts_with("Marketplace__ConsentNotNeeded", track, to, a.address):
        market.acceptSplit(track, to, {"from": a})


# ---------------------------------------------------------------- proposals die when another change lands


def test_a_proposal_dies_when_a_change_without_losers_lands_first(market, artist, a, b, start, track, make_split,
                                                                 reverts_with):
    cut, cut_data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], cut_data, {"from": artist})
    raise_, raise_data = make_split([(artist, 400_000), (a, 400_000), (b, 200_000)])
    market.proposeSplit(track, start[1], raise_data, {"from": artist})  # lands at once
    assert pending(market, track, cut, a) == (0, False)
    with reverts_with("Marketplace__ConsentNotNeeded", track, cut, a.address):
        market.acceptSplit(track, cut, {"from": a})
    assert split_of_track(market, track) == raise_


def test_a_proposal_dies_when_another_proposal_lands_first(market, artist, a, b, start, track, make_split,
                                                           reverts_with):
    cut_a, data_a = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    cut_b, data_b = make_split([(artist, 600_000), (a, 300_000), (b, 100_000)])
    market.proposeSplit(track, start[1], data_a, {"from": artist})
    market.proposeSplit(track, start[1], data_b, {"from": artist})
    market.acceptSplit(track, cut_a, {"from": a})  # lands
    with reverts_with("Marketplace__ConsentNotNeeded", track, cut_b, b.address):
        market.acceptSplit(track, cut_b, {"from": b})
    assert split_of_track(market, track) == cut_a
    assert pending(market, track, cut_b, b) == (0, False)


def test_a_proposal_stays_dead_when_the_track_returns_to_the_same_split(market, artist, a, b, start, track,
                                                                       make_split, reverts_with):
    """start -> cut (waits for a); start -> up (b raised, lands); up -> start (b loses,
    b accepts, lands): the track is on `start` again, but a's old consent request is for
    a split-change count that has passed, so a's accept cannot move the track now."""
    cut, cut_data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    assert market.proposeSplit(track, start[1], cut_data, {"from": artist}).return_value is False
    up, up_data = make_split([(artist, 400_000), (a, 300_000), (b, 300_000)])
    assert market.proposeSplit(track, start[1], up_data, {"from": artist}).return_value is True
    tx = market.proposeSplit(track, up_data, start[1], {"from": artist})
    assert tx.events["SplitChangeProposed"]["mustConsent"] == [b]
    assert market.acceptSplit(track, start[0], {"from": b}).return_value is True
    assert split_of_track(market, track) == start[0]

    assert pending(market, track, cut, a) == (0, False)
    with reverts_with("Marketplace__ConsentNotNeeded", track, cut, a.address):
        market.acceptSplit(track, cut, {"from": a})
    # The same change can be proposed afresh, and needs a's consent afresh.
    tx = market.proposeSplit(track, start[1], cut_data, {"from": artist})
    assert tx.return_value is False and tx.events["SplitChangeProposed"]["mustConsent"] == [a]
    assert market.acceptSplit(track, cut, {"from": a}).return_value is True
    assert split_of_track(market, track) == cut


def test_proposals_are_per_track(market, artist, a, b, start, track, make_split, reverts_with):
    other = market.registerTrack("bafkreiother", start[0], ETH, 0, b"", {"from": artist}).return_value
    cut, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    assert pending(market, other, cut, a) == (0, False)
    with reverts_with("Marketplace__ConsentNotNeeded", other, cut, a.address):
        market.acceptSplit(other, cut, {"from": a})
    market.acceptSplit(track, cut, {"from": a})
    assert split_of_track(market, other) == start[0]


def test_split_data_for_proposals_comes_from_split_created(market, start):
    """What a front end passes as `current` is the SplitCreated data of the track's split."""
    assert split_data(market, start[0]) == tuple(start[1])


# ---------------------------------------------------------------- cancelSplitProposals


def test_the_artist_cancels_every_pending_proposal(market, artist, a, b, start, track, make_split, reverts_with):
    cut_a, data_a = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    both, data_both = make_split([(artist, 800_000), (a, 100_000), (b, 100_000)])
    market.proposeSplit(track, start[1], data_a, {"from": artist})
    market.proposeSplit(track, start[1], data_both, {"from": artist})
    market.acceptSplit(track, both, {"from": a})  # one of two consents given
    tx = market.cancelSplitProposals(track, {"from": artist})
    assert list(tx.events["SplitProposalsCancelled"].values()) == [track]
    assert "TrackSplitChanged" not in tx.events
    assert split_of_track(market, track) == start[0]
    for sid, payee in ((cut_a, a), (both, a), (both, b)):
        assert pending(market, track, sid, payee) == (0, False)
    # Neither consent can be given any more; the one given before no longer counts.
    with reverts_with("Marketplace__ConsentNotNeeded", track, cut_a, a.address):
        market.acceptSplit(track, cut_a, {"from": a})
    with reverts_with("Marketplace__ConsentNotNeeded", track, both, b.address):
        market.acceptSplit(track, both, {"from": b})
    # Proposed again, the change needs every consent afresh.
    tx = market.proposeSplit(track, start[1], data_both, {"from": artist})
    assert tx.events["SplitChangeProposed"]["mustConsent"] == sorted_split([(a, 0), (b, 0)])[0]
    assert pending(market, track, both, a) == (2, True)


def test_cancelling_with_nothing_pending_is_allowed(market, artist, start, track):
    tx = market.cancelSplitProposals(track, {"from": artist})
    assert list(tx.events["SplitProposalsCancelled"].values()) == [track]
    assert split_of_track(market, track) == start[0]


def test_cancelling_does_not_undo_a_change_that_landed(market, artist, a, b, start, track, make_split):
    up, data = make_split([(artist, 400_000), (a, 400_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    market.cancelSplitProposals(track, {"from": artist})
    assert split_of_track(market, track) == up


def test_only_the_artist_cancels(market, artist, a, b, start, track, make_split, reverts_with):
    cut, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    with reverts_with("Marketplace__NotArtist", track, a.address, artist.address):
        market.cancelSplitProposals(track, {"from": a})
    with reverts_with("Marketplace__UnknownTrack", 99):
        market.cancelSplitProposals(99, {"from": artist})
    assert pending(market, track, cut, a) == (1, True)


def test_cancelling_one_tracks_proposals_leaves_another_tracks(market, artist, a, b, start, track, make_split):
    other = market.registerTrack("bafkreiother", start[0], ETH, 0, b"", {"from": artist}).return_value
    cut, data = make_split([(artist, 600_000), (a, 200_000), (b, 200_000)])
    market.proposeSplit(track, start[1], data, {"from": artist})
    market.proposeSplit(other, start[1], data, {"from": artist})
    market.cancelSplitProposals(track, {"from": artist})
    assert pending(market, track, cut, a) == (0, False)
    assert pending(market, other, cut, a) == (1, True)
    assert market.acceptSplit(other, cut, {"from": a}).return_value is True
