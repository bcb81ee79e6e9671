"""Monthly statements through the API, over a ledger the real indexer built from real Anvil
activity, on SQLite and PostgreSQL. Every figure is checked against what the chain's logs
say (tests.support.statements computes that from web3 event logs and block timestamps,
not from the ledger): a payee of a three-payee split across a month boundary (23:59:59
and 00:00:00), the artist, the fee recipient, a month with a withdrawal and a pool claim,
an empty month; the CSV and the PDF against the JSON; bad input."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from fractions import Fraction

import pytest
from pypdf import PdfReader

from ninety.market import ETH
from tests.support.stack import DATABASES, ledger_stack
from tests.support.statements import build, expected, in_units, sale_nets


@pytest.fixture(scope="module")
def anvil(clock_anvil):
    """A chain of this module's own: the statements' world jumps the clock to the next
    month's first second, which no other test should inherit (tests/conftest.py)."""
    return clock_anvil


@pytest.fixture(params=DATABASES)
def world(request, anvil, ipfs_node, tmp_path):
    with ledger_stack(request.param, anvil, ipfs_node, tmp_path) as s:
        yield s


def get(stack, address: str, month: str, **params):
    r = stack.client.get(f"/api/ledger/artists/{address}/statements/{month}", params=params)
    assert r.status_code == 200, r.text
    return r


def eth(body) -> dict:
    return next(t for t in body["tokens"] if t["token"] == ETH)


def check_against_chain(stack, address: str, month: str) -> dict:
    """The statement's totals, lines and artist section equal the chain's, per token."""
    body = get(stack, address, month).json()
    usdc = stack.world.usdc.functions
    registry = {ETH: ("ETH", 18), stack.world.usdc.address.lower(): (usdc.symbol().call(), usdc.decimals().call())}
    assert {t["token"] for t in body["tokens"]} <= set(registry)
    for t in body["tokens"]:
        assert (t["token_symbol"], t["token_decimals"]) == registry[t["token"]]
        check_token(stack, t, expected(stack.world, address, month, t["token"]), month)
    return body


def check_token(stack, t: dict, want: dict, month: str) -> None:
    decimals = t["token_decimals"]
    assert int(t["opening_owed"]) == want["opening"]
    assert int(t["credited_from_sales"]) + int(t["credited_from_pool_claims"]) == want["distributed"]
    assert int(t["credited_platform_fees"]) == want["fees"]
    assert int(t["credited_unattributed"]) == 0
    assert int(t["withdrawals"]) == want["withdrawals"]
    assert int(t["closing_owed"]) == want["closing"]
    # The identity, exactly, and each amount's token units are the same number.
    assert int(t["opening_owed"]) + int(t["credits"]) - int(t["withdrawals"]) == int(t["closing_owed"])
    for k in ("opening_owed", "credits", "withdrawals", "closing_owed"):
        assert Decimal(t[k + "_units"]) == in_units(int(t[k]), decimals)
    # Every line names a log of the chain: the distribution, fee or withdrawal it is.
    assert {(x["tx_hash"], x["log_index"]) for x in t["lines"]} == want["refs"]
    for x in t["lines"]:
        assert x["block_time_utc"].startswith(month) and Decimal(x["amount_units"]) == in_units(int(x["amount"]), decimals)
    # Each distribution's credit is spread over what filled the split, in proportion.
    nets = sale_nets(stack.world)
    for d in want["distributions"]:
        mine = [x for x in t["lines"] if (x["tx_hash"], x["log_index"]) == (d["tx"], d["log"])]
        assert sum(int(x["amount"]) for x in mine) == d["credit"]
        assert sum(int(x["portion"]) for x in mine) <= d["amount"]
        for x in mine:
            listing, net, _ = nets[(x["source_tx_hash"], x["source_log_index"])]
            assert int(x["portion"]) == net  # one distribution paid each inflow whole
            assert abs(int(x["amount"]) - Fraction(net * d["credit"], d["amount"])) < 1
            assert (x["source_table"] == "pool_claim") == (listing < 0)
            if listing >= 0:
                assert x["track_id"] == listing
    by_listing = sum(int(x["amount"]) for x in t["credited_by_listing"])
    assert by_listing == int(t["credited_from_sales"])
    assert {x["track_id"]: [x["units"], int(x["gross"]), int(x["platform_fees"]), int(x["net"])]
            for x in t["artist_listings"]} == want["listings"]


def test_statements_match_the_chain_across_a_month_boundary(world, ipfs_node, monkeypatch):
    stack = world
    s = build(stack.world, stack.services.ipfs)
    stack.sync()
    nets = sale_nets(stack.world)
    t2_sale = next(k for k, v in nets.items() if v[0] == s.listings["T2"])
    r_sale = next(k for k, v in nets.items() if v[0] == s.listings["R"])
    assert nets[t2_sale][2] == s.boundary - 1 and nets[r_sale][2] == s.boundary

    # The collaborator (a payee, not the artist): the month before the boundary has a
    # distribution and a withdrawal; the 23:59:59 sale is still waiting in the split.
    before = check_against_chain(stack, s.collab, s.before)
    b = eth(before)
    assert int(b["withdrawals"]) > 0 and b["artist_listings"] == []
    waiting = {x["split_id"]: int(x["amount"]) for x in b["waiting"]}
    assert waiting == {s.split: nets[t2_sale][1]}
    # The month after: opening is the month before's closing; the distribution pays out the
    # 23:59:59 sale (credited now, when it became owed), the 00:00:00 one and the pool claim.
    after = check_against_chain(stack, s.collab, s.after)
    a = eth(after)
    assert a["opening_owed"] == b["closing_owed"]
    sources = {(x["source_tx_hash"], x["source_log_index"]) for x in a["lines"] if x["kind"] == "credit"}
    assert t2_sale in sources and r_sale in sources
    assert int(a["credited_from_pool_claims"]) > 0 and int(a["withdrawals"]) > 0
    assert {x["track_id"] for x in a["credited_by_listing"]} == {s.listings["T2"], s.listings["R"]}
    kinds = {x["track_id"]: x["listing_kind"] for x in a["credited_by_listing"]}
    assert kinds[s.listings["R"]] == "release" and kinds[s.listings["T2"]] == "track"
    # The current month's closing is what the contract owes now.
    assert int(a["closing_owed"]) == stack.world.market.owed(s.collab, ETH)
    assert after["complete"] is False and before["complete"] is True
    # The same figure as the ledger's artist summary (one crediting rule behind both).
    summary = stack.client.get(f"/api/ledger/artists/{s.collab}").json()
    assert {t["token"]: t["owed_in_ledger"] for t in summary["tokens"]} == \
        {t["token"]: t["closing_owed"] for t in after["tokens"]}
    usdc = stack.world.usdc.address.lower()
    stable = next(t for t in after["tokens"] if t["token"] == usdc)
    assert int(stable["closing_owed"]) == stack.world.market.owed(s.collab, usdc) > 0
    assert [x["track_id"] for x in stable["credited_by_listing"]] == [s.listings["T4"]]

    # The artist: its listings' sales on the right side of the boundary.
    art_before = eth(check_against_chain(stack, s.artist, s.before))
    art_after = eth(check_against_chain(stack, s.artist, s.after))
    assert s.listings["T2"] in {x["track_id"] for x in art_before["artist_listings"]}
    assert s.listings["R"] not in {x["track_id"] for x in art_before["artist_listings"]}
    assert {x["track_id"] for x in art_after["artist_listings"]} == {s.listings["R"], s.listings["T1"]}
    assert int(art_after["closing_owed"]) == stack.world.market.owed(s.artist, ETH)
    # The third payee (never withdrew) and the fee recipient (sale and pool fees).
    third = eth(check_against_chain(stack, s.third, s.after))
    assert int(third["closing_owed"]) == stack.world.market.owed(s.third, ETH)
    fees = eth(check_against_chain(stack, s.fee_recipient, s.after))
    assert {x["source_table"] for x in fees["lines"]} == {"sale", "pool_settlement"}
    assert int(fees["closing_owed"]) == stack.world.market.owed(s.fee_recipient, ETH)

    # CSV: parses; its summary rows are the JSON's totals; its lines add up to them.
    r = stack.client.get(f"/api/ledger/artists/{s.collab}/statements/{s.after}", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    summary = {x["kind"]: int(x["amount"]) for x in rows if x["section"] == "summary" and x["token"] == ETH}
    assert summary["closing_owed"] == int(a["closing_owed"]) and summary["opening_owed"] == int(a["opening_owed"])
    lines = [x for x in rows if x["section"] == "lines" and x["token"] == ETH]
    assert {x["token_symbol"] for x in rows} == {"ETH", stable["token_symbol"]}
    assert sum(int(x["amount"]) for x in lines if x["kind"] in ("credit", "platform_fee")) == summary["credits"]
    assert sum(int(x["amount"]) for x in lines if x["kind"] == "withdrawal") == summary["withdrawals"]
    assert summary["opening_owed"] + summary["credits"] - summary["withdrawals"] == summary["closing_owed"]

    # PDF: opens; one summary page per token plus detail; its totals are the JSON's.
    for who, body in ((s.collab, after), (s.artist, None)):
        r = get(stack, who, s.after, format="pdf")
        assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
        body = body or get(stack, who, s.after).json()
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages]
        assert len(body["tokens"]) == 2 and len(pages) >= 3
        text = "\n".join(pages)
        for t in body["tokens"]:
            sym = t["token_symbol"]
            # Its summary page: the token's totals, in token units and base units.
            page = next(p for p in pages if f"Token {sym} {t['token']}" in p)
            for label, k in (("Opening owed", "opening_owed"), ("Credits", "credits"), ("Withdrawals", "withdrawals"),
                             ("Closing owed", "closing_owed")):
                assert f"{label}: {t[k + '_units']} {sym} = {t[k]} base units" in page, (label, page)
            for x in t["lines"]:
                assert f"{x['tx_hash']}:{x['log_index']}" in text.replace("\n", "")

    # A month with nothing: zeros. Bad input: problem+json.
    empty = get(stack, s.collab, "2001-01").json()
    assert [(t["token"], t["opening_owed"], t["credits"], t["withdrawals"], t["closing_owed"], t["lines"])
            for t in empty["tokens"]] == [(ETH, "0", "0", "0", "0", [])]
    nothing = eth(get(stack, "0x" + "ab" * 20, s.after).json())
    assert nothing["closing_owed"] == "0" and nothing["lines"] == []
    y, m = (int(x) for x in s.after.split("-"))
    future = f"{y + (m == 12)}-{m % 12 + 1:02d}"
    for path, status in ((f"{s.collab}/statements/{future}", 422), (f"{s.collab}/statements/2026-13", 422),
                         (f"{s.collab}/statements/26-01", 422), (f"{s.collab}/statements/{'9' * 5000}", 422),
                         (f"0x1234/statements/{s.after}", 404), (f"{'0x' + 'g' * 40}/statements/{s.after}", 404)):
        r = stack.client.get(f"/api/ledger/artists/{path}")
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # A second ask of the same ledger state is the cached one (ETag, 304), answered from the
    # checkpoint alone: no statement is built for it.
    r = get(stack, s.collab, s.after)
    import backend.api.ledger.statements as route

    def no_build(*_a, **_k):
        raise AssertionError("a revalidation built the statement")

    monkeypatch.setattr(route, "build", no_build)
    assert stack.client.get(f"/api/ledger/artists/{s.collab}/statements/{s.after}",
                            headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    monkeypatch.undo()
    # Detail lines come in pages (DETAIL_PAGE_LINES per token); the totals are the month's.
    whole = eth(r.json())
    assert whole["lines_total"] == len(whole["lines"]) >= 3 and r.json()["next_detail_offset"] is None
    monkeypatch.setattr(route, "DETAIL_PAGE_LINES", 2)
    paged, offset = [], 0
    while offset is not None:
        page = get(stack, s.collab, s.after, detail_offset=offset).json()
        assert len(eth(page)["lines"]) <= 2 and eth(page)["closing_owed"] == whole["closing_owed"]
        paged += eth(page)["lines"]
        offset = page["next_detail_offset"]
    assert paged == whole["lines"]
    rows = list(csv.DictReader(io.StringIO(stack.client.get(
        f"/api/ledger/artists/{s.collab}/statements/{s.after}", params={"format": "csv"}).text)))
    assert len([x for x in rows if x["section"] == "lines" and x["token"] == ETH]) == 2
    assert {(x["kind"], x["amount"]) for x in rows if x["section"] == "page" and x["token"] == ETH} >= \
        {("lines_total", str(whole["lines_total"]))}
    assert rows[-1]["section"] == "page" and rows[-1]["kind"] == "next_detail_offset" and rows[-1]["amount"] == "2"
    monkeypatch.undo()
    # Past 60 statements a minute from one client: 429 with Retry-After, as problem+json.
    codes = [stack.client.get(f"/api/ledger/artists/{s.collab}/statements/{s.after}").status_code for _ in range(61)]
    assert codes[-1] == 429 and set(codes) == {200, 429}
    r = stack.client.get(f"/api/ledger/artists/{s.collab}/statements/{s.after}", params={"format": "pdf"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")
