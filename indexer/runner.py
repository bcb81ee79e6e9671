"""The indexing loop: backfill in adaptive block ranges, follow the head, survive reorgs.

Reorg safety: the checkpoint holds the hash of the last indexed block and `indexed_block`
holds (number, hash, parent hash) of every indexed block within `reorg_window` of the
head. Before moving on, the loop checks that the last indexed block is still canonical;
if not, it walks back to the newest stored block the chain still has (the common
ancestor), and undoes everything above it while adding the canonical blocks, in one
transaction. A fork deeper than the window stops the indexer: guessing would be worse.

Backfill speed: each eth_getLogs asks for about `target_logs` logs (the span in blocks
follows the density of logs seen so far, so memory stays bounded on a busy contract), and
the next range is fetched on a thread while the current one is written. A prefetched range
is committed only if its last block is still the chain's block of that number when it is
written (and, near the head, if it links to the checkpoint as a fresh fetch must): a range
fetched before a reorg is dropped and fetched again, never committed.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from indexer.store import Ledger, LedgerError
from ninety.chain import Rpc, with_retries
from ninety.ledger.events import Decoder, Event

log = logging.getLogger(__name__)


class ReorgTooDeepError(LedgerError):
    """The chain dropped blocks older than the reorg window."""


@dataclass
class Stats:
    head: int = 0
    indexed: int = 0
    events: int = 0
    reorgs: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def lag(self) -> int:
        return max(0, self.head - self.indexed)


# (events, recent headers, block times, hash of the last block, the last block): a fetch
# may stop short of the range it was asked for (a log budget), so it says where it ended.
FetchResult = tuple[list[Event], list[dict[str, Any]], dict[int, int], str, int]

# Logs per eth_getLogs request when the density is known: ~7 MB of JSON and ~30 MB of
# Python objects at 10,000, and big enough that per-request costs vanish.
TARGET_LOGS = 10_000
# Blocks of the first request, before any density is known: a dense chain must not be asked
# for a million logs at once, and nothing overlaps the first fetch (the next one is fetched
# while a range is written), so it is kept short.
FIRST_SPAN = 8
# From there, the logs a range is expected to hold (at the density seen last) grow at most
# twice a step, from at least this many, up to `target_logs`: a density measured on a
# few blocks may be far off. A sparse chain is not held back (its ranges expect few logs
# however long), so catching up after a quiet stretch takes a step or two.
FIRST_LOGS = 1_000


class _Prefetch:
    """The fetch of one range on a thread of its own (the next range, while this one is
    written). `result()` is the fetch's result or raises its error."""

    def __init__(self, fetch: Callable[[int, int, int], FetchResult | None], low: int, high: int, head: int) -> None:
        self.low, self.high, self.head = low, high, head
        self._value: FetchResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fetch,), name="ninety-prefetch", daemon=True)
        self._thread.start()

    def _run(self, fetch: Callable[[int, int, int], FetchResult | None]) -> None:
        try:
            self._value = fetch(self.low, self.high, self.head)
        except BaseException as e:  # handed to the loop, which retries or raises it
            self._error = e

    def result(self) -> FetchResult | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class Indexer:
    def __init__(
        self,
        rpc: Rpc,
        ledger: Ledger,
        *,
        start_block: int,
        chain_id: int,
        confirmations: int = 0,
        reorg_window: int = 64,
        poll_interval: float = 1.0,
        initial_range: int = 2_000,
        max_range: int = 50_000,
        decoder: Decoder | None = None,
        on_commit: Callable[["Indexer", list[Event]], None] | None = None,
        on_idle: Callable[["Indexer"], None] | None = None,
        target_logs: int = TARGET_LOGS,
        prefetch: bool = True,
    ) -> None:
        self.rpc = rpc
        self.ledger = ledger
        self.start_block = start_block
        self.chain_id = chain_id
        self.confirmations = confirmations
        self.reorg_window = reorg_window
        self.poll_interval = poll_interval
        self.range = min(initial_range, max_range)
        self.max_range = max_range
        self.decoder = decoder or Decoder()
        self.on_commit = on_commit
        self.on_idle = on_idle
        self.target_logs = max(1, target_logs)
        self.prefetch = prefetch
        self._prefetched: _Prefetch | None = None
        # Logs per block in the last range fetched, and its logs (None, 0 until one was).
        self.density: float | None = None
        self.last_logs = 0
        self.stats = Stats()
        self.stop_event = threading.Event()
        # How the loop waits between polls: sleeps `timeout` seconds or until stopped. A head
        # subscription (indexer/heads.py) replaces it with a wait that also ends when a new
        # block is announced; the loop itself still reads every block from its checkpoint.
        self.wait_for_head: Callable[[float], object] = self.stop_event.wait

    # ---------------------------------------------------------------- loop

    def run(self, *, once: bool = False) -> None:
        """Index until caught up (`once`) or until `stop_event` is set."""
        cp = self.ledger.init(self.chain_id, self.start_block)
        self.stats.indexed = cp["block_number"]
        try:
            while not self.stop_event.is_set():
                advanced = self._retrying(self.step)
                if advanced:
                    continue
                if once and self.stats.indexed >= self.stats.head - self.confirmations:
                    return
                if self.on_idle:
                    self.on_idle(self)
                self.wait_for_head(self.poll_interval)
        finally:
            self._prefetched = None  # its thread is a daemon; its result is not wanted

    def _retrying(self, fn: Callable[[], int]) -> int:
        def note(e: Exception, delay: float) -> None:
            log.warning("RPC trouble (%s); retrying in %.1f s", e, delay)

        # While following, an RPC outage is waited out, never fatal.
        return with_retries(fn, what="indexing step", attempts=None, max_delay=5.0, on_retry=note)

    def step(self) -> int:
        """One move: check the tip, then index the next range. Returns blocks advanced."""
        cp = self.ledger.checkpoint()
        assert cp is not None
        head = self.rpc.block_number()
        self.stats.head = head
        cursor, cursor_hash = cp["block_number"], cp["block_hash"]
        if cursor_hash and cursor >= head - self.reorg_window:
            tip = None if cursor > head else self.rpc.headers([cursor])[0]
            if tip is None or tip["hash"].lower() != cursor_hash:
                return self._recover(cursor, head)
        target = head - self.confirmations
        if target <= cursor:
            return 0
        return self._advance(cursor, cursor_hash, min(target, cursor + self._span()), head)

    def _span(self) -> int:
        """Blocks per step: what this indexer has grown to, within what the provider takes in
        one eth_getLogs (the client finds that out and remembers it), and no more than about
        `target_logs` logs at the density seen last (at first, twice the last range's logs)."""
        span = min(self.range, self.rpc.log_span)
        if self.density is None:
            span = min(span, FIRST_SPAN)
        elif self.density > 0:
            expected = min(self.target_logs, max(2 * self.last_logs, FIRST_LOGS))
            span = min(span, int(expected / self.density))
        return max(1, span)

    def _fetch(self, low: int, high: int, head: int) -> FetchResult | None:
        """Logs of [low, high], headers of the blocks near the head, block times; None
        if the chain moved under us (the caller will look again)."""
        # The client splits a range the provider refuses (any wording) and raises only on a
        # block it refuses alone, or on a transient failure (retried by the loop).
        # At most twice the target (plus one answer, capped in bytes) per step, whatever the
        # range holds: after a quiet stretch the density says nothing about what comes next.
        asked = high
        logs, high = self.rpc.get_logs_until(self.ledger.contract, low, high, max_logs=2 * self.target_logs)
        if self.rpc.log_span < asked - low + 1:
            self.range = self.rpc.log_span  # the provider took less: ask for that from now on
        self.last_logs = len(logs)
        self.density = len(logs) / (high - low + 1)
        events = self.decoder.decode_all(logs)
        del logs  # the decoded events are all that is kept
        near_from = max(low, head - self.reorg_window)
        wanted = set(range(near_from, high + 1)) | {high}
        wanted |= {e.block_number for e in events if e.block_time is None}
        numbers = sorted(wanted)
        headers: dict[int, dict[str, Any]] = dict(zip(numbers, self.rpc.headers(numbers)))  # batched to fit
        for e in events:
            h = headers.get(e.block_number)
            if h is not None and h["hash"].lower() != e.block_hash:
                return None  # logs and headers from different forks
        recent = [headers[n] for n in numbers if n >= near_from]
        for a, b in zip(recent, recent[1:]):
            if int(b["number"], 16) == int(a["number"], 16) + 1 and b["parentHash"].lower() != a["hash"].lower():
                return None
        times = {n: int(h["timestamp"], 16) for n, h in headers.items()}
        return events, recent, times, headers[high]["hash"].lower(), high

    def _take_prefetched(self, low: int, target: int) -> tuple[int, FetchResult | None] | None:
        """The prefetched range starting at `low`, if there is one within `target`, as
        (its last block, its fetch), checked against the chain as it is now: None when
        there is none, (high, None) when its last block is no longer the chain's (it was
        fetched from a fork that lost)."""
        p, self._prefetched = self._prefetched, None
        if p is None or p.low != low or p.high > target:
            return None
        try:
            fetched = p.result()
        except Exception as e:  # fetched again now, where an error is retried as usual
            log.debug("prefetch of %d-%d failed (%s); fetching again", p.low, p.high, e)
            return None
        if fetched is None:
            return None
        high = fetched[4]  # where the fetch ended (a log budget may stop it short of p.high)
        now = self.rpc.headers([high])[0]
        if now["hash"].lower() != fetched[3]:
            log.info("blocks %d-%d changed since they were prefetched (reorg); fetching again", p.low, high)
            return high, None
        return high, fetched

    def _prefetch_next(self, high: int, head: int) -> None:
        target = head - self.confirmations
        if not self.prefetch or high >= target:
            return
        self._prefetched = _Prefetch(self._fetch, high + 1, min(target, high + self._span()), head)

    def _advance(self, cursor: int, cursor_hash: str, high: int, head: int) -> int:
        taken = self._take_prefetched(cursor + 1, head - self.confirmations)
        if taken is not None:
            high, fetched = taken
        else:
            fetched = self._fetch(cursor + 1, high, head)
        if fetched is None:
            return 0
        events, recent, times, high_hash, high = fetched
        if recent and cursor_hash and int(recent[0]["number"], 16) == cursor + 1 \
                and recent[0]["parentHash"].lower() != cursor_hash:
            return 0  # our tip was just orphaned: the next step's tip check recovers
        # The next range is fetched while this one is written.
        self._prefetch_next(high, head)
        self.ledger.commit(events, to_block=high, to_hash=high_hash, block_times=times, recent=recent,
                           keep_blocks_from=head - self.reorg_window)
        self._committed(events, high, grow=True)
        return high - cursor

    def _committed(self, events: list[Event], high: int, *, grow: bool) -> None:
        self.stats.indexed = high
        self.stats.events += len(events)
        if grow:
            # Grow, but not past what the provider is known to take in one query.
            self.range = max(1, min(self.max_range, self.range * 2, self.rpc.log_span))
        if self.on_commit:
            self.on_commit(self, events)

    def _recover(self, cursor: int, head: int) -> int:
        """Find the common ancestor, then undo and redo in one transaction."""
        self._prefetched = None  # fetched on top of the orphaned tip
        stored = self.ledger.recent_blocks()
        low = max(self.start_block - 1, cursor - self.reorg_window)
        candidates = [n for n in range(min(cursor, head), low - 1, -1) if n in stored]
        ancestor = None
        for i in range(0, len(candidates), 200):
            part = candidates[i : i + 200]
            for n, h in zip(part, self.rpc.headers(part)):
                if h["hash"].lower() == stored[n]:
                    ancestor = n
                    break
            if ancestor is not None:
                break
        if ancestor is None:
            if low <= self.start_block - 1 and not candidates:
                ancestor = self.start_block - 1
            else:
                raise ReorgTooDeepError(
                    f"the chain no longer has block {cursor} indexed as {stored.get(cursor, '?')}, and no "
                    f"common ancestor is within the reorg window ({self.reorg_window} blocks). The ledger "
                    "stops here rather than guess: rebuild it from scratch (new NINETY_DB_URL) or raise "
                    "NINETY_REORG_WINDOW if this chain reorganises that deeply"
                )
        depth = cursor - ancestor
        high = min(head - self.confirmations, ancestor + self._span())
        ancestor_hash = stored.get(ancestor, "")
        if high <= ancestor:
            events, recent, times, high_hash = [], [], {}, ancestor_hash
            high = ancestor
        else:
            fetched = self._fetch(ancestor + 1, high, head)
            if fetched is None:
                return 0
            events, recent, times, high_hash, high = fetched
        self.ledger.commit(events, to_block=high, to_hash=high_hash, block_times=times, recent=recent,
                           keep_blocks_from=head - self.reorg_window, rollback_to=ancestor)
        self.stats.reorgs += 1
        log.warning("reorg: %d block(s) above %d replaced; ledger re-indexed to %d", depth, ancestor, high)
        self._committed(events, high, grow=False)
        return max(1, high - ancestor)

