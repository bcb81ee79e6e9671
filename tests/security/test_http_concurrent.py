"""All at once: the attacks run together against one real server while an ordinary client
checks that ordinary requests keep answering, and answering correctly.

An attack is a function (api, stop, report) that keeps attacking until `stop` is set and
writes what it saw into `report`; to plug another one in, append it to ATTACKS."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import httpx

from tests.support.http_attacks import big_ledger, signin_blowups, stalled_readers
from tests.support.live_api import MemoryWatch
from tests.support.media import flac_silence

Attack = Callable[[Any, threading.Event, dict[str, Any]], None]


def media_bombs(api: Any, stop: threading.Event, report: dict[str, Any]) -> None:
    """Attack: the issue's 8 KB FLAC bomb (8 channels at 655,350 Hz), uploaded over and
    over by a signed-in wallet."""
    headers, bomb = api.login(7), flac_silence()
    report["media_bombs_ready"] = True
    statuses = []
    while not stop.is_set():
        statuses.append(api.upload(headers, bomb, name="bomb.flac", content_type="audio/flac", timeout=60).status_code)
    report["media_bombs"] = {"sent": len(statuses), "statuses": sorted(set(statuses))}


ATTACKS: list[Attack] = [signin_blowups, stalled_readers, media_bombs]
DURATION = 8.0  # seconds of ordinary traffic under attack


def test_ordinary_requests_keep_answering_under_every_attack_at_once(live_api):
    api = live_api()
    big_ledger(api, extra_sales=20_000)
    expected = {path: httpx.get(f"{api.url}{path}", timeout=30).json()
                for path in ("/api/ledger/sales?limit=5", "/api/ledger/withdrawals?limit=5", "/api/tracks?limit=5")}
    stop = threading.Event()
    report: dict[str, Any] = {}
    threads = [threading.Thread(target=attack, args=(api, stop, report), daemon=True) for attack in ATTACKS]
    answers: list[tuple[str, Any]] = []
    times: list[float] = []
    with MemoryWatch(api.pid) as mem:
        for t in threads:
            t.start()
        # Signing in and building the bomb can take seconds on a loaded machine: ordinary
        # traffic starts once the bomb is ready (it once got none out in the whole window).
        ready_by = time.monotonic() + 120
        while "media_bombs_ready" not in report and time.monotonic() < ready_by:
            time.sleep(0.1)
        time.sleep(1.5)  # let the attacks take hold
        deadline = time.monotonic() + DURATION
        while time.monotonic() < deadline:
            for path, want in expected.items():
                started = time.perf_counter()
                try:
                    r = httpx.get(f"{api.url}{path}", timeout=20)
                    answers.append((path, r.status_code == 200 and r.json() == want))
                except httpx.HTTPError as e:
                    answers.append((path, repr(e)))
                times.append(time.perf_counter() - started)
        stop.set()
        for t in threads:
            t.join(90)
    print(f"\nunder {len(ATTACKS)} attacks at once: {len(answers)} ordinary requests, "
          f"slowest {max(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s, "
          f"server memory +{mem.growth_mb:.1f} MB; attacks: {report}")
    assert answers and all(ok is True for _, ok in answers), [a for a in answers if a[1] is not True][:5]
    assert report.get("stalled_csv_readers") == 20
    assert report["signin_blowups"]["sent"] > 0 and report["signin_blowups"]["statuses"] == [422]
    assert report["media_bombs"]["sent"] > 0 and report["media_bombs"]["statuses"] == [422]
    assert mem.growth_mb < 500  # twenty exports' buffers and the rest; before: gigabytes
