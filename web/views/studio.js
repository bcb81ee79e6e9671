// The studio, for artists and payees: split changes waiting for their consent, earnings
// and withdrawals, monthly statements, sponsor-pool claims, their tracks, their public profile and the upload form.
import { api, explain } from "../api.js";
import { add, fact, h, main, money, put, stepList } from "../dom.js";
import { route, state } from "../state.js";
import { resolveNames } from "../names.js";
import { payeeList, shareChange, splitLosers } from "../splits.js";
import { contractTx, encode, eventsOf, send, signIn, waitIndexed } from "../wallet.js";
import { earningsPanel } from "./earnings.js";
import { profilePanel } from "./profile-form.js";
import { statementsPanel } from "./statements.js";
import { isFree } from "./store.js";
import { acceptProposal } from "./track-split.js";
import { uploadPanel } from "./upload.js";

export async function viewStudio() {
  put(main, h("h1", {}, "Studio"));
  if (!state.account || !state.session) {
    main.append(h("p", {}, "Sign in with your wallet to upload tracks and see your earnings."),
      h("button", { type: "button", onclick: async () => { if (await signIn()) route(); } }, "Sign in"));
    return;
  }
  let summary = null, failure = null;
  try { summary = await api(`/api/ledger/artists/${state.account.toLowerCase()}`); } catch (e) { failure = explain(e); }
  add(main, summary ? await proposalsPanel(summary) : null, await earningsPanel(summary, failure), await statementsPanel(), await claimsPanel(),
    await tracksPanel(), await profilePanel(), uploadPanel());
}

// The artist's own tracks, each linking to its page, where its listing and split are edited.
async function tracksPanel() {
  const page = await api(`/api/tracks?artist=${state.account.toLowerCase()}&include_unlisted=true&limit=100`)
    .catch(() => null);
  if (!page || !page.items.length) return null;
  const releases = await api(`/api/releases?artist=${state.account.toLowerCase()}&include_unavailable=true&limit=100`)
    .catch(() => null);
  return h("section", { class: "panel", id: "my-tracks", "aria-labelledby": "my-tracks-h" },
    h("h2", { id: "my-tracks-h" }, "Your tracks"),
    h("p", {}, h("a", { class: "button secondary", id: "new-release", href: "#/studio/release" }, "New release"),
      " ", h("span", { class: "muted" }, "An album, EP or single of your tracks, sold together at its own price.")),
    releases?.items?.length ? h("p", { id: "my-releases" }, "Your releases: ", releases.items.map((r, i) =>
      [i ? ", " : "", h("a", { href: `#/release/${r.release_id}` }, r.title || `Release ${r.release_id}`),
        ` (${money(r.price, r.token)}${r.available ? "" : ", not for sale"})`])) : null,
    h("ul", { class: "receipts" }, page.items.map((t) => h("li", {},
      h("div", {}, h("a", { href: `#/track/${t.track_id}` }, t.title || `Track ${t.track_id}`), " · ",
        t.listed ? (isFree(t) ? "free" : money(t.price, t.token)) : h("span", { class: "muted" }, "not for sale"),
        t.pending_split_changes ? h("span", { class: "warn" }, ` · split change waiting for consent`) : null),
      h("div", { class: "muted" }, "Open it to change its price, take it off sale or change who is paid.")))));
}

// Split changes this wallet must consent to: its share would fall. Accepting is one call;
// the last consent moves the track to the new split.
async function proposalsPanel(summary) {
  const waiting = summary.proposals_to_accept || [];
  if (!waiting.length) return null;
  const me = state.account.toLowerCase();
  await resolveNames(waiting.flatMap((p) => [...p.current_recipients, ...p.recipients]));
  const panel = h("section", { class: "panel notice", id: "proposals", "aria-labelledby": "proposals-h" },
    h("h2", { id: "proposals-h" }, "Proposals waiting for you"),
    h("p", {},
      "An artist proposes to change who is paid for a track, and your share would fall. ",
      "Nothing changes unless you accept; until then sales keep the current split."));
  for (const p of waiting) {
    const t = await api(`/api/tracks/${p.track_id}`).catch(() => null);
    const current = { recipients: p.current_recipients, shares_ppm: p.current_shares_ppm };
    const mine = splitLosers(current, p, "").find((x) => x.address === me);
    const out = h("div", { "aria-live": "polite" });
    const accept = h("button", { type: "button", class: "accept",
      onclick: () => acceptProposal(p.track_id, p.split_id, accept, out) }, "Accept");
    panel.append(h("article", { class: "proposal", "data-track": p.track_id, "data-split": p.split_id },
      h("h3", {}, h("a", { href: `#/track/${p.track_id}` }, t?.title || `Track ${p.track_id}`),
        t?.artist_name ? ` by ${t.artist_name}` : ""),
      h("p", { class: "loss" }, h("strong", {}, "You lose: "),
        mine ? `your share goes from ${shareChange(mine)}.` : "nothing (your share does not fall)."),
      h("dl", { class: "facts" }, fact("Now", payeeList(current.recipients, current.shares_ppm)),
        fact("Proposed", payeeList(p.recipients, p.shares_ppm)),
        fact("Consents missing", `${p.missing}, yours included`)),
      h("div", { class: "actions" }, accept), out));
  }
  return panel;
}

// Sponsor-pool allocations to splits this wallet is paid from, not yet claimed: one
// transaction claims into the split and distributes it, so it shows as owed at once.
// Claiming or distributing what someone else already did moves nothing and still succeeds.
async function claimsPanel() {
  const me = state.account.toLowerCase();
  const panel = h("section", { class: "panel", "aria-labelledby": "claims-h" },
    h("h2", { id: "claims-h" }, "Sponsor pools"));
  let pools;
  try { pools = await api("/api/pools"); } catch (e) {
    add(panel, h("p", { class: "error" }, explain(e)));
    return panel;
  }
  const open = [];
  for (const e of pools.epochs.filter((x) => x.published)) {
    const a = await api(`/api/pools/${e.epoch}/allocations?payee=${me}`).catch(() => ({ allocations: [] }));
    for (const x of a.allocations) if (!x.claimed) open.push({ epoch: e.epoch, ...x });
  }
  if (!open.length) {
    add(panel, h("p", { class: "muted" }, "Nothing to claim. Free downloads of your free tracks, "
      + "signed by qualified listeners, earn a share of each epoch's sponsor pools."));
    return panel;
  }
  await resolveNames(open.flatMap((x) => x.recipients));
  const rows = open.map((x) => {
    const out = h("td", { "aria-live": "polite" });
    const button = h("button", { type: "button", class: "claim", onclick: async () => {
      button.disabled = true;
      const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
      put(out, steps);
      try {
        const calls = [encode("claimFromPool", [x.epoch, x.split_id, x.token, x.amount, x.proof]),
          encode("distribute", [x.split_id, x.token, x.recipients, x.shares_ppm])];
        const receipt = await send(contractTx("multicall", [calls]), steps);
        await waitIndexed(receipt.blockNumber, steps);
        add(out, eventsOf(receipt, "PoolClaimed").length
          ? h("span", { class: "ok" }, "Claimed: now in your owed balance.")
          : h("span", { class: "ok" },
            "Nothing left to claim: someone claimed it first. It is shared out to the split's payees."));
      } catch (e) { steps.fail(explain(e)); button.disabled = false; }
    } }, "Claim");
    return h("tr", {}, h("td", { class: "num" }, x.epoch), h("td", {}, payeeList(x.recipients, x.shares_ppm)),
      h("td", { class: "num" }, money(x.amount, x.token)), h("td", {}, button), out);
  });
  add(panel, h("div", { class: "table-wrap" }, h("table", { id: "claims" },
    h("thead", {}, h("tr", {}, ["Epoch", "Split", "Allocation", "", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows))));
  return panel;
}
