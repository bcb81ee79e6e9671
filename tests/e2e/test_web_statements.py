"""Monthly statements in the studio: the artist opens the Statements panel, reads the current
month's summary (opening owed, credits, withdrawals, closing owed per token) and downloads the
PDF and the CSV; the files hold the same totals as the API's JSON, and the closing balance
is what the contract owes the artist. A month that has not begun offers no download.

The web app in a real browser (Debian Chromium driven by Playwright), against the real
stack (tests/e2e/conftest.py). A screenshot is saved under test-output/e2e/."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import time
from pathlib import Path

import pytest
import requests

from ninety.contract import ETH

from tests.support.browser import SHOTS, needs_chromium, page_as
from tests.support.media import wav_bytes
from tests.support.web_api import list_over_http

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def anvil(clock_anvil):
    """A chain of this module's own: the statement is of the wall clock's month, and on the
    shared chain other tests may have moved the clock past it (tests/conftest.py)."""
    return clock_anvil

PRICE = 10**16
# The PDF's summary lines, as backend/statements.py writes them, by the JSON field they show.
PDF_LABELS = {"opening_owed": "Opening owed", "credits": "Credits", "withdrawals": "Withdrawals",
              "closing_owed": "Closing owed"}


def pdf_totals(data: bytes, symbol: str) -> dict[str, tuple[str, str]]:
    """Each summary total on the token's summary page of a statement PDF: (units, base units)."""
    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    page = next(p for p in pages if "Summary" in p and re.search(rf"^Token {re.escape(symbol)} 0x", p, re.M))
    out = {}
    for field, label in PDF_LABELS.items():
        m = re.search(rf"^{label}: (\S+) {re.escape(symbol)} = (\d+) base units$", page, re.M)
        assert m, f"no {label!r} line on the {symbol} summary page:\n{page}"
        out[field] = (m.group(1), m.group(2))
    return out


def test_artist_downloads_a_monthly_statement_whose_totals_match_the_ledger(web, browser):
    world, url = web[:2]
    m = world.market
    artist, collaborator, fan = world.accounts[1], world.accounts[5], world.accounts[2]
    split = json.dumps([{"address": artist, "share_ppm": 700_000}, {"address": collaborator, "share_ppm": 300_000}])
    tid = list_over_http(web, 1, wav_bytes(2.0, freq=440.0), title="Ledger Lines", artist_name="Statement Artist",
                         price=str(PRICE), split=split)
    split_id = m.track_split(tid)
    # A month with every kind of line: two sales shared out, a withdrawal, a third sale
    # shared out after it, and a fourth still waiting in the split.
    m.buy(tid, PRICE, fan)
    m.buy(tid, PRICE + 12345, fan)  # paying more than the price: the split's share does not divide evenly
    m.distribute(split_id, ETH, fan)
    m.withdraw(artist, [ETH], fan)  # anyone may trigger it; the payee is paid
    m.buy(tid, PRICE, fan)
    m.distribute(split_id, ETH, fan)
    m.buy(tid, PRICE, fan)
    head = world.w3.eth.get_block("latest")
    owed = m.owed(artist, ETH)
    month = dt.datetime.fromtimestamp(head["timestamp"], dt.timezone.utc).strftime("%Y-%m")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    assert month == now, f"the chain's clock ({month}) is not in the wall clock's month ({now}): an earlier test moved it"

    path = f"/api/ledger/artists/{artist.lower()}/statements/{month}"
    deadline = time.monotonic() + 30
    while True:
        statement = requests.get(url + path, timeout=10).json()
        if statement.get("as_of_block", -1) >= head["number"]:
            break
        assert time.monotonic() < deadline, f"the ledger never reached block {head['number']}: {statement}"
        time.sleep(0.3)
    eth = next(t for t in statement["tokens"] if t["token"] == ETH)
    # The JSON against the chain: closing is what the contract owes now, and the month adds up.
    assert int(eth["closing_owed"]) == owed > 0
    assert int(eth["withdrawals"]) > 0 and int(eth["credits"]) > int(eth["withdrawals"])
    assert int(eth["opening_owed"]) + int(eth["credits"]) - int(eth["withdrawals"]) == owed
    assert eth["waiting"] and eth["waiting"][0]["split_id"] == split_id

    page = page_as(browser, web, artist)
    page.goto("/#/studio")
    page.get_by_role("button", name="Sign in").last.click()
    picker = page.locator("#statement-month")
    picker.wait_for()
    assert picker.input_value() == now and picker.get_attribute("max") == now
    row = page.locator(f"#statement-table tr[data-token='{ETH}']")
    row.wait_for()
    for field in PDF_LABELS:
        assert row.locator(f"td[data-field='{field}']").inner_text() == f"{eth[field + '_units']} ETH", field
    assert "month is not over" in page.locator("#statement-table caption").inner_text()
    assert "Still waiting in your splits" in page.locator("#statement-waiting").inner_text()
    page.locator("#statements").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "29-studio-statement.png"), full_page=True)

    # The PDF the browser downloads shows the JSON's totals, in ETH and in wei.
    with page.expect_download() as download:
        page.locator("#statement-pdf").click()
    assert download.value.suggested_filename == f"ninety-statement-{artist.lower()}-{month}.pdf"
    totals = pdf_totals(Path(download.value.path()).read_bytes(), "ETH")
    assert totals == {f: (eth[f + "_units"], eth[f]) for f in PDF_LABELS}, totals

    # The CSV too: its summary rows carry each total in base units.
    with page.expect_download() as download:
        page.locator("#statement-csv").click()
    assert download.value.suggested_filename == f"ninety-statement-{artist.lower()}-{month}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    summary = {r["kind"]: r["amount"] for r in rows if r["section"] == "summary" and r["token"] == ETH}
    assert {f: summary[f] for f in PDF_LABELS} == {f: eth[f] for f in PDF_LABELS}

    # A month after the current one has not begun: said in words, and nothing to download.
    picker.fill("2999-01")
    picker.dispatch_event("change")
    assert "a later month has not begun" in page.locator("#statement-error").inner_text()
    assert page.locator("#statement-pdf").get_attribute("href") is None
    assert page.locator("#statement-table").count() == 0
    # An earlier month is a statement of zeros for this fresh world.
    picker.fill("2020-01")
    picker.dispatch_event("change")
    row.wait_for()
    assert row.locator("td[data-field='closing_owed']").inner_text() == "0 ETH"
    assert page.locator("#statement-pdf").get_attribute("href") == (
        f"/api/ledger/artists/{artist.lower()}/statements/2020-01?format=pdf")
    assert not page.errors
