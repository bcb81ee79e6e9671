"""A release's whole path on real components: two tracks uploaded and listed, a release of
them posted, attested and registered from the artist's wallet, indexed, shown in order,
bought, and downloaded: a member alone and the zip of both, byte for byte the originals."""
from __future__ import annotations

import io
import json
import zipfile

from PIL import Image

from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support.media import wav_bytes
from tests.support.releases import register, release_form
from tests.support.stack import send, upload

ARTIST, FAN, OTHER = 1, 2, 3
MILLI = 10**15


def _list_track(stack, headers, artist: str, audio: bytes, title: str, price: int) -> int:
    r = upload(stack, headers, audio, name=f"{title.lower().replace(' ', '-')}.wav", title=title, price=str(price))
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], artist)
    send(stack, r.json()["register_call"], artist)
    return stack.world.market.contract.functions.trackCount().call()


def _post_json(stack):
    return lambda path, body, headers: stack.client.post(path, json=body, headers=headers)


def test_release_upload_register_buy_and_download(stack):
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    fan, _ = dev_account(DEV_MNEMONIC, FAN)
    h, fan_h = stack.login(ARTIST), stack.login(FAN)
    first, second = wav_bytes(2.0, 310.0), wav_bytes(3.0, 520.0)
    t1 = _list_track(stack, h, artist, first, "Song One", MILLI)
    t2 = _list_track(stack, h, artist, second, "Song Two", 2 * MILLI)
    stack.sync()

    # The release names its tracks in its own order: Song Two first.
    order = [t2, t1]
    data, files = release_form(order)
    r = stack.client.post("/api/releases", data=data, files=files, headers=h)
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["track_ids"] == order
    assert up["suggested_split"] == [{"address": artist.lower(), "share_ppm": 1_000_000}]
    assert (up["suggested_token"], up["suggested_price"]) == (ETH, str(3 * MILLI))  # the tracks bought one by one
    meta = json.loads(Ipfs(stack.settings.ipfs_api).cat(up["metadata_cid"]))
    assert meta["image"] == f"ipfs://{up['artwork_cid']}" and meta["name"] == "Night Shift"
    assert meta["properties"] == {"kind": "release", "release_type": "ep", "title": "Night Shift",
                                  "artist": "The Testers", "genre": "synthwave", "artwork_cid": up["artwork_cid"],
                                  "tracks": order, "uploaded_by": artist.lower()}
    # Only the uploading wallet gets an attestation for it.
    other = stack.client.post(f"/api/uploads/{up['metadata_cid']}/attestation", headers=stack.login(OTHER),
                              json={"split": [{"address": artist, "share_ppm": 1_000_000}]})
    assert other.status_code == 404

    rid = register(stack.world, _post_json(stack), h, up["metadata_cid"], artist, order, price=25 * MILLI // 10)
    stack.sync()

    rel = stack.client.get(f"/api/releases/{rid}").json()
    assert [(t["track_id"], t["position"], t["title"]) for t in rel["tracks"]] == [(t2, 0, "Song Two"),
                                                                                 (t1, 1, "Song One")]
    assert rel["tracks_price_sum"] == {ETH: str(3 * MILLI)} and rel["price"] == str(25 * MILLI // 10)
    assert rel["available"] is True and rel["unavailable_reason"] is None and rel["genuine"] is True
    assert (rel["title"], rel["release_type"], rel["description"]) == ("Night Shift", "ep", "Two tracks after dark")
    assert rel["tracks"][0]["preview_url"] == f"/api/tracks/{t2}/preview"
    assert [x["release_id"] for x in stack.client.get("/api/releases").json()["items"]] == [rid]
    assert [x["release_id"] for x in stack.client.get("/api/releases", params={"artist": fan}).json()["items"]] == []
    # Releases are never tracks, and tracks never releases: each 404 points to the other.
    assert sorted(t["track_id"] for t in stack.client.get("/api/tracks").json()["items"]) == [t1, t2]
    as_track = stack.client.get(f"/api/tracks/{rid}")
    assert as_track.status_code == 404 and f"/api/releases/{rid}" in as_track.json()["detail"]
    assert stack.client.get(f"/api/tracks/{rid}/preview").status_code == 404
    as_release = stack.client.get(f"/api/releases/{t1}")
    assert as_release.status_code == 404 and f"/api/tracks/{t1}" in as_release.json()["detail"]
    assert stack.client.get("/api/releases/999").status_code == 404
    page = stack.client.get(f"/api/tracks/{t1}").json()
    assert page["releases"] == [{"release_id": rid, "title": "Night Shift", "price": str(25 * MILLI // 10),
                                 "token": ETH, "available": True}]
    art = stack.client.get(f"/api/releases/{rid}/artwork")
    assert art.status_code == 200 and art.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(art.content)).convert("RGB").getpixel((0, 0)) == (10, 120, 200)

    zip_url = f"/api/releases/{rid}/download"
    assert stack.client.get(zip_url).status_code == 401
    assert stack.client.get(zip_url, headers=fan_h).status_code == 403
    assert stack.client.get(f"/api/tracks/{t1}/download", headers=fan_h).status_code == 403

    stack.world.market.buy(rid, 25 * MILLI // 10, fan)
    stack.sync()
    assert stack.client.get(f"/api/releases/{rid}").json()["sales"] == 1
    got = stack.client.get(f"/api/tracks/{t1}/download", headers=fan_h)
    assert got.status_code == 200 and got.content == first
    z = stack.client.get(zip_url, headers=fan_h)
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    assert z.headers["content-disposition"] == 'attachment; filename="The Testers - Night Shift.zip"'
    archive = zipfile.ZipFile(io.BytesIO(z.content))
    assert archive.namelist() == ["01 - Song Two.wav", "02 - Song One.wav"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    for name, tid in zip(archive.namelist(), order):
        single = stack.client.get(f"/api/tracks/{tid}/download", headers=fan_h).content
        assert archive.read(name) == single
    assert archive.read("01 - Song Two.wav") == second
    # Another wallet still bought nothing.
    assert stack.client.get(zip_url, headers=stack.login(OTHER)).status_code == 403

    paths = stack.client.get("/openapi.json").json()["paths"]
    assert {"/api/releases", "/api/releases/{release_id}", "/api/releases/{release_id}/artwork",
            "/api/releases/{release_id}/download"} <= set(paths)
    assert "post" in paths["/api/releases"] and "get" in paths["/api/releases"]


def test_release_catalog_pages_skip_unavailable_releases(stack):
    """Newest first, keyset pages; a release whose track was taken down leaves the store
    while its page says why."""
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    h = stack.login(ARTIST)
    tracks = [_list_track(stack, h, artist, wav_bytes(1.5, 200.0 + 40 * i), f"Cut {i}", MILLI) for i in range(4)]
    stack.sync()
    releases = []
    for i, tid in enumerate(tracks):
        data, files = release_form([tid], title=f"Single {i}", release_type="single")
        r = stack.client.post("/api/releases", data=data, files=files, headers=h)
        assert r.status_code == 201, r.text
        releases.append(register(stack.world, _post_json(stack), h, r.json()["metadata_cid"], artist, [tid], MILLI))
    world = stack.world
    world.market.block_track(tracks[1], "bafkreitakedownreason", world.owner)
    stack.sync()

    def all_pages(limit: int) -> list[int]:
        seen, cursor = [], None
        while True:
            page = stack.client.get("/api/releases", params={"limit": limit, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            seen += [x["release_id"] for x in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                return seen

    expected = [releases[3], releases[2], releases[0]]
    assert all_pages(1) == all_pages(2) == all_pages(50) == expected
    studio = stack.client.get("/api/releases", params={"artist": artist, "include_unavailable": "true"}).json()
    assert [x["release_id"] for x in studio["items"]] == releases[::-1]
    blocked = stack.client.get(f"/api/releases/{releases[1]}").json()
    assert blocked["available"] is False and "taken down" in blocked["unavailable_reason"]
    assert blocked["tracks"][0]["blocked"] is True
    assert stack.client.get("/api/releases", params={"cursor": "garbage"}).status_code == 422


def test_unregistered_release_uploads_expire_and_a_shared_cover_stays_pinned(stack):
    from sqlalchemy import update

    from backend import quotas
    from backend.models import ReleaseUpload
    from tests.support.media import png_bytes

    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    h = stack.login(ARTIST)
    r = upload(stack, h, wav_bytes(1.5, 730.0), title="Cover Song")
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], artist)
    send(stack, r.json()["register_call"], artist)
    tid = stack.world.market.contract.functions.trackCount().call()
    stack.sync()
    cids = {}
    for title in ("Kept", "Dropped"):
        data, files = release_form([tid], artwork=png_bytes(), title=title)
        posted = stack.client.post("/api/releases", data=data, files=files, headers=h)
        assert posted.status_code == 201, posted.text
        cids[title] = posted.json()["metadata_cid"]
        assert posted.json()["artwork_cid"] == r.json()["artwork_cid"]  # the same cover, cleaned alike
    register(stack.world, _post_json(stack), h, cids["Kept"], artist, [tid], MILLI)
    stack.indexer.run(once=True)
    services, ttl = stack.services, 100.0
    rpc = services.rpc
    tb = int(rpc.headers([rpc.block_number()])[0]["timestamp"], 16)
    with services.engine.begin() as conn:
        conn.execute(update(ReleaseUpload.__table__).values(created_at=tb - ttl - 50))
    gone = quotas.collect_expired_uploads(services.engine, services.ipfs, rpc, stack.world.market.address, ttl,
                                          now=tb + 10**6)
    assert gone == [cids["Dropped"]]
    pins = services.ipfs.pins()
    assert cids["Dropped"] not in pins and cids["Kept"] in pins and r.json()["artwork_cid"] in pins
    missing = stack.client.post(f"/api/uploads/{cids['Dropped']}/attestation", headers=h,
                                json={"split": [{"address": artist, "share_ppm": 1_000_000}]})
    assert missing.status_code == 404
