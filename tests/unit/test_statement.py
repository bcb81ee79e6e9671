"""The statement computation (ninety.ledger.statement) on hand-made rows: the contract's
rounding (dust to the first payee), credits traced to their sources adding up exactly,
month boundaries, a distribution paying part of a balance, an unattributed credit, fees,
the comparison; and amounts in token units."""
from __future__ import annotations

import calendar

import pytest

from backend.statements import units
from ninety.ledger.statement import compute, differences, month_bounds, not_begun

A, B, C, FEE = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20, "0x" + "ff" * 20
ETH = "0x" + "00" * 20
SPLIT = "0x" + "11" * 32
SPLITS = {SPLIT: [(A, 333_334), (B, 333_333), (C, 333_333)]}
NOV = calendar.timegm((2026, 11, 1, 0, 0, 0))
DEC = calendar.timegm((2026, 12, 1, 0, 0, 0))


def ref(n: int, t: int) -> dict:
    return {"tx_hash": f"0x{n:064x}", "log_index": 0, "block_number": n, "block_time": t}


def sale(n: int, t: int, amount: int, fee: int, track: int = 1, artist: str = A) -> dict:
    return {**ref(n, t), "track_id": track, "token": ETH, "amount": amount, "platform_fee": fee, "split_id": SPLIT,
            "artist": artist, "fee_recipient": FEE, "buyer": "0x" + "99" * 20}


def dist(n: int, t: int, amount: int) -> dict:
    return {**ref(n, t), "split_id": SPLIT, "token": ETH, "amount": amount}


def eth(statement: dict) -> dict:
    return next(t for t in statement["tokens"] if t["token"] == ETH)


def test_month_bounds_and_future():
    assert month_bounds("2026-12") == (DEC, calendar.timegm((2027, 1, 1, 0, 0, 0)))
    for bad in ("2026-13", "2026-00", "26-01", "2026-1", "1969-12", "９９９９-01", "2026-01\n"):
        with pytest.raises(ValueError):
            month_bounds(bad)
    assert not_begun("2026-12", DEC - 1, None) and not not_begun("2026-12", DEC - 1, DEC)


def test_units_are_exact():
    assert [units(1234500, 6), units(0, 18), units(10**18, 18), units(1, 18), units(-5, 1), units(7, 0)] == \
        ["1.2345", "0", "1", "0.000000000000000001", "-0.5", "7"]


def test_credits_follow_the_contract_rounding_and_the_boundary():
    # Nets 1001 (23:59:59 on Nov 30) and 2003 (00:00:00 on Dec 1), distributed together on Dec 2.
    rows = {"sale": [sale(1, DEC - 1, 1100, 99, track=1), sale(2, DEC, 2200, 197, track=2)],
            "distribution": [dist(3, DEC + 86400, 3004)],
            "withdrawal": [{**ref(4, DEC + 90000), "account": A, "token": ETH, "amount": 1000, "paid_to": A}]}
    kinds = {1: "track", 2: "release"}
    nov = eth(compute(A, "2026-11", rows, SPLITS, kinds))
    assert (nov["credits"], nov["closing_owed"]) == (0, 0)
    assert nov["waiting"] == [{"split_id": SPLIT, "amount": 1001, "share_ppm": 333_334}]
    assert [x["track_id"] for x in nov["artist_sales"]] == [1]  # the 23:59:59 sale is November's
    dec = {who: eth(compute(who, "2026-12", rows, SPLITS, kinds)) for who in (A, B, C)}
    # floor(3004 * 333333 / 1e6) = 1001 for B and C; A (first) gets 3004 - 2002 = 1002.
    assert [dec[w]["credited_from_sales"] for w in (A, B, C)] == [1002, 1001, 1001]
    for w, t in dec.items():
        lines = [x for x in t["lines"] if x["kind"] == "credit"]
        assert sum(x["amount"] for x in lines) == t["credits"]
        assert [x["portion"] for x in lines] == [1001, 2003]
        assert t["opening_owed"] + t["credits"] - t["withdrawals"] == t["closing_owed"]
    # Cumulative floors: A's 1002 spread as floor(1001*1002/3004)=333 then 1002-333.
    assert [x["amount"] for x in dec[A]["lines"] if x["kind"] == "credit"] == [333, 669]
    assert dec[A]["credited_by_listing"] == [{"track_id": 1, "listing_kind": "track", "amount": 333},
                                             {"track_id": 2, "listing_kind": "release", "amount": 669}]
    assert (dec[A]["withdrawals"], dec[A]["closing_owed"]) == (1000, 2)
    assert [x["track_id"] for x in dec[A]["artist_sales"]] == [2]
    assert dec[B]["artist_sales"] == []
    # January opens with December's closing.
    assert eth(compute(A, "2027-01", rows, SPLITS, kinds))["opening_owed"] == 2


def test_partial_distribution_unattributed_and_fees():
    rows = {"sale": [sale(1, NOV + 10, 1000, 50)], "distribution": [dist(2, NOV + 20, 600), dist(3, NOV + 30, 350),
                                                                     dist(4, NOV + 40, 10)],
            "pool_settlement": [{**ref(5, NOV + 50), "epoch": 3, "token": ETH, "platform_fee": 7, "fee_recipient": FEE}],
            "pool_claim": [{**ref(6, NOV + 60), "epoch": 3, "split_id": SPLIT, "token": ETH, "amount": 90}]}
    b = eth(compute(B, "2026-11", rows, SPLITS, {}))
    credit = [x for x in b["lines"] if x["kind"] == "credit"]
    # 950 of the sale's net over two distributions, then 10 the ledger never saw come in.
    assert [(x["source_table"], x["portion"]) for x in credit] == [("sale", 600), ("sale", 350), ("unattributed", 10)]
    assert b["credited_unattributed"] == 3 and b["waiting"] == [{"split_id": SPLIT, "amount": 90, "share_ppm": 333_333}]
    fees = eth(compute(FEE, "2026-11", rows, SPLITS, {}))
    assert (fees["credited_platform_fees"], fees["closing_owed"]) == (57, 57)
    assert {x["source_table"] for x in fees["lines"]} == {"sale", "pool_settlement"}
    # Nothing at all: ETH with zeros.
    empty = compute("0x" + "12" * 20, "2026-11", rows, SPLITS, {})
    assert [(t["token"], t["closing_owed"], t["lines"]) for t in empty["tokens"]] == [(ETH, 0, [])]


def test_differences_name_the_line():
    rows = {"sale": [sale(1, NOV + 10, 1000, 50)], "distribution": [dist(2, NOV + 20, 950)]}
    want = compute(A, "2026-11", rows, SPLITS, {})
    assert differences(want, want) == []
    rows["distribution"][0] = dist(2, NOV + 20, 949)
    have = compute(A, "2026-11", rows, SPLITS, {})
    found = differences(have, want)
    assert any("credits:" in d for d in found)
    assert any(f"lines credit:0x{2:064x}:0:0x{1:064x}:0: amount is" in d for d in found)


def test_csv_and_pdf_of_a_hostile_title_and_many_lines(monkeypatch):
    import csv
    import io

    from pypdf import PdfReader

    import backend.statements
    from backend.statements import present, to_csv, to_pdf

    monkeypatch.setattr(backend.statements, "PDF_DETAIL_LINES", 40)  # the cap, small enough to read back fast
    n = 25  # 25 credit lines and 25 sales of the artist's own listing: 50 detail lines
    rows = {"sale": [sale(i + 1, NOV + i, 1000, 0, track=7) for i in range(n)],
            "distribution": [dist(n + 1, NOV + n, 1000 * n)]}
    statement = compute(A, "2026-11", rows, SPLITS, {7: "track"})
    statement.update(titles={"7": "=HYPERLINK(\"x\")\u4e16"}, as_of_block=n + 1, complete=True)
    p = present(statement, lambda token: ("ETH", 18))
    assert len(p["tokens"][0]["lines"]) == n and p["tokens"][0]["credits"] == str(1000 * n - 2 * (1000 * n * 333_333 // 10**6))
    parsed = list(csv.DictReader(io.StringIO(to_csv(p))))
    titles = {r["title"] for r in parsed if r["title"]}
    assert titles == {"'=HYPERLINK(\"x\")\u4e16"}  # a spreadsheet shows it, does not run it
    pdf = PdfReader(io.BytesIO(to_pdf(p)))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "... 10 more lines: ask for this statement as CSV or JSON" in text
    assert f"Credits: {p['tokens'][0]['credits_units']} ETH = {p['tokens'][0]['credits']} base units" in text
