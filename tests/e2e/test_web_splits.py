"""Split changes with consent, the split history, listing edits, and payees withdrawing to
another address.

The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack (tests/e2e/conftest.py). A screenshot of each flow is saved under test-output/e2e/."""
from __future__ import annotations

import json
from decimal import Decimal

import requests

from ninety.contract import ETH
from tests.support.browser import SHOTS, change_split_rows, needs_chromium, page_as
from tests.support.media import wav_bytes
from tests.support.web_api import list_over_http, sorted_pairs, split_id_of, wait_for_ledger, wait_for_track

pytestmark = needs_chromium


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
