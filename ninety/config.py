"""Settings from environment variables (documented in the README).

pydantic-settings cannot share brownie's environment (it needs a newer python-dotenv),
so this is a small typed reader of `NINETY_*` variables.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from ninety.errors import ConfigError

# Anvil's well-known development mnemonic: dev chains only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# Chain ids of local development chains (Anvil, Hardhat, Ganache): where the dev token is
# deployed and an epoch may be fast-forwarded.
DEV_CHAIN_IDS = frozenset({31337, 1337})


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 0)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _ws_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("NINETY_RPC_WS_URL") or "").strip()
    if not raw:
        return None
    if raw.lower() == "off":
        return raw
    if raw.lower().startswith(("ws://", "wss://")):
        try:
            urlsplit(raw).port  # a port that does not parse is a typo to say now, not a thread's crash later
        except ValueError:
            raise ConfigError("NINETY_RPC_WS_URL has a port that is not a number from 0 to 65535") from None
        return raw
    raise ConfigError(f"NINETY_RPC_WS_URL must be a ws:// or wss:// URL, or off, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    rpc_url: str | None = None
    # Where the indexer subscribes to new heads (ws:// or wss://; "off": poll only). None:
    # the RPC's address over WebSocket (indexer/heads.py), polling if the node refuses it.
    rpc_ws_url: str | None = None
    ipfs_api: str | None = None
    db_url: str | None = None
    contract_address: str | None = None
    start_block: int | None = None
    deployments_dir: Path = Path("deployments")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    chain_port: int = 8545
    ipfs_api_port: int = 5001
    mnemonic: str = DEV_MNEMONIC
    poll_interval: float = 1.0
    confirmations: int = 0
    reorg_window: int = 64
    index_max_range: int = 50_000
    # The RPC provider's limits (README, RPC requirements): ninety.rpc_limits starts from these.
    rpc_batch: int = 100
    rpc_rps: float = 0.0
    fee_bps: int = 500
    fee_recipient: str | None = None
    api_snapshots: int = 4096
    # Uploads: media decoding limits and per-wallet quotas (README, Configuration).
    max_decodes: int = 2
    decode_wait: float = 10.0
    max_audio_seconds: float = 1800.0
    max_artwork_pixels: int = 36_000_000
    uploads_per_day: int = 50
    max_unregistered_bytes: int = 2 * 1024**3
    upload_ttl: float = 86_400.0
    max_upload_bytes: int = 200 * 1024 * 1024
    # Downloads in other formats (backend/transcode.py): at most `transcode_workers` encodes
    # at once per API process, `transcode_queue` more waiting; beyond that a 503. A request
    # waits at most `transcode_wait` seconds for its file (then 503 + Retry-After, the
    # conversion goes on), and at most `transcode_waiters` wait at once (each holds one of
    # the API's threads). Conversions running or queued per wallet and per client address
    # (0: no cap); past either a 429.
    transcode_workers: int = 1
    transcode_queue: int = 4
    transcode_max_bytes: int = 1024**3
    transcode_wait: float = 5.0
    transcode_waiters: int = 8
    transcode_per_wallet: int = 1
    transcode_per_client: int = 2
    # The API: the address its pages are served from (CSRF origin, metadata links) and the
    # key that wraps per-track keys (None: a key file in data_dir, for a local setup).
    public_url: str | None = None
    master_key: str | None = field(default=None, repr=False)
    # Keys the commands sign with: the catalog signer's (the API's attestations; None: a key
    # file in data_dir), the Marketplace owner's (epoch close, moderation, tokens) and the
    # deployer's (`ninety deploy` on a real chain).
    catalog_key: str | None = field(default=None, repr=False)
    owner_key: str | None = field(default=None, repr=False)
    deployer_key: str | None = field(default=None, repr=False)
    # Abuse limits (README, Configuration): client addresses, per-client rate limits.
    trusted_proxies: str = ""
    rate_limits: bool = True
    rate_limit_storage: str = "database"
    rate_limit_signin: str = "20/minute"
    rate_limit_upload: str = "60/hour"
    rate_limit_export: str = "10/minute"
    rate_limit_reconciliation: str = "60/minute"
    rate_limit_zip: str = "10/minute;60/hour"
    rate_limit_transcode: str = "10/minute;60/hour"
    # Release zips streaming at once (each reads and decrypts up to 100 originals), per
    # wallet and per client address, per API process; 0: no cap.
    zip_streams_per_wallet: int = 2
    zip_streams_per_client: int = 4

    @property
    def embedded_chain(self) -> bool:
        """No RPC given: `ninety up` runs its own Anvil."""
        return not self.rpc_url

    @property
    def embedded_ipfs(self) -> bool:
        return not self.ipfs_api

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("NINETY_DATA_DIR") or ".ninety").resolve()
    address = env.get("NINETY_CONTRACT_ADDRESS") or None
    if address is not None and not (address.startswith("0x") and len(address) == 42):
        raise ConfigError(f"NINETY_CONTRACT_ADDRESS must be a 0x-prefixed 20-byte address, got {address!r}")
    fee_bps = _int(env, "NINETY_FEE_BPS", 500)
    if fee_bps is not None and not 0 <= fee_bps <= 1000:
        raise ConfigError(f"NINETY_FEE_BPS must be between 0 and 1000 (10%), got {fee_bps}")
    return Settings(
        data_dir=data_dir,
        rpc_url=env.get("NINETY_RPC_URL") or None,
        rpc_ws_url=_ws_url(env),
        ipfs_api=env.get("NINETY_IPFS_API") or None,
        db_url=env.get("NINETY_DB_URL") or None,
        contract_address=address,
        start_block=_int(env, "NINETY_START_BLOCK", None),
        deployments_dir=Path(env.get("NINETY_DEPLOYMENTS_DIR") or "deployments").resolve(),
        api_host=env.get("NINETY_API_HOST") or "127.0.0.1",
        api_port=_int(env, "NINETY_API_PORT", 8000) or 8000,
        chain_port=_int(env, "NINETY_CHAIN_PORT", 8545) or 8545,
        ipfs_api_port=_int(env, "NINETY_IPFS_PORT", 5001) or 5001,
        mnemonic=env.get("NINETY_MNEMONIC") or DEV_MNEMONIC,
        # A dev chain (no NINETY_RPC_URL: `ninety up` runs one) mines on demand: poll often
        # so a sale shows up within a second.
        poll_interval=_float(env, "NINETY_POLL_INTERVAL", 1.0 if env.get("NINETY_RPC_URL") else 0.25),
        confirmations=_int(env, "NINETY_CONFIRMATIONS", 0) or 0,
        reorg_window=_int(env, "NINETY_REORG_WINDOW", 64) or 64,
        index_max_range=max(1, _int(env, "NINETY_INDEX_MAX_RANGE", 50_000) or 50_000),
        rpc_batch=max(1, _int(env, "NINETY_RPC_BATCH", 100) or 0),  # 0: single calls
        rpc_rps=max(0.0, _float(env, "NINETY_RPC_RPS", 0.0)),
        fee_bps=fee_bps if fee_bps is not None else 500,
        fee_recipient=env.get("NINETY_FEE_RECIPIENT") or None,
        api_snapshots=max(0, _int(env, "NINETY_API_SNAPSHOTS", 4096) or 0),
        max_decodes=max(1, _int(env, "NINETY_MAX_DECODES", 2) or 1),
        decode_wait=max(0.0, _float(env, "NINETY_DECODE_WAIT", 10.0)),
        max_audio_seconds=_float(env, "NINETY_MAX_AUDIO_SECONDS", 1800.0),
        max_artwork_pixels=_int(env, "NINETY_MAX_ARTWORK_PIXELS", 36_000_000) or 36_000_000,
        uploads_per_day=max(0, _int(env, "NINETY_UPLOADS_PER_DAY", 50) or 0),
        max_unregistered_bytes=max(0, _int(env, "NINETY_MAX_UNREGISTERED_BYTES", 2 * 1024**3) or 0),
        upload_ttl=_float(env, "NINETY_UPLOAD_TTL", 86_400.0),
        max_upload_bytes=_int(env, "NINETY_MAX_UPLOAD_BYTES", None) or 200 * 1024 * 1024,
        transcode_workers=max(1, _int(env, "NINETY_TRANSCODE_WORKERS", 1) or 1),
        transcode_queue=max(0, _int(env, "NINETY_TRANSCODE_QUEUE", 4) or 0),
        transcode_max_bytes=max(1, _int(env, "NINETY_TRANSCODE_MAX_BYTES", 1024**3) or 1024**3),
        # At most 10 minutes: past that a proxy has long given up, and the thread is held for nothing.
        transcode_wait=min(600.0, max(0.0, _float(env, "NINETY_TRANSCODE_WAIT", 5.0))),
        transcode_waiters=max(0, _int(env, "NINETY_TRANSCODE_WAITERS", 8) or 0),
        transcode_per_wallet=max(0, _int(env, "NINETY_TRANSCODE_PER_WALLET", 1) or 0),
        transcode_per_client=max(0, _int(env, "NINETY_TRANSCODE_PER_CLIENT", 2) or 0),
        public_url=env.get("NINETY_PUBLIC_URL") or None,
        master_key=env.get("NINETY_MASTER_KEY") or None,
        catalog_key=env.get("NINETY_CATALOG_KEY") or None,
        owner_key=env.get("NINETY_OWNER_KEY") or None,
        deployer_key=env.get("NINETY_DEPLOYER_KEY") or None,
        trusted_proxies=env.get("NINETY_TRUSTED_PROXIES") or "",
        rate_limits=(env.get("NINETY_RATE_LIMITS") or "on").strip().lower() not in ("off", "0", "false", "no"),
        rate_limit_storage=env.get("NINETY_RATE_LIMIT_STORAGE") or "database",
        rate_limit_signin=env.get("NINETY_RATE_LIMIT_SIGNIN") or "20/minute",
        rate_limit_upload=env.get("NINETY_RATE_LIMIT_UPLOAD") or "60/hour",
        rate_limit_export=env.get("NINETY_RATE_LIMIT_EXPORT") or "10/minute",
        rate_limit_reconciliation=env.get("NINETY_RATE_LIMIT_RECONCILIATION") or "60/minute",
        rate_limit_zip=env.get("NINETY_RATE_LIMIT_ZIP") or "10/minute;60/hour",
        rate_limit_transcode=env.get("NINETY_RATE_LIMIT_TRANSCODE") or "10/minute;60/hour",
        zip_streams_per_wallet=max(0, _int(env, "NINETY_ZIP_STREAMS_PER_WALLET", 2) or 0),
        zip_streams_per_client=max(0, _int(env, "NINETY_ZIP_STREAMS_PER_CLIENT", 4) or 0),
    )
