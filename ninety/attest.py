"""Listing attestations and free-download signatures, all EIP-712 on the Marketplace's
domain (name "Ninety", version "1", chain id, contract address).

Listing attestations: the catalog signer's EIP-712 signature that lets one wallet list
one metadata CID on one Marketplace until a deadline (the contract's `registerTrack`
checks it, and lists each attested CID once). On the wire an attestation is the 32-byte
deadline followed by the 65-byte signature.

The API signs only for the wallet that uploaded the files behind the CID, so no wallet can
list a recording it did not upload, whatever frontend it uses. The key comes from
NINETY_CATALOG_KEY or, for a local setup, `<data dir>/catalog.key` (created on first use,
owner-only). Whoever holds it decides what can be listed: keep it on the API server only.

Free downloads: a listener signs FreeDownload(trackId, epoch) for each free download it
wants counted toward a sponsor pool (the contract's `freeDownloadDigest` gives the same
digest); the API answers with a receipt, the catalog signer's signature of
FreeDownloadRecorded(listener, trackId, epoch, blockNumber, signatureHash). The listener
keeps it: if the epoch's published report leaves that download out, or shows it with
another block or signature, the receipt proves what the server recorded.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from ninety.config import Settings
from ninety.errors import ConfigError

DOMAIN_NAME = "Ninety"
DOMAIN_VERSION = "1"
LISTING_TYPES = {"Listing": [{"name": "metadataCid", "type": "string"}, {"name": "registrant", "type": "address"},
                            {"name": "splitId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}]}
# A release's attestation binds its tracks as well: a track's attestation, or one for other
# tracks, cannot list a release (the contract's RELEASE_TYPEHASH).
RELEASE_TYPES = {"Release": [{"name": "metadataCid", "type": "string"}, {"name": "registrant", "type": "address"},
                            {"name": "splitId", "type": "bytes32"}, {"name": "trackIds", "type": "uint256[]"},
                            {"name": "deadline", "type": "uint256"}]}
FREE_DOWNLOAD_TYPES = {"FreeDownload": [{"name": "trackId", "type": "uint256"}, {"name": "epoch", "type": "uint256"}]}
# A receipt binds what the report must show for the download: the block it is judged at
# and the listener's signature (by hash), so an operator cannot republish it with another
# block or signature that makes it not count.
RECEIPT_TYPES = {"FreeDownloadRecorded": [{"name": "listener", "type": "address"}, {"name": "trackId", "type": "uint256"},
                                          {"name": "epoch", "type": "uint256"}, {"name": "blockNumber", "type": "uint256"},
                                          {"name": "signatureHash", "type": "bytes32"}]}
# secp256k1's group order: signatures with s above half of it are the malleable twins.
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# How long an attestation is valid: long enough to sign two transactions, short enough
# that one saved now cannot list a recording someone registers in the meantime (the API
# checks the recording again for each fresh attestation).
ATTESTATION_SECONDS = 3600


def domain(chain_id: int, contract: str) -> dict[str, Any]:
    """The EIP-712 domain of a Marketplace (its constructor's EIP712("Ninety", "1"))."""
    from web3 import Web3

    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(contract)}


def _digest(chain_id: int, contract: str, types: dict[str, Any], message: dict[str, Any]) -> bytes:
    from eth_utils import keccak

    signable = encode_typed_data(domain_data=domain(chain_id, contract), message_types=types, message_data=message)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def free_download_digest(chain_id: int, contract: str, track_id: int, epoch: int) -> bytes:
    """What a listener signs to have its free download of `track_id` counted in `epoch`."""
    return _digest(chain_id, contract, FREE_DOWNLOAD_TYPES, {"trackId": track_id, "epoch": epoch})


def _recover(digest: bytes, signature: str | bytes) -> str | None:
    """The lower-case signer of `digest`, or None for a malformed or high-s signature."""
    try:
        raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature) \
            if isinstance(signature, str) else bytes(signature)
    except ValueError:
        return None
    if len(raw) == 65 and raw[64] in (0, 1):  # some wallets (hardware) give v as 0/1
        raw = raw[:64] + bytes([raw[64] + 27])
    if len(raw) != 65 or raw[64] not in (27, 28) or int.from_bytes(raw[32:64], "big") > _SECP256K1_N // 2:
        return None
    try:
        return str(Account._recover_hash(digest, signature=raw)).lower()
    except Exception:  # an r or s out of range: not a signature
        return None


def recover_free_download(chain_id: int, contract: str, track_id: int, epoch: int, signature: str | bytes) -> str | None:
    """Who signed FreeDownload(track_id, epoch) (lower case), or None if nobody validly did."""
    return _recover(free_download_digest(chain_id, contract, track_id, epoch), signature)


def _signature_hash(signature: str) -> bytes:
    from eth_utils import keccak

    return bytes(keccak(hexstr=signature.lower()))


def receipt_digest(chain_id: int, contract: str, wallet: str, track_id: int, epoch: int, block_number: int,
                   signature: str) -> bytes:
    from web3 import Web3

    return _digest(chain_id, contract, RECEIPT_TYPES,
                   {"listener": Web3.to_checksum_address(wallet), "trackId": track_id, "epoch": epoch,
                    "blockNumber": block_number, "signatureHash": _signature_hash(signature)})


def receipt_signer(chain_id: int, contract: str, wallet: str, track_id: int, epoch: int, block_number: int,
                   signature: str, receipt: str) -> str | None:
    """Who signed this free-download receipt (the catalog signer, if it is genuine)."""
    try:
        digest = receipt_digest(chain_id, contract, wallet, track_id, epoch, block_number, signature)
    except ValueError:
        return None
    return _recover(digest, receipt)


@dataclass(frozen=True)
class CatalogSigner:
    key: str  # 0x-prefixed private key

    @property
    def address(self) -> str:
        return str(Account.from_key(self.key).address)

    def sign_listing(self, metadata_cid: str, registrant: str, split_id: str, chain_id: int, contract: str,
                     deadline: int, track_ids: list[int] | None = None) -> str:
        """The attestation `registrant` passes to registerTrack for `metadata_cid` with split
        `split_id` (0x hex), valid until `deadline` (unix seconds, by block time): 0x,
        deadline, signature. With `track_ids`, the one registerRelease takes for a release
        of those tracks (in order)."""
        from web3 import Web3

        message: dict[str, Any] = {"metadataCid": metadata_cid, "registrant": Web3.to_checksum_address(registrant),
                                   "splitId": bytes.fromhex(split_id.removeprefix("0x")), "deadline": deadline}
        if track_ids is not None:
            message["trackIds"] = [int(t) for t in track_ids]
        signable = encode_typed_data(domain_data=domain(chain_id, contract),
                                     message_types=LISTING_TYPES if track_ids is None else RELEASE_TYPES,
                                     message_data=message)
        signature = Account.sign_message(signable, self.key).signature
        return "0x" + deadline.to_bytes(32, "big").hex() + bytes(signature).hex()

    def sign_receipt(self, chain_id: int, contract: str, wallet: str, track_id: int, epoch: int, block_number: int,
                     signature: str) -> str:
        """The receipt for a recorded free download: FreeDownloadRecorded(wallet, track,
        epoch, the block it was recorded at, keccak256 of the listener's signature)."""
        digest = receipt_digest(chain_id, contract, wallet, track_id, epoch, block_number, signature)
        return "0x" + bytes(Account._sign_hash(digest, self.key).signature).hex()

    @classmethod
    def load(cls, env_value: str | None, data_dir: Path) -> "CatalogSigner":
        if env_value:
            try:
                key = "0x" + bytes.fromhex(env_value.strip().removeprefix("0x")).hex()
                Account.from_key(key)
            except ValueError as e:
                raise ConfigError(f"NINETY_CATALOG_KEY must be a 32-byte private key in hex: {e}") from None
            return cls(key)
        path = data_dir / "catalog.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write("0x" + secrets.token_hex(32) + "\n")
        try:
            key = path.read_text().strip()
            Account.from_key(key)
        except ValueError as e:
            raise ConfigError(f"{path} does not hold a private key: {e}") from None
        return cls(key)


def load_signer(settings: Settings) -> CatalogSigner:
    """The catalog signer: NINETY_CATALOG_KEY, else `<data dir>/catalog.key`."""
    return CatalogSigner.load(settings.catalog_key, settings.data_dir)
