"""The books and one full money round for the weird-token tests (test_weird_tokens.py):
what the Marketplace owes in a token, against what it holds."""
from brownie import accounts as all_accounts
from eth_utils import keccak

from conftest import FEE_BPS


MAX_PRICE = 2**88 - 1


def selector(signature):
    return keccak(text=signature)[:4]


class Books:
    """What the Marketplace owes in a token, from its own views, for every account, split
    and epoch the tests touch, against what it holds."""

    def __init__(self, market, token, splits, epochs=(0, 1)):
        self.market, self.token, self.splits, self.epochs = market, token, splits, epochs

    def owes(self):
        m, t = self.market, self.token
        owed = sum(m.owed(a, t) for a in all_accounts)
        owed += sum(m.splitBalance(s, t) for s in self.splits)
        owed += sum(m.poolBalance(e, t) + m.poolUnclaimed(e, t) for e in self.epochs)
        return owed

    def holds(self):
        return self.token.balanceOf(self.market)

    def exact(self):
        owes, holds = self.owes(), self.holds()
        assert owes == holds, f"owes {owes}, holds {holds}"
        return owes


def allow_and_fund(market, owner, token, fan, sponsor, amount):
    market.setTokenAllowed(token, True, {"from": owner})
    for who in (fan, sponsor):
        token.mint(who, amount, {"from": owner})
        token.approve(market, 2**256 - 1, {"from": who})


def list_track(market, artist, split, token, price):
    return market.registerTrack("bafkreiweird", split[0], token, price, b"", {"from": artist}).return_value


def distribute(market, split, token, sender):
    sid, recipients, shares = split
    return market.distribute(sid, token, recipients, shares, {"from": sender})


def full_round(market, owner, artist, fan, sponsor, stranger, elsewhere, payees, split, token, price, *, fee_pct=0):
    """Every money path once, checking the books after each step; `fee_pct` is the token's
    own transfer fee (the Marketplace credits what arrives). Returns the books."""
    allow_and_fund(market, owner, token, fan, sponsor, price * 1000)
    books = Books(market, token, [split[0]])
    track = list_track(market, artist, split, token, price)

    held = books.holds()
    tx = market.buy(track, price * 3, {"from": fan})
    received = books.holds() - held
    assert received == price * 3 - price * 3 * fee_pct // 100
    fee = received * FEE_BPS // 10_000
    assert tx.events["Sale"]["amount"] == received and tx.events["Sale"]["platformFee"] == fee
    assert market.splitBalance(split[0], token) == received - fee
    books.exact()

    assert distribute(market, split, token, stranger).return_value == received - fee
    assert market.splitBalance(split[0], token) == 0
    parts = {r: (received - fee) * s // 1_000_000 for r, s in zip(split[1], split[2])}
    parts[split[1][0]] += received - fee - sum(parts.values())  # the dust to the first recipient
    assert {r: market.owed(r, token) for r in split[1]} == parts
    books.exact()

    # Anyone may pay the artist; a collaborator has its share paid elsewhere.
    before = token.balanceOf(artist)
    market.withdraw(artist, [token], {"from": stranger})
    assert token.balanceOf(artist) - before == parts[artist.address] - parts[artist.address] * fee_pct // 100
    assert market.owed(artist, token) == 0
    before = token.balanceOf(elsewhere)
    tx = market.withdrawTo(elsewhere, [token], {"from": payees[0]})
    assert tx.events["Withdrawal"]["to"] == elsewhere and tx.events["Withdrawal"]["amount"] == parts[payees[0].address]
    assert token.balanceOf(elsewhere) - before == parts[payees[0].address] - parts[payees[0].address] * fee_pct // 100
    books.exact()

    # A sponsor's pool deposit is credited by what arrived and can be taken back.
    held = books.holds()
    tx = market.depositToPool(0, token, price * 10, {"from": sponsor})
    arrived = books.holds() - held
    assert tx.events["PoolDeposited"]["amount"] == arrived == market.poolDeposit(0, sponsor, token)
    books.exact()
    market.withdrawPoolDeposit(0, token, arrived // 2, {"from": sponsor})
    assert market.poolBalance(0, token) == arrived - arrived // 2
    books.exact()

    # What is left is exactly what is still owed: paying it all out empties the contract.
    for account in (payees[1], split[1][0], FEE_RECIPIENT_OF(market)):
        market.withdraw(account, [token], {"from": stranger})
    market.withdrawPoolDeposit(0, token, arrived - arrived // 2, {"from": sponsor})
    assert books.exact() == 0 and books.holds() == 0
    return books


def FEE_RECIPIENT_OF(market):  # noqa: N802 - reads like the constant it stands for
    return market.feeRecipient()


def end_epoch(market):
    """Move block time past the end of the current epoch and mine a block."""
    from brownie import chain, web3

    target = market.epochStart() + (market.currentEpoch() + 1) * market.epochSeconds() + 60
    chain.sleep(max(0, target - web3.eth.get_block("latest")["timestamp"]))
    chain.mine()


def assert_stopped_by_the_guard(token):
    assert token.hookCalled() and not token.hookSucceeded()
    assert bytes(token.hookResult())[:4] == selector("ReentrancyGuardReentrantCall()")
