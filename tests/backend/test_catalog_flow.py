"""The whole path an artist's file takes, on real components: upload -> register from the
wallet -> indexed -> public preview -> download refused -> buy -> download equals the
original, also by Range."""
from __future__ import annotations

import io
import json

import soundfile
from PIL import Image
from sqlmodel import Session, select

from backend.models import Upload
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support.media import wav_bytes
from tests.support.stack import send, upload

ARTIST, FAN, OTHER = 1, 2, 3


def test_upload_register_buy_download(stack):
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    fan, _ = dev_account(DEV_MNEMONIC, FAN)
    artist_h, fan_h = stack.login(ARTIST), stack.login(FAN)
    original = wav_bytes(40.0, 330.0)

    r = upload(stack, artist_h, original, split=json.dumps([{"address": artist, "share_ppm": 800_000},
                                                            {"address": fan, "share_ppm": 200_000}]))
    assert r.status_code == 201, r.text
    up = r.json()
    assert abs(up["duration"] - 40.0) < 0.01
    # The metadata pinned on IPFS says what the response says, and is ERC-721 shaped.
    meta = json.loads(Ipfs(stack.settings.ipfs_api).cat(up["metadata_cid"]))
    assert meta["name"] == "Night Drive" and meta["image"] == f"ipfs://{up['artwork_cid']}"
    assert meta["animation_url"] == f"ipfs://{up['preview_cid']}"
    assert meta["properties"]["audio_cid"] == up["audio_cid"]
    assert meta["properties"]["encryption"]["algorithm"] == "AES-256-GCM"
    # The stored audio is encrypted: it is not the original.
    assert Ipfs(stack.settings.ipfs_api).cat(up["audio_cid"])[:64] != original[:64]

    send(stack, up["create_split_call"], artist)
    send(stack, up["register_call"], artist)
    stack.sync()

    listing = stack.client.get("/api/tracks", params={"q": "night"}).json()
    assert [t["title"] for t in listing["items"]] == ["Night Drive"]
    track = listing["items"][0]
    assert track["artist"] == artist.lower() and track["price"] == str(10**15) and track["token"] == ETH
    assert track["duration"] == 40.0 and track["preview_cid"] == up["preview_cid"]
    tid = track["track_id"]

    preview = stack.client.get(f"/api/tracks/{tid}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/ogg"
    clip = soundfile.info(io.BytesIO(preview.content))
    assert 29.5 < clip.duration <= 30.01
    part = stack.client.get(f"/api/tracks/{tid}/preview", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == preview.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(preview.content)}"
    # The artwork is re-encoded without metadata: the same picture, not the same bytes.
    art = stack.client.get(f"/api/tracks/{tid}/artwork")
    assert art.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(art.content)).convert("RGB").getdata()[0] == (200, 40, 90)

    assert stack.client.get(f"/api/tracks/{tid}/download").status_code == 401
    refused = stack.client.get(f"/api/tracks/{tid}/download", headers=fan_h)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"

    stack.world.market.buy(tid, 10**15, fan)
    stack.sync()
    got = stack.client.get(f"/api/tracks/{tid}/download", headers=fan_h)
    assert got.status_code == 200
    assert got.content == original
    assert 'filename="night-drive.wav"' in got.headers["content-disposition"]
    for rng, (a, b) in {"bytes=0-0": (0, 0), "bytes=65530-131100": (65530, 131100),
                        f"bytes={len(original) - 100}-": (len(original) - 100, len(original) - 1),
                        "bytes=-10": (len(original) - 10, len(original) - 1)}.items():
        r = stack.client.get(f"/api/tracks/{tid}/download", headers={**fan_h, "Range": rng})
        assert r.status_code == 206 and r.content == original[a : b + 1], rng
    assert stack.client.get(f"/api/tracks/{tid}/download",
                            headers={**fan_h, "Range": f"bytes={len(original)}-"}).status_code == 416
    # Someone else's wallet: still no purchase.
    assert stack.client.get(f"/api/tracks/{tid}/download", headers=stack.login(OTHER)).status_code == 403

    # The artist proposes cutting the fan's share: it waits for the fan's consent.
    assert stack.client.get(f"/api/tracks/{tid}").json()["pending_split_changes"] == 0
    m = stack.world.market
    solo = m.create_split([(artist, 1_000_000)], artist)
    assert m.propose_split(tid, solo, artist) is False
    stack.sync()
    assert stack.client.get(f"/api/tracks/{tid}").json()["pending_split_changes"] == 1
    listed = stack.client.get("/api/tracks", params={"q": "night"}).json()["items"]
    assert [t["pending_split_changes"] for t in listed] == [1]
    assert m.accept_split(tid, solo, fan) is True
    stack.sync()
    after = stack.client.get(f"/api/tracks/{tid}").json()
    assert after["pending_split_changes"] == 0 and after["split_id"] == solo


def test_unknown_track_is_a_404_problem(stack):
    r = stack.client.get("/api/tracks/999")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "no track 999 in the ledger"
    assert stack.client.get("/api/tracks/abc").status_code == 422


def list_upload(stack, index: int, price: int, seconds: float = 2.0, freq: float = 440.0) -> int:
    """Upload a short track from dev wallet `index`, list it through the API's calls; its id."""
    artist, _ = dev_account(DEV_MNEMONIC, index)
    r = upload(stack, stack.login(index), wav_bytes(seconds, freq), price=str(price), title=f"Track {price}")
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], artist)
    before = stack.world.market.contract.functions.trackCount().call()
    send(stack, r.json()["register_call"], artist)
    return before + 1


def test_catalog_filters_sorts_and_pages(stack):
    m, a = stack.world.market, stack.world.accounts
    ids = [list_upload(stack, 1 + i % 2, (5 - i) * 100, freq=300.0 + 50 * i) for i in range(5)]
    m.buy(ids[3], 200, a[4])
    m.buy(ids[3], 200, a[5])
    m.buy(ids[1], 400, a[4])
    stack.sync()
    c = stack.client

    def all_pages(**params):
        seen, cursor = [], None
        while True:
            page = c.get("/api/tracks", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [t["track_id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen

    assert all_pages() == sorted(ids, reverse=True)
    assert all_pages(sort="price") == list(reversed(ids))
    assert all_pages(sort="sales") == [ids[3], ids[1], ids[0], ids[2], ids[4]]
    assert all_pages(artist=a[2]) == [ids[3], ids[1]]
    assert c.get("/api/tracks", params={"artist": "nope"}).status_code == 422
    assert c.get("/api/tracks", params={"cursor": "garbage"}).status_code == 422
    assert c.get("/api/tracks", params={"limit": 501}).status_code == 422


def test_file_names_are_never_paths(stack):
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    r = upload(stack, stack.login(ARTIST), wav_bytes(2.0), name="../../etc/pass wd$.wav")
    assert r.status_code == 201, r.text
    with Session(stack.services.engine) as db:
        row = db.exec(select(Upload).where(Upload.metadata_cid == r.json()["metadata_cid"])).one()
    assert row.file_name == "pass wd$.wav"
    send(stack, r.json()["create_split_call"], artist)
    send(stack, r.json()["register_call"], artist)
    stack.sync()
    tid = stack.client.get("/api/tracks").json()["items"][0]["track_id"]
    stack.world.market.buy(tid, 10**15, artist)
    stack.sync()
    got = stack.client.get(f"/api/tracks/{tid}/download", headers=stack.login(ARTIST))
    assert got.headers["content-disposition"] == 'attachment; filename="pass wd_.wav"'
