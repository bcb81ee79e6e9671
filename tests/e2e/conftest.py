"""The real stack behind the browser tests: `ninety serve` and `ninety index` as processes
over a fresh world on the shared Anvil, with the IPFS node, and one headless Chromium. Both
are module-scoped: the tests of one file run in order on one world (some build on what an
earlier one did), and each file starts from a fresh one."""
from __future__ import annotations

import re

import pytest

from ninety.attest import CatalogSigner
from ninety.cli.services import api_service, indexer_service
from ninety.cli.supervisor import Supervisor
from tests.support.activity import new_world
from tests.support.browser import CHROMIUM, SHOTS


@pytest.fixture(scope="module")
def web(anvil, ipfs_node, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    from ninety.ipfs import Ipfs

    with Ipfs(ipfs_node.url) as ipfs:  # the API reads the committed pool rules from IPFS
        world = new_world(anvil.url, pin=ipfs.add_bytes)
    db = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    env = {"NINETY_DATA_DIR": str(tmp), "NINETY_RPC_URL": anvil.url, "NINETY_IPFS_API": ipfs_node.url,
           "NINETY_DB_URL": db, "NINETY_CONTRACT_ADDRESS": world.market.address,
           "NINETY_START_BLOCK": str(world.deploy_block), "NINETY_POLL_INTERVAL": "0.2",
           # Every wallet of these tests signs in from 127.0.0.1: more than a person would in
           # a minute (the limit itself is tested in tests/security/test_http_ratelimits.py).
           "NINETY_RATE_LIMIT_SIGNIN": "600/minute",
           # A download in another format answers 503 "making" at once while its file is made,
           # as a long track's does with the default wait: the web app must ask again itself.
           "NINETY_TRANSCODE_WAIT": "0"}
    from ninety.db import ensure_schema, make_engine

    ensure_schema(make_engine(db))
    with Supervisor(tmp) as sup:
        sup.start(indexer_service(tmp, env, db, world.market.address, world.w3.eth.block_number))
        api = sup.start(api_service(tmp, env, port=None))
        # Listings need this API's attestations, as after `ninety deploy`.
        world.require_attestations(CatalogSigner.load(None, tmp))
        yield world, api.url, env, tmp / "ledger.sqlite3"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


# What a person must never read on a page: a raw URL (a link's text should be words), a value
# the code failed to fill ("undefined", "NaN", "[object Object]"), or the commas an array left
# when it was turned into text instead of into elements (",," / a line or cell starting with
# "," / " ,"). Checked on every screenshot, so a view that regresses fails the test that shows it.
TEXT_FLAWS = [
    (re.compile(r"https?://", re.I), "a raw URL"),
    (re.compile(r"\bundefined\b"), '"undefined"'),
    (re.compile(r"\bNaN\b"), '"NaN"'),
    (re.compile(r"\[object"), '"[object"'),
    (re.compile(r",\s*,"), 'stray ",,"'),
    (re.compile(r"(^|[\n\t])[ \t]*,", re.M), "a line or cell starting with a comma"),
    (re.compile(r" ,"), 'a space before a comma'),
]


def text_flaws(text: str) -> list[str]:
    """Each flaw in a page's visible text, with the line it is on."""
    found = []
    for pattern, what in TEXT_FLAWS:
        for m in pattern.finditer(text):
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            found.append(f"{what}: {text[start:end if end >= 0 else None].strip()[:160]!r}")
    return found


@pytest.fixture(autouse=True)
def screenshot_text_check(monkeypatch):
    """Every Page.screenshot of an e2e test also reads the page's visible text
    (document.body.innerText) and fails on a flaw above; the PNG is saved first, to look at."""
    from playwright.sync_api import Page

    taken = Page.screenshot

    def screenshot(self, *args, **kwargs):
        png = taken(self, *args, **kwargs)
        flaws = text_flaws(self.locator("body").inner_text())  # document.body.innerText
        assert not flaws, f"{kwargs.get('path', 'screenshot')} shows:\n" + "\n".join(flaws)
        return png

    monkeypatch.setattr(Page, "screenshot", screenshot)
