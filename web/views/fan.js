// A fan's page: what a wallet bought, newest first, from the public ledger (anyone can read
// it there too; this page just says it in words, with the artists' names).
import { api, ApiError } from "../api.js";
import { add, h, main, money, put, short, shortc, when } from "../dom.js";
import { displayName, person, resolveNames } from "../names.js";
import { state } from "../state.js";

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export async function viewFan(address) {
  if (!ADDRESS.test(address || "")) throw new ApiError(404, "This is not a wallet address.");
  const a = address.toLowerCase();
  const mine = state.account && state.account.toLowerCase() === a;
  const list = h("ul", { class: "receipts", id: "fan-items" });
  const more = h("div");
  await resolveNames([a]);
  put(main, h("h1", {}, mine ? "Your collection" : `${displayName(a)}'s collection`),
    h("p", { class: "muted" }, h("span", { class: "mono", title: a }, shortc(a)), " · ",
      h("a", { href: `#/ledger?buyer=${a}` }, mine ? "your purchases in the ledger" : "their purchases in the ledger")),
    list, more);
  await fanPage(a, null, list, more);
  if (!list.children.length) {
    list.replaceWith(h("p", { id: "fan-empty" }, "This wallet has not bought anything yet. ",
      h("a", { href: "#/" }, "Visit the store.")));
  }
}

async function fanPage(a, cursor, list, more) {
  const qs = new URLSearchParams({ limit: "50" });
  if (cursor) qs.set("cursor", cursor);
  // Fallback while a server has no /api/fans (it answers 404 only for a malformed address,
  // checked above): the ledger's sales by this buyer, the same rows without the names.
  const page = await api(`/api/fans/${a}?${qs}`).catch((e) => {
    if (e.status !== 404) throw e;
    qs.set("buyer", a);
    return api(`/api/ledger/sales?${qs}`);
  });
  await resolveNames(page.items.map((s) => s.artist));
  add(list, page.items.map(item));
  put(more, page.next_cursor ? h("button", { type: "button", class: "secondary", id: "fan-more",
    onclick: async (e) => { e.target.disabled = true; await fanPage(a, page.next_cursor, list, more); } },
  "More") : null);
}

// One purchase: what (linked to its page), by whom, what was paid and when, with its proof.
function item(s) {
  const release = s.kind === "release";
  const href = release ? `#/release/${s.track_id}` : `#/track/${s.track_id}`;
  const title = s.title || `${release ? "Release" : "Track"} ${s.track_id}`;
  return h("li", { class: "fan-item", "data-track": s.track_id },
    h("div", {}, s.title === null ? h("span", { class: "muted" }, `${title} (no longer listed)`) : h("a", { href }, title),
      release ? h("span", { class: "muted" }, " (release)") : null, " by ", person(s.artist, "artist")),
    h("div", { class: "muted" }, `${money(s.amount, s.token)} · ${when(s.block_time)} · `,
      h("a", { href: `#/proof/${s.tx_hash}/${s.log_index}`, class: "mono", title: s.tx_hash }, short(s.tx_hash))));
}
