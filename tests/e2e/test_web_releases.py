"""Releases: an artist makes an album of three tracks in the studio, a fan buys it in the
dev stablecoin with a permit (one transaction, no approve), downloads the zip and a track,
and a member's track page and the store show the album; a refused permit and a taken-down
track are said plainly.

The web app in a real browser against the real stack (tests/e2e/conftest.py); the tests
run in order on one world. Screenshots go to test-output/e2e/."""
from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import requests
from playwright.sync_api import expect

from tests.support.browser import SHOTS, needs_chromium, page_as
from tests.support.media import png_bytes, wav_bytes
from tests.support.web_api import list_over_http, wait_for_track

pytestmark = needs_chromium

TITLES = ("Intro", "Middle", "Finale")
PRICES = (2, 3, 4)  # mUSDC each: 9 bought one by one; the album is 7
ALBUM = {}  # what the first test made, for the next ones: ids, audio, release id


def mined(world, tx) -> None:
    assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def test_artist_makes_an_album_in_the_studio(web, browser, tmp_path):
    world, url = web[:2]
    artist, collaborator = world.accounts[1], world.accounts[5]
    usdc = world.usdc.address
    ids, audio = [], {}
    for i, (title, price) in enumerate(zip(TITLES, PRICES)):
        audio[title] = wav_bytes(2.0, freq=330.0 + 110 * i)
        # "Middle" pays a producer 20%: each sale of the album must pay them what a sale of it does.
        split = [{"address": artist, "share_ppm": 800_000}, {"address": collaborator, "share_ppm": 200_000}]
        ids.append(list_over_http(web, 1, audio[title], title=title, artist_name="The Album Band", token=usdc,
                                  price=str(price * 10**6), **({"split": json.dumps(split)} if i == 1 else {})))
    for tid in ids:
        wait_for_track(url, tid)
    (tmp_path / "cover.png").write_bytes(png_bytes(90, 40, 160))

    page = page_as(browser, web, artist)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    page.locator("#new-release").click()
    picker = page.get_by_label("Your tracks")
    for title in ("Intro", "Finale", "Middle"):  # out of order, then moved: Middle goes up one
        picker.select_option(label=title)
        page.get_by_role("button", name="Add to the release").click()
    page.get_by_role("button", name="Move Middle up").click()
    expect(page.locator("#release-tracks li > span")).to_have_text(list(TITLES))
    expect(page.locator("#chosen-sum")).to_have_text("Tracks bought one by one: 9.0 mUSDC")
    payees = page.get_by_label("Payee address")

    def shares() -> dict[str, str]:
        return {payees.nth(i).input_value().lower(): page.get_by_label("Share in percent").nth(i).input_value()
                for i in range(payees.count())}

    # The split is suggested from the tracks' and the release's price, recomputed as it is
    # typed: without one, the tracks' 9 mUSDC, where the producer's 0.6 mUSDC from a sale of
    # "Middle" is 6.6667% (rounded up); at 7 mUSDC it is 8.5715%.
    page.get_by_label("Paid in").select_option(label="mUSDC")
    expect(page.locator("#split-note")).to_contain_text("Suggested for a price of 9.0 mUSDC: each collaborator "
                                                        "earns from a sale of the release at least what a sale")
    assert shares() == {artist.lower(): "93.3333", collaborator.lower(): "6.6667"}
    page.get_by_label("Price").fill("0.5")  # the producer's 0.6 mUSDC does not fit in 0.5
    expect(page.locator("#split-note")).to_have_text(
        "Priced at 0.5 mUSDC this release pays its tracks' collaborators less than a sale of their tracks does: "
        "price it at 0.6 mUSDC or more (or take tracks out).")
    page.get_by_label("Price").fill("7")
    expect(page.locator("#split-note")).to_contain_text("Suggested for a price of 7.0 mUSDC")
    assert shares() == {artist.lower(): "91.4285", collaborator.lower(): "8.5715"}
    assert page.locator("#split-total").inner_text() == "Total: 100%"
    page.get_by_label("Title").fill("Three Pieces")
    page.get_by_label("Release type").select_option(label="Album")
    page.get_by_label("Genre").fill("Chamber")
    page.get_by_label("Description").fill("Three short pieces, in order.")
    page.get_by_label("Artwork (PNG or JPEG)").set_input_files(str(tmp_path / "cover.png"))
    # Less than the producer's fair share is refused before anything is sent from the wallet.
    page.get_by_label("Share in percent").nth(0).fill("95")
    page.get_by_label("Share in percent").nth(1).fill("5")
    sent = page.wallet_calls.count("eth_sendTransaction")
    page.get_by_role("button", name="Create the release").click()
    page.get_by_text("The catalog refused this split: 0x9965…A4dc gets 5% where at this price their fair share is "
                     "8.5715% (what a sale of their tracks pays them). The suggested split is back in the form: "
                     "check it and try again.").wait_for()
    assert page.wallet_calls.count("eth_sendTransaction") == sent
    assert page.get_by_label("Share in percent").nth(1).input_value() == "8.5715"
    page.screenshot(path=str(SHOTS / "17-album-split-refused.png"), full_page=True)
    page.get_by_role("button", name="Try again").click()
    page.locator("#release-registered").wait_for(timeout=90_000)
    # The refusal is history once the release went through: it no longer stands beside the success.
    assert page.get_by_text("The catalog refused this split").count() == 0
    page.screenshot(path=str(SHOTS / "17b-artist-creates-an-album.png"), full_page=True)
    release_id = int(page.locator("#release-registered a").get_attribute("href").rsplit("/", 1)[1])

    r = requests.get(f"{url}/api/releases/{release_id}", timeout=10).json()
    assert (r["title"], r["release_type"], r["genre"], r["price"], r["token"]) == (
        "Three Pieces", "album", "Chamber", str(7 * 10**6), usdc.lower())
    assert [t["track_id"] for t in r["tracks"]] == ids and r["available"]
    assert world.market.contract.functions.releaseTracks(release_id).call() == ids
    split = requests.get(f"{url}/api/splits/{r['split_id']}", timeout=10).json()
    assert dict(zip(split["recipients"], split["shares_ppm"])) == {
        artist.lower(): 914_285, collaborator.lower(): 85_715}
    # The studio lists it; on its page its artist may change its price or take it off sale.
    page.goto("/#/studio")
    page.locator("#my-releases").wait_for()
    assert page.locator("#my-releases").inner_text() == "Your releases: Three Pieces (7.0 mUSDC)"
    page.locator("#my-releases a").click()
    page.locator("#listing-form").wait_for()
    assert page.get_by_label("Price (mUSDC)").input_value() == "7.0"
    assert not page.errors
    ALBUM.update(ids=ids, audio=audio, release=release_id)


def test_fan_buys_the_album_with_a_permit_in_one_transaction_and_downloads_it(web, browser):
    world, url = web[:2]
    assert ALBUM, "the first test makes the album"
    fan, release_id = world.accounts[8], ALBUM["release"]  # wallet 8 never approved the Marketplace
    mined(world, world.usdc.functions.mint(fan, 20 * 10**6).transact({"from": world.accounts[0]}))
    assert world.usdc.functions.allowance(fan, world.market.address).call() == 0

    page = page_as(browser, web, fan)
    page.goto(f"/#/release/{release_id}")
    page.get_by_role("heading", name="Three Pieces").wait_for()
    assert page.locator("#release-price").inner_text() == "7.0 mUSDC"
    assert page.locator("#tracks-sum").inner_text() == "Tracks bought one by one: 9.0 mUSDC (the album saves 2.0 mUSDC)"
    expect(page.locator("#tracklist li a")).to_have_text(list(TITLES))
    previews = page.locator("#tracklist audio")
    assert [previews.nth(i).get_attribute("src") for i in range(3)] == [
        f"/api/tracks/{tid}/preview" for tid in ALBUM["ids"]]
    page.screenshot(path=str(SHOTS / "18-release-page.png"), full_page=True)

    page.locator("#buy").click()  # connects the wallet first
    expect(page.locator("#pay-path")).to_have_attribute("data-path", "permit")
    page.get_by_text("Permit signed").wait_for()
    page.locator("#bought").wait_for()
    # Two prompts (the permit's signature, the purchase), ONE transaction: no approve.
    assert page.wallet_calls.count("eth_signTypedData_v4") == 1
    assert page.wallet_calls.count("eth_sendTransaction") == 1
    assert world.usdc.functions.balanceOf(fan).call() == 13 * 10**6
    assert world.usdc.functions.allowance(fan, world.market.address).call() == 0  # the permit was spent
    sales = requests.get(f"{url}/api/ledger/sales", params={"buyer": fan}, timeout=10).json()["items"]
    assert [(s["track_id"], s["amount"]) for s in sales] == [(release_id, str(7 * 10**6))]

    with page.expect_download() as download:
        page.locator("#download-zip").click()  # signs in first
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as z:
        assert z.namelist() == [f"{i + 1:02d} - {t}.wav" for i, t in enumerate(TITLES)]
        assert [z.read(n) for n in z.namelist()] == [ALBUM["audio"][t] for t in TITLES]
    with page.expect_download() as download:
        page.get_by_role("button", name="Download Middle").click()
    assert Path(download.value.path()).read_bytes() == ALBUM["audio"]["Middle"]
    page.screenshot(path=str(SHOTS / "18b-fan-buys-the-album-with-a-permit.png"), full_page=True)
    # Back later with the wallet not yet connected: Buy connects, then finds it bought and sells nothing.
    again = page_as(browser, web, fan)
    again.goto(f"/#/release/{release_id}")
    again.locator("#buy").click()
    again.get_by_text("This wallet already bought this release:").wait_for()
    assert again.wallet_calls.count("eth_sendTransaction") == 0 and again.locator("#download-zip").is_visible()

    # The album is among the fan's purchases, and on its tracks' pages and in the store.
    page.goto("/#/purchases")
    page.get_by_role("heading", name="Three Pieces").wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "18c-purchases-with-an-album.png"), full_page=True)
    page.goto(f"/#/track/{ALBUM['ids'][1]}")
    on = page.locator("#on-releases")
    on.wait_for()
    assert on.inner_text() == "On releases: Three Pieces (7.0 mUSDC)"
    assert on.get_by_role("link", name="Three Pieces").get_attribute("href") == f"#/release/{release_id}"
    owned = page.locator("#owned-through")
    assert owned.inner_text().startswith("You own this track: it is on “Three Pieces”, which you bought.")
    with page.expect_download() as download:
        owned.get_by_role("button", name="Download Middle").click()
    assert Path(download.value.path()).read_bytes() == ALBUM["audio"]["Middle"]
    assert page.locator("#buy").count() == 0, "a track owned through the album is not offered again"
    page.screenshot(path=str(SHOTS / "19-track-on-a-release.png"), full_page=True)
    page.goto("/#/")
    card = page.locator("#releases article", has_text="Three Pieces")
    card.wait_for()
    assert card.locator(".kind").text_content() == "Album · 3 tracks" and "7.0 mUSDC" in card.inner_text()
    page.wait_for_load_state("networkidle")  # the cards' artwork loads lazily
    page.screenshot(path=str(SHOTS / "20-store-with-releases.png"), full_page=True)
    # The ledger: the album's own page names its tracks; the sale is marked as a release's.
    page.goto(f"/#/release/{release_id}")
    page.get_by_role("link", name="This release's sales in the ledger").click()
    page.get_by_role("heading", name=f"Release {release_id} in the ledger").wait_for()
    assert page.locator("#release-members").inner_text() == "Its tracks, in order: " + ", ".join(map(str, ALBUM["ids"]))
    page.get_by_role("link", name="Its sales").click()
    row = page.locator("#ledger-table tbody tr").first
    row.wait_for()
    assert f"{release_id} Three Pieces (release)" in row.inner_text()
    page.screenshot(path=str(SHOTS / "22-album-sale-in-the-ledger.png"), full_page=True)
    assert not page.errors


def test_a_refused_permit_sends_nothing_and_a_taken_down_track_stops_the_album(web, browser):
    world, url = web[:2]
    assert ALBUM, "the first test makes the album"
    fan, release_id = world.accounts[9], ALBUM["release"]
    mined(world, world.usdc.functions.mint(fan, 20 * 10**6).transact({"from": world.accounts[0]}))
    page = page_as(browser, web, fan, refuse=("eth_signTypedData_v4",), width=390)  # a phone-width screen
    page.goto(f"/#/release/{release_id}")
    page.locator("#buy").click()  # connects the wallet first
    page.get_by_text("You declined to sign the permit in your wallet: nothing was paid.").wait_for()
    assert page.wallet_calls.count("eth_sendTransaction") == 0
    assert world.usdc.functions.balanceOf(fan).call() == 20 * 10**6
    page.screenshot(path=str(SHOTS / "21-permit-declined-phone.png"), full_page=True)

    # The owner takes "Finale" down: the album is no longer sold, and the page says why.
    world.market.block_track(ALBUM["ids"][2], "bafkreialbumtakedownreason", world.owner)
    deadline = time.monotonic() + 30
    while requests.get(f"{url}/api/releases/{release_id}", timeout=10).json()["available"]:
        assert time.monotonic() < deadline, "the API kept selling the album"
        time.sleep(0.3)
    page.reload()
    page.locator("#unavailable").wait_for()
    assert page.locator("#unavailable").inner_text() == (
        "Not for sale: its track “Finale” was taken down, and a release is sold only whole.")
    assert page.locator("#buy").count() == 0
    page.screenshot(path=str(SHOTS / "21b-album-with-a-track-taken-down-phone.png"), full_page=True)
    assert not page.errors
