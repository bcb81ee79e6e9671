"""createSplit and distribute: validation, immutability, exact allotment. Only a split's
hash is stored: its data comes back from SplitCreated (conftest.split_data) and goes to
`distribute` as calldata."""
from conftest import ETH, distribute, sorted_split, split_data
from conftest import split_id_of as split_id


def test_create_split_stores_data_and_emits_event(market, accounts):
    recipients, shares = sorted_split([(accounts[3], 600_000), (accounts[4], 400_000)])
    tx = market.createSplit(recipients, shares, {"from": accounts[5]})
    sid = tx.return_value
    assert "0x" + sid.hex().removeprefix("0x") == "0x" + split_id(recipients, shares).removeprefix("0x")
    ev = tx.events["SplitCreated"]
    assert ev["splitId"] == sid
    assert list(ev["recipients"]) == recipients
    assert list(ev["sharesPpm"]) == shares
    assert market.splitExists(sid)
    assert split_data(market, sid) == (recipients, shares)


def test_creating_an_existing_split_returns_it_without_a_second_event(market, accounts):
    recipients, shares = sorted_split([(accounts[3], 1), (accounts[4], 999_999)])
    first = market.createSplit(recipients, shares, {"from": accounts[3]})
    again = market.createSplit(recipients, shares, {"from": accounts[4]})
    assert again.return_value == first.return_value
    assert "SplitCreated" not in again.events


def test_a_split_of_one_hundred_recipients_is_accepted(market, accounts):
    people = sorted((accounts.add() for _ in range(100)), key=lambda a: int(a.address, 16))
    tx = market.createSplit([p.address for p in people], [10_000] * 100, {"from": accounts[0]})
    assert len(split_data(market, tx.return_value)[0]) == 100


def test_unknown_split_does_not_exist(market):
    assert not market.splitExists("0x" + "11" * 32)


def test_empty_split_reverts(market, accounts, reverts_with):
    with reverts_with("Marketplace__NoRecipients"):
        market.createSplit([], [], {"from": accounts[0]})


def test_more_than_one_hundred_recipients_reverts(market, accounts, reverts_with):
    people = sorted((accounts.add() for _ in range(101)), key=lambda a: int(a.address, 16))
    shares = [9_900] * 101
    shares[0] += 1_000_000 - sum(shares)
    with reverts_with("Marketplace__TooManyRecipients", 101, 100):
        market.createSplit([p.address for p in people], shares, {"from": accounts[0]})


def test_length_mismatch_reverts(market, accounts, reverts_with):
    recipients, _ = sorted_split([(accounts[3], 1), (accounts[4], 1)])
    with reverts_with("Marketplace__LengthMismatch", 2, 1):
        market.createSplit(recipients, [1_000_000], {"from": accounts[0]})


def test_zero_recipient_reverts(market, accounts, reverts_with):
    with reverts_with("Marketplace__ZeroRecipient", 0):
        market.createSplit([ETH, accounts[3]], [500_000, 500_000], {"from": accounts[0]})


def test_unsorted_recipients_revert(market, accounts, reverts_with):
    recipients, shares = sorted_split([(accounts[3], 500_000), (accounts[4], 500_000)])
    recipients.reverse()
    with reverts_with("Marketplace__RecipientsNotSorted", 1, recipients[0], recipients[1]):
        market.createSplit(recipients, shares, {"from": accounts[0]})


def test_duplicate_recipients_revert(market, accounts, reverts_with):
    a = accounts[3].address
    with reverts_with("Marketplace__DuplicateRecipient", a):
        market.createSplit([a, a], [500_000, 500_000], {"from": accounts[0]})


def test_zero_share_reverts(market, accounts, reverts_with):
    recipients, _ = sorted_split([(accounts[3], 0), (accounts[4], 0)])
    with reverts_with("Marketplace__ZeroShare", recipients[1]):
        market.createSplit(recipients, [1_000_000, 0], {"from": accounts[0]})


def test_shares_not_summing_to_a_million_revert(market, accounts, reverts_with):
    recipients, _ = sorted_split([(accounts[3], 0), (accounts[4], 0)])
    with reverts_with("Marketplace__SharesSumInvalid", 999_999, 1_000_000):
        market.createSplit(recipients, [500_000, 499_999], {"from": accounts[0]})
    with reverts_with("Marketplace__SharesSumInvalid", 1_000_001, 1_000_000):
        market.createSplit(recipients, [500_000, 500_001], {"from": accounts[0]})


def test_distribute_allots_by_share_and_gives_dust_to_the_first_recipient(
    market, accounts, artist, fan, split_of
):
    # Shares of 1/3 each cannot divide 100 wei exactly: 1 wei of dust.
    trio = sorted([accounts[3], accounts[4], accounts[5]], key=lambda a: int(a.address, 16))
    sid = split_of([(trio[0], 333_334), (trio[1], 333_333), (trio[2], 333_333)])
    track = market.registerTrack("cid", sid, ETH, 0, b"", {"from": artist}).return_value
    market.setPlatformFee(0, {"from": accounts[0]})
    market.buy(track, 100, {"from": fan, "value": 100})
    assert market.splitBalance(sid, ETH) == 100

    tx = distribute(market, sid, ETH, accounts[7])
    assert tx.return_value == 100
    assert list(tx.events["SplitDistributed"].values()) == [sid, ETH, 100]
    assert market.splitBalance(sid, ETH) == 0
    owed = [market.owed(p, ETH) for p in trio]
    assert owed == [34, 33, 33]
    assert sum(owed) == 100


def test_distribute_with_nothing_to_distribute_is_a_no_op(market, solo_split, artist):
    tx = distribute(market, solo_split, ETH, market.owner())
    assert tx.return_value == 0 and tx.status == 1
    assert "SplitDistributed" not in tx.events
    assert market.owed(artist, ETH) == 0


def test_distribute_works_while_sales_are_paused(market, owner, fan, eth_track, solo_split, artist):
    market.buy(eth_track, 10**16, {"from": fan, "value": 10**16})
    market.pauseSales({"from": owner})
    distribute(market, solo_split, ETH, fan)
    assert market.owed(artist, ETH) == 10**16 * 95 // 100
