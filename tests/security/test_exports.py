"""CSV exports never hold the database pool: twenty clients that ask for the whole ledger
as CSV and never read it leave every other route answering, and an export is pinned to
the ledger checkpoint at which it started.

Against the real `ninety serve` over raw sockets; before the fix, each stalled export
held a pooled connection, and past about fifteen every database route waited 30 s and
failed."""
from __future__ import annotations

import csv
import io
import socket
import time

import httpx
from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

from tests.support.http_attacks import StalledReaders, big_ledger

T = SQLModel.metadata.tables


def test_twenty_stalled_csv_readers_do_not_stop_other_routes(live_api):
    api = live_api()
    _, block = big_ledger(api, extra_sales=20_000)
    expected = httpx.get(f"{api.url}/api/ledger/sales", params={"limit": 5}, timeout=30).json()
    with StalledReaders(api, n=20) as readers:
        firsts = readers.first_bytes()
        assert all(b.startswith(b"HTTP/1.1 200") for b in firsts), firsts[:3]
        time.sleep(1.0)  # let every export fill its socket and stall
        times, answers = [], []
        for _ in range(3):
            for path, params in (("/api/ledger/sales", {"limit": 5}), ("/api/status", {}),
                                 ("/api/ledger/withdrawals", {"limit": 5}), ("/api/tracks", {"limit": 5})):
                started = time.perf_counter()
                try:
                    r = httpx.get(f"{api.url}{path}", params=params, timeout=20)
                    answers.append((path, r.status_code, r.json() if path == "/api/ledger/sales" else None))
                except httpx.HTTPError as e:
                    answers.append((path, repr(e), None))
                times.append(time.perf_counter() - started)
        print(f"\nwith 20 stalled CSV readers: {len(answers)} ordinary requests, slowest {max(times):.3f} s, "
              f"median {sorted(times)[len(times) // 2]:.3f} s")
    assert all(status == 200 for _, status, _ in answers), [a[:2] for a in answers]
    assert all(body == expected for path, _, body in answers if path == "/api/ledger/sales")


def test_an_export_is_pinned_to_the_checkpoint_it_started_at(live_api):
    """Rows the indexer adds while a slow client reads an export do not appear in it."""
    api = live_api()
    engine, block = big_ledger(api, extra_sales=20_000)
    s = socket.create_connection(("127.0.0.1", api.port))  # and not read from for now: the
    s.sendall(b"GET /api/ledger/sales?format=csv&order=asc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    first = s.recv(4096)  # export stalls once the socket buffers (a few MB) are full
    assert first.startswith(b"HTTP/1.1 200"), first[:100]
    time.sleep(1.0)
    # Meanwhile the ledger moves past the checkpoint: a newer block with a sale in it.
    cp = T["checkpoint"]
    with engine.begin() as conn:
        row = dict(conn.execute(select(T["sale"]).order_by(T["sale"].c.id.desc()).limit(1)).mappings().one())
        row.pop("id")
        row.update(block_number=block + 1, block_hash="0x" + "e" * 64, tx_hash="0x" + "e" * 64, log_index=0)
        conn.execute(insert(T["sale"]), [row])
        conn.execute(update(cp).values(block_number=block + 1, block_hash="0x" + "e" * 64))
    chunks = [first]
    while data := s.recv(65536):
        chunks.append(data)
    s.close()
    raw = b"".join(chunks)
    body = _dechunk(raw.split(b"\r\n\r\n", 1)[1]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) > 20_000 and max(int(r["block_number"]) for r in rows) == block
    # The same set as the JSON pages up to that block (new rows are not mixed in).
    later = httpx.get(f"{api.url}/api/ledger/sales", params={"from_block": block + 1}, timeout=30).json()["items"]
    assert [x["block_number"] for x in later] == [block + 1]
    assert not any(r["tx_hash"] == "0x" + "e" * 64 for r in rows)


def _dechunk(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)
