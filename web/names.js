// People's names instead of bare addresses. An address's display name is its artist
// profile's name, else the artist name of its newest listing, else none (the API's
// /api/names owns that rule); without one, a short address (0x1234…abcd) stands in.
// A view collects the addresses it is about to show and resolves them in one batched
// request per render; the links then read from that batch synchronously.
import { ethers } from "./vendor/ethers.min.js";
import { api } from "./api.js";
import { h, shortc } from "./dom.js";

const names = new Map(); // lowercase address -> name or null
const BATCH = 100; // the most addresses /api/names answers for at once
const isAddress = (a) => typeof a === "string" && /^0x[0-9a-fA-F]{40}$/.test(a);

// Each render starts afresh: a name edited meanwhile shows on the next page drawn.
export function forgetNames() { names.clear(); }

// Resolve the names of `addresses` (any not yet known), in batches of 100. A failure leaves
// them unknown: the page then shows short addresses rather than failing.
export async function resolveNames(addresses) {
  const want = [...new Set(addresses.filter(isAddress).map((a) => a.toLowerCase()))].filter((a) => !names.has(a));
  for (let i = 0; i < want.length; i += BATCH) {
    const part = want.slice(i, i + BATCH);
    const qs = new URLSearchParams(part.map((a) => ["address", a]));
    try {
      const r = await api(`/api/names?${qs}`);
      for (const a of part) names.set(a, r.names?.[a] ?? null);
    } catch { /* unknown: short addresses */ }
  }
}

export const nameOf = (address) => (isAddress(address) ? names.get(address.toLowerCase()) || null : null);
// The name, else the short address as wallets show it (EIP-55).
export const displayName = (address) => nameOf(address) || (isAddress(address) ? shortc(address) : "unknown");

// A person as a link: to their artist page (`to` = "artist") or fan page ("fan"), the full
// address in the tooltip. A name is plain text; a short address is set in monospace.
// `fallback`: a name the row itself carries (a sale's artist_name), used when none resolved.
export function person(address, to = "artist", attrs = {}, fallback = null) {
  if (!isAddress(address)) return h("span", { class: "muted" }, "unknown");
  const name = nameOf(address) || fallback;
  return h("a", { href: `#/${to}/${address.toLowerCase()}`, title: ethers.getAddress(address),
    class: name ? "person" : "person mono", ...attrs }, name || shortc(address));
}

// A person where money goes or is attributed (ledger rows, split payees, "By" on a page a
// fan pays from): a name is anyone's to choose, so one could pass for another wallet's; the
// short address goes beside it, small and muted, so the name is never the only thing
// identifying the wallet. Without a name the link already is the short address.
export function personWithAddress(address, to = "artist", attrs = {}, fallback = null) {
  const link = person(address, to, attrs, fallback);
  if (!isAddress(address) || !(nameOf(address) || fallback)) return link;
  return h("span", { class: "who" }, link, " ",
    h("span", { class: "addr-tag mono", title: ethers.getAddress(address) }, shortc(address)));
}
