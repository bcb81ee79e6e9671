"""The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack: `ninety serve` and `ninety index` as processes, Anvil, the IPFS node. The wallet is
an injected EIP-1193 provider that forwards every request to Anvil, whose dev accounts
are unlocked (so `personal_sign` and `eth_sendTransaction` are signed by the node). A
screenshot of each flow is saved under test-output/e2e/."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from ninety.attest import CatalogSigner
from ninety.market import ETH
from ninety.paths import ROOT
from ninety.cli.services import api_service, indexer_service
from ninety.cli.supervisor import Supervisor
from tests.support.activity import new_world
from tests.support.media import png_bytes, wav_bytes

CHROMIUM = os.environ.get("NINETY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-output" / "e2e"
# CI sets NINETY_REQUIRE_BROWSER: there a missing browser is a failure, not a skip.
if not CHROMIUM and os.environ.get("NINETY_REQUIRE_BROWSER"):
    raise RuntimeError("Chromium is required (NINETY_REQUIRE_BROWSER) but not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian Chromium is not installed (apt-get install -y chromium; .ci/run does)")

PROVIDER = """
(() => {
  const rpc = %(rpc)s, account = %(account)s, chainId = %(chain)s, refuse = %(refuse)s;
  // Like a real wallet: no accounts until the site asks, then remembered across reloads.
  let id = 0, authorised = sessionStorage.getItem("test-wallet-authorised") === "1";
  const provider = {
    isNinetyTestWallet: true,
    async request({ method, params }) {
      if (method === "eth_requestAccounts") { authorised = true; sessionStorage.setItem("test-wallet-authorised", "1"); return [account]; }
      if (method === "eth_accounts") return authorised ? [account] : [];
      if (method === "eth_chainId") return chainId;
      if (refuse.includes(method)) { const e = new Error("User rejected the request."); e.code = 4001; throw e; }
      // Like a wallet extension, it reaches the node from outside the page (whose CSP
      // allows only the site's own origin): through a function the test exposes.
      const body = JSON.parse(await window.ninetyTestWalletRpc(rpc,
        JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params || [] })));
      if (body.error) { const e = new Error(body.error.message); e.code = body.error.code; e.data = body.error.data; throw e; }
      return body.result;
    },
    on() {}, removeListener() {},
  };
  const info = { uuid: "00000000-0000-4000-8000-000000000001", name: "Test wallet", icon: "data:,", rdns: "test.ninety" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


@pytest.fixture(scope="module")
def web(anvil, ipfs_node, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    from ninety.ipfs import Ipfs

    with Ipfs(ipfs_node.url) as ipfs:  # the API reads the committed pool rules from IPFS
        world = new_world(anvil.url, pin=ipfs.add_bytes)
    db = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    env = {"NINETY_DATA_DIR": str(tmp), "NINETY_RPC_URL": anvil.url, "NINETY_IPFS_API": ipfs_node.url,
           "NINETY_DB_URL": db, "NINETY_CONTRACT_ADDRESS": world.market.address,
           "NINETY_START_BLOCK": str(world.deploy_block), "NINETY_POLL_INTERVAL": "0.2",
           # Every wallet of these tests signs in from 127.0.0.1: more than a person would in
           # a minute (the limit itself is tested in tests/security/test_http_ratelimits.py).
           "NINETY_RATE_LIMIT_SIGNIN": "600/minute"}
    from ninety.db import ensure_schema, make_engine

    ensure_schema(make_engine(db))
    with Supervisor(tmp) as sup:
        sup.start(indexer_service(tmp, env, db, world.market.address, world.w3.eth.block_number))
        api = sup.start(api_service(tmp, env, port=None))
        # Listings need this API's attestations, as after `ninety deploy`.
        world.require_attestations(CatalogSigner.load(None, tmp))
        yield world, api.url, env, tmp / "ledger.sqlite3"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def page_as(browser, web, account: str, *, chain: int = 31337, refuse: tuple[str, ...] = (), width: int = 1100):
    world, url = web[:2]
    context = browser.new_context(base_url=url, accept_downloads=True, viewport={"width": width, "height": 900})
    calls: list[str] = []  # what the wallet forwarded to the node, in order (when it opened)

    def forward(rpc: str, payload: str) -> str:
        calls.append(json.loads(payload)["method"])
        return requests.post(rpc, data=payload, headers={"Content-Type": "application/json"}, timeout=60).text

    context.expose_function("ninetyTestWalletRpc", forward)
    context.add_init_script(PROVIDER % {"rpc": json.dumps(world.w3.provider.endpoint_uri), "account": json.dumps(account),
                                        "chain": json.dumps(hex(chain)), "refuse": json.dumps(list(refuse))})
    page = context.new_page()
    page.errors = []
    page.wallet_calls = calls
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.set_default_timeout(30_000)
    return page


def sign_in(page) -> None:
    page.get_by_role("button", name="Connect wallet").click()
    page.locator("#signin").click()
    page.get_by_text("(signed in)").wait_for()


def test_artist_uploads_splits_and_registers_then_a_fan_buys_and_downloads(web, browser, tmp_path):
    world, url = web[:2]
    artist, collaborator, fan = world.accounts[1], world.accounts[5], world.accounts[2]
    original = wav_bytes(3.0, freq=523.0)
    (tmp_path / "song.wav").write_bytes(original)
    (tmp_path / "cover.png").write_bytes(png_bytes(20, 160, 90))

    page = page_as(browser, web, artist)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.get_by_label("Title").wait_for()
    page.get_by_label("Audio (WAV, FLAC, MP3 or OGG)").set_input_files(str(tmp_path / "song.wav"))
    page.get_by_label("Artwork (PNG or JPEG)").set_input_files(str(tmp_path / "cover.png"))
    page.get_by_label("Title").fill("Browser Song")
    page.get_by_label("Artist name").fill("The Testers")
    page.get_by_label("Genre").fill("Test")
    page.get_by_label("Price").fill("0.01")
    page.get_by_label("Paid in").select_option(label="ETH")
    # Live validation of the split: 70 + 20 is not 100%, the upload button stays disabled.
    page.get_by_role("button", name="Add a collaborator").click()
    payees, shares = page.get_by_label("Payee address"), page.get_by_label("Share in percent")
    payees.nth(1).fill(collaborator)
    shares.nth(0).fill("70")
    shares.nth(1).fill("20")
    assert "must be exactly 100%" in page.locator("#split-total").inner_text()
    assert page.locator("#upload").is_disabled()
    shares.nth(1).fill("30")
    assert page.locator("#split-total").inner_text() == "Total: 100%"
    page.locator("#upload").click()
    page.get_by_role("button", name="Register on chain").click()
    page.locator("#registered").wait_for()
    page.screenshot(path=str(SHOTS / "1-artist-registers.png"), full_page=True)
    track_id = int(page.locator("#registered a").get_attribute("href").rsplit("/", 1)[1])
    track = requests.get(f"{url}/api/tracks/{track_id}", timeout=10).json()
    assert track["title"] == "Browser Song" and track["price"] == str(10**16) and track["token"] == ETH
    # The contract keeps only the split's hash; its payees are in the SplitCreated log, as the API serves them.
    split = requests.get(f"{url}/api/splits/{track['split_id']}", timeout=10).json()
    assert dict(zip(split["recipients"], split["shares_ppm"])) == {artist.lower(): 700_000, collaborator.lower(): 300_000}
    assert split_id_of(split["recipients"], split["shares_ppm"]) == track["split_id"]
    assert world.market.contract.functions.splitExists(track["split_id"]).call()
    assert not page.errors

    # The fan pays more than the price, watches the progress, then downloads the track.
    fan_page = page_as(browser, web, fan)
    fan_page.goto(f"/#/track/{track_id}")
    fan_page.get_by_label("Pay (ETH)").fill("0.02")
    fan_page.locator("#buy").click()
    fan_page.get_by_text("In the ledger", exact=True).wait_for()
    fan_page.get_by_text("Bought.").wait_for()
    with fan_page.expect_download() as download:
        fan_page.get_by_role("button", name="Download Browser Song").click()  # signs in first
    assert Path(download.value.path()).read_bytes() == original
    fan_page.screenshot(path=str(SHOTS / "2-fan-buys-and-downloads.png"), full_page=True)
    sales = requests.get(f"{url}/api/ledger/sales", params={"buyer": fan, "track": track_id}, timeout=10).json()["items"]
    assert [s["amount"] for s in sales] == [str(2 * 10**16)]
    fan_page.goto("/#/purchases")
    fan_page.get_by_role("heading", name="Browser Song").wait_for()
    assert not fan_page.errors

    # The artist withdraws with one click: distribute and withdraw in one transaction.
    before = world.w3.eth.get_balance(artist)
    page.goto("/#/studio")
    page.reload()
    page.locator("#withdraw").wait_for()
    page.locator("#withdraw").click()
    page.locator("#withdrawn").wait_for()
    assert page.locator("#withdrawn").inner_text().startswith("Withdrawn to your wallet: ")
    page.screenshot(path=str(SHOTS / "3-artist-withdraws.png"), full_page=True)
    share = (2 * 10**16 - 2 * 10**16 * 500 // 10_000) * 700_000 // 1_000_000
    gained = world.w3.eth.get_balance(artist) - before
    assert share - 10**15 < gained <= share, "the artist's wallet received their 70% (less gas)"
    assert world.market.owed(artist, ETH) == 0
    assert not page.errors


def split_id_of(recipients, shares) -> str:
    from web3 import Web3

    return "0x" + Web3.keccak(Web3().codec.encode(["address[]", "uint32[]"], [[Web3.to_checksum_address(r) for r in recipients],
                                                                              list(shares)])).hex().removeprefix("0x")


def test_another_wallet_uploading_a_registered_recording_sees_the_match_and_files_a_counter_notice(web, browser, tmp_path):
    world, url = web[:2]
    listed = [t for t in requests.get(f"{url}/api/tracks", params={"q": "Browser Song"}, timeout=10).json()["items"]]
    assert listed, "the first test registers Browser Song"
    (tmp_path / "same.wav").write_bytes(wav_bytes(3.0, freq=523.0))  # the very recording it registered
    (tmp_path / "cover.png").write_bytes(png_bytes(200, 20, 20))
    page = page_as(browser, web, world.accounts[6])
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.get_by_label("Title").wait_for()
    page.get_by_label("Audio (WAV, FLAC, MP3 or OGG)").set_input_files(str(tmp_path / "same.wav"))
    page.get_by_label("Artwork (PNG or JPEG)").set_input_files(str(tmp_path / "cover.png"))
    page.get_by_label("Title").fill("Totally Mine")
    page.get_by_label("Artist name").fill("Mallory")
    page.get_by_label("Price").fill("0.01")
    page.locator("#upload").click()
    refusal = page.locator("#duplicate")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "Browser Song" in text and "registered first by another wallet" in text and "counter-notice" in text
    assert refusal.get_by_role("link", name="“Browser Song”").get_attribute("href") == f"#/track/{listed[0]['track_id']}"
    page.get_by_label("Why this recording is yours to sell").fill("I produced this song and licensed it to them.")
    page.get_by_label("How a moderator can reach you").fill("mallory@example.org")
    page.get_by_role("button", name="File a counter-notice").click()
    page.locator("#counter-notice-filed").wait_for()
    page.screenshot(path=str(SHOTS / "1b-duplicate-refused.png"), full_page=True)
    assert not page.errors


def list_over_http(web, index: int, audio: bytes, **fields) -> int:
    """Sign in as dev wallet `index`, upload through the API and list the track from the
    wallet with the calls the API answers (what the studio does); the new track id."""
    from datetime import datetime, timedelta, timezone

    from eth_account import Account
    from eth_account.messages import encode_defunct
    from siwe import SiweMessage

    from ninety.cli.shared import dev_account
    from ninety.config import DEV_MNEMONIC

    world, url = web[:2]
    address, key = dev_account(DEV_MNEMONIC, index)
    nonce = requests.get(f"{url}/api/auth/nonce", timeout=10).json()
    now = datetime.now(timezone.utc)
    message = SiweMessage(domain=nonce["domain"], address=address, uri=nonce["uri"], version="1", chain_id=31337,
                          nonce=nonce["nonce"], issued_at=now.isoformat().replace("+00:00", "Z"),
                          expiration_time=(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")).prepare_message()
    signature = "0x" + Account.sign_message(encode_defunct(text=message), key).signature.hex().removeprefix("0x")
    token = requests.post(f"{url}/api/auth/login", json={"message": message, "signature": signature}, timeout=30).json()["token"]
    data = {"title": "HTTP Song", "artist_name": "Seller", **fields}
    r = requests.post(f"{url}/api/uploads", data=data, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                      files={"audio": ("song.wav", audio, "audio/wav"), "artwork": ("cover.png", png_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    for call in (r.json()["create_split_call"], r.json()["register_call"]):
        tx = world.w3.eth.send_transaction({"from": address, "to": call["to"], "data": call["data"]})
        assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return world.market.contract.functions.trackCount().call()


def test_fan_pays_in_the_stablecoin_after_approving_it(web, browser):
    world, url = web[:2]
    seller, fan = world.accounts[4], world.accounts[8]
    assert seller == world.w3.eth.accounts[4]
    tid = list_over_http(web, 4, wav_bytes(2.0, freq=700.0), title="Stable Song", token=world.usdc.address,
                         price=str(3 * 10**6))
    world.usdc.functions.mint(fan, 10 * 10**6).transact({"from": world.accounts[0]})
    assert world.usdc.functions.allowance(fan, world.market.address).call() == 0
    page = page_as(browser, web, fan)
    page.goto(f"/#/track/{tid}")
    page.get_by_label("Pay (mUSDC)").fill("2.5")
    page.locator("#buy").click()
    page.get_by_text("The price is 3.0 mUSDC; pay that or more.").wait_for()
    page.get_by_label("Pay (mUSDC)").fill("4")
    page.locator("#buy").click()
    page.get_by_text("Token approved").wait_for()
    page.get_by_text("Bought.").wait_for()
    page.screenshot(path=str(SHOTS / "2b-fan-pays-in-musdc.png"), full_page=True)
    assert world.usdc.functions.balanceOf(fan).call() == 6 * 10**6
    sales = requests.get(f"{url}/api/ledger/sales", params={"buyer": fan}, timeout=10).json()["items"]
    assert [(s["amount"], s["token_symbol"]) for s in sales] == [(str(4 * 10**6), "mUSDC")]
    assert not page.errors


def test_auditor_filters_sales_and_downloads_csv(web, browser):
    world, url = web[:2]
    buyer = world.accounts[3]
    for i in range(2):
        # The ledger is the chain's: a listing the store would not show still has its sales there.
        cid = f"bafkreiauditor{i}"  # an attested CID is listed once
        split = world.market.create_split([(world.accounts[4], 1_000_000)], world.accounts[4])
        tid = world.market.register(cid, split, ETH, 10**15, world.accounts[4], world.attest(cid, world.accounts[4], split))
        world.market.buy(tid, 10**15, buyer)
    world.market.buy(tid, 10**15, world.accounts[6])
    world.market.block_track(tid, "bafkreiauditortakedownreason", world.owner)  # the explorer lists takedowns
    page = page_as(browser, web, world.accounts[0], width=390)  # a phone-width screen
    page.goto("/#/ledger")
    page.get_by_label("buyer").fill(buyer)
    page.get_by_role("button", name="Filter").click()
    from playwright.sync_api import expect

    expect(page.locator("#ledger-table tbody tr")).to_have_count(2, timeout=30_000)  # no eval: the CSP forbids it
    with page.expect_download() as download:
        page.locator("#csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 2 and {r["buyer"] for r in rows} == {buyer.lower()}
    page.get_by_role("button", name="Check now").click()
    page.locator("#recon-result").wait_for()
    assert page.locator("#recon-result").inner_text().startswith("OK at block")
    takedown = page.locator("#takedowns tbody tr").first
    takedown.wait_for()
    assert "blocked" in takedown.inner_text() and "bafkreiauditortakedownreason" in takedown.inner_text()
    page.screenshot(path=str(SHOTS / "4-auditor-filters-and-exports.png"), full_page=True)
    # Each row links to its proof.
    page.locator("#ledger-table tbody tr a.mono").last.click()
    page.get_by_text("This log is in the canonical chain.").wait_for()
    assert json.loads(page.locator("#proof").inner_text())["matches"] is True
    assert not page.errors


def test_trouble_is_shown_plainly(web, browser):
    world = web[0]
    # A wallet on the wrong network gets a banner with a switch button.
    page = page_as(browser, web, world.accounts[1], chain=1)
    page.goto("/#/")
    page.get_by_role("button", name="Connect wallet").click()
    page.get_by_text("Your wallet is on chain 1; Ninety runs on chain 31337.").wait_for()
    assert page.get_by_role("button", name="Switch network").is_visible()
    # A refused signature is said in words.
    page = page_as(browser, web, world.accounts[1], refuse=("personal_sign",))
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.get_by_text("You rejected the request in your wallet.").wait_for()
    # An unknown track is a message, not a blank page.
    page.goto("/#/track/424242")
    page.get_by_text("Something went wrong").wait_for()
    assert "no track 424242" in page.locator("main").inner_text().lower()
    page.screenshot(path=str(SHOTS / "5-trouble.png"), full_page=True)


def test_node_trouble_and_a_lagging_indexer_are_banners(web, browser, tmp_path):
    """A second API, really in trouble: its IPFS node does not answer (a closed port) and
    its ledger is a copy no indexer follows while the chain moves on."""
    import sqlite3

    from ninety.cli.supervisor import free_port

    world, _, base_env, db_path = web
    with sqlite3.connect(db_path) as src, sqlite3.connect(tmp_path / "stale.sqlite3") as dst:
        src.backup(dst)
    world.w3.provider.make_request("anvil_mine", [hex(12)])
    env = {**base_env, "NINETY_DATA_DIR": str(tmp_path), "NINETY_DB_URL": f"sqlite:///{tmp_path / 'stale.sqlite3'}",
           "NINETY_IPFS_API": f"http://127.0.0.1:{free_port()}"}
    with Supervisor(tmp_path) as sup:
        api = sup.start(api_service(tmp_path, env, port=None))
        page = page_as(browser, web, world.accounts[1])
        page.goto(f"{api.url}/#/")
        banner = page.locator("#banner")
        banner.get_by_text("The IPFS node is down").wait_for()
        assert "blocks behind the chain" in banner.inner_text()
        page.screenshot(path=str(SHOTS / "6-node-trouble.png"), full_page=True)
        assert not page.errors


def close_epoch_after_its_end(web, epoch: int) -> dict:
    """Move Anvil's clock past `epoch`'s end, mine a block, then close it as `ninety epoch
    close` does (report pinned to IPFS, roots published from the owner's key); wait until
    the API shows it published."""
    import time

    from ninety.cli.epoch_close import close_epoch
    from ninety.cli.shared import dev_account
    from ninety.config import DEV_MNEMONIC
    from ninety.contract import Deployment
    from ninety.db import make_engine
    from ninety.ipfs import Ipfs

    world, url, env, db_path = web
    c = world.market.contract.functions
    end = c.epochStart().call() + (epoch + 1) * c.epochSeconds().call()
    now = world.w3.eth.get_block("latest")["timestamp"]
    world.w3.provider.make_request("evm_increaseTime", [max(0, end - now) + 1])
    world.w3.provider.make_request("evm_mine", [])
    assert c.currentEpoch().call() > epoch
    deployment = Deployment(chain_id=world.w3.eth.chain_id, address=world.market.address, deploy_block=world.deploy_block)
    with Ipfs(env["NINETY_IPFS_API"]) as ipfs:
        report = close_epoch(make_engine(f"sqlite:///{db_path}"), world.w3, ipfs, deployment,
                             dev_account(DEV_MNEMONIC, 0)[1], epoch, say=lambda line: None)
    deadline = time.monotonic() + 30
    while not any(e["epoch"] == epoch and e["published"] for e in requests.get(f"{url}/api/pools", timeout=10).json()["epochs"]):
        assert time.monotonic() < deadline, "the indexer did not pick up the published epoch"
        time.sleep(0.3)
    return report


def test_a_sponsor_funds_fans_sign_free_downloads_and_a_receipt_is_checked_after_the_close(web, browser, tmp_path):
    world, url = web[:2]
    artist, sponsor, fan, newcomer, shy = world.accounts[1], world.accounts[6], world.accounts[7], world.accounts[5], world.accounts[3]
    c = world.market.contract.functions
    audio = wav_bytes(2.0, freq=660.0)
    (tmp_path / "free.wav").write_bytes(audio)
    (tmp_path / "cover.png").write_bytes(png_bytes(90, 20, 160))

    # The artist lists a free track from the studio.
    page = page_as(browser, web, artist)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.get_by_label("Audio (WAV, FLAC, MP3 or OGG)").set_input_files(str(tmp_path / "free.wav"))
    page.get_by_label("Artwork (PNG or JPEG)").set_input_files(str(tmp_path / "cover.png"))
    page.get_by_label("Title").fill("Free For All")
    page.get_by_label("Artist name").fill("The Testers")
    page.get_by_label("Price").fill("0")
    page.locator("#upload").click()
    page.get_by_role("button", name="Register on chain").click()
    page.locator("#registered").wait_for()
    track_id = int(page.locator("#registered a").get_attribute("href").rsplit("/", 1)[1])

    # The fan qualifies: it bought a track (0.01 ETH, 5% of it the platform's) this epoch.
    seller = world.accounts[4]
    cid = "bafkreisponsorqualifier"
    split = world.market.create_split([(seller, 1_000_000)], seller)
    paid = world.market.register(cid, split, ETH, 10**16, seller, world.attest(cid, seller, split))
    world.market.buy(paid, 10**16, fan)
    epoch = c.currentEpoch().call()

    # A sponsor funds the current epoch from the Pools page.
    sponsor_page = page_as(browser, web, sponsor)
    sponsor_page.goto("/#/pools")
    sponsor_page.get_by_role("heading", name=f"Now: epoch {epoch}").wait_for()
    sponsor_page.get_by_label("Amount").fill("0.5")
    sponsor_page.get_by_role("button", name=f"Fund epoch {epoch}").click()
    sponsor_page.locator("#funded").wait_for()
    assert c.poolBalance(epoch, ETH).call() == 5 * 10**17

    # The fan is told the download is recorded publicly before the wallet opens, then signs.
    fan_page = page_as(browser, web, fan)
    fan_page.goto(f"/#/track/{track_id}")
    fan_page.get_by_role("button", name="Download Free For All").click()
    notice = fan_page.locator("#free-download-notice")
    notice.wait_for()
    assert "recorded publicly" in notice.inner_text() and "wallet address" in notice.inner_text()
    assert fan_page.wallet_calls == [], "the wallet has not been asked for anything yet"
    fan_page.screenshot(path=str(SHOTS / "7-free-download-notice.png"), full_page=True)
    with fan_page.expect_download() as download:
        fan_page.get_by_role("button", name="Sign and download").click()
    assert Path(download.value.path()).read_bytes() == audio
    counted = fan_page.locator("#counted")
    counted.wait_for()
    assert f"Counted: this download adds to epoch {epoch}" in counted.inner_text()
    assert "eth_signTypedData_v4" in fan_page.wallet_calls
    fan_page.screenshot(path=str(SHOTS / "7b-free-download-counted.png"), full_page=True)

    # A wallet that never bought is not counted (nor recorded), and told why.
    newcomer_page = page_as(browser, web, newcomer, width=390)  # a phone-width screen
    newcomer_page.goto(f"/#/track/{track_id}")
    newcomer_page.get_by_role("button", name="Download Free For All").click()
    with newcomer_page.expect_download():
        newcomer_page.get_by_role("button", name="Sign and download").click()
    not_counted = newcomer_page.locator("#not-counted")
    not_counted.wait_for()
    assert not_counted.inner_text().startswith("Not counted: ") and "no purchase" in not_counted.inner_text()
    assert "Not recorded" in not_counted.inner_text() and "receipt" not in not_counted.inner_text()
    newcomer_page.screenshot(path=str(SHOTS / "7c-free-download-not-counted.png"), full_page=True)

    # A wallet that refuses to sign still gets the file, and is told it does not count.
    shy_page = page_as(browser, web, shy, refuse=("eth_signTypedData_v4",))
    shy_page.goto(f"/#/track/{track_id}")
    shy_page.get_by_role("button", name="Download Free For All").click()
    with shy_page.expect_download() as download:
        shy_page.get_by_role("button", name="Sign and download").click()
    assert Path(download.value.path()).read_bytes() == audio
    shy_page.get_by_text("Not counted: you declined to sign in your wallet.").wait_for()
    assert "it just does not count" in shy_page.locator("#not-counted").inner_text()

    # The Pools page: the epoch's window, rules, listeners and the fan's standing.
    fan_page.goto("/#/pools")
    current = fan_page.locator("#current-epoch")
    current.get_by_text("counted free download").wait_for()
    assert "1 counted free download so far" in current.inner_text()
    assert "(block time)" in current.inner_text() and "by the latest block" in current.inner_text()
    assert fan_page.locator("#standing").inner_text().startswith(f"{fan[:6]}…{fan[-4:]} qualifies in epoch {epoch}.")
    assert f"waiting: epoch {epoch} has not ended" in fan_page.locator("#receipts").inner_text()
    fan_page.screenshot(path=str(SHOTS / "8-pools-current-epoch.png"), full_page=True)

    # The epoch ends (Anvil's clock moves on) and the platform closes it.
    report = close_epoch_after_its_end(web, epoch)
    fan_page.reload()
    status = fan_page.locator("#receipts .receipt-status").first
    status.get_by_text("included").wait_for()
    assert "counted" in status.inner_text()
    newcomer_page.goto("/#/pools")
    newcomer_page.locator("#receipts").get_by_text("No receipts in this browser yet").wait_for()
    newcomer_page.screenshot(path=str(SHOTS / "9b-pools-no-receipt-phone.png"), full_page=True)
    fan_page.screenshot(path=str(SHOTS / "9-receipt-included.png"), full_page=True)

    # A receipt for a download the report leaves out (here: one the shy wallet never
    # made, planted in its browser) is flagged, with the receipt to keep.
    planted = {"chain_id": 31337, "contract": world.market.address.lower(), "epoch": epoch, "wallet": shy.lower(),
               "track_id": track_id, "block_number": 1, "title": "Free For All", "signature": "0x" + "11" * 65,
               "receipt": "0x" + "22" * 65,
               "receipt_signer": None, "counted": True, "reason": "", "recorded_at": 0}
    key = f"ninety-receipts:31337:{world.market.address.lower()}"
    shy_page.context.add_init_script(f"localStorage.getItem({json.dumps(key)}) || localStorage.setItem({json.dumps(key)}, "
                                     f"{json.dumps(json.dumps([planted]))});")
    shy_page.goto("/#/pools")
    shy_page.reload()  # a hash change alone does not load the page again (nor run the script)
    shy_status = shy_page.locator("#receipts .receipt-status").first
    shy_status.get_by_text("MISSING — keep this receipt: it proves the server recorded your download").wait_for()
    assert "the report does not list it" in shy_status.inner_text() and "0x" + "22" * 65 in shy_status.inner_text()
    shy_page.screenshot(path=str(SHOTS / "9c-receipt-missing.png"), full_page=True)

    # By hand: the fan paid 5e14 wei in fees this window, so it directs at most 5e14 / 4 to
    # its one downloaded track; the platform takes 5/95 of that; the rest carries over.
    fees_paid = 10**16 * c.platformFeeBps().call() // 10_000
    allocated = fees_paid // 4
    fee = allocated * 500 // 9500
    settled = {s["token"]: s for s in report["settlements"]}[ETH]
    assert (int(settled["allocated"]), int(settled["platform_fee"])) == (allocated, fee)
    sponsor_page.reload()
    panel = sponsor_page.locator(f"#epoch-{epoch}")
    panel.locator("table.settlements").wait_for()
    assert f"→ epoch {c.currentEpoch().call()}" in panel.inner_text()
    text = panel.inner_text()
    assert "Listens root" in text and report["listens_root"] in text, text

    # The artist claims from the studio: the allocation lands in their owed balance.
    before = world.market.owed(artist, ETH)
    page.goto("/#/studio")
    page.reload()
    page.locator("#claims button.claim").first.click()
    page.get_by_text("Claimed: now in your owed balance.").wait_for()
    page.screenshot(path=str(SHOTS / "10-artist-claims.png"), full_page=True)
    assert world.market.owed(artist, ETH) - before == allocated
    sponsor_page.reload()  # the explorer now shows the allocation as claimed
    sponsor_page.locator("table.allocations td", has_text="yes").wait_for()
    sponsor_page.screenshot(path=str(SHOTS / "11-sponsor-pools-published.png"), full_page=True)
    for p in (page, fan_page, sponsor_page, newcomer_page, shy_page):
        assert not p.errors


def change_split_rows(page) -> dict[str, int]:
    """The change-split form's rows: payee address (lowercase) -> row index."""
    payees = page.get_by_label("New payee address")
    return {payees.nth(i).input_value().lower(): i for i in range(payees.count())}


def test_artist_cuts_a_collaborator_who_consents_in_their_studio_and_the_track_page_keeps_the_history(web, browser):
    from web3 import Web3

    world, url = web[:2]
    artist, collaborator, fan = world.accounts[1], world.accounts[5], world.accounts[2]
    split = json.dumps([{"address": artist, "share_ppm": 600_000}, {"address": collaborator, "share_ppm": 400_000}])
    tid = list_over_http(web, 1, wav_bytes(2.0, freq=950.0), title="Shared Song", price=str(10**16), split=split)
    first = world.market.track_split(tid)
    wait_for_track(url, tid)
    cut = split_id_of(*sorted_pairs({artist: 800_000, collaborator: 200_000}))

    # The artist opens the track: the current split in %, and the form to change it.
    page = page_as(browser, web, artist)
    page.goto(f"/#/track/{tid}")
    page.get_by_role("button", name="Connect wallet").click()
    current = page.locator("#current-split")
    current.wait_for()
    assert "60%" in current.inner_text() and "40%" in current.inner_text() and "(artist)" in current.inner_text()
    page.get_by_text("Change split", exact=True).click()
    rows, shares = change_split_rows(page), page.get_by_label("New share in percent")
    assert page.locator("#split-verdict").inner_text() == "This is the current split."
    assert page.locator("#propose-split").is_disabled()
    shares.nth(rows[artist.lower()]).fill("80")
    assert "must be exactly 100%" in page.locator("#split-verdict").inner_text()
    shares.nth(rows[collaborator.lower()]).fill("20")
    # Said before sending: the collaborator loses share, so the change waits for their consent.
    verdict = page.locator("#needs-consent")
    verdict.wait_for()
    assert f"{collaborator[:6]}…{collaborator[-4:]} (40% → 20%)" in verdict.inner_text()
    page.screenshot(path=str(SHOTS / "12-artist-proposes-a-cut.png"), full_page=True)
    page.locator("#propose-split").click()
    result = page.locator("#split-result")
    result.wait_for()
    assert result.inner_text().startswith("Proposed: waiting for 1 consent(s) from")
    # The page shows it again from the ledger: the proposal, whose consent is missing.
    proposal = page.locator(f"#split-proposals li[data-split='{cut}']")
    proposal.wait_for()
    assert "1 consent missing, from: " in proposal.inner_text() and f"{collaborator[:6]}…{collaborator[-4:]}" in proposal.inner_text()
    assert "(40% → 20%)" in proposal.inner_text()
    assert world.market.track_split(tid) == first, "nothing changes before the collaborator consents"
    assert world.market.pending_split_change(tid, cut, collaborator) == (1, True)
    assert requests.get(f"{url}/api/tracks/{tid}", timeout=10).json()["pending_split_changes"] == 1
    page.screenshot(path=str(SHOTS / "12b-proposal-waits-for-consent.png"), full_page=True)

    # The collaborator finds it in their studio, sees what they lose, and accepts.
    wait_for_ledger(url, collaborator, lambda s: any(p["track_id"] == tid for p in s["proposals_to_accept"]))
    collab = page_as(browser, web, collaborator)
    collab.goto("/#/studio")
    collab.get_by_role("button", name="Sign in").last.click()
    waiting = collab.locator(f"#proposals article[data-track='{tid}']")
    waiting.wait_for()
    assert "You lose: your share goes from 40% → 20%." in waiting.inner_text()
    assert "Shared Song" in waiting.inner_text()
    collab.screenshot(path=str(SHOTS / "13-collaborator-sees-the-proposal.png"), full_page=True)
    waiting.get_by_role("button", name="Accept").click()
    accepted = collab.locator("#accepted")
    accepted.wait_for()
    assert accepted.inner_text().startswith("Accepted: yours was the last consent")
    assert world.market.track_split(tid) == cut
    assert world.market.pending_split_change(tid, cut, collaborator) == (0, False)
    collab.locator("#proposals").wait_for(state="detached")  # the studio shows it again, with nothing left to accept

    # The artist gives the share back: only the artist loses, so it lands at once, and the
    # split already exists, so it is a plain proposeSplit (no createSplit, no multicall).
    page.reload()
    page.get_by_text("Change split", exact=True).click()
    rows, shares = change_split_rows(page), page.get_by_label("New share in percent")
    shares.nth(rows[artist.lower()]).fill("60")
    shares.nth(rows[collaborator.lower()]).fill("40")
    page.locator("#lands-at-once").wait_for()
    page.locator("#propose-split").click()
    page.locator("#split-result").get_by_text("Changed: sales from now on follow the new split.").wait_for()
    assert world.market.track_split(tid) == first

    # Anyone (here a fan without a connected wallet) sees the history, oldest change last in the table.
    fan_page = page_as(browser, web, fan, width=390)  # a phone-width screen
    fan_page.goto(f"/#/track/{tid}")
    history = fan_page.locator("#split-history tbody tr")
    from playwright.sync_api import expect

    expect(history).to_have_count(3, timeout=30_000)
    assert [history.nth(i).get_attribute("data-split") for i in range(3)] == [first, cut, first]
    assert "registered with" in history.nth(2).inner_text()
    assert "80%" in history.nth(1).inner_text() and "20%" in history.nth(1).inner_text()
    assert "from " in history.nth(0).inner_text() and "60%" in history.nth(0).inner_text()
    assert fan_page.locator("#no-proposals").is_visible()
    fan_page.get_by_text("Earlier proposals (1)").click()
    assert "applied" in fan_page.locator("#past-proposals").inner_text()
    assert fan_page.locator("#change-split").count() == 0, "only the artist gets the form"
    fan_page.screenshot(path=str(SHOTS / "14-split-history.png"), full_page=True)
    splits = requests.get(f"{url}/api/ledger/tracks/{tid}/splits", timeout=10).json()
    last_tx = splits["history"][-1]["tx_hash"]
    selector = Web3.keccak(text="proposeSplit(uint256,(address[],uint32[]),(address[],uint32[]))")[:4]
    assert bytes(world.w3.eth.get_transaction(last_tx)["input"])[:4] == selector

    # A stale Accept: the artist proposes the cut again, the collaborator opens the track
    # page (where their Accept button is too), and meanwhile a change with no loser lands
    # and voids the proposal. The refusal is a sentence, not an error code.
    assert world.market.propose_split(tid, cut, artist) is False
    wait_for_ledger(url, collaborator, lambda s: any(p["track_id"] == tid for p in s["proposals_to_accept"]))
    collab.goto(f"/#/track/{tid}")
    stale = collab.locator(f"#split-proposals li[data-split='{cut}']")
    stale.get_by_role("button", name="Accept").wait_for()
    even = world.market.create_split([(artist, 500_000), (collaborator, 500_000)], artist)
    assert world.market.propose_split(tid, even, artist) is True
    stale.get_by_role("button", name="Accept").click()
    refused = stale.locator(".failed")
    refused.wait_for()
    assert refused.inner_text() == (f"The contract refused: Your consent is not needed for this change of track {tid}: you already "
                                    "gave it, or the change already landed or was replaced by another one.")
    collab.screenshot(path=str(SHOTS / "14b-stale-accept-refused.png"), full_page=True)
    assert world.market.track_split(tid) == even

    # The artist's listing editor is updateTrack(trackId, price, listed): no split there any more.
    page.reload()
    page.get_by_label("Price (ETH)").fill("0.02")
    page.get_by_label("For sale").uncheck()
    page.get_by_role("button", name="Save").click()
    page.locator("#listing-saved").get_by_text("Saved: not for sale.").wait_for()
    artist_of, split_of, _, price, listed, _ = world.market.contract.functions.tracks(tid).call()
    assert (price, listed, "0x" + bytes(split_of).hex()) == (2 * 10**16, False, even)
    page.get_by_text("This track is not for sale right now.").wait_for()
    page.screenshot(path=str(SHOTS / "14c-artist-edits-the-listing.png"), full_page=True)

    # The artist proposes the cut once more, then thinks better of it and withdraws it:
    # the collaborator's consent can no longer make it land.
    assert world.market.propose_split(tid, cut, artist) is False
    wait_for_ledger(url, collaborator, lambda s: any(p["track_id"] == tid for p in s["proposals_to_accept"]))
    page.reload()
    page.get_by_role("button", name="Withdraw this proposal").click()
    page.locator("#proposals-cancelled").wait_for()
    assert world.market.pending_split_change(tid, cut, collaborator) == (0, False)
    page.locator("#no-proposals").wait_for(timeout=30_000)
    page.get_by_text("Earlier proposals (3)").click()
    assert "withdrawn by the artist" in page.locator("#past-proposals").inner_text()
    page.screenshot(path=str(SHOTS / "14d-artist-withdraws-a-proposal.png"), full_page=True)
    for p in (page, collab, fan_page):
        assert not p.errors


def wait_for_track(url: str, track_id: int, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/api/tracks/{track_id}", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"the API never showed track {track_id}"
        time.sleep(0.3)


def wait_for_ledger(url: str, account: str, ready, timeout: float = 30) -> dict:
    """The account's ledger summary once `ready(summary)` holds (the indexer caught up)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        summary = requests.get(f"{url}/api/ledger/artists/{account.lower()}", timeout=10).json()
        if ready(summary):
            return summary
        assert time.monotonic() < deadline, f"the ledger never showed what was expected for {account}: {summary}"
        time.sleep(0.3)


def sorted_pairs(shares: dict[str, int]) -> tuple[list[str], list[int]]:
    from ninety.market import sorted_split

    return sorted_split(list(shares.items()))


def test_a_payee_sends_earnings_to_another_address_and_a_second_click_finds_nothing_left(web, browser):
    from eth_account import Account

    world, url = web[:2]
    payee, fan, other = world.accounts[8], world.accounts[2], world.accounts[3]
    tid = list_over_http(web, 8, wav_bytes(2.0, freq=1210.0), title="Elsewhere Song", price=str(10**16))
    wait_for_track(url, tid)
    world.market.buy(tid, 10**16, fan)
    net = 10**16 - 10**16 * world.market.contract.functions.platformFeeBps().call() // 10_000
    wait_for_ledger(url, payee, lambda s: s["undistributed"])
    destination = Account.create().address
    assert world.w3.eth.get_balance(destination) == 0

    page = page_as(browser, web, payee)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.get_by_text("Send to another address").click()
    field, help_ = page.get_by_label("Address to receive your earnings"), page.locator("#withdraw-to-help")
    send = page.get_by_role("button", name="Send to this address")
    # Refused before anything is sent: the Marketplace, the zero address, a mistyped checksum.
    field.fill(world.market.address)
    send.click()
    assert "That is the Marketplace itself" in help_.inner_text()
    page.screenshot(path=str(SHOTS / "15-withdraw-elsewhere-refuses-the-marketplace.png"), full_page=True)
    field.fill("0x" + "0" * 40)
    send.click()
    assert "That is the zero address" in help_.inner_text()
    flip = next(i for i, c in enumerate(destination) if i > 1 and c.isalpha())
    field.fill(destination[:flip] + destination[flip].swapcase() + destination[flip + 1:])
    send.click()
    assert "checksum" in help_.inner_text() and "mistyped" in help_.inner_text()
    assert not [m for m in page.wallet_calls if m == "eth_sendTransaction"]
    field.fill(destination)
    send.click()
    sent = page.locator("#withdrawn")
    sent.wait_for()
    assert sent.inner_text() == f"Sent {Decimal(net) / 10**18:f} ETH to {destination}."
    page.screenshot(path=str(SHOTS / "15b-sent-to-another-address.png"), full_page=True)
    assert world.w3.eth.get_balance(destination) == net
    assert world.market.owed(payee, ETH) == 0
    withdrawals = requests.get(f"{url}/api/ledger/withdrawals", params={"account": payee}, timeout=10).json()["items"]
    assert [(w["amount"], w["paid_to"]) for w in withdrawals] == [(str(net), destination.lower())]

    # Another sale; the studio shows it waiting in the split. Someone else distributes and
    # withdraws it for the payee first (to the payee's wallet, as anyone may): the
    # one-click withdraw still succeeds, and says there was nothing left to collect.
    world.market.buy(tid, 10**16, fan)
    wait_for_ledger(url, payee, lambda s: s["undistributed"])
    page.reload()
    page.locator("#withdraw").wait_for()
    assert "Also waiting in your splits" in page.locator("main").inner_text()
    before = world.w3.eth.get_balance(payee)
    world.market.distribute(world.market.track_split(tid), ETH, other)
    world.market.withdraw(payee, [ETH], other)
    assert world.w3.eth.get_balance(payee) == before + net
    page.locator("#withdraw").click()
    nothing = page.locator("#withdrawn")
    nothing.wait_for()
    assert nothing.inner_text().startswith("Nothing left to collect")
    assert "failed" not in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "16-nothing-left-to-collect.png"), full_page=True)
    assert world.w3.eth.get_balance(destination) == net
    # The ledger explorer says where each withdrawal was paid.
    page.goto(f"/#/ledger?kind=withdrawals&account={payee}")
    from playwright.sync_api import expect

    expect(page.locator("#ledger-table tbody tr")).to_have_count(2, timeout=30_000)
    assert f"paid to {destination[:6]}…{destination[-4:]}" in page.locator("#ledger-table").inner_text()
    assert not page.errors
