"""JSON nested past the parser's stack (`[[[…]]]`, a few KB, under every size cap) sent to
every place the API parses JSON a client wrote: a JSON body, the upload form's `split`, the
release form's `track_ids`. Python's json raises RecursionError there, which is no
ValueError: each must still be a 4xx saying what is wrong, never a 500 (the real API,
`ninety serve`)."""
from __future__ import annotations

import httpx

from tests.support.listings import MALLORY
from tests.support.media import wav_bytes
from tests.support.releases import release_form
from tests.support.siwe import PUBLIC_URL

DEEP = "[" * 3_000  # deeper than the parser's limit, shorter than every field's cap


def test_deep_json_bodies_and_form_fields_are_client_errors(live_api):
    api = live_api()
    headers = api.login(MALLORY)
    body = httpx.post(f"{api.url}/api/uploads/bafkreinothing/attestation", content=DEEP.encode(),
                      headers={**headers, "content-type": "application/json", "Origin": PUBLIC_URL}, timeout=30)
    assert 400 <= body.status_code < 500, body.text
    upload = api.upload(headers, wav_bytes(1.0, 440.0), split=DEEP)
    assert upload.status_code == 422 and "split must be JSON" in upload.json()["detail"], upload.text
    data, files = release_form(DEEP)
    release = httpx.post(f"{api.url}/api/releases", data=data, files=files, headers={**headers, "Origin": PUBLIC_URL},
                         timeout=30)
    assert release.status_code == 422 and "track_ids" in release.json()["detail"], release.text
