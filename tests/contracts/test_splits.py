"""createSplit and distribute: validation, immutability, exact allotment. Only a split's
hash is stored: its data comes back from SplitCreated (conftest.split_data) and goes to
`distribute` as calldata."""
from conftest import ETH, distribute, sorted_split, split_data, split_id_of
from eth_utils import keccak
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


def test_a_split_paying_the_marketplace_is_refused(market, accounts, reverts_with):
    recipients, shares = sorted_split([(market, 500_000), (accounts[3], 500_000)])
    with reverts_with("Marketplace__MarketplaceAsRecipient"):
        market.createSplit(recipients, shares, {"from": accounts[0]})
    with reverts_with("Marketplace__MarketplaceAsRecipient"):
        market.createSplit([market.address], [1_000_000], {"from": accounts[0]})


# ---------------------------------------------------------------- raw calldata with dirty words


def dirty(calldata, word, byte=0, value=0x01):
    """`calldata` (hex) with byte `byte` of ABI word `word` (after the selector) set."""
    raw = bytearray(bytes.fromhex(calldata[2:]))
    raw[4 + 32 * word + byte] = value
    return "0x" + raw.hex()


def raw_call_error(market, sender, data):
    """Send raw calldata with eth_sendTransaction (brownie's transfer with data): it must
    revert; returns the 4-byte selector of the error, read with an eth_call of the same."""
    from brownie import web3
    from brownie.exceptions import VirtualMachineError

    try:
        sender.transfer(market, 0, data=data, gas_limit=500_000)
    except VirtualMachineError:
        pass
    else:
        raise AssertionError("raw call was accepted")
    answer = web3.provider.make_request("eth_call", [{"from": str(sender), "to": str(market), "data": data},
                                                     "latest"])
    assert "error" in answer, answer
    return answer["error"]["data"][:10]


def selector(signature):
    return "0x" + keccak(signature.encode()).hex()[:8]


def test_dirty_address_and_share_words_are_refused_as_malformed(market, accounts):
    recipients, shares = sorted_split([(accounts[3], 600_000), (accounts[4], 400_000)])
    clean = market.createSplit.encode_input(recipients, shares)
    # Words: 0 and 1 offsets, 2 recipients' length, 3-4 recipients, 5 shares' length, 6-7 shares.
    malformed = selector("Marketplace__MalformedSplitData()")
    cases = [
        dirty(clean, 3, 0),  # the top byte of the first address word
        dirty(clean, 4, 11),  # the lowest bit above 160 of the second address word
        dirty(clean, 6, 0),  # the top byte of a share word
        dirty(clean, 7, 27),  # the lowest bit above 32 of the second share word
    ]
    for data in cases:
        assert raw_call_error(market, accounts[0], data) == malformed, data
    # The clean calldata itself is accepted: only the dirty bits were refused.
    tx = accounts[0].transfer(market, 0, data=clean)
    assert market.splitExists(split_id_of(recipients, shares))
    assert tx.status == 1


def test_dirty_split_data_does_not_pass_distribute(market, accounts, artist, fan, reverts_with):
    """A dirty copy of a real split's data hashes to another id: WrongSplitData."""
    recipients, shares = sorted_split([(accounts[3], 600_000), (accounts[4], 400_000)])
    sid = market.createSplit(recipients, shares, {"from": artist}).return_value
    track = market.registerTrack("d", sid, ETH, 0, b"", {"from": artist}).return_value
    market.buy(track, 1000, {"from": fan, "value": 1000})
    clean = market.distribute.encode_input(sid, ETH, recipients, shares)
    # Words: 0 split id, 1 token, 2-3 offsets, 4 length, 5-6 recipients, 7 length, 8-9 shares.
    wrong = selector("Marketplace__WrongSplitData(bytes32)")
    for data in (dirty(clean, 5, 0), dirty(clean, 8, 0)):
        assert raw_call_error(market, accounts[0], data) == wrong
    assert market.splitBalance(sid, ETH) == 950


# ---------------------------------------------------------------- distribute: calldata, no-ops, exactness


def test_distribute_with_the_wrong_split_data_reverts(market, accounts, artist, fan, split_of, reverts_with):
    trio = sorted([accounts[3], accounts[4], accounts[5]], key=lambda a: int(a.address, 16))
    pairs = [(trio[0], 500_000), (trio[1], 300_000), (trio[2], 200_000)]
    sid = split_of(pairs)
    track = market.registerTrack("w", sid, ETH, 0, b"", {"from": artist}).return_value
    market.buy(track, 1000, {"from": fan, "value": 1000})
    recipients, shares = split_data(market, sid)
    wrong = [
        (list(reversed(recipients)), list(reversed(shares))),  # the wrong order
        (recipients, [300_000, 500_000, 200_000]),  # the wrong shares
        (recipients + [accounts[6].address], shares + [0]),  # an extra recipient
        (recipients[:2], shares[:2]),  # one missing
        (recipients, shares[:2]),  # lengths differing
        ([], []),
    ]
    for r, s in wrong:
        with reverts_with("Marketplace__WrongSplitData", sid):
            market.distribute(sid, ETH, r, s, {"from": fan})
    # Another split's correct data is the wrong data for this one.
    other = split_of([(accounts[6], 1_000_000)])
    with reverts_with("Marketplace__WrongSplitData", sid):
        market.distribute(sid, ETH, *split_data(market, other), {"from": fan})
    assert market.splitBalance(sid, ETH) == 950


def test_distribute_for_a_split_never_created_is_refused_or_a_no_op(market, accounts, fan, reverts_with):
    """Data never created: any id but its own hash is WrongSplitData; its own hash has no
    balance (nothing can credit a split that does not exist), so distribute returns 0."""
    recipients, shares = [accounts[3].address], [1_000_000]
    with reverts_with("Marketplace__WrongSplitData", "0x" + "11" * 32):
        market.distribute("0x" + "11" * 32, ETH, recipients, shares, {"from": fan})
    tx = market.distribute(split_id_of(recipients, shares), ETH, recipients, shares, {"from": fan})
    assert tx.return_value == 0 and "SplitDistributed" not in tx.events


def test_a_second_distribute_is_a_no_op(market, accounts, artist, fan, split_of):
    sid = split_of([(accounts[3], 500_000), (accounts[4], 500_000)])
    track = market.registerTrack("t", sid, ETH, 0, b"", {"from": artist}).return_value
    market.buy(track, 1000, {"from": fan, "value": 1000})
    assert distribute(market, sid, ETH, fan).return_value == 950
    again = distribute(market, sid, ETH, accounts[7])
    assert again.return_value == 0 and "SplitDistributed" not in again.events
    assert market.owed(accounts[3], ETH) + market.owed(accounts[4], ETH) == 950


def test_zero_parts_are_skipped_and_the_first_recipient_takes_the_rest(market, owner, accounts, artist, fan,
                                                                       split_of):
    pair = sorted([accounts[3], accounts[4]], key=lambda a: int(a.address, 16))
    sid = split_of([(pair[0], 999_999), (pair[1], 1)])
    track = market.registerTrack("z", sid, ETH, 0, b"", {"from": artist}).return_value
    market.setPlatformFee(0, {"from": owner})
    market.buy(track, 999, {"from": fan, "value": 999})  # 999 * 1 / 1e6 = 0 for the second
    tx = distribute(market, sid, ETH, fan)
    assert tx.return_value == 999
    assert market.owed(pair[0], ETH) == 999 and market.owed(pair[1], ETH) == 0
    # Likewise when the tiny share is the first recipient's: it takes the dust.
    sid2 = split_of([(pair[0], 1), (pair[1], 999_999)])
    track2 = market.registerTrack("z2", sid2, ETH, 0, b"", {"from": artist}).return_value
    market.buy(track2, 3, {"from": fan, "value": 3})
    distribute(market, sid2, ETH, fan)
    assert market.owed(pair[1], ETH) == 2 and market.owed(pair[0], ETH) == 999 + 1


def test_split_balance_is_exact_across_distribute_cycles(market, owner, accounts, artist, fan, split_of, usdc,
                                                         usdc_track):
    """The split's slot keeps a stored 1 after a distribution; splitBalance() never shows
    it, and the books balance to the wei after every cycle, in ETH and in a token."""
    pair = sorted([accounts[3], accounts[4]], key=lambda a: int(a.address, 16))
    sid = split_of([(pair[0], 700_000), (pair[1], 300_000)])
    eth = market.registerTrack("e", sid, ETH, 0, b"", {"from": artist}).return_value
    tok = market.registerTrack("u", sid, usdc, 1, b"", {"from": artist}).return_value
    fees = market.feeRecipient()
    assert market.splitBalance(sid, ETH) == 0 and market.splitBalance(sid, usdc) == 0
    for amount in (1, 7, 10**6 + 3):
        market.buy(eth, amount, {"from": fan, "value": amount})
        market.buy(tok, amount, {"from": fan})
        for token, held in ((ETH, market.balance), (usdc, lambda: usdc.balanceOf(market))):
            net = amount - amount * 500 // 10_000
            assert market.splitBalance(sid, token) == net
            assert distribute(market, sid, token, fan).return_value == net
            assert market.splitBalance(sid, token) == 0
            owed = [market.owed(p, token) for p in pair]
            assert sum(owed) == net
            market.withdraw(pair[0], [token], {"from": fan})
            market.withdraw(pair[1], [token], {"from": fan})
            assert market.owed(pair[0], token) == market.owed(pair[1], token) == 0
            assert held() == market.owed(fees, token)


def test_a_balance_too_large_to_divide_goes_out_in_parts(market, owner, accounts, artist, fan, split_of, MockUSDC):
    """Above 2**256 / 1e6 (about 1.2e71 base units) a balance cannot be divided by shares
    in one go without overflow. Unreachable with ETH (its supply is about 1.2e26 wei);
    reachable with a token whose supply is that large (or mintable at will, as MockUSDC
    is). distribute then allots the largest amount that divides and leaves the rest for
    the next call, so nothing sticks and every payee is credited exactly by share."""
    huge = MockUSDC.deploy({"from": owner})
    market.setTokenAllowed(huge, True, {"from": owner})
    market.setPlatformFee(0, {"from": owner})
    limit = (2**256 - 1) // 1_000_000
    huge.mint(fan, 2 * limit, {"from": owner})
    huge.approve(market, 2**256 - 1, {"from": fan})
    a, b = sorted([accounts[3], accounts[4]], key=lambda x: int(x.address, 16))
    sid = split_of([(a, 500_000), (b, 500_000)])
    track = market.registerTrack("huge", sid, huge, 1, b"", {"from": artist}).return_value
    market.buy(track, limit, {"from": fan})
    market.buy(track, limit, {"from": fan})
    assert market.splitBalance(sid, huge) == 2 * limit
    assert distribute(market, sid, huge, fan).return_value == limit  # the largest that divides
    assert market.splitBalance(sid, huge) == limit
    assert distribute(market, sid, huge, fan).return_value == limit
    assert market.splitBalance(sid, huge) == 0
    assert distribute(market, sid, huge, fan).return_value == 0
    assert market.owed(a, huge) + market.owed(b, huge) == 2 * limit
    assert market.owed(b, huge) == 2 * (limit * 500_000 // 1_000_000)
    assert huge.balanceOf(market) == 2 * limit
