"""Artists and fans by name: an artist edits their profile in the studio (picture included)
and their page shows it; names replace addresses on the track page, the ledger and the
store's search; a fan's page lists what they bought; a buyer downloads an MP3 through the
format chooser and it decodes to the original's duration; a wallet that did not buy gets no
download, and is refused when it asks anyway.

The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack (tests/e2e/conftest.py). A screenshot of each flow is saved under test-output/e2e/."""
from __future__ import annotations

import io
import time
from pathlib import Path

import requests
from web3 import Web3

from ninety.contract import ETH

from tests.support.browser import SHOTS, needs_chromium, page_as, sign_in
from tests.support.media import png_bytes, wav_bytes
from tests.support.web_api import list_over_http

pytestmark = needs_chromium

NAME, BIO = "Ada Quietwave", "Synth pieces from a small room.\nRecorded at night."
SECONDS = 4.0


def test_artist_profile_fan_page_names_and_format_downloads(web, browser, tmp_path):
    import av
    from PIL import Image

    world, url = web[:2]
    artist, fan, stranger = world.accounts[1], world.accounts[2], world.accounts[3]
    original = wav_bytes(SECONDS, freq=660.0, rate=44100)
    tid = list_over_http(web, 1, original, title="Night Window", artist_name="Listing Name", price=str(10**15))
    (tmp_path / "me.png").write_bytes(png_bytes(30, 120, 200))

    # The artist fills in the profile in the studio, picture included.
    page = page_as(browser, web, artist)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    form = page.locator("#profile-form")
    form.wait_for()
    form.get_by_label("Name").fill(NAME)
    form.get_by_label("Bio").fill(BIO)
    page.get_by_role("button", name="Add a link").click()
    form.get_by_label("Link label").fill("Bandcamp")
    form.get_by_label("Link address").fill("https://adaquietwave.example/music")
    form.get_by_label("Picture (PNG or JPEG)").set_input_files(str(tmp_path / "me.png"))
    page.locator("#save-profile").click()
    result = page.locator("#profile-result p").filter(has_not_text="Saving…")
    result.wait_for()
    assert result.get_attribute("id") == "profile-saved", result.inner_text()
    page.screenshot(path=str(SHOTS / "23-artist-edits-profile.png"), full_page=True)

    # Their page shows it: name, bio, the link by its label (never the raw address), the picture.
    page.get_by_role("link", name="See your artist page.").click()
    page.get_by_role("heading", name=NAME, level=1).wait_for()
    assert page.locator("#artist-bio").inner_text() == BIO
    link = page.locator("#artist-links a")
    assert link.inner_text() == "Bandcamp" and link.get_attribute("href") == "https://adaquietwave.example/music"
    assert "nofollow" in link.get_attribute("rel")
    src = page.locator("#artist-avatar").get_attribute("src")
    profile = requests.get(f"{url}/api/artists/{artist.lower()}", timeout=10).json()
    assert src == profile["avatar_url"] and src.startswith(f"/api/artists/{artist.lower()}/avatar")
    picture = requests.get(url + src, timeout=10)
    assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).size[0] > 0
    page.locator("#artist-tracks").get_by_role("link", name="Night Window", exact=True).wait_for()
    assert "0 supporters" in page.locator("#artist-paid").inner_text()
    page.screenshot(path=str(SHOTS / "24-artist-page.png"), full_page=True)

    # A fan finds the artist by name in the store, and sees the name on the track page.
    fan_page = page_as(browser, web, fan)
    fan_page.goto("/#/?q=quietwave")
    card = fan_page.locator("article.card", has_text="Night Window")
    card.wait_for()
    assert card.get_by_role("link", name=NAME, exact=True).get_attribute("href") == f"#/artist/{artist.lower()}"
    fan_page.goto(f"/#/track/{tid}")
    fan_page.locator("#track-artist").get_by_role("link", name=NAME, exact=True).wait_for()
    # A name is anyone's to choose: where money goes, the wallet's short address stands beside it.
    short = f"{Web3.to_checksum_address(artist)[:6]}…{Web3.to_checksum_address(artist)[-4:]}"
    assert fan_page.locator("#track-artist .addr-tag").inner_text() == short
    assert fan_page.locator("#current-split .addr-tag").inner_text() == short
    assert fan_page.get_by_role("button", name="Download Night Window").count() == 0, "not bought: no download"
    fan_page.locator("#buy").click()
    fan_page.get_by_text("Bought.").wait_for()

    # The buyer picks MP3: the file is an MP3 of the original's length.
    fan_page.get_by_label("Format for Night Window").select_option("mp3")
    with fan_page.expect_download(timeout=120_000) as download:
        fan_page.get_by_role("button", name="Download Night Window").click()  # signs in first
    assert download.value.suggested_filename.endswith(".mp3")
    data = Path(download.value.path()).read_bytes()
    assert data != original
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "mp3" and stream.codec_context.name.startswith("mp3")  # mp3float decodes it
        decoded = sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate
    assert abs(decoded - SECONDS) < 0.06, decoded  # an MP3 frame is 1152 samples (26 ms at 44.1 kHz)
    fan_page.screenshot(path=str(SHOTS / "25-fan-downloads-an-mp3.png"), full_page=True)

    # The fan's page lists the purchase, by the artist's name.
    fan_page.goto(f"/#/fan/{fan.lower()}")
    item = fan_page.locator(f"#fan-items li[data-track='{tid}']")
    item.wait_for()
    assert item.get_by_role("link", name="Night Window", exact=True).get_attribute("href") == f"#/track/{tid}"
    assert item.get_by_role("link", name=NAME, exact=True).get_attribute("href") == f"#/artist/{artist.lower()}"
    assert "0.001 ETH" in item.inner_text()
    fan_page.screenshot(path=str(SHOTS / "26-fan-page.png"), full_page=True)

    # The ledger names both sides: the artist links to their page, the buyer to theirs.
    fan_page.goto(f"/#/ledger?track={tid}")
    row = fan_page.locator("#ledger-table tbody tr").first
    row.wait_for()
    assert row.get_by_role("link", name=NAME, exact=True).get_attribute("href") == f"#/artist/{artist.lower()}"
    assert row.locator(f"a[href='#/fan/{fan.lower()}']").count() == 1
    # The artist's name with the short address beside it; the fan has no name: the link is the short address.
    assert [t.inner_text() for t in row.locator(".addr-tag").all()] == [short]
    fan_page.screenshot(path=str(SHOTS / "27-ledger-with-names.png"), full_page=True)

    # The artist page counts the supporter. The sale sits in the track's split until it is
    # shared out; then the ledger credits the artist, and the page shows it linked to the audit.
    fan_page.goto(f"/#/artist/{artist.lower()}")
    paid = fan_page.locator("#artist-paid")
    paid.get_by_text("1 supporter").wait_for()
    assert "Nothing credited yet" in paid.inner_text()
    world.market.distribute(world.market.track_split(tid), ETH, fan)
    net = 10**15 - 10**15 * world.market.contract.functions.platformFeeBps().call() // 10_000
    deadline = time.time() + 30
    while time.time() < deadline and not requests.get(f"{url}/api/artists/{artist.lower()}", timeout=10).json()["paid"]:
        time.sleep(0.3)
    fan_page.reload()
    amount = paid.locator("ul.paid a")
    amount.wait_for()
    assert amount.inner_text() == f"{Web3.from_wei(net, 'ether').normalize()} ETH"
    assert amount.get_attribute("href") == f"#/ledger/artist/{artist.lower()}"
    fan_page.screenshot(path=str(SHOTS / "24b-artist-page-after-a-sale.png"), full_page=True)
    assert fan_page.locator("#audit-link").get_attribute("href") == f"#/ledger/artist/{artist.lower()}"
    fan_page.locator("#audit-link").click()
    fan_page.get_by_role("heading", name=f"{NAME} in the ledger").wait_for()
    assert fan_page.locator("#ledger-address").inner_text() == Web3.to_checksum_address(artist)

    # A wallet that did not buy sees Buy, not Download, and the server refuses it the file
    # in any format (with its session: the gate is the purchase, not the sign-in).
    other = page_as(browser, web, stranger)
    other.goto(f"/#/track/{tid}")
    other.locator("#buy").wait_for()
    sign_in(other)
    assert other.get_by_role("button", name="Download Night Window").count() == 0
    for fmt in ("mp3", "original"):
        assert other.request.get(f"/api/tracks/{tid}/download?format={fmt}").status == 403
    other.screenshot(path=str(SHOTS / "28-non-buyer-sees-no-download.png"), full_page=True)
    for p in (page, fan_page, other):
        assert not p.errors
