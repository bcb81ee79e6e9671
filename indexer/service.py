"""`ninety index`: wiring settings, RPC, database and IPFS into a running indexer, with a
progress bar during backfill, a one-line live status after, and Prometheus metrics.

Following the head, the indexer is woken by the node's `newHeads` announcements over
WebSocket when it offers them (indexer/heads.py), and polls every NINETY_POLL_INTERVAL
otherwise; either way it reads every block from its checkpoint.

One writer per ledger (indexer/lock.py): a second `ninety index` on the same ledger stands
by, and takes over within seconds when the writer stops."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from indexer.heads import HeadWatcher, where, ws_url_for
from indexer.lock import LedgerLock, LockLostError, ledger_lock
from indexer.metadata import MetadataWorker, fetch_pending
from indexer.runner import Indexer
from indexer.store import Ledger, LedgerError
from ninety.chain import Rpc, with_retries
from ninety.config import Settings
from ninety.contract import Deployment, resolve_deployment
from ninety.db import ensure_schema, make_engine, redact_url
from ninety.errors import ChainError, ConfigError
from ninety.ipfs import Ipfs
from ninety.ledger.events import Event

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Prometheus and the progress bar are imported where used: a `ninety index --once` without a
# metrics port (or a backfill too short for a bar) would pay their start-up for nothing.

log = logging.getLogger(__name__)

# How often a standby indexer tries the ledger's lock: it takes over within about this long
# after the writer stops.
STANDBY_POLL = 1.0


class _Unmeasured:
    """A gauge or counter nobody reads (no metrics port): takes the calls, keeps nothing."""

    def set(self, value: float) -> None:
        pass

    def inc(self, amount: float = 1) -> None:
        pass


@dataclass
class Metrics:
    registry: "CollectorRegistry | None"
    head: Any
    indexed: Any
    lag: Any
    events: Any
    reorgs: Any
    writer: Any
    subscribed: Any

    @classmethod
    def unmeasured(cls) -> "Metrics":
        n = _Unmeasured()
        return cls(registry=None, head=n, indexed=n, lag=n, events=n, reorgs=n, writer=n, subscribed=n)

    @classmethod
    def create(cls) -> "Metrics":
        from prometheus_client import CollectorRegistry, Counter, Gauge

        r = CollectorRegistry()
        return cls(
            registry=r,
            head=Gauge("ninety_indexer_head_block", "Chain head seen by the indexer", registry=r),
            indexed=Gauge("ninety_indexer_indexed_block", "Last block in the ledger", registry=r),
            lag=Gauge("ninety_indexer_lag_blocks", "Head minus last indexed block", registry=r),
            events=Counter("ninety_indexer_events", "Events written to the ledger", registry=r),
            reorgs=Counter("ninety_indexer_reorgs", "Reorgs handled", registry=r),
            writer=Gauge("ninety_indexer_writer", "1 while this indexer holds the ledger's lock and writes, "
                         "0 while it stands by", registry=r),
            subscribed=Gauge("ninety_indexer_head_subscription", "1 while the indexer is woken by the node's "
                             "newHeads subscription, 0 while it polls", registry=r),
        )


def connect_chain(url: str) -> tuple[Rpc, int]:
    """An RPC client and the chain id; an unreachable node is retried with a clear message."""
    rpc = Rpc(url)

    def note(e: Exception, delay: float) -> None:
        log.warning("chain RPC %s unreachable (%s); retrying in %.0f s", url, e, delay)

    chain_id = with_retries(rpc.chain_id, what="eth_chainId", attempts=None, max_delay=10.0, on_retry=note)
    return rpc, chain_id


def build(settings: Settings) -> tuple[Indexer, Deployment]:
    rpc, chain_id, deployment, engine = connect(settings)
    ensure_schema(engine)
    return make_indexer(settings, rpc, chain_id, deployment, engine), deployment


def connect(settings: Settings) -> tuple[Rpc, int, Deployment, Engine]:
    """The chain, the deployment on it and the ledger's engine (schema not touched yet)."""
    if not settings.rpc_url:
        raise ConfigError("set NINETY_RPC_URL (or run `ninety up`, which starts a chain)")
    rpc, chain_id = connect_chain(settings.rpc_url)
    deployment = resolve_deployment(settings, chain_id)
    code = rpc.get_code(deployment.address)
    if code in ("0x", "0x0", ""):
        raise ChainError(f"no contract code at {deployment.address} on chain {chain_id}: wrong address or chain")
    return rpc, chain_id, deployment, make_engine(settings.database_url)


def make_indexer(settings: Settings, rpc: Rpc, chain_id: int, deployment: Deployment, engine: Engine) -> Indexer:
    return Indexer(
        rpc,
        Ledger(engine, deployment.address),
        start_block=deployment.deploy_block,
        chain_id=chain_id,
        confirmations=settings.confirmations,
        reorg_window=settings.reorg_window,
        poll_interval=settings.poll_interval,
        initial_range=min(2_000, settings.index_max_range),
        max_range=settings.index_max_range,
    )


def follow_heads(indexer: Indexer, settings: Settings) -> HeadWatcher | None:
    """Let the node's block announcements end the indexer's wait between polls, when a
    WebSocket URL is known (NINETY_RPC_WS_URL, or the RPC's own address over ws://). The
    watcher falls back to polling on its own; None: polling only."""
    url = ws_url_for(settings.rpc_ws_url, settings.rpc_url)
    if url is None:
        log.info("following the head by polling every %g s (no WebSocket URL for head announcements)",
                 settings.poll_interval)
        return None
    watcher = HeadWatcher(url, indexer.stop_event, poll_interval=settings.poll_interval).start()
    indexer.wait_for_head = watcher.wait
    log.debug("subscribing to new heads at %s", where(url))
    return watcher


def stand_by(lock: LedgerLock | None, console: Console, metrics: "Metrics", poll: float = STANDBY_POLL) -> None:
    """Return once this process holds the ledger's lock. While another indexer holds it,
    say so (and who it is, when that can be told) and keep trying every `poll` seconds."""
    if lock is None:
        metrics.writer.set(1)
        return
    shown: str | None = None
    while True:
        try:
            if lock.try_acquire():
                break
            holder = lock.holder() or "holder unknown"
        except OperationalError as e:
            log.warning("ledger database unreachable (%s); retrying in 2 s", str(e).splitlines()[0])
            time.sleep(2)
            continue
        metrics.writer.set(0)
        if holder != shown:
            console.print(f"standing by: another indexer is writing this ledger ({holder}); this one takes over "
                          f"within seconds when it stops. Waiting on the {lock.what}", soft_wrap=True, markup=False)
            shown = holder
        time.sleep(poll)
    if shown is not None:
        console.print(f"the other indexer stopped: taking over the ledger ({lock.what} acquired)", soft_wrap=True,
                      markup=False)
    metrics.writer.set(1)


def _fence(indexer: Indexer, lock: LedgerLock | None) -> None:
    """Check the lock is still ours before every commit (and now and then while idle)."""
    if lock is None:
        return
    commit = indexer.ledger.commit

    def guarded(*args: Any, **kwargs: Any) -> Any:
        lock.check()
        return commit(*args, **kwargs)

    indexer.ledger.commit = guarded  # type: ignore[method-assign]


def run(settings: Settings, *, once: bool, metrics_port: int | None, console: Console) -> None:
    """Index, as the ledger's one writer: stand by while another indexer holds the ledger's
    lock, take over when it stops, and stand by again if this one ever loses the lock."""
    rpc, chain_id, deployment, engine = connect(settings)
    metrics = Metrics.create() if metrics_port else Metrics.unmeasured()
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    lock = ledger_lock(engine, chain_id, deployment.address)
    while True:
        stand_by(lock, console, metrics)
        try:
            # Under the lock: two fresh indexers never race to create the schema.
            ensure_schema(engine)
            indexer = make_indexer(settings, rpc, chain_id, deployment, engine)
            _fence(indexer, lock)
            try:
                _index(indexer, deployment, settings, once=once, metrics=metrics, console=console, lock=lock)
            finally:
                indexer.ledger.close()
            return
        except LockLostError as e:
            metrics.writer.set(0)
            console.print(f"{e}: stopped writing; standing by again", soft_wrap=True, markup=False)
        except IntegrityError as e:
            raise LedgerError(
                "another process wrote the same ledger rows at the same moment "
                f"({str(e.orig).splitlines()[0] if e.orig else e.__class__.__name__}). Only one indexer may "
                "write a ledger: is one from a Ninety version without the ledger lock running on this "
                "database? Nothing was half-written (every commit is one transaction); once it is stopped, "
                "start this one again and it resumes at the checkpoint"
            ) from None
        finally:
            if lock is not None:
                lock.release()


def _index(indexer: Indexer, deployment: Deployment, settings: Settings, *, once: bool, metrics: "Metrics",
           console: Console, lock: LedgerLock | None) -> None:
    ipfs: Ipfs | None = None
    worker: MetadataWorker | None = None
    if settings.ipfs_api:
        ipfs = Ipfs(settings.ipfs_api, timeout=10)
        # Metadata is fetched on threads of its own: a hostile CID never holds up a sale.
        worker = MetadataWorker(indexer.ledger.engine, ipfs).start()
    console.print(f"indexing {deployment.address} on chain {indexer.chain_id} from block {deployment.deploy_block} "
                  f"into {redact_url(settings.database_url)}")
    progress: Any = None  # built when a backfill is long enough to show it
    # Only while following: a backfill (`--once`) never waits for a head.
    heads = None if once else follow_heads(indexer, settings)
    task = None
    window: list[tuple[float, int]] = []
    last_status = 0.0
    reported_reorgs = 0

    def on_commit(ix: Indexer, events: list[Event]) -> None:
        nonlocal progress, task, last_status, reported_reorgs
        s = ix.stats
        metrics.head.set(s.head)
        metrics.indexed.set(s.indexed)
        metrics.lag.set(s.lag)
        metrics.subscribed.set(1 if heads is not None and heads.subscribed else 0)
        metrics.events.inc(len(events))
        if s.reorgs > reported_reorgs:
            metrics.reorgs.inc(s.reorgs - reported_reorgs)
            reported_reorgs = s.reorgs
        now = time.monotonic()
        window.append((now, s.events))
        while window and now - window[0][0] > 10:
            window.pop(0)
        rate = (window[-1][1] - window[0][1]) / max(1e-3, window[-1][0] - window[0][0]) if len(window) > 1 else 0.0
        if s.lag > 100:
            if task is None:
                if progress is None:
                    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

                    progress = Progress(TextColumn("backfill"), BarColumn(), TaskProgressColumn(),
                                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
                                        transient=True)
                progress.start()
                task = progress.add_task("backfill", total=s.head - deployment.deploy_block, rate="")
            progress.update(task, completed=s.indexed - deployment.deploy_block,
                            total=s.head - deployment.deploy_block, rate=f"{rate:,.0f} events/s")
        else:
            if task is not None:
                progress.stop()
                task = None
            if now - last_status > 1 or events:
                console.print(f"block {s.indexed:,} (head {s.head:,}, lag {s.lag}) · {s.events:,} events · "
                              f"{s.reorgs} reorgs", end="\r" if console.is_terminal else "\n")
                last_status = now
        if worker is not None and any(e.name in ("TrackRegistered", "ReleaseRegistered") for e in events):
            worker.wake()

    last_check = time.monotonic()

    def on_idle(ix: Indexer) -> None:
        nonlocal last_check
        metrics.head.set(ix.stats.head)
        metrics.lag.set(ix.stats.lag)
        metrics.subscribed.set(1 if heads is not None and heads.subscribed else 0)
        if lock is not None and time.monotonic() - last_check > 5:  # commits check it every time
            lock.check()
            last_check = time.monotonic()

    indexer.on_commit = on_commit
    indexer.on_idle = on_idle
    try:
        indexer.run(once=once)
    finally:
        if task is not None:
            progress.stop()
        if worker is not None:
            worker.stop()
        if heads is not None:
            heads.close()
    if ipfs is not None and once:
        fetch_pending(indexer.ledger.engine, ipfs, limit=1000)
    s = indexer.stats
    console.print(f"indexed to block {s.indexed:,}: {s.events:,} events, {s.reorgs} reorgs")

