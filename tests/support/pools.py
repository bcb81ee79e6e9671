"""Free downloads and epoch closes against a live API (tests.support.live_api), as the
sponsor-pool attack suites drive them."""
from __future__ import annotations

import subprocess
import sys

import httpx
from sqlalchemy import select
from sqlmodel import SQLModel

from ninety.attest import CatalogSigner
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.db import make_engine
from tests.support.activity import sign_free_download
from tests.support.listings import wallet
from tests.support.media import wav_bytes

import backend.models  # noqa: F401  (the free_download table)


def start(live_api, world, **env: str):
    """A server whose attestations the contract requires, as `ninety deploy` sets up."""
    server = live_api(**env)
    world.require_attestations(CatalogSigner.load(None, server.data_dir))
    return server


def db_url(api) -> str:
    return api.env["NINETY_DB_URL"]


def recorded(api) -> list[tuple[int, int, str]]:
    """The free downloads the server recorded: (epoch, track, wallet), sorted."""
    engine = make_engine(db_url(api))
    try:
        with engine.connect() as conn:
            fd = SQLModel.metadata.tables["free_download"]
            return sorted((r[0], r[1], r[2]) for r in conn.execute(select(fd.c.epoch, fd.c.track_id, fd.c.wallet)))
    finally:
        engine.dispose()


def list_track(api, world, index: int, title: str, price: int, freq: float) -> int:
    r = api.upload(api.login(index), wav_bytes(2.0, freq), title=title, price=str(price))
    assert r.status_code == 201, r.text
    for call in (r.json()["create_split_call"], r.json()["register_call"]):
        tx = world.w3.eth.send_transaction({"from": wallet(index), "to": call["to"], "data": call["data"]})
        assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return world.market.contract.functions.trackCount().call()


def sign(world, index: int, track_id: int, epoch: int, *, chain_id: int = 31337, contract: str | None = None) -> str:
    """A wallet's eth_signTypedData_v4 of FreeDownload(trackId, epoch), as the spec writes it."""
    return sign_free_download(dev_account(DEV_MNEMONIC, index)[1], chain_id, contract or world.market.address,
                              track_id, epoch)


def post(api, track_id: int, body, headers: dict[str, str]) -> httpx.Response:
    return api.post_json(f"/api/tracks/{track_id}/free-download", body, headers=headers)


def close_epoch(api, epoch: int) -> str:
    """`ninety epoch close EPOCH --advance` with the server's settings; its output."""
    done = subprocess.run([sys.executable, "-m", "ninety.cli", "epoch", "close", str(epoch), "--advance"], env=api.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
