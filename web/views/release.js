// Releases (albums, EPs, singles): a release's page (artwork, its tracks with previews, its
// price beside the tracks bought one by one, Buy, then the zip and each track), the
// store's release cards and the track page's "On releases" line.
import { ethers } from "../vendor/ethers.min.js";
import { api } from "../api.js";
import { add, h, main, money, put, tokenInfo, when } from "../dom.js";
import { person, personWithAddress, resolveNames } from "../names.js";
import { buyListing } from "../purchase.js";
import { state } from "../state.js";
import { connect, needSession } from "../wallet.js";
import { downloadLink } from "./downloads.js";
import { listingEditor } from "./listing.js";

const TYPES = { album: "Album", ep: "EP", single: "Single" };
export const releaseType = (r) => TYPES[r.release_type] || "Release";
const artwork = (r) => `/api/releases/${r.release_id}/artwork`;
const count = (n) => `${n} ${n === 1 ? "track" : "tracks"}`;
const seconds = (s) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;

// What the tracks cost bought one by one, per token ("11 mUSDC", or "11 mUSDC + 0.002 ETH").
export const tracksSum = (r) => Object.entries(r.tracks_price_sum || {})
  .map(([token, sum]) => money(sum, token)).join(" + ");

// The saving when every track is in the release's token; null otherwise.
function saving(r) {
  const sums = Object.entries(r.tracks_price_sum || {});
  if (sums.length !== 1 || sums[0][0].toLowerCase() !== r.token.toLowerCase()) return null;
  const diff = BigInt(sums[0][1]) - BigInt(r.price);
  return diff > 0n ? money(diff, r.token) : null;
}

export function releaseCard(r) {
  const n = (r.tracks || []).length;
  return h("article", { class: "card release", "aria-label": r.title },
    h("img", { src: artwork(r), alt: `Artwork for ${r.title}`, loading: "lazy" }),
    h("div", { class: "kind" }, releaseType(r), n ? ` · ${count(n)}` : ""),
    h("h3", {}, h("a", { href: `#/release/${r.release_id}` }, r.title)),
    h("div", { class: "muted" }, person(r.artist), r.genre ? ` · ${r.genre}` : ""),
    h("div", {}, h("span", { class: "price" }, money(r.price, r.token)), " ",
      h("a", { class: "button", href: `#/release/${r.release_id}`, "aria-label": `Buy ${r.title}` }, "Buy")));
}

// The store's releases, newest first; nothing when there are none (or the server has none).
export async function releasesSection() {
  const page = await api("/api/releases?limit=12").catch(() => null);
  if (!page || !page.items.length) return null;
  await resolveNames(page.items.map((r) => r.artist));
  return h("section", { id: "releases", "aria-labelledby": "releases-h" },
    h("h2", { id: "releases-h" }, "Releases"), h("div", { class: "grid" }, page.items.map(releaseCard)),
    h("h2", {}, "Tracks"));
}

// The track page's line naming the releases that hold it.
export function releasesOn(t) {
  const list = t.releases || [];
  if (!list.length) return null;
  return h("p", { id: "on-releases" }, "On releases: ", list.map((r, i) => [i ? ", " : "",
    h("a", { href: `#/release/${r.release_id}` }, r.title || `Release ${r.release_id}`),
    ` (${money(r.price, r.token)}${r.available ? "" : ", not for sale"})`]));
}

export async function viewRelease(id) {
  const r = await api(`/api/releases/${id}`);
  await resolveNames([r.artist]);
  const info = tokenInfo(r.token);
  const bought = state.account ? await boughtBy(r.release_id, state.account) : false;
  const out = h("div", { "aria-live": "polite" });
  const amount = h("input", { id: "amount", type: "text", inputmode: "decimal",
    value: ethers.formatUnits(BigInt(r.price), info.decimals), "aria-describedby": "amount-help" });
  const buy = h("button", { type: "button", id: "buy", onclick: () => buyRelease(r, amount.value, out, buy) },
    `Buy the ${releaseType(r).toLowerCase()} for ${info.symbol}`);
  const save = saving(r);
  put(main,
    h("h1", {}, r.title),
    h("div", { class: "panel release-head" },
      h("img", { src: artwork(r), alt: `Artwork for ${r.title}`, width: 220, height: 220 }),
      h("div", {},
        h("p", { class: "kind" }, releaseType(r), ` · ${count(r.tracks.length)}`),
        h("p", { id: "release-artist" }, "By ", h("strong", {}, personWithAddress(r.artist)), " · ",
          h("a", { href: `#/ledger/artist/${r.artist}` }, "paid so far, in the ledger")),
        h("p", { class: "muted", id: "release-facts" }, facts(r)),
        r.description ? h("p", {}, r.description) : null,
        h("p", {}, "Price: ", h("span", { class: "price", id: "release-price" }, money(r.price, r.token))),
        tracksSum(r) ? h("p", { class: "muted", id: "tracks-sum" }, `Tracks bought one by one: ${tracksSum(r)}`,
          save ? ` (the ${releaseType(r).toLowerCase()} saves ${save})` : "") : null)),
    trackList(r),
    h("section", { class: "panel", id: "release-buy", "aria-label": "Buy" },
      !r.available ? h("p", { class: "error", id: "unavailable" }, unavailable(r))
        : bought ? h("p", { class: "ok" }, "You bought this release.")
          : h("div", { id: "pay" }, h("label", { for: "amount" }, `Pay (${info.symbol})`), amount,
            h("p", { id: "amount-help", class: "muted" },
              "Pay what you want: the price or more. You get every track of the release, as files to download."),
            buy),
      out, bought ? downloads(r) : null,
      h("p", {}, h("a", { href: `#/ledger/track/${r.release_id}` }, "This release's sales in the ledger"))));
  // Its artist changes its price or takes it off sale here, as on a track's page.
  if (state.account && state.account.toLowerCase() === r.artist.toLowerCase()) {
    add(main, listingEditor({ track_id: r.release_id, price: r.price, token: r.token, listed: r.listed }, "release"));
  }
}

// On a track's page: the wallet owns the track through a release it bought.
export async function ownedThrough(t) {
  if (!state.account || t.blocked) return null;
  for (const r of t.releases || []) {
    if (await boughtBy(r.release_id, state.account)) {
      return h("p", { class: "ok", id: "owned-through" },
        `You own this track: it is on “${r.title || `release ${r.release_id}`}”, which you bought. `, downloadLink(t));
    }
  }
  return null;
}

const facts = (r) => [r.genre, `${r.sales} ${r.sales === 1 ? "sale" : "sales"}`].filter(Boolean).join(" · ");

// Why a release cannot be bought, in words: its own flags and tracks first (named by
// title), the API's reason for anything else.
function unavailable(r) {
  const names = (list) => list.map((t) => `“${t.title || `Track ${t.track_id}`}”`).join(", ");
  const down = r.tracks.filter((t) => t.blocked), gone = r.tracks.filter((t) => !t.genuine && !t.blocked);
  if (r.blocked) return "Not for sale: this release was taken down.";
  if (down.length) {
    return `Not for sale: its ${down.length === 1 ? "track" : "tracks"} ${names(down)} `
      + `${down.length === 1 ? "was" : "were"} taken down, and a release is sold only whole.`;
  }
  if (gone.length) return `Not for sale: this store can no longer deliver ${names(gone)}.`;
  if (!r.listed) return "Not for sale: its artist took it off sale.";
  return `Not for sale: ${(r.unavailable_reason || "not available right now").replace(/\.$/, "")}.`;
}

function trackList(r) {
  return h("section", { class: "panel", "aria-labelledby": "tracklist-h" },
    h("h2", { id: "tracklist-h" }, "Tracks"),
    h("ol", { class: "tracklist", id: "tracklist" }, r.tracks.map((t) => {
      const title = t.title || `Track ${t.track_id}`;
      const trouble = t.blocked ? "taken down" : t.genuine === false ? "not available" : null;
      return h("li", { "data-track": t.track_id },
        h("div", { class: "row" }, h("a", { href: `#/track/${t.track_id}` }, title),
          t.duration ? h("span", { class: "muted" }, ` ${seconds(t.duration)}`) : null,
          trouble ? h("span", { class: "error" }, ` · ${trouble}`)
            : h("span", { class: "muted" },
              t.listed ? ` · ${money(t.price, t.token)} on its own` : " · only on releases")),
        t.preview_url && !trouble ? h("audio", { controls: true, preload: "none", src: t.preview_url,
          "aria-label": `Preview of ${title}` }) : null);
    })));
}

// Whether this wallet bought the release (the ledger's sales by buyer and listing).
async function boughtBy(id, account) {
  const sales = await api(`/api/ledger/sales?buyer=${account}&track=${id}&limit=1`).catch(() => null);
  return !!sales?.items?.length;
}

async function buyRelease(r, amountText, out, button) {
  const info = tokenInfo(r.token);
  let amount;
  try { amount = ethers.parseUnits(amountText.trim(), info.decimals); } catch {
    put(out, h("p", { class: "error" }, `Enter an amount in ${info.symbol}, like 9.5.`));
    return;
  }
  if (amount < BigInt(r.price)) {
    put(out, h("p", { class: "error" }, `The price is ${money(r.price, r.token)}; pay that or more.`));
    return;
  }
  if (!state.account) {
    if (!(await connect())) return;
    // The page was drawn before the wallet was known: do not sell it twice to the same wallet by accident.
    if (await boughtBy(r.release_id, state.account)) {
      document.getElementById("pay").hidden = true;
      put(out, h("p", { class: "ok", id: "bought" }, "This wallet already bought this release:"), downloads(r));
      return;
    }
  }
  await buyListing(r.release_id, r.token, amount, out, button, (o) => {
    document.getElementById("pay").hidden = true;
    r.sales += 1;
    document.getElementById("release-facts").textContent = facts(r);
    add(o, h("p", { class: "ok", id: "bought" }, "Bought. Download the whole release or any of its tracks:"),
      downloads(r));
  });
}

// The zip of every track, and each track on its own (a buyer of the release may download them).
function downloads(r) {
  const zip = h("button", { type: "button", class: "download", id: "download-zip", onclick: async () => {
    if (!(await needSession())) return;
    // Through a link so the browser streams the file to disk; the session cookie gates it.
    const a = h("a", { href: `/api/releases/${r.release_id}/download`, download: "" });
    document.body.append(a); a.click(); a.remove();
  } }, `Download ${r.title} (zip)`);
  const one = (t) => {
    const b = downloadLink({ track_id: t.track_id, title: t.title || `Track ${t.track_id}` });
    b.classList.add("secondary");
    return b;
  };
  return h("div", { class: "downloads", id: "release-downloads" }, h("div", { class: "actions" }, zip),
    h("p", { class: "muted" }, "Or one track at a time:"),
    h("div", { class: "actions" }, r.tracks.filter((t) => !t.blocked).map(one)));
}

// What a purchase cost and when (the time is kept on one line).
export const paidOn = (s) =>
  h("div", {}, `Paid ${money(s.amount, s.token)} on `, h("span", { class: "nowrap" }, when(s.block_time)));

// A release in "My purchases": what was paid, when, and its downloads.
export async function purchasedRelease(s) {
  const r = await api(`/api/releases/${s.track_id}`).catch(() => null);
  if (!r) return null;
  return h("article", { class: "card release" },
    h("img", { src: artwork(r), alt: `Artwork for ${r.title}` }),
    h("div", { class: "kind" }, releaseType(r), ` · ${count(r.tracks.length)}`),
    h("h3", {}, h("a", { href: `#/release/${r.release_id}` }, r.title)), h("div", { class: "muted" }, person(r.artist)),
    paidOn(s), downloads(r));
}
