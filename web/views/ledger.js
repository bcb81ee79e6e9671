// The public ledger, for auditors: sales and withdrawals with filters and CSV, the
// reconciliation against the chain, takedowns, an artist's and a track's figures, and the
// proof of one row back to its log on chain.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain } from "../api.js";
import { h, main, money, put, short, when } from "../dom.js";
import { displayName, nameOf, personWithAddress, resolveNames } from "../names.js";
import { state } from "../state.js";

const SALE_FILTERS = ["track", "artist", "payee", "buyer", "token", "from_block", "to_block"];
const WITHDRAWAL_FILTERS = ["account", "token", "from_block", "to_block"];

const headRow = (names) => h("thead", {}, h("tr", {}, names.map((c) => h("th", { scope: "col" }, c))));

export async function viewLedger(params) {
  const kind = params.get("kind") === "withdrawals" ? "withdrawals" : "sales";
  const names = kind === "sales" ? SALE_FILTERS : WITHDRAWAL_FILTERS;
  const form = h("form", { class: "filters", "aria-label": "Ledger filters", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    location.hash = "#/ledger?" + new URLSearchParams([...f].filter(([, v]) => String(v).trim())).toString();
  } },
  h("div", {}, h("label", { for: "kind" }, "Show"), h("select", { id: "kind", name: "kind" },
    ["sales", "withdrawals"].map((k) => h("option", { value: k, selected: k === kind }, k)))),
  names.map((n) => h("div", {}, h("label", { for: `f-${n}` }, n.replace("_", " ")),
    n === "token" ? h("select", { id: `f-${n}`, name: n }, h("option", { value: "" }, "any"),
      (state.status?.tokens || []).map((t) => h("option", { value: t.address, selected: params.get(n) === t.address },
        t.symbol)))
      : h("input", { id: `f-${n}`, name: n, value: params.get(n) || "",
        size: n.includes("block") || n === "track" ? 8 : 20 }))),
  h("button", { type: "submit" }, "Filter"));
  const query = new URLSearchParams();
  for (const n of names) if (params.get(n)) query.set(n, params.get(n));
  const csv = h("a", { class: "button secondary", id: "csv", href: `/api/ledger/${kind}?${query}&format=csv`,
    download: `ninety-${kind}.csv` }, "Download CSV");
  const table = h("div", { class: "table-wrap" });
  const takedowns = h("div", { class: "panel", id: "takedowns" });
  put(main, h("h1", {}, "Public ledger"),
    h("p", { class: "muted" },
      "Every sale and withdrawal the contract recorded, each with a proof back to its log on chain."),
    reconciliation(), form, csv, table, takedowns);
  await ledgerPage(kind, query, null, table);
  const blocks = (await api("/api/moderation/takedowns?limit=20")).items;
  put(takedowns, h("h2", {}, "Takedowns"), blocks.length
    ? h("div", { class: "table-wrap" }, h("table", {}, headRow(["Block", "Time", "Track", "Action", "Public reason"]),
      h("tbody", {}, blocks.map((b) => h("tr", {},
        h("td", { class: "num" }, b.block_number), h("td", {}, when(b.block_time)),
        h("td", {}, h("a", { href: `#/ledger/track/${b.track_id}` }, b.track_id)),
        h("td", {}, b.blocked ? "blocked" : "unblocked"),
        h("td", { class: "mono" }, b.reason_cid))))))
    : h("p", { class: "muted" }, "No track has been taken down."));
}

// "Check now": the API compares every balance the ledger derives with the contract's.
function reconciliation() {
  const recon = h("div", { class: "panel", "aria-live": "polite" },
    h("strong", {}, "Reconciliation against the chain: "),
    h("button", { type: "button", class: "secondary", onclick: async (e) => {
      e.target.disabled = true;
      try {
        const r = await api("/api/ledger/reconciliation");
        put(recon, h("strong", {}, "Reconciliation against the chain: "),
          h("span", { class: r.ok ? "ok" : "error", id: "recon-result" },
            r.ok ? `OK at block ${r.block}` : `${r.differences.length} difference(s) at block ${r.block}`),
          h("span", { class: "muted" }, ` · ${r.accounts_checked} accounts and ${r.splits_checked} splits checked`),
          r.differences.length ? h("ul", {}, r.differences.map((d) =>
            h("li", {}, `${d.kind} ${d.key}: chain ${d.chain}, ledger ${d.ledger}`))) : null);
      } catch (err) { recon.append(h("p", { class: "error" }, explain(err))); e.target.disabled = false; }
    } }, "Check now"));
  return recon;
}

async function ledgerPage(kind, query, cursor, table) {
  const q = new URLSearchParams(query);
  q.set("limit", "25");
  if (cursor) q.set("cursor", cursor);
  const page = await api(`/api/ledger/${kind}?${q}`);
  await resolveNames(page.items.flatMap((r) => [r.artist, r.buyer, r.account, r.paid_to]));
  const proof = (r) => h("a", { href: `#/proof/${r.tx_hash}/${r.log_index}`, class: "mono" }, short(r.tx_hash));
  const head = kind === "sales" ? ["Block", "Time", "Track", "Artist", "Buyer", "Amount", "Platform fee", "Proof"]
    : ["Block", "Time", "Account", "Amount", "Proof"];
  const rows = page.items.map((r) => kind === "sales"
    ? h("tr", {}, h("td", { class: "num" }, r.block_number), h("td", {}, when(r.block_time)),
      h("td", {}, h("a", { href: `#/ledger/track/${r.track_id}` }, r.track_id),
        r.title ? ` ${r.title}` : "", r.kind === "release" ? h("span", { class: "muted" }, " (release)") : null),
      // The artist's name as the sale's listing gave it (artist_name), else as /api/names knows it.
      h("td", {}, personWithAddress(r.artist, "artist", {}, r.artist_name)),
      h("td", {}, personWithAddress(r.buyer, "fan")), h("td", { class: "num" }, money(r.amount, r.token)),
      h("td", { class: "num" }, money(r.platform_fee, r.token)), h("td", {}, proof(r)))
    : h("tr", {}, h("td", { class: "num" }, r.block_number), h("td", {}, when(r.block_time)),
      h("td", {}, personWithAddress(r.account),
        r.paid_to && r.paid_to.toLowerCase() !== r.account.toLowerCase() ? [" → paid to ", personWithAddress(r.paid_to, "fan")]
          : null),
      h("td", { class: "num" }, money(r.amount, r.token)), h("td", {}, proof(r))));
  const more = page.next_cursor ? h("button", { type: "button", class: "secondary",
    onclick: () => ledgerPage(kind, query, page.next_cursor, table) }, "Next page") : null;
  put(table,
    page.items.length ? h("table", { id: "ledger-table" }, headRow(head), h("tbody", {}, rows))
      : h("p", {}, "No rows match these filters."),
    cursor ? h("button", { type: "button", class: "secondary", onclick: () => ledgerPage(kind, query, null, table) },
      "First page") : null,
    more);
}

export async function viewArtistLedger(address) {
  const s = await api(`/api/ledger/artists/${address}`);
  await resolveNames([address]);
  const head = ["Token", "Sales", "Buyers", "Gross", "Fees", "Net to splits", "Credited", "Withdrawn", "Owed (chain)"];
  put(main, h("h1", {}, `${displayName(address)} in the ledger`),
    nameOf(address) ? h("p", { class: "muted", id: "ledger-address" },
      h("span", { class: "mono", title: ethers.getAddress(address) }, ethers.getAddress(address))) : null,
    h("p", {}, h("a", { href: `#/artist/${address}` }, "Artist page"), " · ",
      h("a", { href: `#/ledger?artist=${address}` }, "Their sales"), " · ", h("a", { href: `#/fan/${address}` }, "What they bought"),
      " · ", h("a", { href: `#/ledger?kind=withdrawals&account=${address}` }, "Their withdrawals")),
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "muted" }, `As of block ${s.as_of_block}; owed is read from the contract`),
      headRow(head),
      h("tbody", {}, s.tokens.map((t) => h("tr", {}, h("td", {}, t.token_symbol), h("td", { class: "num" }, t.sales),
        h("td", { class: "num" }, t.buyers),
        ...[t.gross, t.fees, t.net, t.credited, t.withdrawn, t.owed]
          .map((v) => h("td", { class: "num" }, money(v, t.token)))))))));
}

export async function viewTrackLedger(id) {
  const s = await api(`/api/ledger/tracks/${id}`);
  await resolveNames(s.payees.map((p) => p.payee));
  const release = s.kind === "release";
  const links = (ids) => ids.map((x, i) => [i ? ", " : "", h("a", { href: `#/ledger/track/${x}` }, x)]);
  put(main, h("h1", {}, `${release ? "Release" : "Track"} ${id} in the ledger`),
    h("p", {}, release ? h("a", { href: `#/release/${id}` }, "In the store, with its tracks")
      : h("a", { href: `#/track/${id}` }, "In the store, with who is paid and every change of its split"), " · ",
    h("a", { href: `#/ledger?track=${id}` }, "Its sales")),
    release && s.tracks?.length ? h("p", { id: "release-members" }, "Its tracks, in order: ", links(s.tracks)) : null,
    !release && s.releases?.length ? h("p", { id: "track-releases" }, "Also sold on releases ", links(s.releases),
      `: ${s.release_sales} ${s.release_sales === 1 ? "sale" : "sales"} of those, not counted below.`) : null,
    h("p", {}, `${s.sales} sales, gross ${money(s.gross, s.token)}, platform fees ${money(s.fees, s.token)}, `
      + `net ${money(s.net, s.token)}.`),
    h("h2", {}, "Paid to"), h("div", { class: "table-wrap" }, h("table", {}, headRow(["Payee", "Credited"]),
      h("tbody", {}, s.payees.map((p) => h("tr", {},
        h("td", {}, personWithAddress(p.payee), " ", h("a", { href: `#/ledger/artist/${p.payee}`, class: "muted" }, "(audit)")),
        h("td", { class: "num" }, money(p.credited, p.token))))))),
    h("h2", {}, "Sales per day"), h("div", { class: "table-wrap" }, h("table", {}, headRow(["Day", "Sales", "Gross"]),
      h("tbody", {}, s.sales_per_day.map((d) => h("tr", {}, h("td", {}, d.day), h("td", { class: "num" }, d.sales),
        h("td", { class: "num" }, money(d.gross, s.token))))))));
}

export async function viewProof(tx, index) {
  const p = await api(`/api/ledger/proofs/${tx}/${index}`);
  put(main, h("h1", {}, "Proof of a ledger row"),
    h("p", {}, p.canonical ? h("span", { class: "ok" }, "This log is in the canonical chain.")
      : h("span", { class: "error" }, "This log's block is no longer canonical."),
    p.matches === false ? h("span", { class: "error" }, " The database row does NOT match the log.") : null),
    h("p", { class: "muted" },
      "Check it against any node: eth_getTransactionReceipt for this transaction has this log at this index."),
    h("pre", { id: "proof" }, JSON.stringify(p, null, 2)));
}
