// The store, for fans: the catalog, a track's page (listen, buy, download, who is paid),
// the artist's listing editor on their own track, and the wallet's purchases.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain } from "../api.js";
import { add, h, main, money, put, tokenInfo } from "../dom.js";
import { person, personWithAddress, resolveNames } from "../names.js";
import { ETH, route, state } from "../state.js";
import { buyListing } from "../purchase.js";
import { connect } from "../wallet.js";
import { downloadLink, freeDownload } from "./downloads.js";
import { listingEditor } from "./listing.js";
import { counterNoticeForm } from "./moderation.js";
import { ownedThrough, paidOn, purchasedRelease, releasesOn, releasesSection } from "./release.js";
import { splitPanel } from "./track-split.js";

export async function viewStore(params) {
  const q = params.get("q") || "", genre = params.get("genre") || "", sort = params.get("sort") || "newest";
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    location.hash = "#/?" + new URLSearchParams([...f].filter(([, v]) => v)).toString();
  } },
  h("div", {}, h("label", { for: "q" }, "Search"),
    h("input", { id: "q", name: "q", type: "search", value: q, placeholder: "title, artist, genre" })),
  h("div", {}, h("label", { for: "genre" }, "Genre"), h("input", { id: "genre", name: "genre", value: genre })),
  h("div", {}, h("label", { for: "sort" }, "Sort"), h("select", { id: "sort", name: "sort" },
    ["newest", "price", "sales"].map((s) => h("option", { value: s, selected: s === sort }, s)))),
  h("button", { type: "submit" }, "Search"));
  const grid = h("div", { class: "grid" });
  // Releases show above the tracks on the plain store page; a search lists tracks only.
  put(main, h("h1", {}, "Store"), form, q || genre ? null : await releasesSection(), grid);
  const qs = new URLSearchParams({ limit: "60", sort });
  if (q) qs.set("q", q);
  if (genre) qs.set("genre", genre);
  const page = await api("/api/tracks?" + qs);
  await resolveNames(page.items.map((t) => t.artist));
  if (!page.items.length) grid.replaceWith(h("p", {}, "No tracks match."));
  for (const t of page.items) grid.append(trackCard(t));
}

// A track in a grid (the store, an artist's page): names resolved by the caller.
export function trackCard(t) {
  const title = t.title || `Track ${t.track_id}`;
  return h("article", { class: "card", "aria-label": title },
    h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${title}`, loading: "lazy" }),
    h("h3", {}, h("a", { href: `#/track/${t.track_id}` }, title)),
    h("div", { class: "muted" }, person(t.artist), t.genre ? ` · ${t.genre}` : ""),
    h("audio", { controls: true, preload: "none", src: `/api/tracks/${t.track_id}/preview`,
      "aria-label": `Preview of ${title}` }),
    h("div", {}, h("span", { class: "price" }, isFree(t) ? "Free" : money(t.price, t.token)), " ",
      h("a", { class: "button", href: `#/track/${t.track_id}`, "aria-label": `${isFree(t) ? "Get" : "Buy"} ${title}` },
        isFree(t) ? "Get" : "Buy")));
}

// A free track (ETH, price 0) downloads for any signed-in wallet; each wallet's first
// download of it in an epoch counts toward the sponsor pools that pay its artists.
export const isFree = (t) => t.token === ETH && BigInt(t.price) === 0n;

export async function viewTrack(id) {
  const t = await api(`/api/tracks/${id}`);
  // The page is drawn as soon as the track and the artist's name are in; who is paid follows,
  // its payees' names in a second batch. A render queued behind this one (a wallet connected
  // while the page loaded) draws the page again, and the longer this one waits before drawing,
  // the more likely a person is already using the page it replaces.
  const splitsRead = api(`/api/ledger/tracks/${t.track_id}/splits`).catch((e) => ({ error: explain(e) }));
  const [owned] = await Promise.all([ownedThrough(t), resolveNames([t.artist])]);
  const info = tokenInfo(t.token);
  const title = t.title || `Track ${t.track_id}`;
  const amount = h("input", { id: "amount", type: "text", inputmode: "decimal",
    value: ethers.formatUnits(BigInt(t.price), info.decimals), "aria-describedby": "amount-help" });
  const out = h("div", { "aria-live": "polite" });
  const buy = h("button", { type: "button", id: "buy", onclick: () => buyTrack(t, amount.value, out, buy) },
    `Buy for ${info.symbol}`);
  put(main,
    h("h1", {}, title),
    h("div", { class: "panel" },
      h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${title}`, width: 220, height: 220 }),
      h("p", { id: "track-artist" }, "By ", h("strong", {}, personWithAddress(t.artist)), " · ",
        h("a", { href: `#/ledger/artist/${t.artist}` }, "paid so far, in the ledger")),
      h("p", { class: "muted", id: "track-facts" }, trackFacts(t)),
      h("audio", { controls: true, preload: "none", src: `/api/tracks/${t.track_id}/preview`,
        "aria-label": `Preview of ${title}` }),
      h("p", {}, "Price: ", h("span", { class: "price" }, isFree(t) ? "Free" : money(t.price, t.token))),
      releasesOn(t), owned,
      t.blocked ? takenDown(t) :
      isFree(t) && t.listed ? freeDownload(t) :
      owned ? null : // bought already, on a release: no second purchase offered
      t.listed ? [h("label", { for: "amount" }, `Pay (${info.symbol})`), amount,
        h("p", { id: "amount-help", class: "muted" },
          "Pay what you want: the price or more. The split sends it to the artist and collaborators."),
        buy] : h("p", { class: "error" }, "This track is not for sale right now."),
      out,
      t.pending_split_changes ? h("p", { class: "warn", id: "pending-note" },
        `A change of who is paid is waiting for consent (${t.pending_split_changes}): see below.`) : null,
      h("p", {}, h("a", { href: `#/ledger/track/${t.track_id}` }, "This track's sales in the ledger"))));
  const mine = state.account && state.account.toLowerCase() === t.artist.toLowerCase();
  const splits = await splitsRead;
  await resolveNames([...(splits.history || []), ...(splits.proposals || [])].flatMap((x) => x.recipients));
  add(main, mine ? listingEditor(t) : null, splitPanel(t, splits, mine));
}

// A taken-down track says so, with the public reason; its artist may answer with a counter-notice.
const takenDown = (t) => [
  h("p", { class: "error", id: "taken-down" }, "This track was taken down and cannot be bought or downloaded. "
    + `The public reason is at ipfs://${t.block_reason_cid}.`),
  state.account && state.account.toLowerCase() === t.artist
    ? counterNoticeForm({ track_id: t.track_id }, "It is your track: if the takedown is mistaken, tell the moderators.")
    : null];

const trackFacts = (t) =>
  [t.genre, t.duration ? `${t.duration.toFixed(1)} s` : null, `${t.sales} ${t.sales === 1 ? "sale" : "sales"}`].filter(Boolean).join(" · ");

async function buyTrack(t, amountText, out, button) {
  const info = tokenInfo(t.token);
  let amount;
  try { amount = ethers.parseUnits(amountText.trim(), info.decimals); } catch {
    put(out, h("p", { class: "error" }, "Enter an amount like 0.01."));
    return;
  }
  if (amount < BigInt(t.price)) {
    put(out, h("p", { class: "error" }, `The price is ${money(t.price, t.token)}; pay that or more.`));
    return;
  }
  if (!state.account && !(await connect())) return;
  await buyListing(t.track_id, t.token, amount, out, button, () => {
    // The count was drawn before this sale, which is now in the ledger (as on a release's page).
    t.sales += 1;
    document.getElementById("track-facts").textContent = trackFacts(t);
    out.append(h("p", { class: "ok" }, "Bought. "), downloadLink(t));
  });
}

export async function viewPurchases() {
  put(main, h("h1", {}, "My purchases"));
  if (!state.account) {
    main.append(h("p", {}, "Connect your wallet to see what it bought."),
      h("button", { type: "button", onclick: async () => { if (await connect()) route(); } }, "Connect wallet"));
    return;
  }
  const sales = await api(`/api/ledger/sales?buyer=${state.account}&limit=200`);
  if (!sales.items.length) {
    main.append(h("p", {}, "This wallet has not bought anything yet. ", h("a", { href: "#/" }, "Visit the store.")));
    return;
  }
  await resolveNames(sales.items.map((s) => s.artist));
  const seen = new Set();
  const list = h("div", { class: "grid" });
  main.append(h("p", {}, h("a", { href: `#/fan/${state.account.toLowerCase()}`, id: "my-fan-page" },
    "Your public collection page")), list);
  for (const s of sales.items) {
    if (seen.has(s.track_id)) continue;
    seen.add(s.track_id);
    // A release's id is no track's: the track route answers 404 for it.
    const t = s.kind === "release" ? null : await api(`/api/tracks/${s.track_id}`).catch(() => null);
    if (!t) {
      const card = await purchasedRelease(s);
      if (card) list.append(card);
      continue;
    }
    list.append(h("article", { class: "card" },
      h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${t.title}` }),
      h("h3", {}, t.title), h("div", { class: "muted" }, person(t.artist)),
      paidOn(s), downloadLink(t)));
  }
}
