"""buyWithPermit: an EIP-2612 permit and the purchase in one transaction; a permit someone
else submitted first does not fail the purchase, a missing allowance does."""
import brownie
import pytest

from conftest import ETH, FEE_BPS, anvil_key, permit

REASON = "bafkreitakedownreason"
PRICE = 5_000_000  # usdc_track's price


@pytest.fixture(scope="module")
def buyer(accounts, usdc, owner):
    """A wallet holding USDC that never approved the marketplace (the fan fixture did)."""
    usdc.mint(accounts[6], 10**12, {"from": owner})
    return accounts[6]


@pytest.fixture(scope="module")
def key(buyer):
    return anvil_key(buyer)


@pytest.fixture(scope="module")
def stranger(accounts):
    return accounts[7]


def deadline(seconds=3600):
    return brownie.chain.time() + seconds


def signed(usdc, key, buyer, market, value, until=None, nonce=None):
    return permit(usdc, key, buyer, market, value, deadline() if until is None else until, nonce)


def test_buy_a_track_with_a_permit(market, usdc, usdc_track, buyer, key, solo_split, fee_recipient):
    amount = PRICE * 2  # pay what you want: the permit covers the amount paid
    until = deadline()
    assert usdc.allowance(buyer, market) == 0 and usdc.nonces(buyer) == 0
    before = usdc.balanceOf(buyer)
    tx = market.buyWithPermit(usdc_track, amount, until, *signed(usdc, key, buyer, market, amount, until),
                              {"from": buyer})
    fee = amount * FEE_BPS // 10_000
    assert list(tx.events["Sale"].values()) == [usdc_track, buyer, usdc, amount, fee, solo_split]
    # The permit's approval was spent by the purchase in the same transaction.
    assert [(e["owner"], e["spender"], e["value"]) for e in tx.events["Approval"]][0] == (buyer, market, amount)
    assert usdc.allowance(buyer, market) == 0
    assert usdc.nonces(buyer) == 1
    assert usdc.balanceOf(buyer) == before - amount
    assert market.splitBalance(solo_split, usdc) == amount - fee
    assert market.owed(fee_recipient, usdc) == fee


def test_buy_a_release_with_a_permit(market, usdc, artist, buyer, key, solo_split, usdc_track):
    rid = market.registerRelease("bafkreirelease", solo_split, usdc, 7_000_000, [usdc_track], b"",
                                 {"from": artist}).return_value
    tx = market.buyWithPermit(rid, 7_000_000, deadline(), *signed(usdc, key, buyer, market, 7_000_000),
                              {"from": buyer})
    assert tx.events["Sale"]["trackId"] == rid and tx.events["Sale"]["amount"] == 7_000_000
    assert usdc.allowance(buyer, market) == 0 and usdc.nonces(buyer) == 1
    assert usdc.balanceOf(market) == 7_000_000


def test_a_front_run_permit_does_not_fail_the_purchase(market, usdc, usdc_track, buyer, key, stranger):
    """Someone copies the permit from the mempool and submits it first: the nonce is used,
    the allowance is there, and the purchase goes on with it."""
    until = deadline()
    sig = signed(usdc, key, buyer, market, PRICE, until)
    usdc.permit(buyer, market, PRICE, until, *sig, {"from": stranger})
    assert usdc.allowance(buyer, market) == PRICE and usdc.nonces(buyer) == 1
    tx = market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": buyer})
    assert tx.events["Sale"]["buyer"] == buyer
    assert usdc.allowance(buyer, market) == 0 and usdc.nonces(buyer) == 1


def test_a_used_permit_without_allowance_reverts(market, usdc, usdc_track, buyer, key, reverts_with):
    until = deadline()
    sig = signed(usdc, key, buyer, market, PRICE, until)
    market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": buyer})
    with reverts_with("Marketplace__PermitFailed", usdc.address, 0, PRICE):
        market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": buyer})


def test_an_expired_permit_reverts(market, usdc, usdc_track, buyer, key, reverts_with):
    until = deadline(100)
    sig = signed(usdc, key, buyer, market, PRICE, until)
    brownie.chain.sleep(200)
    brownie.chain.mine()
    with reverts_with("Marketplace__PermitFailed", usdc.address, 0, PRICE):
        market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": buyer})
    assert usdc.nonces(buyer) == 0


def test_a_permit_for_less_than_the_amount_reverts(market, usdc, usdc_track, buyer, key, reverts_with):
    until = deadline()
    sig = signed(usdc, key, buyer, market, PRICE, until)
    with reverts_with("Marketplace__PermitFailed", usdc.address, 0, PRICE + 1):
        market.buyWithPermit(usdc_track, PRICE + 1, until, *sig, {"from": buyer})
    # Not even with some allowance left over, when it is short of the amount.
    usdc.approve(market, PRICE, {"from": buyer})
    with reverts_with("Marketplace__PermitFailed", usdc.address, PRICE, PRICE + 1):
        market.buyWithPermit(usdc_track, PRICE + 1, until, *sig, {"from": buyer})


def test_someone_elses_permit_buys_nothing_with_their_money(market, usdc, usdc_track, buyer, key, stranger,
                                                             reverts_with):
    """The permit's owner is the caller: the buyer's signature, sent by a stranger, neither
    spends the buyer's tokens nor buys for the stranger."""
    until = deadline()
    sig = signed(usdc, key, buyer, market, PRICE, until)
    with reverts_with("Marketplace__PermitFailed", usdc.address, 0, PRICE):
        market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": stranger})
    assert usdc.nonces(buyer) == 0 and usdc.balanceOf(market) == 0


def test_an_expired_permit_with_an_approval_buys_through_the_allowance(market, usdc, usdc_track, buyer, key):
    until = deadline(100)
    sig = signed(usdc, key, buyer, market, PRICE, until)
    brownie.chain.sleep(200)
    brownie.chain.mine()
    usdc.approve(market, PRICE, {"from": buyer})
    market.buyWithPermit(usdc_track, PRICE, until, *sig, {"from": buyer})
    assert usdc.allowance(buyer, market) == 0 and usdc.balanceOf(market) == PRICE


@pytest.fixture
def plain_token(market, owner, artist, buyer, solo_split, WeirdNoReturnToken):
    """An allowed ERC-20 without `permit` (and USDT-style returns): (token, its track)."""
    token = WeirdNoReturnToken.deploy({"from": owner})
    market.setTokenAllowed(token, True, {"from": owner})
    token.mint(buyer, 10**9, {"from": owner})
    track = market.registerTrack("plain", solo_split, token, 1000, b"", {"from": artist}).return_value
    return token, track


def test_a_token_without_permit_buys_through_an_approval(market, buyer, plain_token, solo_split):
    token, track = plain_token
    token.approve(market, 1000, {"from": buyer})
    tx = market.buyWithPermit(track, 1000, deadline(), 27, "0x" + "00" * 32, "0x" + "00" * 32, {"from": buyer})
    assert tx.events["Sale"]["amount"] == 1000
    assert token.balanceOf(market) == 1000 and token.allowance(buyer, market) == 0


def test_a_token_without_permit_and_no_approval_reverts(market, buyer, plain_token, reverts_with):
    token, track = plain_token
    with reverts_with("Marketplace__PermitFailed", token.address, 0, 1000):
        market.buyWithPermit(track, 1000, deadline(), 27, "0x" + "00" * 32, "0x" + "00" * 32, {"from": buyer})


def test_an_eth_listing_ignores_the_permit(market, artist, buyer, key, usdc, solo_split, eth_track, reverts_with):
    """buyWithPermit sends no ETH: a free ETH track is bought, a priced one refused as `buy`
    with no ETH would be; the permit is never submitted."""
    free = market.registerTrack("free", solo_split, ETH, 0, b"", {"from": artist}).return_value
    sig = signed(usdc, key, buyer, market, 0)
    tx = market.buyWithPermit(free, 0, deadline(), *sig, {"from": buyer})
    assert list(tx.events["Sale"].values())[:4] == [free, buyer, ETH, 0]
    assert usdc.nonces(buyer) == 0
    with reverts_with("Marketplace__WrongEthValue", 0, 10**16):
        market.buyWithPermit(eth_track, 10**16, deadline(), *sig, {"from": buyer})


def test_buy_with_permit_of_an_unknown_id_reverts(market, usdc, buyer, key, reverts_with):
    with reverts_with("Marketplace__UnknownTrack", 42):
        market.buyWithPermit(42, PRICE, deadline(), *signed(usdc, key, buyer, market, PRICE), {"from": buyer})


def test_buy_with_permit_while_paused_reverts_and_leaves_the_permit_unused(market, owner, usdc, usdc_track, buyer,
                                                                         key, reverts_with):
    market.pauseSales({"from": owner})
    with reverts_with("Marketplace__SalesPaused"):
        market.buyWithPermit(usdc_track, PRICE, deadline(), *signed(usdc, key, buyer, market, PRICE),
                             {"from": buyer})
    assert usdc.nonces(buyer) == 0 and usdc.allowance(buyer, market) == 0


def test_buy_with_permit_checks_the_listing_as_buy_does(market, owner, artist, usdc, usdc_track, buyer, key,
                                                        solo_split, reverts_with):
    rid = market.registerRelease("bafkreirelease", solo_split, usdc, PRICE, [usdc_track], b"",
                                 {"from": artist}).return_value
    with reverts_with("Marketplace__AmountBelowPrice", PRICE - 1, PRICE):
        market.buyWithPermit(rid, PRICE - 1, deadline(), *signed(usdc, key, buyer, market, PRICE - 1),
                             {"from": buyer})
    market.blockTrack(usdc_track, REASON, {"from": owner})
    with reverts_with("Marketplace__TrackBlocked", usdc_track):
        market.buyWithPermit(rid, PRICE, deadline(), *signed(usdc, key, buyer, market, PRICE), {"from": buyer})
    assert usdc.nonces(buyer) == 0
