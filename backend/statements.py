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

from sqlalchemy import Integer, cast, func, select, tuple_
from sqlmodel import SQLModel

from backend.catalog import public_title
from backend.snapshots import checkpoint
from backend.splits import split_data
from ninety.ledger.aggregates import TOTAL_SHARES_PPM
from ninety.ledger.statement import compute, month_bounds

T = SQLModel.metadata.tables
# A PDF lists at most this many detail lines per token: past it, rendering costs more than
# a reader gets from it, and the page says where the rest is.
PDF_DETAIL_LINES = 2000
# The API's JSON and CSV carry at most this many `lines` and `artist_sales` per token and
# page (`detail_offset` pages through the rest; the totals always cover the whole month):
# the fee recipient's busy month has a line per marketplace sale, tens of MiB in one answer.
DETAIL_PAGE_LINES = 2000
_CHUNK = 500

AMOUNTS = ("opening_owed", "credited_from_sales", "credited_from_pool_claims", "credited_platform_fees",
           "credited_unattributed", "credits", "withdrawals", "closing_owed")
_LINE_AMOUNTS = ("amount", "portion", "gross", "platform_fee", "net", "platform_fees")
_TIMES = ("block_time", "source_block_time")


def _in(column: Any, values: list[Any]) -> list[Any]:
    """`column IN values` in bounded chunks (a payee may be in many splits)."""
    return [column.in_(values[i:i + _CHUNK]) for i in range(0, len(values), _CHUNK)] or [column.in_([])]


def load(db: Any, address: str, month: str) -> dict[str, Any]:
    """The statement of `address` (lowercase) for `month` from the database's rows.

    A month costs its own rows, not the address's history: what happened before it comes
    as sums the database adds up (opening owed per token, what each of the address's
    splits held at the month's start), and the only earlier rows read are the inflows
    still waiting in those splits then (the ones the month's distributions may pay out)."""
    start, end = month_bounds(month)
    who = address.lower()
    sr = T["split_recipient"]
    mine = sorted({s for s in db.execute(select(sr.c.split_id).where(sr.c.recipient == who)).scalars()})
    splits = {sid: list(zip(*data)) for sid, data in split_data(db, mine).items()}
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def fetch(table: str, *where: Any) -> list[dict[str, Any]]:
        t = T[table]
        return [dict(r) for r in db.execute(select(t).where(t.c.block_time >= start, t.c.block_time < end,
                                                             *where)).mappings()]

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
    for r in fetch("sale", concerns):
        if (r["tx_hash"], r["log_index"]) not in seen:
            tables["sale"].append(r)
    opening, queued = _before(db, who, start, mine, splits, collects_fees)
    listing_ids = sorted({int(r["track_id"]) for r in tables["sale"]}
                         | {int(r["track_id"]) for q in queued.values() for r, what, _ in q if what == "sale"})
    track = T["track"]
    kinds, titles = {}, {}
    for cond in _in(track.c.track_id, listing_ids):
        for tid, kind, title, genuine, blocked in db.execute(
                select(track.c.track_id, track.c.kind, track.c.title, track.c.genuine, track.c.blocked).where(cond)):
            kinds[int(tid)] = kind
            titles[int(tid)] = public_title(genuine, blocked, title)
    statement = compute(who, month, tables, splits, kinds, opening=opening, queued=queued)
    statement["titles"] = {str(k): v for k, v in titles.items() if v}
    return statement


# ------------------------------------------------------------------ before the month, as sums

# uint256 amounts are decimal text on SQLite, whose arithmetic is 64-bit (or floating point):
# summed there in 9-digit pieces (9 cover 78 digits), each piece's sum exact in 64 bits for
# up to 9 billion rows, put back together in Python. PostgreSQL's numeric sums exactly.
_PIECE, _PIECES = 9, 9


def _sqlite(db: Any) -> bool:
    bind = db if hasattr(db, "dialect") else db.get_bind()
    return bind.dialect.name == "sqlite"


def _piece(column: Any, k: int) -> Any:
    return cast(func.substr(column, -_PIECE * (k + 1), _PIECE), Integer)


def _sums(db: Any, column: Any) -> tuple[list[Any], Callable[[Any], int]]:
    """Select expressions summing a u256 `column` exactly, and how to read them back from
    a result row (the expressions in order)."""
    if _sqlite(db):
        cols = [func.coalesce(func.sum(_piece(column, k)), 0) for k in range(_PIECES)]
        return cols, lambda vals: sum(int(v) * 10 ** (_PIECE * k) for k, v in enumerate(vals))
    return [func.coalesce(func.sum(column), 0)], lambda vals: int(vals[0])


def _floor_share_sums(db: Any, amount: Any, share: Any) -> tuple[list[Any], Callable[[Any, int], int]]:
    """Select expressions for the sum of floor(amount * share / 10^6) over rows (a payee's
    part of each distribution, by the contract's rounding), exact, and how to read them back
    given the group's share. On SQLite: every piece but the lowest is a multiple of 10^9,
    so its part is exact without a floor; only the lowest piece (below 10^9, times a share
    of at most 10^6: within 64 bits) needs the per-row integer division."""
    if _sqlite(db):
        low = func.coalesce(func.sum(_piece(amount, 0) * share // TOTAL_SHARES_PPM), 0)  # integer division
        highs = [func.coalesce(func.sum(_piece(amount, k)), 0) for k in range(1, _PIECES)]

        def read(vals: Any, share_ppm: int) -> int:
            return int(vals[0]) + sum(int(v) * share_ppm * 10 ** (_PIECE * k) // TOTAL_SHARES_PPM
                                      for k, v in enumerate(vals[1:], start=1))
        return [low, *highs], read
    return [func.coalesce(func.sum(func.div(amount * share, TOTAL_SHARES_PPM)), 0)], lambda vals, _: int(vals[0])


def _before(db: Any, who: str, start: int, mine: list[str], splits: dict[str, list[tuple[str, int]]],
            collects_fees: bool) -> tuple[dict[str, int], dict[tuple[str, str], list[tuple[dict[str, Any], str, int]]]]:
    """(token -> owed at `start`, (split, token) -> inflows waiting in the split at `start`,
    oldest first, with the amount of each still waiting): the state every earlier row left,
    as `compute` would reach it by replaying them, from sums (a bounded number of result
    rows: per split, position and token) and the waiting inflows alone."""
    opening: dict[str, int] = {}
    balance: dict[tuple[str, str], int] = defaultdict(int)
    d, sr = T["distribution"], T["split_recipient"]
    # Distributions: per split, token and payee position, the sum of that position's floors;
    # the first position's part is the amount less the others' (the dust is the first's).
    total_cols, read_total = _sums(db, d.c.amount)
    floor_cols, read_floor = _floor_share_sums(db, d.c.amount, sr.c.share_ppm)
    got: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    totals: dict[tuple[str, str], int] = {}
    for cond in _in(d.c.split_id, mine):
        q = (select(d.c.split_id, d.c.token, sr.c.position, sr.c.share_ppm, *total_cols, *floor_cols)
             .join(sr, sr.c.split_id == d.c.split_id).where(cond, d.c.block_time < start)
             .group_by(d.c.split_id, d.c.token, sr.c.position, sr.c.share_ppm))
        for r in db.execute(q):
            key = (r[0], r[1].lower())
            totals[key] = read_total(r[4:4 + len(total_cols)])
            got[key][int(r[2])] = read_floor(r[4 + len(total_cols):], int(r[3]))
    for (split_id, token), floors in got.items():
        positions = sorted(floors)
        recipients = splits[split_id]
        parts = [floors[p] for p in positions]
        parts[0] = totals[(split_id, token)] - sum(parts[1:])
        credit = sum(part for (r, _), part in zip(recipients, parts) if r.lower() == who)
        opening[token] = opening.get(token, 0) + credit
        balance[(split_id, token)] -= totals[(split_id, token)]
    # Platform fees it collected, and its withdrawals.
    sale, ps, wd = T["sale"], T["pool_settlement"], T["withdrawal"]
    sources = [(wd, wd.c.amount, wd.c.account == who, -1)]
    if collects_fees:
        sources += [(sale, sale.c.platform_fee, sale.c.fee_recipient == who, 1),
                    (ps, ps.c.platform_fee, ps.c.fee_recipient == who, 1)]
    for table, column, cond, sign in sources:
        cols, read = _sums(db, column)
        q = select(table.c.token, func.count(), *cols).where(cond, table.c.block_time < start).group_by(table.c.token)
        for r in db.execute(q):
            amount = read(r[2:])
            # a token with only zero fees gets no page, as compute gives it none
            if sign < 0 or amount:
                opening[r[0].lower()] = opening.get(r[0].lower(), 0) + sign * amount
    # What each split held at the start: its inflows (sales' net, pool claims) less its
    # distributions. A split's distribution pays out its oldest inflows first, so what it
    # held is its newest inflows: read back from the start until they cover it.
    pc = T["pool_claim"]
    amount_cols, read_amount = _sums(db, sale.c.amount)
    fee_cols, read_fee = _sums(db, sale.c.platform_fee)
    claim_cols, read_claim = _sums(db, pc.c.amount)
    for cond in _in(sale.c.split_id, mine):
        q = select(sale.c.split_id, sale.c.token, *amount_cols, *fee_cols).where(cond, sale.c.block_time < start) \
            .group_by(sale.c.split_id, sale.c.token)
        for r in db.execute(q):
            n = len(amount_cols)
            balance[(r[0], r[1].lower())] += read_amount(r[2:2 + n]) - read_fee(r[2 + n:])
    for cond in _in(pc.c.split_id, mine):
        q = select(pc.c.split_id, pc.c.token, *claim_cols).where(cond, pc.c.block_time < start) \
            .group_by(pc.c.split_id, pc.c.token)
        for r in db.execute(q):
            balance[(r[0], r[1].lower())] += read_claim(r[2:])
    queued = {key: _waiting(db, key[0], key[1], start, held) for key, held in balance.items() if held > 0}
    return opening, queued


_PAGE = 256


def _waiting(db: Any, split_id: str, token: str, start: int, held: int) -> list[tuple[dict[str, Any], str, int]]:
    """The newest inflows of split `split_id` in `token` before `start` that make up `held`
    (the oldest of them may be partly paid out already), oldest first."""
    sale, pc = T["sale"], T["pool_claim"]
    found: list[tuple[dict[str, Any], str, int]] = []
    need = held
    cursor: tuple[int, int] | None = None
    while need > 0:
        page: list[tuple[tuple[int, int], dict[str, Any], str]] = []
        floor_key: tuple[int, int] | None = None
        for table, what in ((sale, "sale"), (pc, "pool_claim")):
            cond = [table.c.split_id == split_id, table.c.token == token, table.c.block_time < start]  # stored lowercase
            if cursor is not None:
                cond.append(tuple_(table.c.block_number, table.c.log_index) < tuple_(*cursor))
            got = [dict(r) for r in db.execute(select(table).where(*cond).order_by(
                table.c.block_number.desc(), table.c.log_index.desc()).limit(_PAGE)).mappings()]
            page += [((int(r["block_number"]), int(r["log_index"])), r, what) for r in got]
            if len(got) == _PAGE:  # this table may have more rows above the other's last
                last = (int(got[-1]["block_number"]), int(got[-1]["log_index"]))
                floor_key = last if floor_key is None or last > floor_key else floor_key
        if not page:
            break  # inflows the ledger never saw: compute shows what it pays out as unattributed
        page.sort(key=lambda x: x[0], reverse=True)
        for key, r, what in page:
            if floor_key is not None and key < floor_key:
                break
            cursor = key
            amount = int(r["amount"]) - (int(r["platform_fee"]) if what == "sale" else 0)
            if amount <= 0:
                continue
            take = min(amount, need)
            found.append((r, what, take))
            need -= take
            if need == 0:
                break
    found.reverse()
    return found


def ledger_time(db: Any, contract: str) -> int | None:
    """The timestamp of the ledger's checkpoint block (None before the first step)."""
    at = checkpoint(db, contract)
    if at is None:
        return None
    ib = T["indexed_block"]
    found = db.execute(select(ib.c.timestamp).where(ib.c.number == at[0])).scalar()
    return None if found is None else int(found)


def build(db: Any, contract: str, address: str, month: str,
          token_info: Callable[[str], tuple[str, int]], detail_offset: int = 0,
          detail_limit: int | None = None) -> dict[str, Any] | None:
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
    out = present(statement, token_info, detail_offset, detail_limit)
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


def present(statement: dict[str, Any], token_info: Callable[[str], tuple[str, int]], detail_offset: int = 0,
            detail_limit: int | None = None) -> dict[str, Any]:
    """The JSON answer: amounts as decimal strings with their `_units` twins, times with
    their `_utc` twins, titles beside listing ids. `lines` and `artist_sales` of each token
    from `detail_offset`, at most `detail_limit` of each (None: all), with their counts
    (`lines_total`, `artist_sales_total`) and `next_detail_offset` (null on the last page)."""
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
    more = False
    stop = None if detail_limit is None else detail_offset + detail_limit
    for t in statement["tokens"]:
        symbol, decimals = token_info(t["token"])
        out: dict[str, Any] = {"token": t["token"], "token_symbol": symbol, "token_decimals": decimals}
        for k in AMOUNTS:
            out[k] = str(t[k])
            out[k + "_units"] = units(int(t[k]), decimals)
        for section in ("credited_by_listing", "artist_listings", "artist_sales", "lines", "waiting"):
            rows = t[section]
            if section in ("artist_sales", "lines"):
                out[section + "_total"] = len(rows)
                more = more or (stop is not None and len(rows) > stop)
                rows = rows[detail_offset:stop]
            out[section] = [line(x, decimals) for x in rows]
        tokens.append(out)
    return {"address": statement["address"], "month": statement["month"],
            "period_start": statement["period_start"], "period_end": statement["period_end"],
            "period_start_utc": utc(statement["period_start"]), "period_end_utc": utc(statement["period_end"]),
            "as_of_block": statement.get("as_of_block"), "complete": statement.get("complete", True),
            "detail_offset": detail_offset, "next_detail_offset": stop if more else None, "tokens": tokens}


CSV_COLUMNS = ("section", "token", "token_symbol", "token_decimals", "kind", "block_number", "block_time",
               "block_time_utc", "tx_hash", "log_index", "split_id", "source_table", "source_tx_hash",
               "source_log_index", "source_block_time_utc", "track_id", "listing_kind", "title", "epoch", "buyer",
               "paid_to", "units", "gross", "platform_fee", "net", "portion", "amount", "amount_units")


def to_csv(p: dict[str, Any]) -> str:
    """One row per total (section `summary`, kind = the total's name), per line of the
    statement (`credit`, `platform_fee`, `withdrawal`), per artist sale and listing, and
    per amount waiting in a split. Amounts in base units; `amount_units` in token units.
    Section `page`: the counts of lines and artist sales per token, and, when this page
    does not hold them all, a last row `next_detail_offset` (ask again with it)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for t in p["tokens"]:
        base = {"token": t["token"], "token_symbol": _cell(t["token_symbol"]), "token_decimals": t["token_decimals"]}
        for k in AMOUNTS:
            w.writerow({**base, "section": "summary", "kind": k, "amount": t[k], "amount_units": t[k + "_units"]})
        for k in ("lines_total", "artist_sales_total"):  # how many there are; this page may hold fewer
            if k in t:
                w.writerow({**base, "section": "page", "kind": k, "amount": t[k]})
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
    if p.get("next_detail_offset") is not None:
        w.writerow({"section": "page", "kind": "next_detail_offset", "amount": p["next_detail_offset"]})
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



