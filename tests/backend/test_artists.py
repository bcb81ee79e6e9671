"""Artist profiles on real components (Anvil, the indexer, the IPFS node; SQLite and
PostgreSQL): an address's page before and after its wallet saves a profile, the avatar
checked, re-encoded, served and replaced, the profile JSON pinned, the display-name rule
(profile, else the newest genuine listing, else null) wherever a name is shown, and what
the ledger says on the page (supporters, what it was paid)."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import select
from sqlmodel import SQLModel

from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.indexer.releases import pin, track_metadata
from tests.support.media import wav_bytes
from tests.support.stack import DATABASES, ledger_stack, send, upload

ARTIST, FAN, FAN2, OTHER = 1, 2, 3, 4
MILLI = 10**15


@pytest.fixture(params=DATABASES)
def stack(request, anvil, ipfs_node, tmp_path):
    with ledger_stack(request.param, anvil, ipfs_node, tmp_path) as s:
        yield s


def jpeg_with_exif() -> bytes:
    """A JPEG carrying EXIF (a camera model and a GPS block), as a phone's photo does."""
    im = Image.new("RGB", (64, 48), (200, 120, 30))
    exif = Image.Exif()
    exif[0x0110] = "Secret Camera 3000"  # Model
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    im.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def put_profile(stack, headers, *, avatar: bytes | None = None, **fields):
    data = {"name": "Ada Lovetone", "bio": "Songs at sunrise.\nRecorded the same morning.",
            "links": json.dumps([{"label": "Website", "url": "https://ada.example/"}]), **fields}
    files = {"avatar": ("me.jpg", avatar, "image/jpeg")} if avatar is not None else None
    return stack.client.put("/api/artists/me/profile", data=data, files=files, headers=headers)


def list_uploaded(stack, headers, artist: str, title: str, price: int = MILLI) -> int:
    r = upload(stack, headers, wav_bytes(2.0, 330.0 + len(title) * 7), name=f"{title}.wav", title=title,
               price=str(price))
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], artist)
    send(stack, r.json()["register_call"], artist)
    return stack.world.market.contract.functions.trackCount().call()


def test_a_profile_names_the_artist_everywhere_and_its_page_shows_the_ledger(stack):
    w, m = stack.world, stack.world.market
    artist, fan, fan2 = w.accounts[ARTIST].lower(), w.accounts[FAN], w.accounts[FAN2]
    h = stack.login(ARTIST)

    # No profile, no listing: a page all the same, with nothing on it.
    empty = stack.client.get(f"/api/artists/{artist}").json()
    assert empty == {"address": artist, "name": None, "bio": "", "links": [], "avatar_url": None, "profile_cid": None,
                     "updated_at": None, "supporters": 0, "paid": [], "audit_url": f"#/ledger/artist/{artist}"}
    assert stack.client.get("/api/artists/0x123").status_code == 404

    # A genuine listing names the artist by its metadata ("The Testers"), until a profile does.
    track = list_uploaded(stack, h, w.accounts[ARTIST], "Night Drive")
    m.buy(track, MILLI, fan)
    m.buy(track, MILLI, fan)
    m.buy(track, 2 * MILLI, fan2)
    m.distribute(m.track_split(track), ETH, w.accounts[ARTIST])
    stack.sync()
    page = stack.client.get(f"/api/artists/{artist}").json()
    assert page["name"] == "The Testers" and page["supporters"] == 2 and page["profile_cid"] is None
    summary = stack.client.get(f"/api/ledger/artists/{artist}").json()
    (eth,) = summary["tokens"]
    # What the page says it was paid is the ledger summary's own figure (net of the fee).
    assert page["paid"] == [{"token": ETH, "amount": eth["credited"]}] and 0 < int(eth["credited"]) < 4 * MILLI
    assert stack.client.get("/api/tracks", params={"q": "lovetone"}).json()["items"] == []

    # The wallet saves a profile with a phone photo as its avatar.
    photo = jpeg_with_exif()
    # Its bio typed in a browser's textarea: line breaks arrive as CRLF and are kept as one.
    r = put_profile(stack, h, avatar=photo, bio="Songs at sunrise.\r\nRecorded the same morning.")
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["name"] == "Ada Lovetone" and saved["bio"] == "Songs at sunrise.\nRecorded the same morning."
    assert saved["links"] == [{"label": "Website", "url": "https://ada.example/"}]
    assert saved["supporters"] == 2 and saved["paid"] == page["paid"]
    assert stack.client.get(f"/api/artists/{artist}").json() == saved

    # The avatar: re-encoded without its EXIF, served with a URL that changes with it.
    assert saved["avatar_url"].startswith(f"/api/artists/{artist}/avatar?v=")
    got = stack.client.get(saved["avatar_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert "immutable" in got.headers["cache-control"]
    assert got.content != photo and b"Secret Camera" not in got.content
    assert not Image.open(io.BytesIO(got.content)).getexif()
    # Without the version (or with an old one) it must be revalidated, never cached for good.
    assert "immutable" not in stack.client.get(f"/api/artists/{artist}/avatar").headers["cache-control"]

    # The profile JSON on IPFS says the same.
    ipfs = Ipfs(stack.settings.ipfs_api)
    doc = json.loads(ipfs.cat(saved["profile_cid"]))
    avatar_cid = saved["avatar_url"].split("?v=")[1]
    assert doc == {"version": 1, "address": artist, "name": "Ada Lovetone", "bio": saved["bio"],
                   "links": saved["links"], "avatar": avatar_cid, "updated_at": saved["updated_at"]}
    assert ipfs.cat(avatar_cid) == got.content

    # The profile's name is the display name wherever one is shown.
    assert stack.client.get("/api/names", params={"address": [artist.upper().replace("0X", "0x"), fan]}).json() == \
        {"names": {artist: "Ada Lovetone", fan.lower(): None}}
    (sale, *_) = stack.client.get("/api/ledger/sales", params={"artist": artist}).json()["items"]
    assert sale["artist_name"] == "Ada Lovetone"
    assert "artist_name" not in stack.client.get("/api/ledger/sales", params={"format": "csv"}).text.splitlines()[0]
    assert [t["track_id"] for t in stack.client.get("/api/tracks", params={"q": "lovetone"}).json()["items"]] == [track]

    # A second edit without an avatar keeps it; removing it unpins it.
    r = put_profile(stack, h, name="Ada L.", bio="", links="[]")
    assert r.status_code == 200, r.text
    assert r.json()["avatar_url"] == saved["avatar_url"] and r.json()["links"] == [] and r.json()["bio"] == ""
    assert r.json()["updated_at"] > saved["updated_at"] and r.json()["profile_cid"] != saved["profile_cid"]
    assert saved["profile_cid"] not in ipfs.pins()  # the profile it replaced is not kept pinned
    # 2000 characters once the breaks are counted once: in bounds; one more is not.
    assert put_profile(stack, h, bio="b\r\n" * 1000).status_code == 200
    r = put_profile(stack, h, bio="b\r\n" * 1000 + "b")
    assert r.status_code == 422 and "bio is longer than 2000" in r.json()["detail"]
    r = put_profile(stack, h, remove_avatar="1")
    assert r.status_code == 200 and r.json()["avatar_url"] is None
    assert stack.client.get(f"/api/artists/{artist}/avatar").status_code == 404
    assert avatar_cid not in ipfs.pins()
    assert json.loads(ipfs.cat(r.json()["profile_cid"]))["avatar"] is None


def test_a_copy_listed_by_another_wallet_names_nobody(stack):
    """The fallback name is the newest GENUINE listing's: metadata another wallet pinned
    (naming a famous artist, say) does not name the wallet that listed it, and a newer
    genuine listing renames its own artist."""
    w, m, ipfs = stack.world, stack.world.market, stack.services.ipfs
    artist, other = w.accounts[ARTIST], w.accounts[OTHER]
    split = m.create_split([(other, 1_000_000)], other)
    # Metadata claiming another uploader: never genuine for `other`.
    fake = track_metadata("Famous Song", artist, 1)
    fake["properties"]["artist"] = "Famous Artist"
    cid = pin(ipfs, fake)
    m.register(cid, split, ETH, MILLI, other, w.attest(cid, other, split))
    own_split = m.create_split([(artist, 1_000_000)], artist)
    for n, name in ((2, "Old Name"), (3, "New Name")):
        doc = track_metadata(f"Song {n}", artist, n)
        doc["properties"]["artist"] = name
        cid = pin(ipfs, doc)
        m.register(cid, own_split, ETH, MILLI, artist, w.attest(cid, artist, own_split))
    stack.sync()
    names = stack.client.get("/api/names", params={"address": [other, artist]}).json()["names"]
    assert names == {other.lower(): None, artist.lower(): "New Name"}
    assert stack.client.get(f"/api/artists/{other}").json()["name"] is None


def test_names_are_batched_and_bounded(stack):
    w = stack.world
    many = [f"0x{i:040x}" for i in range(1, 101)]
    r = stack.client.get("/api/names", params={"address": many})
    assert r.status_code == 200 and r.json()["names"] == dict.fromkeys(many)
    assert stack.client.get("/api/names", params={"address": [*many, w.accounts[1]]}).status_code == 422
    assert stack.client.get("/api/names", params={"address": ["0x12"]}).status_code == 422
    assert stack.client.get("/api/names").status_code == 422
    profile = SQLModel.metadata.tables["artist_profile"]
    with stack.services.engine.connect() as conn:
        assert conn.execute(select(profile.c.address)).all() == []
