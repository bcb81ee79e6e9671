"""The auditors' API against a ledger the real indexer built from real Anvil activity.
Expectations come from the chain (logs, eth_call, receipts), never from the database."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

from ninety.ledger.events import Decoder
from ninety.ledger.registry import EVENT_TABLES
from ninety.chain import Rpc
from ninety.market import ETH
from tests.support.activity import World, pinned_world, random_activity
from tests.support.stack import Stack

T = SQLModel.metadata.tables


@pytest.fixture(scope="module")
def busy_ledger(anvil, ipfs_node, tmp_path_factory) -> tuple[World, Path]:
    """One world with random activity for the module, indexed once (that takes seconds):
    the world, and a data dir whose ledger every `busy` test starts from a copy of."""
    data = tmp_path_factory.mktemp("busy-ledger")
    world = pinned_world(anvil.url, ipfs_node.url)
    built = Stack(anvil.url, ipfs_node.url, data, world)
    random_activity(world, 90, seed=17)
    built.indexer.run(once=True)
    built.services.engine.dispose()
    return world, data


@pytest.fixture
def busy(busy_ledger, anvil, ipfs_node, tmp_path):
    """The app over its own copy of that ledger, indexed up to the head: a test may tamper
    with its rows without another test seeing it. Blocks an earlier test added (sales, an
    empty block) are indexed here, so the ledger always matches the chain it is checked
    against. An empty block first gives each test a checkpoint of its own: the API keeps
    a reconciliation per checkpoint for the whole process, and an earlier test's tampered
    copy must not answer for this one."""
    world, data = busy_ledger
    shutil.copytree(data, tmp_path / "data")
    s = Stack(anvil.url, ipfs_node.url, tmp_path / "data", world)
    next_block(s)
    yield s
    s.services.engine.dispose()


def chain_sales(stack) -> list[dict]:
    rpc = Rpc(stack.settings.rpc_url)
    logs = rpc.get_logs(stack.world.market.address, stack.world.deploy_block, rpc.block_number())
    return [dict(e.args, block_number=e.block_number, block_time=e.block_time, tx_hash=e.tx_hash, log_index=e.log_index)
            for e in Decoder().decode_all(logs) if e.name == "Sale"]


def all_items(client, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        r = client.get(path, params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def next_block(stack) -> None:
    """Mine an empty block and index it: the ledger's checkpoint moves."""
    stack.world.w3.provider.make_request("evm_mine", [])
    stack.indexer.run(once=True)


def keys(rows) -> list[tuple[str, int]]:
    return [(r["tx_hash"], r["log_index"]) for r in rows]


def test_sales_filters_match_the_chain(busy):
    sales = chain_sales(busy)
    assert len(sales) > 20
    w3 = busy.world.w3
    artist_of = {}
    for s in sales:
        if s["trackId"] not in artist_of:
            artist_of[s["trackId"]] = busy.world.market.contract.functions.tracks(s["trackId"]).call()[0].lower()
    recipients = {}
    for sid in {s["splitId"] for s in sales}:
        recipients[sid] = {a.lower() for a in busy.world.market.split_data(sid)[0]}
    some = sales[len(sales) // 2]
    mid_block = some["block_number"]
    cases = [
        ({}, lambda s: True),
        ({"track": some["trackId"]}, lambda s: s["trackId"] == some["trackId"]),
        ({"artist": artist_of[some["trackId"]]}, lambda s: artist_of[s["trackId"]] == artist_of[some["trackId"]]),
        ({"buyer": some["buyer"]}, lambda s: s["buyer"] == some["buyer"]),
        ({"payee": busy.world.accounts[3]}, lambda s: busy.world.accounts[3].lower() in recipients[s["splitId"]]),
        ({"token": busy.world.usdc.address}, lambda s: s["token"] == busy.world.usdc.address.lower()),
        ({"token": ETH}, lambda s: s["token"] == ETH),
        ({"from_block": mid_block}, lambda s: s["block_number"] >= mid_block),
        ({"to_block": mid_block}, lambda s: s["block_number"] <= mid_block),
        ({"from_time": some["block_time"], "to_time": some["block_time"]}, lambda s: s["block_time"] == some["block_time"]),
    ]
    for params, keep in cases:
        expected = sorted((s for s in sales if keep(s)), key=lambda s: (s["block_number"], s["log_index"]))
        got = all_items(busy.client, "/api/ledger/sales", order="asc", **params)
        assert keys(got) == keys(expected), params
        got_desc = all_items(busy.client, "/api/ledger/sales", **params)
        assert keys(got_desc) == list(reversed(keys(expected))), params
    first = busy.client.get("/api/ledger/sales", params={"order": "asc", "limit": 1}).json()["items"][0]
    s0 = min(sales, key=lambda s: (s["block_number"], s["log_index"]))
    assert first["amount"] == str(s0["amount"]) and first["platform_fee"] == str(s0["platformFee"])
    assert first["net"] == str(s0["amount"] - s0["platformFee"])
    assert first["token_symbol"] in ("ETH", "mUSDC") or first["token_symbol"]


def test_pagination_is_stable_while_new_sales_arrive(busy):
    tid, token, price = busy.world.tracks[0]
    before = {k for k in keys(chain_sales(busy))}
    pages = {"asc": [], "desc": []}
    cursors: dict[str, str | None] = {"asc": None, "desc": None}
    done = {"asc": False, "desc": False}
    for step in range(200):
        for order in ("asc", "desc"):
            if done[order]:
                continue
            params = {"order": order, "limit": 5, **({"cursor": cursors[order]} if cursors[order] else {})}
            page = busy.client.get("/api/ledger/sales", params=params).json()
            pages[order] += page["items"]
            cursors[order] = page["next_cursor"]
            done[order] = page["next_cursor"] is None
        if step < 4:  # meanwhile, the chain moves and the indexer writes
            busy.world.market.buy(tid, price, busy.world.accounts[6], token)
            busy.indexer.run(once=True)
        if all(done.values()):
            break
    asc, desc = pages["asc"], pages["desc"]
    after = set(keys(chain_sales(busy)))
    assert len(keys(asc)) == len(set(keys(asc))) and set(keys(asc)) == after  # new rows join at the end
    assert len(keys(desc)) == len(set(keys(desc))) and before <= set(keys(desc)) <= after


def test_csv_is_the_json_in_another_form(busy):
    for path, params in (("/api/ledger/sales", {"order": "asc"}), ("/api/ledger/withdrawals", {"order": "asc"}),
                         ("/api/ledger/sales", {"token": ETH})):
        items = all_items(busy.client, path, **params)
        r = busy.client.get(path, params={**params, "format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        # CSV writes a null (a title not fetched yet) as an empty cell. It keeps the ledger's
        # own columns: a display name (artist_name) is not ledger data and may change.
        assert rows == [{k: "" if v is None else str(v) for k, v in item.items() if k != "artist_name"}
                        for item in items]
        by_accept = busy.client.get(path, params=params, headers={"Accept": "text/csv"})
        assert by_accept.text == r.text


def test_withdrawals_match_the_chain(busy):
    rpc = Rpc(busy.settings.rpc_url)
    logs = rpc.get_logs(busy.world.market.address, busy.world.deploy_block, rpc.block_number())
    expected = [e for e in Decoder().decode_all(logs) if e.name == "Withdrawal"]
    assert expected
    got = all_items(busy.client, "/api/ledger/withdrawals", order="asc")
    assert [(g["tx_hash"], g["log_index"], g["amount"], g["paid_to"]) for g in got] == \
        [(e.tx_hash, e.log_index, str(e.args["amount"]), e.args["to"]) for e in expected]
    assert any(e.args["to"] != e.args["account"] for e in expected), "the activity withdraws to other addresses"
    who = expected[0].args["account"]
    mine = all_items(busy.client, "/api/ledger/withdrawals", account=who)
    assert mine and all(m["account"] == who for m in mine)


def test_artist_summary_agrees_with_sales_and_the_contract(busy):
    sales = chain_sales(busy)
    m = busy.world.market
    artist = m.contract.functions.tracks(sales[0]["trackId"]).call()[0]
    mine = [s for s in sales if m.contract.functions.tracks(s["trackId"]).call()[0] == artist]
    r = busy.client.get(f"/api/ledger/artists/{artist}")
    assert r.status_code == 200, r.text
    per = {t["token"]: t for t in r.json()["tokens"]}
    for token in {s["token"] for s in mine}:
        ts = [s for s in mine if s["token"] == token]
        row = per[token]
        assert row["sales"] == len(ts) and row["buyers"] == len({s["buyer"] for s in ts})
        assert row["gross"] == str(sum(s["amount"] for s in ts)) and row["fees"] == str(sum(s["platformFee"] for s in ts))
    for token, row in per.items():
        assert row["owed"] == str(m.owed(artist, token)) == row["owed_in_ledger"]
    # As of an earlier block: fewer sales, and owed as the contract had it then.
    early = sorted(s["block_number"] for s in mine)[0]
    then = busy.client.get(f"/api/ledger/artists/{artist}", params={"as_of_block": early}).json()
    assert then["as_of_block"] == early
    assert sum(t["sales"] for t in then["tokens"]) == len([s for s in mine if s["block_number"] <= early])


def test_track_summary(busy):
    sales = chain_sales(busy)
    tid = max({s["trackId"] for s in sales}, key=lambda t: sum(1 for s in sales if s["trackId"] == t))
    mine = [s for s in sales if s["trackId"] == tid]
    r = busy.client.get(f"/api/ledger/tracks/{tid}").json()
    assert r["sales"] == len(mine) and r["gross"] == str(sum(s["amount"] for s in mine))
    assert r["fees"] == str(sum(s["platformFee"] for s in mine))
    assert sum(int(p["credited"]) for p in r["payees"]) == int(r["net"])
    assert r["first_sale"]["tx_hash"] == min(mine, key=lambda s: (s["block_number"], s["log_index"]))["tx_hash"]
    assert sum(d["sales"] for d in r["sales_per_day"]) == len(mine)
    assert busy.client.get("/api/ledger/tracks/99999").status_code == 404


def test_summaries_carry_an_etag_that_moves_with_the_ledger(busy):
    m = busy.world.market
    sale = next(s for s in reversed(chain_sales(busy)) if m.contract.functions.tracks(s["trackId"]).call()[4])
    artist = m.contract.functions.tracks(sale["trackId"]).call()[0].lower()
    paths = [f"/api/ledger/artists/{artist}", f"/api/ledger/tracks/{sale['trackId']}"]
    first = {p: busy.client.get(p) for p in paths}
    for p, r in first.items():
        assert r.status_code == 200 and r.headers["etag"].startswith('"'), p
        again = busy.client.get(p, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", p
        assert busy.client.get(p, headers={"If-None-Match": '"other"'}).status_code == 200
    # A new sale, once indexed, moves the checkpoint: new tag, new figures, no 304.
    track = m.contract.functions.tracks(sale["trackId"]).call()
    token, price = track[2], track[3]
    buyer = busy.world.accounts[7]
    if token.lower() != ETH:
        busy.world.usdc.functions.mint(buyer, price).transact({"from": busy.world.accounts[0]})
        busy.world.usdc.functions.approve(m.address, price).transact({"from": buyer})
    m.buy(sale["trackId"], price, buyer, token)
    busy.indexer.run(once=True)
    for p, r in first.items():
        now = busy.client.get(p, headers={"If-None-Match": r.headers["etag"]})
        assert now.status_code == 200 and now.headers["etag"] != r.headers["etag"], p
    before = {t["token"]: t["sales"] for t in first[paths[0]].json()["tokens"]}
    after = {t["token"]: t["sales"] for t in busy.client.get(paths[0]).json()["tokens"]}
    assert after[token.lower()] == before[token.lower()] + 1
    assert busy.client.get(paths[1]).json()["sales"] == first[paths[1]].json()["sales"] + 1


def test_reconciliation_is_ok_on_an_honest_ledger_and_names_a_tampered_row(busy):
    r = busy.client.get("/api/ledger/reconciliation").json()
    assert r["ok"] is True and r["differences"] == [] and r["accounts_checked"] > 0
    assert {t["token"] for t in r["tokens"]} >= {ETH, busy.world.usdc.address.lower()}
    with busy.services.engine.begin() as conn:
        victim = conn.execute(select(T["account_balance"]).limit(1)).mappings().first()
        conn.execute(update(T["account_balance"]).where(T["account_balance"].c.account == victim["account"],
                                                        T["account_balance"].c.token == victim["token"])
                     .values(credited=int(victim["credited"]) + 5))
    # Kept per checkpoint: a row changed behind the indexer's back shows from the next block.
    assert busy.client.get("/api/ledger/reconciliation").json()["ok"] is True
    next_block(busy)
    r = busy.client.get("/api/ledger/reconciliation").json()
    assert r["ok"] is False
    kinds = {(d["kind"], d["key"]) for d in r["differences"]}
    assert ("owed", f"{victim['account']}/{victim['token']}") in kinds
    assert ("token_balance", victim["token"]) in kinds


def test_reconciliation_covers_sponsor_pools(busy):
    r = busy.client.get("/api/ledger/reconciliation").json()
    assert r["ok"] is True
    pooled = {t["token"]: int(t["ledger_pools"]) for t in r["tokens"]}
    m = busy.world.market.contract.functions
    epochs = range(m.currentEpoch().call() + 2)  # deposits go at most one epoch ahead here
    on_chain = {}
    for token in pooled:
        t = busy.world.w3.to_checksum_address(token)
        on_chain[token] = sum(m.poolBalance(e, t).call() + m.poolUnclaimed(e, t).call() for e in epochs)
    assert pooled == on_chain and sum(pooled.values()) > 0, "the activity has pools, and the ledger sees them"
    with busy.services.engine.begin() as conn:
        victim = conn.execute(select(T["pool_total"]).where(T["pool_total"].c.allocated != "0").limit(1)).mappings().first()
        conn.execute(update(T["pool_total"]).where(T["pool_total"].c.epoch == victim["epoch"],
                                                   T["pool_total"].c.token == victim["token"])
                     .values(claimed=int(victim["claimed"]) + 1))
    next_block(busy)
    r = busy.client.get("/api/ledger/reconciliation").json()
    kinds = {(d["kind"], d["key"]) for d in r["differences"]}
    assert r["ok"] is False and ("pool_unclaimed", f"{victim['epoch']}/{victim['token']}") in kinds


def test_proofs_match_the_receipt(busy):
    w3 = busy.world.w3
    for s in chain_sales(busy)[:5]:
        r = busy.client.get(f"/api/ledger/proofs/{s['tx_hash']}/{s['log_index']}")
        assert r.status_code == 200, r.text
        p = r.json()
        receipt = w3.eth.get_transaction_receipt(s["tx_hash"])
        log = next(lg for lg in receipt["logs"] if lg["logIndex"] == s["log_index"])
        assert p["log"]["topics"] == ["0x" + bytes(t).hex() for t in log["topics"]]
        assert p["log"]["data"] == "0x" + bytes(log["data"]).hex()
        assert p["canonical"] is True and p["matches"] is True and p["table"] == "sale"
        assert p["decoded"]["event"] == "Sale" and p["decoded"]["args"]["amount"] == str(s["amount"])
    target = chain_sales(busy)[0]
    with busy.services.engine.begin() as conn:
        conn.execute(update(T["sale"]).where(T["sale"].c.tx_hash == target["tx_hash"]).values(amount=1))
    assert busy.client.get(f"/api/ledger/proofs/{target['tx_hash']}/{target['log_index']}").json()["matches"] is False
    assert busy.client.get(f"/api/ledger/proofs/0x{'ab' * 32}/0").status_code == 404


# One log column per table the proof did not compare before it followed the registry (it
# compared the fields of 6 of the event tables): a tampered value must now show.
TAMPER = {
    "pool_deposit": ("amount", lambda v: int(v) + 1),
    "pool_withdrawal": ("amount", lambda v: int(v) + 1),
    "pool_settlement": ("allocated", lambda v: int(v) + 1),
    "pool_claim": ("amount", lambda v: int(v) + 1),
    "epoch": ("report_cid", lambda v: v + "x"),
    "token_allowance": ("allowed", lambda v: not v),
}


def test_proofs_compare_every_field_of_every_event_table(busy):
    def proof_of(row) -> dict:
        r = busy.client.get(f"/api/ledger/proofs/{row['tx_hash']}/{row['log_index']}")
        assert r.status_code == 200, r.text
        return r.json()

    newest = {}
    with busy.services.engine.connect() as conn:
        for table in EVENT_TABLES:
            t = T[table]
            row = conn.execute(select(t).order_by(t.c.block_number.desc(), t.c.log_index.desc())).mappings().first()
            if row is not None:
                newest[table] = row
    assert {"sale", "track", "split", "pool_deposit", "pool_settlement", "epoch", "pool_claim",
            "token_allowance"} <= set(newest)
    for table, row in newest.items():
        p = proof_of(row)
        assert (p["table"], p["matches"]) == (table, True), p
    for table, (column, change) in TAMPER.items():
        if table not in newest:
            continue
        t, row = T[table], newest[table]
        with busy.services.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == row["id"]).values({column: change(row[column])}))
        assert proof_of(row)["matches"] is False, f"{table}.{column} tampered, yet the proof matches"


@pytest.mark.parametrize("path,params,words", [
    ("/api/ledger/sales", {"artist": "0x123"}, "not an address"),
    ("/api/ledger/sales", {"buyer": "bob"}, "not an address"),
    ("/api/ledger/sales", {"from_block": 10, "to_block": 5}, "after"),
    ("/api/ledger/sales", {"from_time": 10, "to_time": 5}, "after"),
    ("/api/ledger/sales", {"token": "0x" + "12" * 20}, "never allowed"),
    ("/api/ledger/sales", {"cursor": "nonsense!"}, "cursor"),
    ("/api/ledger/sales", {"limit": 0}, "limit"),
    ("/api/ledger/withdrawals", {"account": "x"}, "not an address"),
    ("/api/ledger/artists/not-an-address", {}, "not an address"),
    ("/api/ledger/proofs/0x12/0", {}, "transaction hash"),
])
def test_invalid_filters_are_422_with_a_clear_message(stack, path, params, words):
    stack.indexer.run(once=True)
    r = stack.client.get(path, params=params)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"], r.json()


def test_a_cursor_from_one_order_is_refused_in_the_other(busy):
    cursor = busy.client.get("/api/ledger/sales", params={"limit": 1}).json()["next_cursor"]
    r = busy.client.get("/api/ledger/sales", params={"order": "asc", "cursor": cursor})
    assert r.status_code == 422


def test_status_and_metrics(busy):
    s = busy.client.get("/api/status").json()
    assert s["chain_id"] == 31337 and s["contract"] == busy.world.market.address.lower()
    assert s["indexed_block"] == s["head_block"] and s["lag_blocks"] == 0 and s["ipfs_reachable"] is True
    metrics = busy.client.get("/metrics/").text
    assert 'ninety_api_requests_total{route="/api/status",status="200"}' in metrics
