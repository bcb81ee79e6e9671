"""Selling: an artist uploads and registers, fans buy in ETH and in a token and download, a
duplicate recording is refused, an auditor exports the ledger; and trouble shown plainly.

The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack (tests/e2e/conftest.py). A screenshot of each flow is saved under test-output/e2e/."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import requests

from ninety.cli.services import api_service
from ninety.cli.supervisor import Supervisor
from ninety.contract import ETH
from tests.support.browser import SHOTS, needs_chromium, page_as
from tests.support.media import png_bytes, wav_bytes
from tests.support.web_api import list_over_http, split_id_of

pytestmark = needs_chromium


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
    assert fan_page.locator("#track-facts").inner_text().endswith("1 sale")  # not the count drawn before it
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


def test_fan_pays_in_the_stablecoin_after_approving_it(web, browser):
    """A wallet that cannot sign typed data (no permit) approves the token, then buys."""
    world, url = web[:2]
    seller, fan = world.accounts[4], world.accounts[8]
    assert seller == world.w3.eth.accounts[4]
    tid = list_over_http(web, 4, wav_bytes(2.0, freq=700.0), title="Stable Song", token=world.usdc.address,
                         price=str(3 * 10**6))
    world.usdc.functions.mint(fan, 10 * 10**6).transact({"from": world.accounts[0]})
    assert world.usdc.functions.allowance(fan, world.market.address).call() == 0
    page = page_as(browser, web, fan, lacks=("eth_signTypedData_v4",))
    page.goto(f"/#/track/{tid}")
    page.get_by_label("Pay (mUSDC)").fill("2.5")
    page.locator("#buy").click()
    page.get_by_text("The price is 3.0 mUSDC; pay that or more.").wait_for()
    page.get_by_label("Pay (mUSDC)").fill("4")
    page.locator("#buy").click()
    page.get_by_text("Your wallet cannot sign permits, so the token is approved first.").wait_for()
    page.get_by_text("Token approved").wait_for()
    page.get_by_text("Bought.").wait_for()
    assert page.wallet_calls.count("eth_sendTransaction") == 2  # approve, then buy
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
