"""Fixtures for the Marketplace contract tests (Brownie on its own Anvil)."""
import pytest

ETH = "0x0000000000000000000000000000000000000000"
FEE_BPS = 500  # 5%: a fee different from the cap catches code that confuses the two


@pytest.fixture(autouse=True)
def isolate(fn_isolation):
    """Each test starts from the chain state the module fixtures built."""


@pytest.fixture(scope="module")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def fee_recipient(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def artist(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def fan(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def market(Marketplace, owner, fee_recipient):
    return Marketplace.deploy(fee_recipient, FEE_BPS, {"from": owner})


@pytest.fixture(scope="module")
def usdc(MockUSDC, market, owner, fan):
    token = MockUSDC.deploy({"from": owner})
    market.setTokenAllowed(token, True, {"from": owner})
    token.mint(fan, 10**12, {"from": owner})
    token.approve(market, 2**256 - 1, {"from": fan})
    return token


def sorted_split(accounts_and_shares):
    """(recipients, shares) sorted by address as createSplit requires."""
    pairs = sorted(accounts_and_shares, key=lambda p: int(str(p[0]), 16))
    return [str(a) for a, _ in pairs], [s for _, s in pairs]


@pytest.fixture(scope="module")
def split_of(market, artist):
    def make(pairs, sender=None):
        recipients, shares = sorted_split(pairs)
        tx = market.createSplit(recipients, shares, {"from": sender or artist})
        return tx.return_value
    return make


@pytest.fixture(scope="module")
def sell_to_split(market, split_of, artist, fan):
    """Create a split, sell one ETH track into it for `amount` and distribute: each payee
    then has a credited `owed` balance. Returns the track id."""
    def sell(pairs, amount=1000):
        sid = split_of(pairs)
        track = market.registerTrack("x", sid, ETH, 0, b"", {"from": artist}).return_value
        market.buy(track, amount, {"from": fan, "value": amount})
        market.distribute(sid, ETH, {"from": fan})
        return track
    return sell


@pytest.fixture(scope="module")
def solo_split(split_of, artist):
    return split_of([(artist, 1_000_000)])


@pytest.fixture(scope="module")
def eth_track(market, artist, solo_split):
    tx = market.registerTrack("bafkreiethtrack", solo_split, ETH, 10**16, b"", {"from": artist})
    return tx.return_value


@pytest.fixture(scope="module")
def usdc_track(market, artist, solo_split, usdc):
    tx = market.registerTrack("bafkreiusdctrack", solo_split, usdc, 5_000_000, b"", {"from": artist})
    return tx.return_value


@pytest.fixture(scope="module")
def reverts_with(market):
    """Context manager asserting a revert with the custom error `name` and its values."""
    import brownie
    from eth_abi import decode, encode

    errors = {e["name"]: e for e in market.abi if e["type"] == "error"}

    def expect(name, *values):
        types = [i["type"] for i in errors[name]["inputs"]]
        values = [bytes.fromhex(str(v)[2:]) if t == "bytes32" else v for t, v in zip(types, values)]
        # Format the values exactly as brownie does when it decodes a typed error.
        shown = decode(types, encode(types, list(values))) if types else ()
        return brownie.reverts(f"{name}: {', '.join(str(v) for v in shown)}")

    return expect


def pytest_configure(config):
    """Run contract tests on a private Anvil, never on a chain someone uses on 8545.

    Brownie 1.22's compiled config loader cannot take `networks.development` from
    brownie-config.yaml, so the port is set here, before the plugin connects."""
    import os
    import socket

    from brownie._config import CONFIG

    port = os.environ.get("NINETY_TEST_CHAIN_PORT")
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    CONFIG.networks["development"]["cmd_settings"]["port"] = int(port)
