// The sponsor pools: the current epoch, the signed-in wallet's standing, funding a pool,
// every other epoch with its settlement and allocations, and the free-download receipts
// this browser kept, each checked against its epoch's published listens root.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain } from "../api.js";
import { add, fact, h, main, mono, money, put, short, stepList, tokenInfo, when } from "../dom.js";
import { ETH, route, state } from "../state.js";
import { resolveNames } from "../names.js";
import { payeeList } from "../splits.js";
import { connect, contractTx, send, signIn, waitIndexed } from "../wallet.js";
import { loadReceipts } from "./downloads.js";

const duration = (s) => {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${hr} h` : hr ? `${hr} h ${m} min` : m ? `${m} min` : `${s} s`;
};

// The chain's time: the latest block's timestamp through the wallet when there is one,
// else this computer's clock, kept inside the current epoch (the API dates it by block).
async function chainNow(current) {
  let now = Date.now() / 1000;
  if (state.wallet) {
    try {
      const block = await state.wallet.request({ method: "eth_getBlockByNumber", params: ["latest", false] });
      now = Number(block.timestamp);
    } catch { /* the clock will do */ }
  }
  return current ? Math.min(Math.max(now, current.starts_at), current.ends_at) : now;
}

// A listen leaf as ninety.merkle.listen_leaf builds it, and OpenZeppelin's MerkleProof
// check (each step hashes the pair in ascending order).
function listenLeaf(epoch, wallet, trackId) {
  const encoded = ethers.AbiCoder.defaultAbiCoder().encode(["uint256", "address", "uint256"], [epoch, wallet, trackId]);
  return ethers.keccak256(ethers.keccak256(encoded));
}
function verifyProof(root, proof, leaf) {
  let node = leaf.toLowerCase();
  for (const p of proof) {
    const sibling = p.toLowerCase();
    node = ethers.keccak256(node < sibling ? ethers.concat([node, sibling]) : ethers.concat([sibling, node]));
  }
  return node === String(root).toLowerCase();
}

export async function viewPools() {
  const pools = await api("/api/pools");
  const current = pools.current_epoch;
  const seconds = pools.epoch_seconds;
  const byEpoch = new Map(pools.epochs.map((e) => [e.epoch, e]));
  const now = byEpoch.get(current) || { epoch: current, published: false, tokens: [],
    starts_at: pools.epoch_start + current * seconds, ends_at: pools.epoch_start + (current + 1) * seconds,
    rules_hash: null, rules_cid: null, qualified_listeners: 0, free_downloads: 0 };
  const chainTime = await chainNow(now);
  const others = pools.epochs.filter((e) => e.epoch !== current);
  put(main, h("h1", {}, "Sponsor pools"),
    h("p", { class: "muted" },
      "Sponsors fund a pool per epoch, a fixed window of block time. When it ends, every qualified listener ",
      "(a wallet that bought a track in that epoch or the 3 before) directs an equal share of each pool "
      + "to the free tracks it signed for, ",
      "at most what it paid the platform in fees. "
      + "The platform keeps at most 10% of what is paid out; what is left carries over. ",
      "The report lists every signed download, so anyone can re-check it."),
    currentPanel(pools, now, chainTime), youPanel(pools), fundPanel(pools), receiptsPanel(pools),
    h("h2", {}, "Other epochs"),
    others.length ? others.map((e) => epochPanel(pools, e))
      : h("p", { class: "muted" }, "No other epoch has money or a report yet."));
  // Each published epoch's allocations, and whether they were claimed; their payees' names
  // in one batch.
  const published = [];
  for (const e of pools.epochs) {
    if (!e.published) continue;
    const a = await api(`/api/pools/${e.epoch}/allocations`).catch(() => null);
    if (a && a.allocations.length) published.push([e.epoch, a.allocations]);
  }
  await resolveNames(published.flatMap(([, list]) => list.flatMap((x) => x.recipients)));
  for (const [epoch, list] of published) {
    document.getElementById(`epoch-${epoch}`)?.append(h("h3", {}, "Allocations"), allocationsTable(list));
  }
  await checkReceipts(pools);
}

// Each payee by name, linked to their artist page (whose "paid so far" links to the audit view).
function allocationsTable(allocations) {
  const payees = (x) => (x.recipients.length ? payeeList(x.recipients, x.shares_ppm)
    : h("span", { class: "muted" }, "split not indexed yet"));
  return h("div", { class: "table-wrap" }, h("table", { class: "allocations" },
    h("thead", {}, h("tr", {}, ["Split", "Payees", "Amount", "Claimed"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, allocations.map((x) => h("tr", {}, h("td", { class: "mono" }, short(x.split_id)),
      h("td", {}, payees(x)),
      h("td", { class: "num" }, money(x.amount, x.token)), h("td", {}, x.claimed ? "yes" : "not yet"))))));
}

function currentPanel(pools, e, chainTime) {
  const left = e.ends_at - chainTime;
  return h("section", { class: "panel", id: "current-epoch", "aria-labelledby": "current-h" },
    h("h2", { id: "current-h" }, `Now: epoch ${e.epoch}`),
    h("dl", { class: "facts" },
      fact("Runs", `${when(e.starts_at)} to ${when(e.ends_at)} (block time)`),
      fact("Time left",
        left > 0 ? `${duration(left)} (by the latest block)` : "ending: the next block starts the next epoch"),
      fact("Rules", e.rules_hash
        ? [mono(e.rules_hash), " · ", mono(e.rules_cid, true),
          h("span", { class: "muted" }, " (committed on chain before the epoch began)")]
        : h("span", { class: "error" }, "none committed: this epoch cannot be funded")),
      fact("Listeners", `${e.qualified_listeners ?? 0} qualified listener${e.qualified_listeners === 1 ? "" : "s"}, `,
        `${e.free_downloads ?? 0} counted free download${e.free_downloads === 1 ? "" : "s"} so far`)),
    tokensTable(e, false));
}

// The signed-in wallet's standing in the current epoch (`you` is null unless signed in).
function youPanel(pools) {
  const you = pools.you;
  const panel = h("section", { class: "panel", id: "you", "aria-labelledby": "you-h" },
    h("h2", { id: "you-h" }, "Your wallet this epoch"));
  if (!you) {
    add(panel,
      h("p", {}, "Sign in to see whether your wallet qualifies to direct sponsor money with its free downloads."),
      h("button", { type: "button", onclick: async () => { if (await signIn()) route(); } }, "Sign in"));
    return panel;
  }
  const can = (you.can_direct || []).filter((c) => BigInt(c.amount) > 0n);
  const who = short(ethers.getAddress(you.wallet));
  add(panel,
    you.qualifies
      ? h("p", { class: "ok", id: "standing" }, `${who} qualifies in epoch ${pools.current_epoch}. `,
        can.length ? `It can direct up to ${can.map((c) => money(c.amount, c.token)).join(" and ")}, `
          + "shared evenly among the free tracks it signs for."
          : "It can direct nothing yet (it paid no platform fees in this window).")
      : h("p", { class: "warn", id: "standing" },
        `${who} does not qualify in epoch ${pools.current_epoch}: ${you.reason || "no reason given"}. `,
        "Its free downloads are not recorded until it qualifies: then sign them again to count them."),
    h("p", { class: "muted" }, `Free downloads it signed this epoch: ${you.free_downloads ?? 0}.`));
  return panel;
}

function fundPanel(pools) {
  const current = pools.current_epoch;
  const out = h("div", { "aria-live": "polite" });
  const amount = h("input", { id: "fund-amount", inputmode: "decimal", value: "0.1" });
  const token = h("select", { id: "fund-token" },
    state.status.tokens.map((t) => h("option", { value: t.address }, t.symbol)));
  const submit = h("button", { type: "submit" }, `Fund epoch ${current}`);
  const epoch = h("input", { id: "fund-epoch", type: "number", min: current, max: current + 1000, step: 1,
    value: current, oninput: () => { submit.textContent = `Fund epoch ${epoch.value || current}`; } });
  const fund = h("form", { class: "filters", "aria-label": "Fund a pool", onsubmit: async (e) => {
    e.preventDefault();
    const target = Number(epoch.value);
    if (!Number.isInteger(target) || target < current || target > current + 1000) {
      put(out, h("p", { class: "error" },
        `Choose epoch ${current} (the current one) or a later one, up to ${current + 1000}.`));
      return;
    }
    const info = tokenInfo(token.value);
    let value;
    try { value = ethers.parseUnits(amount.value.trim(), info.decimals); } catch {
      put(out, h("p", { class: "error" }, "Enter an amount like 0.1."));
      return;
    }
    if (value <= 0n) { put(out, h("p", { class: "error" }, "Enter an amount above zero.")); return; }
    if (!state.account && !(await connect())) return;
    const isEth = token.value === ETH;
    const steps = stepList([...(isEth ? [] : [["approved", "Approve the token"]]),
      ["submitted", "Submit the deposit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
    put(out, steps);
    submit.disabled = true;
    try {
      if (!isEth) {
        const erc20 = new ethers.Interface(["function approve(address,uint256) returns (bool)"]);
        await send({ to: token.value, data: erc20.encodeFunctionData("approve", [state.contract.address, value]) });
        steps.mark("approved", "Token approved");
      }
      const receipt = await send(contractTx("depositToPool", [target, token.value, value], isEth ? value : 0n), steps);
      await waitIndexed(receipt.blockNumber, steps);
      add(out, h("p", { class: "ok", id: "funded" }, `Thank you: epoch ${target}'s pool is funded.`));
      setTimeout(route, 800);
    } catch (err) { steps.fail(explain(err)); submit.disabled = false; }
  } },
  h("div", {}, h("label", { for: "fund-epoch" }, "Epoch"), epoch),
  h("div", {}, h("label", { for: "fund-amount" }, "Amount"), amount),
  h("div", {}, h("label", { for: "fund-token" }, "Token"), token), submit);
  return h("section", { class: "panel", "aria-labelledby": "fund-h" }, h("h2", { id: "fund-h" }, "Fund a pool"),
    h("p", { class: "muted" },
      `Fund the current epoch (${current}) or a later one. You can take a deposit back until its epoch ends; `,
      "after that it belongs to the pool (or comes back to you if the epoch is still unpublished 8 epochs later)."),
    fund, out);
}

function epochPanel(pools, e) {
  const status = e.published ? `published in block ${e.published_block}`
    : e.epoch > pools.current_epoch ? "not started yet"
      : e.epoch >= pools.next_epoch_to_publish ? "ended, waiting to be published" : "ended, nothing to publish";
  return h("section", { class: "panel", id: `epoch-${e.epoch}`, "aria-label": `Epoch ${e.epoch}` },
    h("h2", {}, `Epoch ${e.epoch}`), h("p", { class: "muted" }, status),
    h("dl", { class: "facts" },
      e.starts_at != null ? fact("Runs", `${when(e.starts_at)} to ${when(e.ends_at)}`) : null,
      fact("Rules", e.rules_hash ? [mono(e.rules_hash), " · ", mono(e.rules_cid, true)] : "none committed"),
      e.published ? [
        fact("Allocations root", mono(e.root, true)),
        fact("Listens root",
          e.listens_root ? mono(e.listens_root, true) : h("span", { class: "muted" }, "see the report")),
        fact("Report", mono(e.report_cid, true)),
        fact("Check it", h("code", {}, `ninety verify epoch ${e.epoch}`))] : null),
    tokensTable(e, e.published));
}

// An epoch's pools, a column per token: what sponsors put in and took back, and once
// published how it settled (allocated, the platform's fee, the carry-over and its epoch).
function tokensTable(e, settled) {
  if (!e.tokens.length) return h("p", { class: "muted" }, "No sponsor money yet.");
  const carried = (t) => {
    if (t.carried_over == null || BigInt(t.carried_over) === 0n) return money(t.carried_over ?? "0", t.token);
    return t.carried_to_epoch != null
      ? `${money(t.carried_over, t.token)} → epoch ${t.carried_to_epoch}` : money(t.carried_over, t.token);
  };
  const rows = settled
    ? [["Funded", (t) => money(t.funded, t.token)], ["Taken back", (t) => money(t.withdrawn, t.token)],
      ["Pool at the end", (t) => money(t.settled_pool ?? "0", t.token)],
      ["Allocated to artists", (t) => money(t.allocated, t.token)],
      ["Claimed", (t) => money(t.claimed, t.token)],
      ["Platform fee (≤ 1/9 of allocated)", (t) => money(t.platform_fee ?? "0", t.token)],
      ["Carried over", carried]]
    : [["Funded", (t) => money(t.funded, t.token)], ["Taken back", (t) => money(t.withdrawn, t.token)],
      ["In the pool", (t) => money(t.open_balance, t.token)]];
  return h("div", { class: "table-wrap" }, h("table", { class: settled ? "settlements" : "pool-tokens" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, settled ? "Settlement" : "Pool"),
      e.tokens.map((t) => h("th", { scope: "col", class: "num" }, t.token_symbol)))),
    h("tbody", {}, rows.map(([label, cell]) => h("tr", {}, h("th", { scope: "row" }, label),
      e.tokens.map((t) => h("td", { class: "num" }, cell(t))))))));
}

// Receipts this browser kept for signed free downloads: once their epoch is published,
// each (wallet, track) must be a leaf of the report's listens root.
function receiptsPanel(pools) {
  const receipts = loadReceipts().sort((a, b) => b.epoch - a.epoch || a.track_id - b.track_id);
  const panel = h("section", { class: "panel", id: "receipts", "aria-labelledby": "receipts-h" },
    h("h2", { id: "receipts-h" }, "My receipts"));
  if (!receipts.length) {
    add(panel, h("p", { class: "muted" },
      "No receipts in this browser yet. When you sign a free download, the server's receipt is kept here, ",
      "and once its epoch is published this page checks that the report includes your download."));
    return panel;
  }
  const row = (r) => h("li",
    { class: "receipt-row", "data-epoch": r.epoch, "data-track": r.track_id, "data-wallet": r.wallet },
    h("div", {}, h("strong", {}, `Epoch ${r.epoch}`), " · ",
      h("a", { href: `#/track/${r.track_id}` }, r.title || `Track ${r.track_id}`),
      " · ", h("span", { class: "mono" }, short(ethers.getAddress(r.wallet)))),
    h("div", { class: "muted" }, "When recorded: ",
      r.counted ? "counted" : `not counted: ${r.reason || "no reason given"}`),
    h("div", {}, "In the report: ",
      h("span", { class: "receipt-status", "aria-live": "polite" }, waiting(pools, r))));
  add(panel, h("p", { class: "muted" },
    "Kept in this browser only. Each is checked against the published report's listens root with its Merkle proof."),
  h("ul", { class: "receipts" }, receipts.map(row)));
  return panel;
}

function waiting(pools, r) {
  const e = pools.epochs.find((x) => x.epoch === r.epoch);
  if (e?.published) return "checking…";
  if (r.epoch >= pools.current_epoch) return `waiting: epoch ${r.epoch} has not ended`;
  return `waiting: epoch ${r.epoch} has ended and is not published yet`;
}

async function checkReceipts(pools) {
  const published = new Map(pools.epochs.filter((e) => e.published).map((e) => [e.epoch, e]));
  const byKey = new Map(loadReceipts().map((r) => [`${r.epoch}:${r.wallet}:${r.track_id}`, r]));
  const fetched = {};
  for (const row of document.querySelectorAll("#receipts .receipt-row")) {
    const r = byKey.get(`${row.dataset.epoch}:${row.dataset.wallet}:${row.dataset.track}`);
    const e = r && published.get(r.epoch);
    if (!e) continue;
    const cell = row.querySelector(".receipt-status");
    try {
      const key = `${r.epoch}:${r.wallet}`;
      fetched[key] ||= api(`/api/pools/${r.epoch}/listens?wallet=${r.wallet}`);
      const data = await fetched[key];
      if (e.listens_root && data.listens_root && e.listens_root.toLowerCase() !== data.listens_root.toLowerCase()) {
        put(cell, missing(r, `the server's listens root ${short(data.listens_root)} `
          + `is not the one published on chain (${short(e.listens_root)})`));
        continue;
      }
      const leaf = listenLeaf(r.epoch, r.wallet, r.track_id);
      const entry = (data.listens || [])
        .find((x) => Number(x.track_id) === r.track_id && x.wallet.toLowerCase() === r.wallet);
      const altered = entry && (Number(entry.block_number) !== Number(r.block_number)
        || String(entry.signature).toLowerCase() !== String(r.signature).toLowerCase());
      if (altered) {
        put(cell, missing(r, `the report shows it at block ${entry.block_number} or with another signature, `
          + `not as recorded (block ${r.block_number})`));
      } else if (entry && Array.isArray(entry.proof) && verifyProof(data.listens_root, entry.proof, leaf)) {
        const why = entry.reason && entry.reason !== r.reason ? ` · not counted: ${entry.reason}` : " · not counted";
        put(cell, h("span", { class: "ok" }, "included"),
          h("span", { class: "muted" }, entry.counted ? " · counted" : why));
      } else {
        put(cell, missing(r, entry ? "its proof does not lead to the listens root" : "the report does not list it"));
      }
    } catch (err) {
      put(cell, h("span", { class: "error" }, `Could not check it now: ${explain(err)}`));
    }
  }
}

// A receipt the report leaves out or alters: the evidence, ready to copy.
function missing(r, why) {
  const evidence = { epoch: r.epoch, wallet: r.wallet, track_id: r.track_id, block_number: r.block_number,
    signature: r.signature, receipt: r.receipt, receipt_signer: r.receipt_signer, chain_id: r.chain_id,
    contract: r.contract };
  return [h("strong", { class: "error" }, "MISSING — keep this receipt: it proves the server recorded your download"),
    h("span", { class: "muted" }, ` (${why}).`), h("pre", { class: "receipt" }, JSON.stringify(evidence, null, 2))];
}
