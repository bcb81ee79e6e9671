// "Who is paid" on a track's page: the current split, the changes waiting for consent and
// every change since registration, public for fans and auditors alike. The artist gets the
// "Change split" form; a payee whose consent is missing can accept here (or in the studio).
import { ethers } from "../vendor/ethers.min.js";
import { explain } from "../api.js";
import { add, h, put, short, shortc, stepList } from "../dom.js";
import { personWithAddress } from "../names.js";
import { ETH, route, state } from "../state.js";
import { payeeList, payeeRow, pct, shareChange, splitLosers, splitOf } from "../splits.js";
import { batchTx, connect, contractTx, encode, eventsOf, readContract, send, waitIndexed } from "../wallet.js";

export function splitPanel(t, splits, mine) {
  const panel = h("section", { class: "panel", id: "split", "aria-labelledby": "split-h" },
    h("h2", { id: "split-h" }, "Who is paid"));
  if (splits.error) {
    add(panel, h("p", { class: "error" }, `The split history is not available now: ${splits.error}`));
    return panel;
  }
  const history = splits.history || [];
  const now = history.findLast((x) => x.split_id === splits.split_id) || history[history.length - 1];
  if (!now) {
    add(panel, h("p", { class: "muted" }, "The ledger has not indexed this track's split yet."));
    return panel;
  }
  const current = { split_id: now.split_id, recipients: now.recipients, shares_ppm: now.shares_ppm };
  const me = state.account?.toLowerCase();
  add(panel,
    h("p", { class: "muted" }, "Each sale, after the platform fee, is shared among these payees by the contract. ",
      "Changing it needs the consent of every payee whose share would fall."),
    h("div", { class: "table-wrap" }, h("table", { id: "current-split", class: "split-table" },
      h("caption", { class: "muted" }, "Split ",
        h("span", { class: "mono", title: current.split_id }, short(current.split_id))),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Payee"), h("th", { scope: "col", class: "num" }, "Share"))),
      h("tbody", {}, current.recipients.map((r, i) => h("tr", {},
        h("td", { class: "addr" },
          personWithAddress(r),
          r.toLowerCase() === t.artist.toLowerCase() ? h("span", { class: "muted" }, " (artist)") : null),
        h("td", { class: "num" }, pct(current.shares_ppm[i]))))))));
  const proposals = splits.proposals || [];
  const pending = proposals.filter((p) => p.status === "pending");
  add(panel, h("h3", {}, "Waiting for consent"), pending.length
    ? h("ul", { class: "proposals", id: "split-proposals" }, pending.map((p) => proposalItem(t, current, p, me)))
    : h("p", { class: "muted", id: "no-proposals" }, "No change is waiting for consent."));
  add(panel, h("h3", {}, "History"), historyTable(history));
  const past = proposals.filter((p) => p.status !== "pending");
  if (past.length) {
    add(panel, h("details", { id: "past-proposals" }, h("summary", {}, `Earlier proposals (${past.length})`),
      h("ul", { class: "proposals" }, past.map((p) => h("li", { "data-split": p.split_id },
        h("div", {}, `Proposed in block ${p.block_number}: `, payeeList(p.recipients, p.shares_ppm), " — ",
          p.status === "applied" ? h("span", { class: "ok" }, "applied")
            : h("span", { class: "muted" },
              p.status === "cancelled" ? "withdrawn by the artist" : "superseded by another change")))))));
  }
  if (mine && pending.length) add(panel, withdrawProposalsButton(t.track_id, pending.length));
  if (mine) add(panel, changeSplitForm(t, current, pending));
  return panel;
}

// Every split the track has had, newest first, each change linked to the proof of its log.
function historyTable(history) {
  const id = (splitId) => h("span", { class: "mono", title: splitId }, short(splitId));
  return h("div", { class: "table-wrap" }, h("table", { id: "split-history", class: "stack" },
    h("thead", {}, h("tr", {},
      ["Block", "Change", "Payees", "Transaction"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, [...history].reverse().map((x) => h("tr", { "data-split": x.split_id },
      h("td", { class: "num", "data-label": "Block" }, x.block_number),
      h("td", { "data-label": "Change" }, x.previous_split_id
        ? ["from ", id(x.previous_split_id), " to ", id(x.split_id)]
        : ["registered with ", id(x.split_id)]),
      h("td", { class: "wrap", "data-label": "Payees" }, payeeList(x.recipients, x.shares_ppm)),
      h("td", { "data-label": "Transaction" },
        h("a", { class: "mono", href: `#/proof/${x.tx_hash}/${x.log_index}`, title: x.tx_hash },
          short(x.tx_hash))))))));
}

// The artist takes back every pending proposal of the track (cancelSplitProposals): the
// consents given so far stop counting and no more can be given.
function withdrawProposalsButton(trackId, count) {
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "button", id: "cancel-proposals", class: "secondary" },
    count === 1 ? "Withdraw this proposal" : `Withdraw these ${count} proposals`);
  button.addEventListener("click", async () => {
    if (!state.account && !(await connect())) return;
    button.disabled = true;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
    put(out, steps);
    try {
      const receipt = await send(contractTx("cancelSplitProposals", [trackId]), steps);
      await waitIndexed(receipt.blockNumber, steps);
      add(out, h("p", { class: "ok", id: "proposals-cancelled" }, "Withdrawn: consents given so far no longer count."));
      setTimeout(route, 1500);
    } catch (e) { steps.fail(explain(e)); button.disabled = false; }
  });
  return h("div", { class: "actions" }, button, out);
}

function proposalItem(t, current, p, me) {
  const accepted = new Set((p.accepted || []).map((a) => a.toLowerCase()));
  const waitingFor = p.must_consent.filter((a) => !accepted.has(a.toLowerCase()));
  const losses = new Map(splitLosers(current, p, t.artist).map((x) => [x.address, x]));
  const who = (a) => [
    h("a", { class: "mono", href: `#/ledger/artist/${a.toLowerCase()}`, title: ethers.getAddress(a) }, shortc(a)),
    losses.get(a.toLowerCase()) ? ` (${shareChange(losses.get(a.toLowerCase()))})` : ""];
  const out = h("div", { "aria-live": "polite" });
  const canAccept = me && waitingFor.some((a) => a.toLowerCase() === me);
  const accept = canAccept ? h("button", { type: "button", class: "accept",
    onclick: () => acceptProposal(t.track_id, p.split_id, accept, out) }, "Accept") : null;
  return h("li", { class: "proposal", "data-split": p.split_id },
    h("div", {}, h("strong", {}, `Proposed in block ${p.block_number}: `), payeeList(p.recipients, p.shares_ppm),
      h("span", { class: "muted" }, " · transaction "),
      h("span", { class: "mono", title: p.tx_hash }, short(p.tx_hash))),
    h("div", { class: "missing" }, `${p.missing} consent${p.missing === 1 ? "" : "s"} missing, from: `,
      waitingFor.map((a, i) => [i ? ", " : "", who(a)])),
    accepted.size
      ? h("div", { class: "muted" }, "Already accepted by: ", [...p.accepted].map((a, i) => [i ? ", " : "", who(a)]))
      : null,
    accept, out);
}

// A payee consents to a change that lowers their share (acceptSplit); the last consent
// moves the track to the new split.
export async function acceptProposal(trackId, splitId, button, out) {
  if (!state.account && !(await connect())) return;
  button.disabled = true;
  const steps = stepList([["submitted", "Submit your consent"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
  put(out, steps);
  try {
    const receipt = await send(contractTx("acceptSplit", [trackId, splitId]), steps);
    await waitIndexed(receipt.blockNumber, steps);
    const changed = eventsOf(receipt, "TrackSplitChanged").length > 0;
    const accepted = eventsOf(receipt, "SplitChangeAccepted")[0];
    add(out, h("p", { class: "ok", id: "accepted" }, changed
      ? "Accepted: yours was the last consent, so the new split applies to sales from now on."
      : `Accepted: ${accepted ? accepted.args.missing : "other"} consent(s) still missing before the change lands.`));
    setTimeout(route, 1500);
  } catch (e) { steps.fail(explain(e)); button.disabled = false; }
}

// The artist proposes a new split. It is created first when it does not exist yet, in the
// same transaction (multicall). Before sending, the form says whether the change lands at
// once or waits for consents, computed as the contract computes it.
function changeSplitForm(t, current, pending) {
  const rows = h("div", { id: "change-split-rows" });
  const verdict = h("div", { id: "split-verdict", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "propose-split" }, "Propose this split");
  const out = h("div", { "aria-live": "polite" });
  const addRow = (address = "", percent = "") => rows.append(
    payeeRow(address, percent, check, { payee: "New payee address", share: "New share in percent" }));
  // The split the form describes, or why it is not one yet.
  function read() {
    const parts = [...rows.querySelectorAll(".split-row")].map((r) => ({
      address: r.querySelector("[name=payee]").value.trim(), percent: r.querySelector("[name=percent]").value }));
    if (!parts.length) return { error: "Add at least one payee." };
    const bad = parts.find((p) => !ethers.isAddress(p.address));
    if (bad) return { error: `"${bad.address || "(empty)"}" is not an address (or its checksum is wrong).` };
    const pairs = parts.map((p) => ({
      address: ethers.getAddress(p.address), ppm: Math.round(Number(p.percent || 0) * 10000) }));
    if (new Set(pairs.map((p) => p.address)).size !== pairs.length) return { error: "A payee appears twice." };
    if (pairs.some((p) => p.address === ETH)) return { error: "The zero address cannot be paid." };
    if (pairs.some((p) => p.address.toLowerCase() === state.contract.address.toLowerCase())) {
      return { error: "The Marketplace itself cannot be a payee." };
    }
    if (pairs.some((p) => !(p.ppm > 0))) return { error: "Every share must be above zero (remove a payee instead)." };
    const total = pairs.reduce((a, p) => a + p.ppm, 0);
    if (total !== 1_000_000) return { error: `Total: ${pct(total)} (must be exactly 100%).` };
    return { next: splitOf(pairs) };
  }
  function check() {
    const r = read();
    submit.disabled = true;
    if (r.error) { put(verdict, h("p", { class: "error" }, r.error)); return null; }
    const next = r.next;
    if (next.split_id === current.split_id) {
      put(verdict, h("p", { class: "muted" }, "This is the current split."));
      return null;
    }
    if (pending.some((p) => p.split_id === next.split_id)) {
      put(verdict, h("p", { class: "warn" }, "This change is already proposed and waiting for consent (see above)."));
      return null;
    }
    const losers = splitLosers(current, next, t.artist);
    const whoMust = losers.length === 1
      ? "this payee's share falls, so they must" : "these payees' shares fall, so each must";
    put(verdict, losers.length
      ? h("p", { class: "warn", id: "needs-consent" },
        `Needs consent: ${whoMust} accept it in their studio before it applies: `,
        losers.map((x, i) => [i ? ", " : "",
          h("span", { class: "mono", title: ethers.getAddress(x.address) }, shortc(x.address)),
          ` (${shareChange(x)})`]),
        ". Until then sales keep the current split.")
      : h("p", { class: "ok", id: "lands-at-once" },
        "Applies at once: nobody's share falls (yours may: you are the one proposing it)."));
    submit.disabled = false;
    return next;
  }
  const form = h("form", { id: "change-split", onsubmit: async (e) => {
    e.preventDefault();
    const next = check();
    if (!next) return;
    if (!state.account && !(await connect())) return;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
    put(out, steps);
    submit.disabled = true;
    try {
      const calls = [];
      const [exists] = await readContract("splitExists", [next.split_id]);
      if (!exists) calls.push(encode("createSplit", [next.recipients, next.shares_ppm]));
      calls.push(encode("proposeSplit",
        [t.track_id, [current.recipients, current.shares_ppm], [next.recipients, next.shares_ppm]]));
      const receipt = await send(batchTx(calls), steps);
      await waitIndexed(receipt.blockNumber, steps);
      const proposed = eventsOf(receipt, "SplitChangeProposed")[0];
      add(out, proposed
        ? h("p", { class: "ok", id: "split-result" },
          `Proposed: waiting for ${proposed.args.mustConsent.length} consent(s) from `,
          proposed.args.mustConsent.map((a, i) => [i ? ", " : "", h("span", { class: "mono" }, shortc(a))]), ".")
        : h("p", { class: "ok", id: "split-result" }, "Changed: sales from now on follow the new split."));
      setTimeout(route, 1500);
    } catch (err) { steps.fail(explain(err)); submit.disabled = false; }
  } },
  h("fieldset", {}, h("legend", {}, "Payees and their share of each sale (after the platform fee)"), rows,
    h("button", { type: "button", class: "secondary", id: "change-split-add", onclick: () => { addRow(); check(); } },
      "Add a payee"),
    verdict),
  submit, out);
  current.recipients.forEach((r, i) =>
    addRow(ethers.getAddress(r), String(Number(current.shares_ppm[i]) / 10000)));
  check();
  return h("details", { class: "change-split", id: "change-split-panel" }, h("summary", {}, "Change split"),
    h("p", { class: "muted" },
      "Raising a share, adding a payee from your own share, or any change where nobody but you loses applies at once. ",
      "If a collaborator's share would fall, they must accept first; "
      + "proposals made before a change that lands are void."),
    form);
}
