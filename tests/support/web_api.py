"""What the e2e tests do outside the page: list a track through the HTTP API from a dev
wallet, close an epoch as the owner's job does, wait for the indexer to show something."""
from __future__ import annotations

import requests

from tests.support.media import png_bytes


def split_id_of(recipients, shares) -> str:
    from web3 import Web3

    return "0x" + Web3.keccak(Web3().codec.encode(["address[]", "uint32[]"], [[Web3.to_checksum_address(r) for r in recipients],
                                                                              list(shares)])).hex().removeprefix("0x")


def list_over_http(web, index: int, audio: bytes, **fields) -> int:
    """Sign in as dev wallet `index`, upload through the API and list the track from the
    wallet with the calls the API answers (what the studio does); the new track id."""
    from datetime import datetime, timedelta, timezone

    from eth_account import Account
    from eth_account.messages import encode_defunct
    from siwe import SiweMessage

    from ninety.cli.shared import dev_account
    from ninety.config import DEV_MNEMONIC

    world, url = web[:2]
    address, key = dev_account(DEV_MNEMONIC, index)
    nonce = requests.get(f"{url}/api/auth/nonce", timeout=10).json()
    now = datetime.now(timezone.utc)
    message = SiweMessage(domain=nonce["domain"], address=address, uri=nonce["uri"], version="1", chain_id=31337,
                          nonce=nonce["nonce"], issued_at=now.isoformat().replace("+00:00", "Z"),
                          expiration_time=(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")).prepare_message()
    signature = "0x" + Account.sign_message(encode_defunct(text=message), key).signature.hex().removeprefix("0x")
    token = requests.post(f"{url}/api/auth/login", json={"message": message, "signature": signature}, timeout=30).json()["token"]
    data = {"title": "HTTP Song", "artist_name": "Seller", **fields}
    r = requests.post(f"{url}/api/uploads", data=data, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                      files={"audio": ("song.wav", audio, "audio/wav"), "artwork": ("cover.png", png_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    for call in (r.json()["create_split_call"], r.json()["register_call"]):
        tx = world.w3.eth.send_transaction({"from": address, "to": call["to"], "data": call["data"]})
        assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return world.market.contract.functions.trackCount().call()


def close_epoch_after_its_end(web, epoch: int) -> dict:
    """Move Anvil's clock past `epoch`'s end, mine a block, then close it as `ninety epoch
    close` does (report pinned to IPFS, roots published from the owner's key); wait until
    the API shows it published."""
    import time

    from ninety.cli.epoch_close import close_epoch
    from ninety.cli.shared import dev_account
    from ninety.config import DEV_MNEMONIC
    from ninety.contract import Deployment
    from ninety.db import make_engine
    from ninety.ipfs import Ipfs

    world, url, env, db_path = web
    c = world.market.contract.functions
    end = c.epochStart().call() + (epoch + 1) * c.epochSeconds().call()
    now = world.w3.eth.get_block("latest")["timestamp"]
    world.w3.provider.make_request("evm_increaseTime", [max(0, end - now) + 1])
    world.w3.provider.make_request("evm_mine", [])
    assert c.currentEpoch().call() > epoch
    deployment = Deployment(chain_id=world.w3.eth.chain_id, address=world.market.address, deploy_block=world.deploy_block)
    with Ipfs(env["NINETY_IPFS_API"]) as ipfs:
        report = close_epoch(make_engine(f"sqlite:///{db_path}"), world.w3, ipfs, deployment,
                             dev_account(DEV_MNEMONIC, 0)[1], epoch, say=lambda line: None)
    deadline = time.monotonic() + 30
    while not any(e["epoch"] == epoch and e["published"] for e in requests.get(f"{url}/api/pools", timeout=10).json()["epochs"]):
        assert time.monotonic() < deadline, "the indexer did not pick up the published epoch"
        time.sleep(0.3)
    return report


def wait_for_track(url: str, track_id: int, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/api/tracks/{track_id}", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"the API never showed track {track_id}"
        time.sleep(0.3)


def wait_for_ledger(url: str, account: str, ready, timeout: float = 30) -> dict:
    """The account's ledger summary once `ready(summary)` holds (the indexer caught up)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        summary = requests.get(f"{url}/api/ledger/artists/{account.lower()}", timeout=10).json()
        if ready(summary):
            return summary
        assert time.monotonic() < deadline, f"the ledger never showed what was expected for {account}: {summary}"
        time.sleep(0.3)


def sorted_pairs(shares: dict[str, int]) -> tuple[list[str], list[int]]:
    from ninety.market import sorted_split

    return sorted_split(list(shares.items()))
