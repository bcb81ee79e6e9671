// An artist's page, for fans: name, avatar, bio and links from their profile, their
// releases and tracks, how many wallets bought from them, and what the ledger has paid them
// so far per token, linked to the audit view of the same figures.
import { api, ApiError } from "../api.js";
import { add, h, main, money, put, shortc } from "../dom.js";
import { displayName, resolveNames } from "../names.js";
import { state } from "../state.js";
import { releaseCard } from "./release.js";
import { trackCard } from "./store.js";

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
// Links are the artist's own words: only http(s) is followed (the API admits no other), and
// the page never lends them its referrer or its authority (nofollow, ugc).
const safeUrl = (url) => { try { const u = new URL(url); return /^https?:$/.test(u.protocol) ? u.href : null; } catch { return null; } };

export async function viewArtist(address) {
  if (!ADDRESS.test(address || "")) throw new ApiError(404, "This is not a wallet address.");
  const a = address.toLowerCase();
  const [p, tracks, releases] = await Promise.all([
    // A server without profiles yet (404 on a valid address) shows the page from the catalog.
    api(`/api/artists/${a}`).catch((e) => {
      if (e.status !== 404) throw e;
      return { address: a, name: null, bio: "", links: [], avatar_url: null, supporters: 0, paid: [] };
    }),
    api(`/api/tracks?artist=${a}&limit=100`).catch(() => ({ items: [] })),
    api(`/api/releases?artist=${a}&limit=100`).catch(() => ({ items: [] }))]);
  await resolveNames([a]);
  const name = p.name || displayName(a);
  const mine = state.account && state.account.toLowerCase() === a;
  const links = (p.links || []).map((l) => ({ label: l.label, url: safeUrl(l.url) })).filter((l) => l.url);
  const paid = (p.paid || []).filter((x) => BigInt(x.amount) > 0n);
  const audit = p.audit_url && p.audit_url.startsWith("#/") ? p.audit_url : `#/ledger/artist/${a}`;
  put(main,
    h("section", { class: "panel profile-head", id: "artist-head", "aria-labelledby": "artist-h" },
      p.avatar_url ? h("img", { class: "avatar", id: "artist-avatar", src: p.avatar_url, alt: `${name}'s picture`,
        width: 160, height: 160 }) : h("div", { class: "avatar none", "aria-hidden": "true" }, initials(name)),
      h("div", {},
        h("h1", { id: "artist-h" }, name),
        h("p", { class: "muted" }, h("span", { class: "mono", title: a }, shortc(a)),
          p.updated_at ? ` · profile updated ${new Date(p.updated_at * 1000).toISOString().slice(0, 10)}` : ""),
        p.bio ? h("p", { class: "bio", id: "artist-bio" }, p.bio)
          : h("p", { class: "muted", id: "artist-bio" }, p.name ? "No bio yet." : "No profile yet."),
        links.length ? h("ul", { class: "links", id: "artist-links" }, links.map((l) => h("li", {},
          h("a", { href: l.url, rel: "nofollow ugc noopener noreferrer", target: "_blank" }, l.label),
          h("span", { class: "muted" }, ` (${hostOf(l.url)})`)))) : null,
        mine ? h("p", {}, h("a", { href: "#/studio", id: "edit-profile" }, "Edit your profile in the studio")) : null)),
    h("section", { class: "panel", id: "artist-paid", "aria-labelledby": "paid-h" },
      h("h2", { id: "paid-h" }, "Paid to this artist so far"),
      paid.length ? h("ul", { class: "paid" }, paid.map((x) => h("li", {},
        h("a", { href: audit, class: "price" }, money(x.amount, x.token)))))
        : h("p", { class: "muted" }, "Nothing credited yet: a sale is paid into its track's split, ",
          "and reaches the artist when the split is shared out (withdrawing does it)."),
      h("p", { class: "muted" },
        `${p.supporters ?? 0} ${p.supporters === 1 ? "supporter" : "supporters"} (wallets that bought from them). `,
        "Every figure comes from the public ledger: ", h("a", { href: audit, id: "audit-link" }, "check it there"), ".")));
  if (releases.items.length) {
    add(main, h("h2", {}, "Releases"), h("div", { class: "grid", id: "artist-releases" }, releases.items.map(releaseCard)));
  }
  add(main, h("h2", {}, "Tracks"), tracks.items.length
    ? h("div", { class: "grid", id: "artist-tracks" }, tracks.items.map(trackCard))
    : h("p", { class: "muted" }, "No tracks for sale."));
}

const initials = (name) => name.replace(/^0x/, "").slice(0, 2).toUpperCase();
// The link's host after its label, so a fan sees where it leads without a raw URL on the page.
const hostOf = (url) => new URL(url).host.replace(/^www\./, "");
