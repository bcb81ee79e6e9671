"""`ninety moderate ...`: takedowns and duplicate-upload refusals (the owner's tools; the
jobs themselves are in ninety.cli.moderation)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ninety.cli.shared import console, fail, owner_chain, setup_logging
from ninety.config import load_settings
from ninety.errors import NinetyError

app = typer.Typer(help="Takedowns and duplicate-upload refusals (the owner's tools).", no_args_is_help=True)


def _set_blocked(track: int, reason: Path, blocked: bool) -> None:
    from ninety.cli.moderation import pin_reason, set_blocked
    from ninety.ipfs import Ipfs

    settings = load_settings()
    try:
        if not settings.ipfs_api:
            raise NinetyError("set NINETY_IPFS_API: the reason is pinned to IPFS")
        try:
            text = reason.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise NinetyError(f"cannot read the reason from {reason}: {e}") from None
        w3, deployment, key = owner_chain(settings)
        with Ipfs(settings.ipfs_api) as ipfs:
            cid = pin_reason(ipfs, track, "block" if blocked else "unblock", text)
        number = set_blocked(w3, deployment, key, track, blocked, cid)
    except NinetyError as e:
        fail(str(e))
    console.print(f"track {track} {'blocked' if blocked else 'unblocked'} in block {number}; public reason ipfs://{cid}")


@app.command("block")
def moderate_block(
    track: int = typer.Argument(..., min=1, help="The track id."),
    reason: Path = typer.Option(..., "--reason", help="A text file with the public reason (redact personal data: "
                                                      "it is pinned to IPFS for anyone to read)."),
) -> None:
    """Take a track down: it can no longer be bought or downloaded, its recording cannot be
    uploaded again, and what its payees earned stays theirs. Needs NINETY_OWNER_KEY."""
    setup_logging(False)
    _set_blocked(track, reason, True)


@app.command("unblock")
def moderate_unblock(
    track: int = typer.Argument(..., min=1, help="The track id."),
    reason: Path = typer.Option(..., "--reason", help="A text file with the public reason."),
) -> None:
    """Lift a takedown (e.g. after a counter-notice). Needs NINETY_OWNER_KEY."""
    setup_logging(False)
    _set_blocked(track, reason, False)


@app.command("allow")
def moderate_allow(
    refusal: int = typer.Argument(..., min=1, help="The refused upload's id (from `ninety moderate queue`)."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (kept for the record)."),
) -> None:
    """Let the wallet of a refused upload upload that recording after all (a licensed
    sample, the same artist's new wallet)."""
    setup_logging(False)
    from ninety.cli.moderation import allow
    from ninety.db import ensure_schema, make_engine

    engine = make_engine(load_settings().database_url)
    ensure_schema(engine)
    try:
        r = allow(engine, refusal, note)
    except NinetyError as e:
        fail(str(e))
    console.print(f"refusal {r.id} allowed: {r.wallet} may now upload {r.file_name} (audio {r.audio_hash[:16]}…)")


@app.command("queue")
def moderate_queue() -> None:
    """Refused uploads (not yet allowed) and open counter-notices, newest first."""
    setup_logging(False)
    from ninety.cli.moderation import queue
    from ninety.db import ensure_schema, make_engine

    engine = make_engine(load_settings().database_url)
    ensure_schema(engine)
    refusals, notices = queue(engine)
    print(f"refused uploads ({len(refusals)}):")
    for r in refusals:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created_at))
        detail = f"similarity {r.similarity:.2f}, {r.overlap_seconds:.0f} s" if r.match_kind == "fingerprint" else "same audio"
        print(f"  {r.id:>5}  {when}  {r.wallet}  {r.file_name!r} matches track {r.matched_track_id}"
              f"{' (taken down)' if r.blocked_match else ''}: {r.match_kind}, {detail}")
    print(f"open counter-notices ({len(notices)}):")
    for n in notices:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(n.created_at))
        about = f"refusal {n.refusal_id}" if n.refusal_id is not None else f"track {n.track_id}"
        print(f"  {n.id:>5}  {when}  {n.wallet}  about {about}; contact {n.contact!r}")
        print(f"         {n.statement[:300]!r}")


@app.command("backfill")
def moderate_backfill() -> None:
    """Hash and fingerprint uploads made before duplicate detection existed (decrypts each
    from IPFS); run once after upgrading. Safe to run again."""
    setup_logging(False)
    from backend.crypto import MasterKey
    from ninety.cli.moderation import backfill
    from ninety.db import ensure_schema, make_engine
    from ninety.ipfs import Ipfs

    settings = load_settings()
    if not settings.ipfs_api:
        fail("set NINETY_IPFS_API")
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    with Ipfs(settings.ipfs_api) as ipfs:
        done = backfill(engine, ipfs, MasterKey.load(settings.master_key, settings.data_dir),
                        say=lambda line: console.print(line, soft_wrap=True))
    console.print(f"{done} uploads fingerprinted")
