"""The Marketplace's ABI and where it is deployed.

The ABI comes from Brownie's build output (`build/contracts/Marketplace.json`, made by
`brownie compile`); a deployment is recorded in `<deployments dir>/<chain id>.json`.
`NINETY_CONTRACT_ADDRESS` / `NINETY_START_BLOCK` override the file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from ninety.config import Settings
from ninety.errors import ConfigError
from ninety.paths import BUILD_DIR

# The token address the contract uses for ether (sales, balances, pools).
ETH = "0x" + "00" * 20


@lru_cache(maxsize=None)
def load_abi(name: str = "Marketplace") -> list[dict[str, Any]]:
    path = BUILD_DIR / f"{name}.json"
    try:
        # orjson: Brownie's build file is ~5 MB (sources, AST, bytecode), which the standard
        # library's parser took ~50 ms to read, at every start of every command, for the ABI.
        data = path.read_bytes()
        try:
            return list(orjson.loads(data)["abi"])
        except orjson.JSONDecodeError:  # an integer past 64 bits, say: orjson refuses what json takes
            return list(json.loads(data)["abi"])
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: run `make build` (brownie compile) first") from None


def abi_hash(abi: list[dict[str, Any]]) -> str:
    """A stable fingerprint of an ABI, recorded with each deployment."""
    return "0x" + hashlib.sha256(json.dumps(abi, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Token:
    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    address: str
    deploy_block: int
    tx_hash: str = ""
    abi_hash: str = ""
    tokens: dict[str, Token] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Deployment":
        tokens = {k: Token(**v) for k, v in data.get("tokens", {}).items()}
        return cls(
            chain_id=int(data["chain_id"]),
            address=str(data["address"]),
            deploy_block=int(data["deploy_block"]),
            tx_hash=str(data.get("tx_hash", "")),
            abi_hash=str(data.get("abi_hash", "")),
            tokens=tokens,
        )


def deployment_path(deployments_dir: Path, chain_id: int) -> Path:
    return deployments_dir / f"{chain_id}.json"


def read_deployment(deployments_dir: Path, chain_id: int) -> Deployment | None:
    path = deployment_path(deployments_dir, chain_id)
    if not path.exists():
        return None
    try:
        return Deployment.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a valid deployment record: {e}") from e


def resolve_deployment(settings: Settings, chain_id: int) -> Deployment:
    """The contract to use: the environment's override, else the deployments file."""
    recorded = read_deployment(settings.deployments_dir, chain_id)
    if settings.contract_address:
        return Deployment(
            chain_id=chain_id,
            address=settings.contract_address,
            deploy_block=settings.start_block if settings.start_block is not None else (recorded.deploy_block if recorded else 0),
            tokens=recorded.tokens if recorded else {},
        )
    if recorded is None:
        raise ConfigError(
            f"no deployment for chain {chain_id} in {settings.deployments_dir}: "
            "run `ninety deploy` or set NINETY_CONTRACT_ADDRESS"
        )
    if settings.start_block is not None:
        return Deployment(**{**recorded.__dict__, "deploy_block": settings.start_block})
    return recorded


def describe_revert(data: str, abi: list[dict[str, Any]] | None = None) -> str:
    """A custom error's revert data as `Name(values)`, for people; the data itself if
    the ABI has no such error."""
    from eth_abi import decode
    from eth_utils import keccak

    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else b""
    for item in abi or load_abi("Marketplace"):
        if item.get("type") != "error":
            continue
        types = [i["type"] for i in item["inputs"]]
        if raw[:4] == keccak(text=f"{item['name']}({','.join(types)})")[:4]:
            try:
                values = decode(types, raw[4:])
            except Exception:
                break
            shown = ", ".join("0x" + v.hex() if isinstance(v, bytes) else str(v) for v in values)
            return f"{item['name']}({shown})"
    return data
