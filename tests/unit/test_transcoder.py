"""The transcoder's bounds without codecs (backend/transcode.py): workers plus queue, one
job per key, a waiter that stops waiting, an error reaching every waiter."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import types

import pytest

from backend.transcode import JOB_SECONDS, Busy, Limited, Transcoder, sweep_leftovers

# A deadlock (a job done before its callback is added, under the lock) must fail, not hang.
pytestmark = pytest.mark.timeout(20)


def _hold(t: Transcoder, key: str, gate: threading.Event, out: list) -> threading.Thread:
    th = threading.Thread(target=lambda: out.append(t.run(key, lambda: (gate.wait(5), key)[1])))
    th.start()
    return th


def _until(cond) -> None:
    for _ in range(500):
        if cond():
            return
        threading.Event().wait(0.01)
    raise AssertionError("not reached")


def test_beyond_workers_and_queue_is_busy_and_a_joiner_takes_no_place():
    t, gate, out = Transcoder(workers=1, queue=1), threading.Event(), []
    first, second = _hold(t, "a", gate, out), _hold(t, "b", gate, out)
    _until(lambda: t.pending() == 2)
    with pytest.raises(Busy) as busy:
        t.run("c", lambda: "c")
    assert busy.value.retry_after >= 1
    joiner = _hold(t, "a", gate, out)  # the same file: waits for the running job
    gate.set()
    for th in (first, second, joiner):
        th.join(5)
    assert sorted(out) == [("a", False), ("a", True), ("b", True)]
    assert t.pending() == 0 and t.run("c", lambda: "c") == ("c", True)


def test_a_waiter_past_its_wait_is_told_busy_and_the_job_goes_on():
    t, gate, out = Transcoder(workers=1, queue=0), threading.Event(), []
    th = _hold(t, "a", gate, out)
    _until(lambda: t.pending() == 1)
    with pytest.raises(Busy):
        t.run("a", lambda: "other", wait=0.05)
    gate.set()
    th.join(5)
    assert out == [("a", True)]


def test_a_failed_job_fails_every_waiter_and_frees_its_place():
    t = Transcoder(workers=1, queue=0)

    def boom() -> None:
        raise ValueError("cannot convert")

    with pytest.raises(ValueError):
        t.run("a", boom)
    assert t.pending() == 0


def test_at_most_waiters_requests_wait_the_others_are_told_it_is_being_made():
    # Each waiting request holds one of the API's threads: beyond `waiters`, none waits.
    t, gate, out = Transcoder(workers=1, queue=0, waiters=2), threading.Event(), []
    starter = _hold(t, "a", gate, out)
    joiner = _hold(t, "a", gate, out)
    _until(lambda: t.waiting() == 2)
    with pytest.raises(Busy) as busy:
        t.run("a", lambda: "other", wait=5)
    assert busy.value.making and busy.value.retry_after >= 1
    assert t.waiting() == 2 and not gate.is_set()  # told at once, while the job still runs
    gate.set()
    for th in (starter, joiner):
        th.join(5)
    assert sorted(out) == [("a", False), ("a", True)] and t.waiting() == 0


def test_a_request_that_starts_a_job_without_a_waiting_place_leaves_it_running():
    t, gate, out = Transcoder(workers=1, queue=1, waiters=0), threading.Event(), []
    with pytest.raises(Busy) as busy:
        t.run("a", lambda: (gate.wait(5), out.append("done"))[1], wait=5)
    assert busy.value.making and t.pending() == 1  # the job goes on; its result is cached by the job
    gate.set()
    _until(lambda: t.pending() == 0)
    assert out == ["done"]


def test_a_wallet_and_a_client_start_at_most_their_caps_and_joining_costs_nothing():
    t, gate, out = Transcoder(workers=1, queue=5, per_wallet=1, per_client=2), threading.Event(), []

    def hold(key: str, wallet: str, client: str) -> threading.Thread:
        th = threading.Thread(target=lambda: out.append(t.run(key, lambda: (gate.wait(5), key)[1], wallet=wallet,
                                                              client=client)))
        th.start()
        return th

    first = hold("a", "0xAA", "10.0.0.1")
    _until(lambda: t.held(wallet="0xaa") == 1)
    with pytest.raises(Limited) as limited:  # the same wallet, another file: over its cap
        t.run("b", lambda: "b", wallet="0xaa", client="10.0.0.9")
    assert "NINETY_TRANSCODE_PER_WALLET" in str(limited.value) and limited.value.retry_after >= 1
    joiner = hold("a", "0xaa", "10.0.0.1")  # the same file: joins, takes no place of its own
    other = hold("c", "0xbb", "10.0.0.1")  # another wallet at the same address: the address's 2nd
    _until(lambda: t.held(client="10.0.0.1") == 2 and t.waiting() == 3)
    with pytest.raises(Limited) as limited:
        t.run("d", lambda: "d", wallet="0xcc", client="10.0.0.1")
    assert "NINETY_TRANSCODE_PER_CLIENT" in str(limited.value)
    assert t.pending() == 2  # the refused ones queued nothing
    gate.set()
    for th in (first, joiner, other):
        th.join(5)
    assert sorted(out) == [("a", False), ("a", True), ("c", True)]
    # Their jobs ended: the places are given back.
    assert t.held(wallet="0xaa") == 0 and t.held(client="10.0.0.1") == 0
    assert t.run("b", lambda: "b", wallet="0xaa", client="10.0.0.1") == ("b", True)


def test_leftovers_of_dead_processes_are_swept_and_nothing_else(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"ninety-transcode-{dead.pid}-abc"
    gone.mkdir()
    (gone / "original.wav").write_bytes(b"plaintext")
    live = tmp_path / f"ninety-transcode-{os.getppid()}-def"  # a running process's work: kept
    live.mkdir()
    other = tmp_path / f"other-{dead.pid}-x"  # not ours
    other.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"x")
    link = tmp_path / f"ninety-transcode-{dead.pid}-link"  # a link is never followed
    link.symlink_to(outside, target_is_directory=True)
    young = tmp_path / "ninety-transcode-oldname"  # named before the pid: kept until older than a job
    young.mkdir()

    assert sweep_leftovers(tmp_path) == 1
    assert not gone.exists()
    assert live.exists() and other.exists() and link.is_symlink() and (outside / "keep").exists() and young.exists()
    old = time.time() - 3 * JOB_SECONDS
    os.utime(young, (old, old))
    assert sweep_leftovers(tmp_path) == 1 and not young.exists()


def test_a_refusal_is_remembered_per_recipe_and_limits_and_forgotten_after_its_ttl(monkeypatch):
    import backend.transcode as tc

    settings = types.SimpleNamespace(transcode_max_bytes=1000, max_audio_seconds=60.0)
    monkeypatch.setattr(tc, "_refusals", type(tc._refusals)())
    assert tc.refusal(7, "flac", settings) is None
    tc._remember_refusal(7, "flac", settings, "too large")
    assert tc.refusal(7, "flac", settings) == "too large"
    assert tc.refusal(7, "mp3", settings) is None and tc.refusal(8, "flac", settings) is None
    # A larger limit, or a new recipe: tried again.
    assert tc.refusal(7, "flac", types.SimpleNamespace(transcode_max_bytes=2000, max_audio_seconds=60.0)) is None
    monkeypatch.setattr(tc, "RECIPE", tc.RECIPE + 1)
    assert tc.refusal(7, "flac", settings) is None
    monkeypatch.setattr(tc, "RECIPE", tc.RECIPE - 1)
    monkeypatch.setattr(tc, "REFUSAL_TTL", -1.0)
    tc._remember_refusal(7, "flac", settings, "too large")
    assert tc.refusal(7, "flac", settings) is None
    # Bounded: the oldest go first.
    monkeypatch.setattr(tc, "REFUSAL_TTL", 3600.0)
    monkeypatch.setattr(tc, "REFUSALS_MAX", 3)
    for upload in range(5):
        tc._remember_refusal(upload, "ogg", settings, f"no {upload}")
    assert len(tc._refusals) == 3 and tc.refusal(0, "ogg", settings) is None and tc.refusal(4, "ogg", settings) == "no 4"
