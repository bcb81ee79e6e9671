"""A payee's monthly statement, per token: one computation over ledger rows, whether the rows
come from the database (backend.statements) or straight from the chain's logs (`ninety
verify --statement`), so the two can only differ where their rows do.

What an address is owed moves only with these events (the contract's `owed` slot):
- a `SplitDistributed` of a split it is a payee of credits its part of the amount, by the
  contract's own rounding (`aggregates.allot`, the rule the ledger's balances use);
- a `Sale` or `PoolSettled` whose fee recipient it is credits the platform fee;
- a `Withdrawal` of its account pays everything out.
So opening + credits - withdrawals == closing, exactly, and closing is what `owed()` said
at the end of the month (or at the ledger's checkpoint, for the current month).

A distribution pays out a split's balance, which sales (their net) and pool claims filled
in chain order. Each distribution is traced back to them first in, first out, and the
payee's credit from it is spread over them in proportion to what each put in, by
cumulative floors: the parts are integers and add up to the credit exactly. That is what
"credited from track 7" means on a statement: its share of the net of track 7's sales that
a distribution in the month paid out. Net that no distribution has paid yet is `waiting`.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict, deque
from typing import Any, Callable, Iterable, Mapping

from ninety.ledger.aggregates import allot
from ninety.ledger.events import Decoder
from ninety.ledger.mapping import map_events
from ninety.ledger.rows import Context

ETH = "0x" + "00" * 20
MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
Row = Mapping[str, Any]


def month_bounds(month: str) -> tuple[int, int]:
    """'YYYY-MM' -> [start, end) in unix seconds, UTC. ValueError for anything else."""
    m = MONTH.fullmatch(month)
    if m is None:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, mon = int(m.group(1)), int(m.group(2))
    if year < 1970:
        raise ValueError(f"{month!r} is before 1970")
    start = dt.datetime(year, mon, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return int(start.timestamp()), int(end.timestamp())


def not_begun(month: str, *clocks: float | None) -> bool:
    """Has `month` not begun by the latest of `clocks` (the wall clock, the chain's latest
    block)? A dev chain's clock may run ahead of the wall's; a month it has reached is not
    the future there."""
    start, _ = month_bounds(month)
    return start > max(c for c in clocks if c is not None)


def _order(r: Row) -> tuple[int, int]:
    return int(r["block_number"]), int(r["log_index"])


def _ref(r: Row) -> dict[str, Any]:
    return {"tx_hash": r["tx_hash"], "log_index": int(r["log_index"]), "block_number": int(r["block_number"]),
            "block_time": int(r["block_time"])}


def compute(address: str, month: str, tables: Mapping[str, Iterable[Row]],
            splits: Mapping[str, list[tuple[str, int]]], kinds: Mapping[int, str],
            opening: Mapping[str, int] | None = None,
            queued: Mapping[tuple[str, str], list[tuple[Row, str, int]]] | None = None) -> dict[str, Any]:
    """The statement of `address` for `month` from ledger rows.

    `tables`: ledger table name -> rows (sale, distribution, pool_claim, withdrawal,
    pool_settlement), each with its REF columns and block_time; rows that do not concern
    the address, and rows after the month, are ignored, so a caller may pass everything.
    `splits`: split id -> [(recipient, share ppm)] in the split's order, for every split a
    distribution names; `kinds`: listing id -> 'track' | 'release'.

    Or, so that a month costs its own rows and not the address's whole history: `opening`,
    token -> owed at the month's start (every token the address had a credit, fee or
    withdrawal in before it), and `queued`, (split id, token) -> the inflows still waiting
    in the split at the month's start, oldest first, as (row, 'sale' | 'pool_claim',
    amount left). Rows before the month are then ignored: `opening` and `queued` stand for
    them (backend.statements.load sums them in the database)."""
    who = address.lower()
    start, end = month_bounds(month)
    mine = {sid for sid, rs in splits.items() if any(r.lower() == who for r, _ in rs)}
    tok: dict[str, dict[str, Any]] = defaultdict(_token)
    since = start if opening is not None else None
    for token, amount in (opening or {}).items():
        tok[token.lower()]["opening"] += int(amount)

    def rows(table: str) -> list[Row]:
        return [r for r in tables.get(table, ())
                if int(r["block_time"]) < end and (since is None or int(r["block_time"]) >= since)]

    # Inflows of the payee's splits and their distributions, in chain order.
    flow: list[tuple[tuple[int, int], str, Row]] = []
    for s in rows("sale"):
        if s["split_id"] in mine:
            flow.append((_order(s), "sale", s))
    for c in rows("pool_claim"):
        if c["split_id"] in mine:
            flow.append((_order(c), "pool_claim", c))
    for d in rows("distribution"):
        if d["split_id"] in mine:
            flow.append((_order(d), "distribution", d))
    flow.sort(key=lambda x: x[0])
    queues: dict[tuple[str, str], deque[list[Any]]] = defaultdict(deque)
    for (split_id, token), waiting in (queued or {}).items():
        queues[(split_id, token.lower())].extend([r, what, int(left)] for r, what, left in waiting if int(left))
    for _, what, r in flow:
        key = (r["split_id"], r["token"].lower())
        if what == "sale":
            net = int(r["amount"]) - int(r["platform_fee"])
            if net:
                queues[key].append([r, "sale", net])
        elif what == "pool_claim":
            if int(r["amount"]):
                queues[key].append([r, "pool_claim", int(r["amount"])])
        else:
            _distribution(who, r, splits[r["split_id"]], queues[key], tok[key[1]], start, kinds)

    for s in rows("sale"):
        fee = int(s["platform_fee"])
        if fee and s["fee_recipient"].lower() == who:
            _fee(tok[s["token"].lower()], s, fee, "sale", start)
    for p in rows("pool_settlement"):
        fee = int(p["platform_fee"])
        if fee and p["fee_recipient"].lower() == who:
            _fee(tok[p["token"].lower()], p, fee, "pool_settlement", start)
    for w in rows("withdrawal"):
        if w["account"].lower() == who:
            t = tok[w["token"].lower()]
            amount = int(w["amount"])
            if int(w["block_time"]) < start:
                t["opening"] -= amount
            else:
                t["withdrawals"] += amount
                t["lines"].append({"kind": "withdrawal", **_ref(w), "amount": amount, "paid_to": w["paid_to"].lower()})
    for s in rows("sale"):
        if s["artist"].lower() == who and int(s["block_time"]) >= start:
            t = tok[s["token"].lower()]
            gross, fee = int(s["amount"]), int(s["platform_fee"])
            t["sales"].append({"kind": "sale", **_ref(s), "track_id": int(s["track_id"]),
                               "listing_kind": kinds.get(int(s["track_id"]), "track"), "buyer": s["buyer"].lower(),
                               "split_id": s["split_id"], "gross": gross, "platform_fee": fee, "net": gross - fee})
    # What the payee's splits still hold at the end of the month (not owed yet).
    for (split_id, token), q in queues.items():
        left = sum(int(p[2]) for p in q)
        if left:
            share = sum(s for r, s in splits[split_id] if r.lower() == who)
            tok[token]["waiting"].append({"split_id": split_id, "amount": left, "share_ppm": share})
    tok[ETH]  # noqa: B018  (ETH always has a page, zeros included: "nothing this month" is an answer)
    return {"address": who, "month": month, "period_start": start, "period_end": end,
            "tokens": [_finish(t, tok[t]) for t in sorted(tok)]}


def _token() -> dict[str, Any]:
    return {"opening": 0, "credit_sales": 0, "credit_pool_claims": 0, "credit_fees": 0, "credit_unattributed": 0,
            "withdrawals": 0, "lines": [], "sales": [], "waiting": []}


def _fee(t: dict[str, Any], r: Row, fee: int, source: str, start: int) -> None:
    if int(r["block_time"]) < start:
        t["opening"] += fee
    else:
        t["credit_fees"] += fee
        t["lines"].append({"kind": "platform_fee", **_ref(r), "source_table": source, "amount": fee})


def _distribution(who: str, d: Row, recipients: list[tuple[str, int]], queue: deque[list[Any]],
                  t: dict[str, Any], start: int, kinds: Mapping[int, str]) -> None:
    amount = int(d["amount"])
    credit = sum(part for r, part in allot(amount, recipients) if r.lower() == who)
    # The inflows this distribution pays out, first in first out (a distribution takes the
    # whole balance unless it is absurdly large, so an inflow is split only then).
    portions: list[tuple[Row | None, str, int]] = []
    need = amount
    while need and queue:
        head = queue[0]
        take = min(need, int(head[2]))
        portions.append((head[0], head[1], take))
        head[2] = int(head[2]) - take
        need -= take
        if head[2] == 0:
            queue.popleft()
    if need:  # more than the ledger saw coming in: shown as such, never hidden
        portions.append((None, "unattributed", need))
    if int(d["block_time"]) < start:
        t["opening"] += credit
        return
    done, floor_before = 0, 0
    for source, what, portion in portions:
        done += portion
        floor_now = done * credit // amount if amount else 0
        part, floor_before = floor_now - floor_before, floor_now
        if not part:
            continue
        line = {"kind": "credit", **_ref(d), "split_id": d["split_id"], "source_table": what, "portion": portion,
                "amount": part}
        if source is not None:
            line.update(source_tx_hash=source["tx_hash"], source_log_index=int(source["log_index"]),
                        source_block_time=int(source["block_time"]))
            if what == "sale":
                line.update(track_id=int(source["track_id"]), listing_kind=kinds.get(int(source["track_id"]), "track"))
            else:
                line["epoch"] = int(source["epoch"])
        t["credit_" + {"sale": "sales", "pool_claim": "pool_claims", "unattributed": "unattributed"}[what]] += part
        t["lines"].append(line)


def _finish(token: str, t: dict[str, Any]) -> dict[str, Any]:
    credits = t["credit_sales"] + t["credit_pool_claims"] + t["credit_fees"] + t["credit_unattributed"]
    by_listing: dict[tuple[int, str], int] = defaultdict(int)
    for line in t["lines"]:
        if line["kind"] == "credit" and line["source_table"] == "sale":
            by_listing[(line["track_id"], line["listing_kind"])] += line["amount"]
    artist: dict[tuple[int, str], list[int]] = {}
    for s in t["sales"]:
        a = artist.setdefault((s["track_id"], s["listing_kind"]), [0, 0, 0, 0])
        a[0] += 1
        a[1] += s["gross"]
        a[2] += s["platform_fee"]
        a[3] += s["net"]
    lines = sorted(t["lines"], key=lambda x: (x["block_number"], x["log_index"], x.get("source_tx_hash") or "",
                                              x.get("source_log_index", -1), x["kind"]))
    return {
        "token": token, "opening_owed": t["opening"], "credited_from_sales": t["credit_sales"],
        "credited_from_pool_claims": t["credit_pool_claims"], "credited_platform_fees": t["credit_fees"],
        "credited_unattributed": t["credit_unattributed"], "credits": credits, "withdrawals": t["withdrawals"],
        "closing_owed": t["opening"] + credits - t["withdrawals"],
        "credited_by_listing": [{"track_id": k[0], "listing_kind": k[1], "amount": v} for k, v in sorted(by_listing.items())],
        "artist_listings": [{"track_id": k[0], "listing_kind": k[1], "units": v[0], "gross": v[1], "platform_fees": v[2],
                             "net": v[3]} for k, v in sorted(artist.items())],
        "artist_sales": sorted(t["sales"], key=lambda x: (x["block_number"], x["log_index"])),
        "lines": lines,
        "waiting": sorted(t["waiting"], key=lambda x: x["split_id"]),
    }


# ------------------------------------------------------------------ from the chain alone

def from_chain(rpc: Any, contract: str, start_block: int, height: int, address: str, month: str) -> dict[str, Any]:
    """The statement recomputed from the contract's logs in [start_block, height] and their
    blocks' timestamps alone (the rows `ninety verify` builds), nothing from a database."""
    events = Decoder().decode_all(rpc.get_logs(contract.lower(), start_block, height)) if height >= start_block else []
    unknown: Callable[[Any], Any] = lambda key: (_ for _ in ()).throw(KeyError(key))  # noqa: E731
    ctx = Context(fee_recipient=ETH, split_recipients=unknown, track_artist=unknown)
    need = sorted({e.block_number for e in events if e.block_time is None})
    times = {n: int(h["timestamp"], 16) for n, h in zip(need, rpc.headers(need))} if need else {}
    out = map_events(events, ctx, times)
    splits: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in out.split_recipients:
        splits[r["split_id"]].append((r["recipient"], int(r["share_ppm"])))
    kinds = {int(r["track_id"]): r["kind"] for r in out.tables.get("track", [])}
    statement = compute(address, month, out.tables, splits, kinds)
    statement["as_of_block"] = height
    return statement


# ------------------------------------------------------------------ comparing two statements

_TOTALS = ("opening_owed", "credited_from_sales", "credited_from_pool_claims", "credited_platform_fees",
           "credited_unattributed", "credits", "withdrawals", "closing_owed")


def _line_key(line: Mapping[str, Any]) -> tuple[Any, ...]:
    return (line["kind"], line["tx_hash"], int(line["log_index"]), line.get("source_tx_hash") or "",
            int(line.get("source_log_index", -1)))


def differences(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Every way statement `have` (the database's) differs from `want` (the chain's), one
    message per line: totals, credit/fee/withdrawal lines, artist sales and listings,
    amounts waiting in splits. Amounts are compared as integers (strings or ints)."""
    out: list[str] = []
    tokens_have = {t["token"]: t for t in have["tokens"]}
    tokens_want = {t["token"]: t for t in want["tokens"]}
    for token in sorted(set(tokens_have) | set(tokens_want)):
        h, w = tokens_have.get(token), tokens_want.get(token)
        if h is None or w is None:
            out.append(f"{token}: {'missing' if h is None else 'present'} in the database's statement, "
                       f"{'missing' if w is None else 'present'} in the chain's")
            h, w = h or _finish(token, _token()), w or _finish(token, _token())
        for k in _TOTALS:
            if int(h[k]) != int(w[k]):
                out.append(f"{token} {k}: {h[k]} in the database, {w[k]} from the chain")
        for section, key in (("lines", _line_key), ("artist_sales", _line_key),
                             ("artist_listings", lambda x: (x["track_id"], x["listing_kind"])),
                             ("credited_by_listing", lambda x: (x["track_id"], x["listing_kind"])),
                             ("waiting", lambda x: (x["split_id"],))):
            hs = {key(x): x for x in h[section]}
            ws = {key(x): x for x in w[section]}
            for k in sorted(set(hs) | set(ws), key=str):
                a, b = hs.get(k), ws.get(k)
                if a is None:
                    out.append(f"{token} {section} {_name(k)}: missing in the database, on chain {_brief(b)}")
                elif b is None:
                    out.append(f"{token} {section} {_name(k)}: in the database {_brief(a)}, not on chain")
                else:
                    for field in sorted(set(a) | set(b)):
                        if field.endswith("_units") or field.endswith("_utc") or field == "title":
                            continue  # presentation, derived from what is compared
                        x, y = a.get(field), b.get(field)
                        if _norm(x) != _norm(y):
                            out.append(f"{token} {section} {_name(k)}: {field} is {x} in the database, {y} on chain")
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, str):
        return v.lower()
    return v


def _name(key: tuple[Any, ...]) -> str:
    return ":".join(str(k) for k in key if k not in ("", -1))


def _brief(x: Mapping[str, Any] | None) -> str:
    if x is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in x.items() if k in ("amount", "gross", "net", "units", "block_time"))
