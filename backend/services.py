"""What the routes stand on: one `Services` per process, built from `Settings` by
`backend.app.build_services` and reached by the routes through `backend.deps`.

It imports only the core and the backend's own plain modules, never the app or the
routers, so that the dependencies (backend/deps.py) can name its type without a cycle."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import Engine

from backend.crypto import MasterKey
from backend.ratelimit import RateLimits
from backend.recordings import Recordings
from backend.snapshots import Snapshots
from backend.tokens import Tokens
from ninety.attest import CatalogSigner
from ninety.chain import Rpc
from ninety.config import Settings
from ninety.contract import Deployment
from ninety.ipfs import Ipfs


@dataclass
class Services:
    settings: Settings
    engine: Engine
    ipfs: Ipfs | None
    rpc: Rpc | None
    chain_id: int | None
    deployment: Deployment | None
    master_key: MasterKey
    public_url: str
    max_upload_bytes: int
    tokens: Tokens  # symbols and decimals, cached
    snapshots: Snapshots  # ledger summaries kept per checkpoint
    rate_limits: RateLimits
    catalog: CatalogSigner  # signs listing attestations and free-download receipts
    recordings: Recordings  # who owns which recording

    @property
    def domain(self) -> str:
        return urlparse(self.public_url).netloc
