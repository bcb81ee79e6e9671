"""Sponsor pools: a sponsor funds an epoch, fans sign free downloads, the epoch is closed and
a receipt checked, the artist claims.

The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack (tests/e2e/conftest.py). A screenshot of each flow is saved under test-output/e2e/."""
from __future__ import annotations

import json
from pathlib import Path

from ninety.contract import ETH
from tests.support.browser import SHOTS, needs_chromium, page_as
from tests.support.media import png_bytes, wav_bytes
from tests.support.web_api import close_epoch_after_its_end

pytestmark = needs_chromium


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
