"""Moderation, for the owner (`ninety moderate ...`): takedowns on chain with a public
reason on IPFS, allowing a refused recording for one wallet, the queue of refusals and
counter-notices, and fingerprints for uploads made before fingerprints existed."""
from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from eth_account import Account
from sqlalchemy import Engine, select, update
from sqlmodel import Session, SQLModel

from backend import fingerprint
from backend.crypto import MasterKey, decrypt_range
from backend.models import CounterNotice, Upload, UploadRefusal
from ninety.contract import Deployment, describe_revert, load_abi
from ninety.errors import NinetyError
from ninety.ipfs import Ipfs

log = logging.getLogger(__name__)
T = SQLModel.metadata.tables
MAX_REASON_BYTES = 64 * 1024


def pin_reason(ipfs: Ipfs, track_id: int, action: str, reason: str) -> str:
    """Pin the public reason for a block or unblock; returns its CID. What is pinned is
    public forever: redact personal data before (the command says so)."""
    if not reason.strip():
        raise NinetyError("the reason is empty: say why, in words anyone may read")
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise NinetyError(f"the reason is longer than {MAX_REASON_BYTES // 1024} KiB")
    doc = {"kind": f"ninety/{action}", "track_id": track_id, "reason": reason.strip(),
           "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return ipfs.add_bytes(json.dumps(doc, indent=1, sort_keys=True).encode())


def set_blocked(w3: Any, deployment: Deployment, owner_key: str, track_id: int, blocked: bool, reason_cid: str) -> int:
    """Send blockTrack / unblockTrack from the owner key; returns the block number."""
    sender = Account.from_key(owner_key)
    market = w3.eth.contract(address=w3.to_checksum_address(deployment.address), abi=load_abi("Marketplace"))
    fn = (market.functions.blockTrack if blocked else market.functions.unblockTrack)(track_id, reason_cid)
    try:
        fn.call({"from": sender.address})  # a revert (unknown track, already blocked) says why, for free
    except Exception as e:
        data = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        raise NinetyError(f"{'blockTrack' if blocked else 'unblockTrack'}({track_id}) would revert: "
                          f"{describe_revert(data)}") from None
    tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction),
                                                  timeout=120)
    if receipt["status"] != 1:
        raise NinetyError(f"the transaction reverted ({receipt['transactionHash'].hex()})")
    return int(receipt["blockNumber"])


def allow(engine: Engine, refusal_id: int, note: str | None = None) -> UploadRefusal:
    """Let the refused wallet upload this recording (the same decoded audio) after all."""
    with Session(engine) as db:
        refusal = db.get(UploadRefusal, refusal_id)
        if refusal is None:
            raise NinetyError(f"no refused upload {refusal_id} (see `ninety moderate queue`)")
        refusal.allowed_at = time.time()
        refusal.allowed_note = (note or "")[:500] or None
        db.add(refusal)
        db.commit()
        db.refresh(refusal)
        return refusal


def queue(engine: Engine, limit: int = 100) -> tuple[list[UploadRefusal], list[CounterNotice]]:
    """Refused uploads not yet allowed, and open counter-notices, newest first."""
    with Session(engine) as db:
        refusals = db.exec(select(UploadRefusal).where(UploadRefusal.allowed_at.is_(None))  # type: ignore[union-attr]
                           .order_by(UploadRefusal.id.desc()).limit(limit)).scalars().all()  # type: ignore[union-attr]
        notices = db.exec(select(CounterNotice).where(CounterNotice.status == "open")
                          .order_by(CounterNotice.id.desc()).limit(limit)).scalars().all()  # type: ignore[union-attr]
        return list(refusals), list(notices)


def backfill(engine: Engine, ipfs: Ipfs, master_key: MasterKey, *, say: Callable[[str], None] = log.info) -> int:
    """Hash and fingerprint uploads made before fingerprints existed: each is fetched
    from IPFS, decrypted to a temporary file and analysed. Returns how many were done.
    Idempotent; an upload that fails is reported and left for the next run."""
    with Session(engine) as db:
        todo = db.exec(select(Upload).where(Upload.audio_hash.is_(None)).order_by(Upload.id)).scalars().all()  # type: ignore[union-attr]
    done = 0
    for i, up in enumerate(todo, 1):
        try:
            key = master_key.unwrap(up.wrapped_key)
            suffix = Path(up.file_name).suffix or ".audio"
            with tempfile.NamedTemporaryFile(prefix="ninety-backfill-", suffix=suffix) as f:
                if up.size:
                    for part in decrypt_range(lambda off, n: ipfs.cat(up.audio_cid, offset=off, length=n), key,
                                              bytes.fromhex(up.nonce_prefix), up.size, 0, up.size - 1, up.chunk_size):
                        f.write(part)
                f.flush()
                analysis = fingerprint.analyse(Path(f.name))
            with engine.begin() as conn:
                conn.execute(update(T["upload"]).where(T["upload"].c.id == up.id).values(
                    audio_hash=analysis.audio_hash, duration=round(analysis.duration, 3),
                    fingerprint=None if analysis.frames is None else fingerprint.pack(analysis.frames)))
            done += 1
            say(f"[{i}/{len(todo)}] upload {up.id} ({up.file_name}): {analysis.duration:.1f} s fingerprinted")
        except Exception as e:  # one bad file must not stop the others
            say(f"[{i}/{len(todo)}] upload {up.id} ({up.file_name}): failed, left for the next run: {e}")
    return done
