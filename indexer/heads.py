"""Following the head on push: a WebSocket subscription to `newHeads` that wakes the
indexer as soon as the node announces a block.

The subscription only ends the indexer's wait between polls (`Indexer.wait_for_head`);
the loop still reads every block from its checkpoint with eth_getLogs. So a notification
that is lost, late, doubled or out of order costs at most one poll interval, never a
block or a row. Without a subscription (no WebSocket at that URL, the upgrade refused,
`eth_subscribe` unsupported, the connection dropped) the wait is the plain poll interval,
and the watcher tries to subscribe again with a growing delay.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
# The WebSocket library logs every frame at debug: `ninety index -v` would print each head twice.
_ws_log = logging.getLogger(__name__ + ".websocket")
_ws_log.setLevel(logging.INFO)

# How long a blocked read waits before looking at the stop flag: how soon the watcher
# notices an indexer stopped from another thread (close() ends it at once).
STOP_CHECK = 0.25
SUBSCRIBE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
# A subscription that lasted this long was not flapping: the next outage retries quickly again.
STABLE_SECONDS = 60.0


def ws_url_for(ws_setting: str | None, rpc_url: str | None) -> str | None:
    """Where to subscribe: NINETY_RPC_WS_URL when set ("off": nowhere), else the RPC's own
    address over WebSocket (Anvil, Geth and Reth serve both on one port when enabled);
    None means poll only."""
    if ws_setting:
        return None if ws_setting.strip().lower() in ("off", "none", "0", "false", "no") else ws_setting
    if not rpc_url:
        return None
    scheme, rest = rpc_url.split("://", 1) if "://" in rpc_url else ("", rpc_url)
    if scheme.lower() == "http":
        return "ws://" + rest
    if scheme.lower() == "https":
        return "wss://" + rest
    if scheme.lower() in ("ws", "wss"):
        return rpc_url
    return None


def where(url: str) -> str:
    """scheme://host:port only: hosted providers put the API key in the path."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port: int | str | None = parts.port
    except ValueError:  # a port that does not parse (a typo): shown as it is, never raised from a log line
        port = parts.netloc.rpartition(":")[2]
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class SubscriptionRefusedError(Exception):
    """The node answered eth_subscribe with an error (no subscriptions on this endpoint)."""


class HeadWatcher:
    """A thread with its own WebSocket connection, subscribed to `newHeads`.

    `wait(timeout)` is the indexer's wait between polls: it returns when a block was
    announced, when the indexer stops, or after `timeout` (so with no subscription it is
    exactly the polling it replaces)."""

    def __init__(self, url: str, stop_event: threading.Event, *, poll_interval: float = 1.0,
                 retry_min: float = 1.0, retry_max: float = 60.0, open_timeout: float = 5.0) -> None:
        self.url = url
        self.stop_event = stop_event
        self.poll_interval = poll_interval  # only for what the log says about the fallback
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.open_timeout = open_timeout
        self.subscribed = False
        self.subscriptions = 0  # how many times a subscription was made (1 + re-subscriptions)
        self.heads = 0  # notifications received
        self.last_head: int | None = None
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._ws: Any = None
        self._subscribed_at: float | None = None  # when the current connection subscribed
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="head-watcher", daemon=True)

    # ------------------------------------------------------------ the indexer's side

    def start(self) -> "HeadWatcher":
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Until a block is announced, the indexer stops or `timeout` passes. True when
        woken by an announcement."""
        woke = self._wake.wait(timeout)
        # Cleared before the step that follows, so an announcement during that step makes
        # the next wait return at once: none is slept through.
        self._wake.clear()
        return woke and not self._stopping()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and its connection; returns once the thread has ended (or after
        `timeout`: it is a daemon thread and holds nothing worth waiting for)."""
        self._closed.set()
        self._wake.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            ws.close()  # a recv() blocked in the thread ends at once
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ the thread

    def _stopping(self) -> bool:
        return self._closed.is_set() or self.stop_event.is_set()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._closed.wait(min(left, STOP_CHECK))

    def _run(self) -> None:
        delay = self.retry_min
        polling_logged = False  # the fallback is logged once per outage, not once per retry
        try:
            while not self._stopping():
                self._subscribed_at = None
                try:
                    self._follow()
                    reason = "the node closed the connection"
                except Exception as e:  # any failure means the same thing: poll until it is back
                    reason = f"{e.__class__.__name__}: {e}".splitlines()[0][:200]
                if self._stopping():
                    return
                if self._subscribed_at is not None:
                    polling_logged = False  # it worked for a while: this is a new outage
                    if time.monotonic() - self._subscribed_at > STABLE_SECONDS:
                        delay = self.retry_min
                if not polling_logged:
                    log.warning("head subscription at %s %s (%s): following by polling every %g s, and trying "
                                "to subscribe again in the background", where(self.url),
                                "dropped" if self._subscribed_at is not None else "unavailable", reason,
                                self.poll_interval)
                    polling_logged = True
                else:
                    log.debug("head subscription at %s still unavailable (%s); next try in %.1f s",
                              where(self.url), reason, delay)
                self._sleep(delay)
                delay = min(self.retry_max, delay * 2)
        finally:
            self.subscribed = False
            self._wake.set()  # a wait in progress ends now: the indexer is stopping

    def _follow(self) -> None:
        """Connect, subscribe, and wake the indexer on every announcement until the
        connection ends or the indexer stops. Raises when connecting or subscribing fails."""
        from websockets.sync.client import connect  # imported here: `ninety index --once` never needs it

        ws = connect(self.url, open_timeout=self.open_timeout, close_timeout=1.0, compression=None,
                     max_size=4 * 1024 * 1024, logger=_ws_log)
        with self._lock:
            self._ws = ws
        try:
            if self._closed.is_set():
                return
            ws.send(SUBSCRIBE)
            sub_id = self._subscription_id(ws)
            first = self.subscriptions == 0
            self.subscriptions += 1
            self.subscribed = True
            self._subscribed_at = time.monotonic()
            log.info("%s new heads at %s: a block is indexed as soon as it is announced",
                     "following" if first else "following again", where(self.url))
            # Blocks may have come while there was no subscription: look once now.
            self._wake.set()
            while not self._stopping():
                try:
                    message = ws.recv(timeout=STOP_CHECK)
                except TimeoutError:
                    continue
                self._announced(message, sub_id)
        except Exception:
            if self._closed.is_set():
                return  # close() cut the connection: not a failure
            raise
        finally:
            self.subscribed = False
            with self._lock:
                self._ws = None
            ws.close()

    def _subscription_id(self, ws: Any) -> str:
        deadline = time.monotonic() + self.open_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer to eth_subscribe")
            answer = json.loads(ws.recv(timeout=left))
            if not isinstance(answer, dict) or answer.get("id") != 1:
                continue  # not ours (a notification of no subscription of ours cannot come yet)
            if "error" in answer or not isinstance(answer.get("result"), str):
                error = answer.get("error") or {}
                message = error.get("message", "no subscription id") if isinstance(error, dict) else str(error)
                raise SubscriptionRefusedError(f"eth_subscribe refused: {message}")
            return str(answer["result"])

    def _announced(self, message: str | bytes, sub_id: str) -> None:
        try:
            note = json.loads(message)
            params = note["params"]
            if note.get("method") != "eth_subscription" or params.get("subscription") != sub_id:
                return
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not a notification: ignore it rather than drop a working subscription
        self.heads += 1
        self._wake.set()
        try:
            self.last_head = int(params["result"]["number"], 16)
        except (KeyError, TypeError, ValueError):
            pass
