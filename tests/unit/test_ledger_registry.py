"""ninety.ledger: every event kind of the contract's ABI has a registry entry whose rows
carry exactly the columns the registry declares, the per-row comparison finds a changed
field in any table, and deltas undo exactly what they did. Events are built from the ABI
with made-up values; no node."""
from __future__ import annotations

import pytest

from ninety.contract import load_abi
from ninety.ledger.aggregates import allot, deltas
from ninety.ledger.events import Event
from ninety.ledger.mapping import map_events
from ninety.ledger.registry import (AGGREGATES, COMPARED, EVENT_TABLES, IGNORED, INSERT_ORDER, KINDS, REF, SUMMED,
                                    mismatches)
from ninety.contract import ETH
from ninety.ledger.rows import APPLIED, CANCELLED, PENDING, Context
from ninety.paths import BUILD_DIR

ARTIST = "0x" + "a1" * 20
SPLIT = "0x" + "5a" * 32
FIRST = ("SplitCreated", "TrackRegistered", "FeeRecipientChanged")


def _value(abi_type: str, name: str, n: int):
    if abi_type.endswith("[]"):
        return [_value(abi_type[:-2], name, n), _value(abi_type[:-2], name, n + 1)]
    if name in ("splitId", "previousSplitId"):
        return SPLIT
    if name == "trackId":
        return 1
    if name == "sharesPpm":
        return 500_000
    if abi_type == "address":
        return ARTIST if name == "artist" else "0x" + f"{n:02x}" * 20
    if abi_type == "bool":
        return True
    if abi_type == "bytes32":
        return "0x" + f"{n:02x}" * 32
    if abi_type == "string":
        return f"bafkrei{name.lower()}{n}"
    return 1000 + n


def _events() -> list[Event]:
    # The fast tier needs only the venv: before `make build` (which `make test` runs first)
    # the tests built on the compiled ABI are skipped, saying why.
    if not (BUILD_DIR / "Marketplace.json").exists():
        pytest.skip("needs the compiled contract's ABI: run make build")
    abi = sorted((i for i in load_abi("Marketplace") if i.get("type") == "event"),
                 key=lambda i: (i["name"] not in FIRST, FIRST.index(i["name"]) if i["name"] in FIRST else 0))
    out = []
    for n, item in enumerate(abi):
        args = {i["name"]: _value(i["type"], i["name"], n) for i in item["inputs"]}
        out.append(Event(item["name"], args, block_number=10 + n, block_hash="0x" + "bb" * 32,
                         block_time=1_700_000_000 + n, tx_hash=f"0x{n:064x}", log_index=n))
    return out


def _map(events: list[Event]):
    ctx = Context(fee_recipient="0x" + "fe" * 20, split_recipients=lambda sid: [(ARTIST, 1_000_000)],
                  track_artist=lambda tid: ARTIST)
    return map_events(events, ctx, {}), ctx


def test_every_event_of_the_abi_has_a_kind_and_every_table_an_order():
    names = {e.name for e in _events()}
    assert names == set(KINDS) | IGNORED, names ^ (set(KINDS) | IGNORED)
    assert set(EVENT_TABLES) == {k.table for k in KINDS.values()} == set(COMPARED)
    assert INSERT_ORDER == EVENT_TABLES[::-1] and INSERT_ORDER[0] == "split"
    assert set(SUMMED) <= set(EVENT_TABLES)


def test_rows_have_exactly_the_declared_columns_and_match_their_logs():
    events = _events()
    rows, _ = _map(events)
    by_key = {(r["tx_hash"], r["log_index"]): (table, r) for table, rs in rows.tables.items() for r in rs}
    for e in events:
        if e.name not in KINDS:
            continue
        table, row = by_key[e.key]
        assert table == KINDS[e.name].table
        assert set(row) == {*REF, *COMPARED[table]}, e.name
        assert mismatches(table, row, e) == [], e.name
        # Any log column changed is caught, in every table.
        for column in KINDS[e.name].fields:
            changed = {**row, column: 7 if isinstance(row[column], int) else "0xdifferent"}
            if isinstance(row[column], bool):
                changed[column] = not row[column]
            assert mismatches(table, changed, e) == [column], (e.name, column)
        assert mismatches(table, {**row, "block_hash": "0x" + "cc" * 32}, e) == ["block_hash"]
        assert mismatches("sale" if table != "sale" else "withdrawal", row, e) == ["table"]


def test_amounts_read_back_as_strings_still_match():
    e = next(e for e in _events() if e.name == "Sale")
    rows, _ = _map([x for x in _events() if x.name in FIRST] + [e])
    row = {k: str(v) if isinstance(v, int) else v for k, v in rows.tables["sale"][0].items()}
    assert mismatches("sale", row, e) == []


def test_a_batch_state_follows_its_own_events():
    events = _events()
    rows, ctx = _map(events)
    track = rows.tables["track"][0]
    last_block = [e for e in events if e.name in ("TrackBlocked", "TrackUnblocked")][-1]
    assert track["blocked"] == (last_block.name == "TrackBlocked")
    assert rows.tables["sale"][0]["artist"] == ARTIST
    assert ctx.fee_recipient == rows.tables["fee_recipient_change"][-1]["new_recipient"]
    names = [e.name for e in events]
    proposed = names.index("SplitChangeProposed")
    closes = [n for n in names[proposed:] if n in ("TrackSplitChanged", "SplitProposalsCancelled")]
    # The change proposes SPLIT and every split change here is to SPLIT: applied, unless cancelled first.
    want = PENDING if not closes else APPLIED if closes[0] == "TrackSplitChanged" else CANCELLED
    assert rows.tables["split_proposal"][0]["status"] == want
    assert not rows.track_state and not rows.split_state and not rows.block_state


def test_deltas_undo_exactly_what_they_add():
    rows, ctx = _map(_events())
    d = deltas(rows.tables, ctx.split_recipients)
    assert any(any(v) for agg in AGGREGATES for v in d[agg.table].values())
    deltas(rows.tables, ctx.split_recipients, sign=-1, into=d)
    assert all(not any(v) for agg in AGGREGATES for v in d[agg.table].values())
    for agg in AGGREGATES:
        assert all(len(v) == len(agg.columns) and len(k) == len(agg.keys) for k, v in d[agg.table].items())


@pytest.mark.parametrize("amount", [0, 1, 999_999, 10**18 + 7])
def test_allot_floors_by_share_and_gives_the_dust_to_the_first(amount):
    parts = allot(amount, [("a", 333_333), ("b", 333_333), ("c", 333_334)])
    assert sum(p for _, p in parts) == amount
    assert [p for _, p in parts][1:] == [amount * 333_333 // 10**6, amount * 333_334 // 10**6]
