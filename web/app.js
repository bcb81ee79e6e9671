// Ninety's web app: the store (fans), the studio (artists) and the ledger explorer
// (auditors). Plain ES modules, no build step: ethers is copied from npm into
// web/vendor by `make build`. Wallets are EIP-1193 providers, found by EIP-6963
// discovery or as window.ethereum.
//
// This module starts the app and routes #/… to a view. Modules import downward only:
//   app.js → views/*.js → purchase.js → wallet.js → api.js → dom.js → state.js (and vendor/ethers)
// (splits.js → names.js → api.js: names of the addresses a view shows, in one batch per render)
// state.js, dom.js, api.js, wallet.js, purchase.js, names.js and splits.js know no view; a view may use another
// view's parts (the studio shows the track page's Accept), never the router.
import { ethers } from "./vendor/ethers.min.js";
import { api, explain, ApiError } from "./api.js";
import { h, main, put } from "./dom.js";
import { forgetNames } from "./names.js";
import { setRouter, state } from "./state.js";
import { connect, pickProvider, refreshStatus, renderWallet, signIn } from "./wallet.js";
import { viewArtist } from "./views/artist.js";
import { viewFan } from "./views/fan.js";
import { viewArtistLedger, viewLedger, viewProof, viewTrackLedger } from "./views/ledger.js";
import { viewPools } from "./views/pools.js";
import { viewRelease } from "./views/release.js";
import { viewNewRelease } from "./views/release-form.js";
import { viewPurchases, viewStore, viewTrack } from "./views/store.js";
import { viewStudio } from "./views/studio.js";

// One view renders at a time: a view awaits the API between writes to the page, so two
// overlapping renders (the first load and a wallet connecting, say) would interleave their
// parts. A route asked for while one runs renders once more after it, with the latest state.
let routing = null, routeAgain = false;
function route() {
  if (routing) { routeAgain = true; return routing; }
  routing = (async () => {
    try { do { routeAgain = false; await render(); } while (routeAgain); } finally { routing = null; }
  })();
  return routing;
}
setRouter(route);

async function render() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", a.getAttribute("href") === "#/" + (parts[0] || ""));
  }
  for (const a of document.querySelectorAll("nav a[aria-current]")) a.setAttribute("aria-current", "page");
  try {
    if (!state.status) await refreshStatus();
    if (!state.status) throw new ApiError(0, "The Ninety server is not reachable. Is it running?");
    forgetNames();
    if (parts[0] === "track") await viewTrack(parts[1]);
    else if (parts[0] === "artist") await viewArtist(parts[1]);
    else if (parts[0] === "fan") await viewFan(parts[1]);
    else if (parts[0] === "release") await viewRelease(parts[1]);
    else if (parts[0] === "studio" && parts[1] === "release") await viewNewRelease();
    else if (parts[0] === "purchases") await viewPurchases();
    else if (parts[0] === "studio") await viewStudio();
    else if (parts[0] === "ledger" && parts[1] === "artist") await viewArtistLedger(parts[2]);
    else if (parts[0] === "ledger" && parts[1] === "track") await viewTrackLedger(parts[2]);
    else if (parts[0] === "ledger") await viewLedger(params);
    else if (parts[0] === "proof") await viewProof(parts[1], parts[2]);
    else if (parts[0] === "pools") await viewPools();
    else await viewStore(params);
  } catch (e) {
    put(main, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, explain(e)),
      h("p", {}, h("a", { href: "#/" }, "Back to the store")));
  }
}

async function start() {
  // Connecting from the header shows the page again as this wallet sees it (the artist's
  // editors on their track page, a payee's Accept button).
  document.getElementById("connect").addEventListener("click", async () => { if (await connect()) route(); });
  document.getElementById("signin").addEventListener("click", signIn);
  try {
    state.contract = await api("/api/contract");
    state.iface = new ethers.Interface(state.contract.abi);
  } catch (e) { /* shown by the status banner */ }
  window.addEventListener("hashchange", route);
  await refreshStatus();
  setInterval(refreshStatus, 5000);
  // Reconnect silently if the wallet already authorised this site (unless the person already
  // connected by hand while the app started: connecting again would only redraw their page).
  const provider = pickProvider();
  if (provider && !state.account) {
    try {
      const accounts = await provider.request({ method: "eth_accounts" });
      if (accounts.length) await connect();
    } catch { /* the user connects by hand */ }
  }
  renderWallet();
  await route();
}

start();
