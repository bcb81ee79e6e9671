"""`ninety index`: wiring settings, RPC, database and IPFS into a running indexer, with a
progress bar during backfill, a one-line live status after, and Prometheus metrics."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from indexer.events import Event
from indexer.metadata import MetadataWorker, fetch_pending
from indexer.runner import Indexer
from indexer.store import Ledger
from ninety.chain import Rpc, with_retries
from ninety.config import Settings
from ninety.contract import Deployment, resolve_deployment
from ninety.db import ensure_schema, make_engine, redact_url
from ninety.errors import ChainError, ConfigError
from ninety.ipfs import Ipfs

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    registry: CollectorRegistry
    head: Gauge
    indexed: Gauge
    lag: Gauge
    events: Counter
    reorgs: Counter

    @classmethod
    def create(cls) -> "Metrics":
        r = CollectorRegistry()
        return cls(
            registry=r,
            head=Gauge("ninety_indexer_head_block", "Chain head seen by the indexer", registry=r),
            indexed=Gauge("ninety_indexer_indexed_block", "Last block in the ledger", registry=r),
            lag=Gauge("ninety_indexer_lag_blocks", "Head minus last indexed block", registry=r),
            events=Counter("ninety_indexer_events", "Events written to the ledger", registry=r),
            reorgs=Counter("ninety_indexer_reorgs", "Reorgs handled", registry=r),
        )


def connect_chain(url: str) -> tuple[Rpc, int]:
    """An RPC client and the chain id; an unreachable node is retried with a clear message."""
    rpc = Rpc(url)

    def note(e: Exception, delay: float) -> None:
        log.warning("chain RPC %s unreachable (%s); retrying in %.0f s", url, e, delay)

    chain_id = with_retries(rpc.chain_id, what="eth_chainId", attempts=None, max_delay=10.0, on_retry=note)
    return rpc, chain_id


def build(settings: Settings) -> tuple[Indexer, Deployment]:
    if not settings.rpc_url:
        raise ConfigError("set NINETY_RPC_URL (or run `ninety up`, which starts a chain)")
    rpc, chain_id = connect_chain(settings.rpc_url)
    deployment = resolve_deployment(settings, chain_id)
    code = rpc.get_code(deployment.address)
    if code in ("0x", "0x0", ""):
        raise ChainError(f"no contract code at {deployment.address} on chain {chain_id}: wrong address or chain")
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    indexer = Indexer(
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
    return indexer, deployment


def run(settings: Settings, *, once: bool, metrics_port: int | None, console: Console) -> None:
    indexer, deployment = build(settings)
    metrics = Metrics.create()
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    ipfs = Ipfs(settings.ipfs_api, timeout=10) if settings.ipfs_api else None
    # Metadata is fetched on threads of its own: a hostile CID never holds up a sale.
    worker = MetadataWorker(indexer.ledger.engine, ipfs).start() if ipfs is not None else None
    console.print(f"indexing {deployment.address} on chain {indexer.chain_id} from block {deployment.deploy_block} "
                  f"into {redact_url(settings.database_url)}")
    progress = Progress(TextColumn("backfill"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                        TimeRemainingColumn(), console=console, transient=True)
    task = None
    window: list[tuple[float, int]] = []
    last_status = 0.0
    reported_reorgs = 0

    def on_commit(ix: Indexer, events: list[Event]) -> None:
        nonlocal task, last_status, reported_reorgs
        s = ix.stats
        metrics.head.set(s.head)
        metrics.indexed.set(s.indexed)
        metrics.lag.set(s.lag)
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
        if worker is not None and any(e.name == "TrackRegistered" for e in events):
            worker.wake()

    def on_idle(ix: Indexer) -> None:
        metrics.head.set(ix.stats.head)
        metrics.lag.set(ix.stats.lag)

    indexer.on_commit = on_commit
    indexer.on_idle = on_idle
    try:
        indexer.run(once=once)
    finally:
        if task is not None:
            progress.stop()
        if worker is not None:
            worker.stop()
    if ipfs is not None and once:
        fetch_pending(indexer.ledger.engine, ipfs, limit=1000)
    s = indexer.stats
    console.print(f"indexed to block {s.indexed:,}: {s.events:,} events, {s.reorgs} reorgs")

