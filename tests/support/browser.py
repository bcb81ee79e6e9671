"""The browser side of the e2e tests: where Chromium is, where screenshots go, and a page
whose wallet is an injected EIP-1193 provider that forwards every request to Anvil (whose
dev accounts are unlocked, so `personal_sign` and `eth_sendTransaction` are signed by the
node)."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import requests

from ninety.paths import ROOT


CHROMIUM = os.environ.get("NINETY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-output" / "e2e"
# CI sets NINETY_REQUIRE_BROWSER: there a missing browser is a failure, not a skip.
if not CHROMIUM and os.environ.get("NINETY_REQUIRE_BROWSER"):
    raise RuntimeError("Chromium is required (NINETY_REQUIRE_BROWSER) but not installed")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="Debian Chromium is not installed (apt-get install -y chromium; .ci/run does)")


PROVIDER = """
(() => {
  const rpc = %(rpc)s, account = %(account)s, chainId = %(chain)s, refuse = %(refuse)s, lacks = %(lacks)s;
  // Like a real wallet: no accounts until the site asks, then remembered across reloads.
  let id = 0, authorised = sessionStorage.getItem("test-wallet-authorised") === "1";
  const provider = {
    isNinetyTestWallet: true,
    async request({ method, params }) {
      if (method === "eth_requestAccounts") { authorised = true; sessionStorage.setItem("test-wallet-authorised", "1"); return [account]; }
      if (method === "eth_accounts") return authorised ? [account] : [];
      if (method === "eth_chainId") return chainId;
      if (refuse.includes(method)) { const e = new Error("User rejected the request."); e.code = 4001; throw e; }
      if (lacks.includes(method)) { const e = new Error(`The method ${method} is not supported.`); e.code = 4200; throw e; }
      // Like a wallet extension, it reaches the node from outside the page (whose CSP
      // allows only the site's own origin): through a function the test exposes.
      const body = JSON.parse(await window.ninetyTestWalletRpc(rpc,
        JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params || [] })));
      if (body.error) { const e = new Error(body.error.message); e.code = body.error.code; e.data = body.error.data; throw e; }
      return body.result;
    },
    on() {}, removeListener() {},
  };
  const info = { uuid: "00000000-0000-4000-8000-000000000001", name: "Test wallet", icon: "data:,", rdns: "test.ninety" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


def page_as(browser, web, account: str, *, chain: int = 31337, refuse: tuple[str, ...] = (), lacks: tuple[str, ...] = (),
            width: int = 1100):
    """A page whose wallet is `account`; it refuses the methods in `refuse` as a person
    declining would (4001) and answers those in `lacks` as a wallet without them (4200)."""
    world, url = web[:2]
    context = browser.new_context(base_url=url, accept_downloads=True, viewport={"width": width, "height": 900})
    calls: list[str] = []  # what the wallet forwarded to the node, in order (when it opened)

    def forward(rpc: str, payload: str) -> str:
        calls.append(json.loads(payload)["method"])
        return requests.post(rpc, data=payload, headers={"Content-Type": "application/json"}, timeout=60).text

    context.expose_function("ninetyTestWalletRpc", forward)
    context.add_init_script(PROVIDER % {"rpc": json.dumps(world.w3.provider.endpoint_uri), "account": json.dumps(account),
                                        "chain": json.dumps(hex(chain)), "refuse": json.dumps(list(refuse)),
                                        "lacks": json.dumps(list(lacks))})
    page = context.new_page()
    page.errors = []
    page.wallet_calls = calls
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.set_default_timeout(30_000)
    return page


def sign_in(page) -> None:
    page.get_by_role("button", name="Connect wallet").click()
    page.locator("#signin").click()
    page.get_by_text("(signed in)").wait_for()


def change_split_rows(page) -> dict[str, int]:
    """The change-split form's rows: payee address (lowercase) -> row index."""
    payees = page.get_by_label("New payee address")
    return {payees.nth(i).input_value().lower(): i for i in range(payees.count())}
