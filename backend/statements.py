"""Monthly statements from the ledger database: the rows of one address and month loaded
here, the statement itself computed by ninety.ledger.statement (the same function `ninety
verify --statement` runs over the chain's logs), then shown as JSON, CSV or PDF.

Amounts stay exact integers in the token's base unit (decimal strings in JSON and CSV),
each beside the same amount in token units (decimals from the token registry); times are
unix seconds beside their UTC ISO 8601 form."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any, Callable

from sqlalchemy import select
from sqlmodel import SQLModel

from backend.snapshots import checkpoint
from backend.splits import split_data
from ninety.ledger.statement import compute, month_bounds

T = SQLModel.metadata.tables
# A PDF lists at most this many detail lines per token (JSON and CSV list them all): past
# it, rendering costs more than a reader gets from it, and the page says where the rest is.
PDF_DETAIL_LINES = 2000
_CHUNK = 500

AMOUNTS = ("opening_owed", "credited_from_sales", "credited_from_pool_claims", "credited_platform_fees",
           "credited_unattributed", "credits", "withdrawals", "closing_owed")
_LINE_AMOUNTS = ("amount", "portion", "gross", "platform_fee", "net", "platform_fees")
_TIMES = ("block_time", "source_block_time")


def _in(column: Any, values: list[Any]) -> list[Any]:
    """`column IN values` in bounded chunks (a payee may be in many splits)."""
    return [column.in_(values[i:i + _CHUNK]) for i in range(0, len(values), _CHUNK)] or [column.in_([])]


def load(db: Any, address: str, month: str) -> dict[str, Any]:
    """The statement of `address` (lowercase) for `month` from the database's rows."""
    start, end = month_bounds(month)
    who = address.lower()
    sr = T["split_recipient"]
    mine = sorted({s for s in db.execute(select(sr.c.split_id).where(sr.c.recipient == who)).scalars()})
    splits = {sid: list(zip(*data)) for sid, data in split_data(db, mine).items()}
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def fetch(table: str, *where: Any) -> list[dict[str, Any]]:
        t = T[table]
        return [dict(r) for r in db.execute(select(t).where(t.c.block_time < end, *where)).mappings()]

    for cond in _in(T["sale"].c.split_id, mine):
        tables["sale"] += fetch("sale", cond)
    for cond in _in(T["pool_claim"].c.split_id, mine):
        tables["pool_claim"] += fetch("pool_claim", cond)
    for cond in _in(T["distribution"].c.split_id, mine):
        tables["distribution"] += fetch("distribution", cond)
    tables["withdrawal"] = fetch("withdrawal", T["withdrawal"].c.account == who)
    tables["pool_settlement"] = fetch("pool_settlement", T["pool_settlement"].c.fee_recipient == who)
    sale = T["sale"]
    seen = {(r["tx_hash"], r["log_index"]) for r in tables["sale"]}
    # Only an address that was ever the fee recipient has fee rows to look for: the query
    # for them scans the sales (no index on fee_recipient), so nobody else pays for it.
    frc = T["fee_recipient_change"]
    collects_fees = db.execute(select(frc.c.id).where(frc.c.new_recipient == who).limit(1)).first() is not None
    # Sales of this month that concern the address some other way (its platform fee, or
    # sales of its own listings paid to splits it is not in): their rows as they are.
    concerns = (sale.c.fee_recipient == who) | (sale.c.artist == who) if collects_fees else sale.c.artist == who
    for r in fetch("sale", sale.c.block_time >= start, concerns):
        if (r["tx_hash"], r["log_index"]) not in seen:
            tables["sale"].append(r)
    # Platform fees before the month only add to the opening balance: one summed row per
    # token (the fee recipient's earlier sales are every sale the marketplace ever made).
    # The sales of its own splits are loaded above already, and compute credits their fees:
    # they are left out here, or those fees would count twice.
    fees: dict[str, int] = defaultdict(int)
    if collects_fees:
        mine_set = set(mine)
        for token, fee, split_id in db.execute(select(sale.c.token, sale.c.platform_fee, sale.c.split_id).where(
                sale.c.fee_recipient == who, sale.c.block_time < start)):
            if split_id not in mine_set:
                fees[token] += int(fee)
    for token, total in fees.items():
        if total:
            tables["sale"].append({"tx_hash": "", "log_index": -1, "block_number": -1, "block_time": start - 1,
                                   "track_id": 0, "token": token, "amount": total, "platform_fee": total,
                                   "split_id": "", "artist": "", "fee_recipient": who, "buyer": ""})
    listing_ids = sorted({int(r["track_id"]) for r in tables["sale"]})
    track = T["track"]
    kinds, titles = {}, {}
    for cond in _in(track.c.track_id, listing_ids):
        for tid, kind, title in db.execute(select(track.c.track_id, track.c.kind, track.c.title).where(cond)):
            kinds[int(tid)], titles[int(tid)] = kind, title
    statement = compute(who, month, tables, splits, kinds)
    statement["titles"] = {str(k): v for k, v in titles.items() if v}
    return statement


def ledger_time(db: Any, contract: str) -> int | None:
    """The timestamp of the ledger's checkpoint block (None before the first step)."""
    at = checkpoint(db, contract)
    if at is None:
        return None
    ib = T["indexed_block"]
    found = db.execute(select(ib.c.timestamp).where(ib.c.number == at[0])).scalar()
    return None if found is None else int(found)


def build(db: Any, contract: str, address: str, month: str,
          token_info: Callable[[str], tuple[str, int]]) -> dict[str, Any] | None:
    """The presented statement at the ledger's checkpoint for `contract`; None before the
    ledger's first step. `complete` once the ledger holds a block at or past the month's
    end: nothing later can fall into the month (block times never go back)."""
    at = checkpoint(db, contract)
    if at is None:
        return None
    statement = load(db, address, month)
    statement["as_of_block"] = at[0]
    head_time = ledger_time(db, contract)
    statement["complete"] = head_time is not None and int(head_time) >= statement["period_end"]
    out = present(statement, token_info)
    out["ledger_block_hash"] = at[1]
    return out


# ------------------------------------------------------------------ presentation


def units(amount: int, decimals: int) -> str:
    """`amount` base units in token units, exactly (no float): 1234500, 6 -> '1.2345'."""
    sign, amount = ("-", -amount) if amount < 0 else ("", amount)
    if decimals <= 0:
        return f"{sign}{amount}"
    whole, frac = divmod(amount, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}" + (f".{frac_s}" if frac_s else "")


def utc(ts: int) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def present(statement: dict[str, Any], token_info: Callable[[str], tuple[str, int]]) -> dict[str, Any]:
    """The JSON answer: amounts as decimal strings with their `_units` twins, times with
    their `_utc` twins, titles beside listing ids."""
    titles = statement.get("titles", {})

    def line(x: dict[str, Any], decimals: int) -> dict[str, Any]:
        out = dict(x)
        for k in _LINE_AMOUNTS:
            if k in x:
                out[k] = str(x[k])
                out[k + "_units"] = units(int(x[k]), decimals)
        for k in _TIMES:
            if k in x:
                out[k + "_utc"] = utc(x[k])
        if "track_id" in x:
            out["title"] = titles.get(str(x["track_id"]))
        return out

    tokens = []
    for t in statement["tokens"]:
        symbol, decimals = token_info(t["token"])
        out: dict[str, Any] = {"token": t["token"], "token_symbol": symbol, "token_decimals": decimals}
        for k in AMOUNTS:
            out[k] = str(t[k])
            out[k + "_units"] = units(int(t[k]), decimals)
        for section in ("credited_by_listing", "artist_listings", "artist_sales", "lines", "waiting"):
            out[section] = [line(x, decimals) for x in t[section]]
        tokens.append(out)
    return {"address": statement["address"], "month": statement["month"],
            "period_start": statement["period_start"], "period_end": statement["period_end"],
            "period_start_utc": utc(statement["period_start"]), "period_end_utc": utc(statement["period_end"]),
            "as_of_block": statement.get("as_of_block"), "complete": statement.get("complete", True),
            "tokens": tokens}


CSV_COLUMNS = ("section", "token", "token_symbol", "token_decimals", "kind", "block_number", "block_time",
               "block_time_utc", "tx_hash", "log_index", "split_id", "source_table", "source_tx_hash",
               "source_log_index", "source_block_time_utc", "track_id", "listing_kind", "title", "epoch", "buyer",
               "paid_to", "units", "gross", "platform_fee", "net", "portion", "amount", "amount_units")


def to_csv(p: dict[str, Any]) -> str:
    """One row per total (section `summary`, kind = the total's name), per line of the
    statement (`credit`, `platform_fee`, `withdrawal`), per artist sale and listing, and
    per amount waiting in a split. Amounts in base units; `amount_units` in token units."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for t in p["tokens"]:
        base = {"token": t["token"], "token_symbol": _cell(t["token_symbol"]), "token_decimals": t["token_decimals"]}
        for k in AMOUNTS:
            w.writerow({**base, "section": "summary", "kind": k, "amount": t[k], "amount_units": t[k + "_units"]})
        for section, rows in (("lines", t["lines"]), ("credited_by_listing", t["credited_by_listing"]),
                              ("artist_listings", t["artist_listings"]), ("artist_sales", t["artist_sales"]),
                              ("waiting", t["waiting"])):
            for x in rows:
                row = {**base, **x, "section": section}
                if "title" in row:
                    row["title"] = _cell(row["title"])
                if section == "artist_listings":
                    row["platform_fee"] = x["platform_fees"]
                w.writerow(row)
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """A spreadsheet must not run what an artist wrote (a title or a token's symbol
    starting with = + - @ is a formula there): such text gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_pdf(p: dict[str, Any]) -> bytes:
    """One summary page per token, then its detail pages (every line, up to
    PDF_DETAIL_LINES). Built with reportlab's canvas: plain text, fixed positions."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle(f"Ninety statement {p['address']} {p['month']}")
    width, height = A4
    margin = 40

    class Page:
        y = height - margin

    def text(s: str, size: float = 9, bold: bool = False, x: float = margin) -> None:
        if Page.y < margin + 14:
            c.showPage()
            Page.y = height - margin
        c.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        c.drawString(x, Page.y, _printable(s)[:160])
        Page.y -= size + 4

    for t in p["tokens"]:
        sym = t["token_symbol"]
        text(f"Ninety statement {p['month']} (UTC)", 16, True)
        text(f"Address {p['address']}")
        text(f"Period {p['period_start_utc']} to {p['period_end_utc']} (end excluded)"
             + ("" if p["complete"] else f"; month not over: ledger as of block {p['as_of_block']}"))
        text(f"Token {sym} {t['token']} ({t['token_decimals']} decimals); amounts in {sym} and in base units")
        Page.y -= 8
        text("Summary", 12, True)
        labels = (("opening_owed", "Opening owed"), ("credited_from_sales", "Credited from sales (via splits)"),
                  ("credited_from_pool_claims", "Credited from sponsor-pool claims"),
                  ("credited_platform_fees", "Credited platform fees"),
                  ("credited_unattributed", "Credited, source not in the ledger"),
                  ("credits", "Credits"), ("withdrawals", "Withdrawals"), ("closing_owed", "Closing owed"))
        for k, label in labels:
            if k == "credited_unattributed" and t[k] == "0":
                continue
            text(f"{label}: {t[k + '_units']} {sym} = {t[k]} base units", 10, k in ("opening_owed", "closing_owed"))
        text("Opening + credits - withdrawals = closing.", 8)
        if t["credited_by_listing"]:
            Page.y -= 6
            text("Credited by listing", 12, True)
            for x in t["credited_by_listing"]:
                text(f"{x['listing_kind']} #{x['track_id']} {x.get('title') or ''}: {x['amount_units']} {sym} "
                     f"= {x['amount']} base units")
        if t["artist_listings"]:
            Page.y -= 6
            text("As the artist: sales of your listings this month", 12, True)
            for x in t["artist_listings"]:
                text(f"{x['listing_kind']} #{x['track_id']} {x.get('title') or ''}: {x['units']} sold, gross "
                     f"{x['gross_units']}, platform fees {x['platform_fees_units']}, net to the split "
                     f"{x['net_units']} {sym}")
        if t["waiting"]:
            Page.y -= 6
            text("Waiting in splits at the end of the period (not owed until distributed)", 12, True)
            for x in t["waiting"]:
                text(f"split {x['split_id']}: {x['amount_units']} {sym}, your share {x['share_ppm'] / 10_000:g}%")
        c.showPage()
        Page.y = height - margin
        detail = t["lines"] + t["artist_sales"]
        if detail:
            text(f"Detail {sym} {p['month']}: every line with its ledger row (transaction:log index)", 12, True)
            for x in detail[:PDF_DETAIL_LINES]:
                text(_detail(x, sym), 7)
            if len(detail) > PDF_DETAIL_LINES:
                text(f"... {len(detail) - PDF_DETAIL_LINES} more lines: ask for this statement as CSV or JSON", 9, True)
            c.showPage()
            Page.y = height - margin
    c.save()
    return buf.getvalue()


def _detail(x: dict[str, Any], sym: str) -> str:
    at = f"{x['block_time_utc']} {x['tx_hash']}:{x['log_index']}"
    if x["kind"] == "credit":
        src = f"{x['source_table']} {x.get('source_tx_hash', '')}:{x.get('source_log_index', '')}"
        if "track_id" in x:
            src += f" {x['listing_kind']} #{x['track_id']}"
        if "epoch" in x:
            src += f" epoch {x['epoch']}"
        return f"{at} distribution credit {x['amount_units']} {sym} ({x['amount']}) from {src}"
    if x["kind"] == "platform_fee":
        return f"{at} platform fee ({x['source_table']}) {x['amount_units']} {sym} ({x['amount']})"
    if x["kind"] == "withdrawal":
        return f"{at} withdrawal {x['amount_units']} {sym} ({x['amount']}) paid to {x['paid_to']}"
    return (f"{at} sale of {x['listing_kind']} #{x['track_id']}: gross {x['gross_units']}, fee "
            f"{x['platform_fee_units']}, net {x['net_units']} {sym}")


def _printable(s: str) -> str:
    """Helvetica in a PDF has Latin-1 glyphs only: anything else (a title in another
    script) becomes '?' rather than a black box or an error."""
    return "".join(ch if 32 <= ord(ch) < 256 else "?" for ch in s)



