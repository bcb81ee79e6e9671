"""What a wallet does against a live API (tests.support.live_api) and the chain: list an
upload, index the chain into the server's ledger, read the custom error a call reverts
with."""
from __future__ import annotations

from web3 import Web3

from indexer.metadata import fetch_pending
from indexer.runner import Indexer
from indexer.store import Ledger
from ninety.chain import Rpc
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.db import make_engine
from ninety.ipfs import Ipfs

VICTIM, FAN, MALLORY, SPONSOR = 1, 2, 3, 6


def wallet(index: int) -> str:
    return dev_account(DEV_MNEMONIC, index)[0]


def sync(api, world) -> None:
    """Index the chain into the server's ledger and fetch metadata, as `ninety index` does."""
    engine = make_engine(api.env["NINETY_DB_URL"])
    try:
        Indexer(Rpc(api.env["NINETY_RPC_URL"]), Ledger(engine, world.market.address), start_block=world.deploy_block,
                chain_id=31337).run(once=True)
        with Ipfs(api.env["NINETY_IPFS_API"]) as ipfs:
            fetch_pending(engine, ipfs, limit=100)
    finally:
        engine.dispose()


def send(world, call: dict, sender: str) -> None:
    tx = world.w3.eth.send_transaction({"from": sender, "to": call["to"], "data": call["data"]})
    assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def reverts(world, fn, sender: str) -> str:
    """The custom error a call would revert with (its name), failing if it would not revert."""
    try:
        fn.call({"from": Web3.to_checksum_address(sender)})
    except Exception as e:  # web3 raises ContractCustomError with the error's data
        data = str(e.args[0]) if e.args else ""
        for item in world.market.contract.abi:
            if item["type"] == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                if data.startswith("0x" + Web3.keccak(text=sig)[:4].hex().removeprefix("0x")):
                    return item["name"]
        return data
    raise AssertionError("the call did not revert")


def list_upload(api, world, index: int, audio: bytes, price: int = 10**15, **fields) -> tuple[int, dict]:
    """Upload `audio` as wallet `index` and list it on chain (split, then register): the new
    track's id and the upload's answer."""
    headers = api.login(index)
    r = api.upload(headers, audio, price=str(price), **fields)
    assert r.status_code == 201, r.text
    up = r.json()
    send(world, up["create_split_call"], wallet(index))
    send(world, up["register_call"], wallet(index))
    return world.market.contract.functions.trackCount().call(), up


def refused(r, tid: int) -> dict:
    """The body of an upload refused as a copy of track `tid` (a 409 problem)."""
    assert r.status_code == 409, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["track"]["track_id"] == tid and body["refusal_id"] >= 1
    return body
