// Ninety's web app: the store (fans), the studio (artists) and the ledger explorer
// (auditors). Plain ES modules, no build step: ethers is copied from npm into
// web/vendor by `make build`. Wallets are EIP-1193 providers, found by EIP-6963
// discovery or as window.ethereum.
import { ethers } from "./vendor/ethers.min.js";
import { ApiError, api, explain } from "./api.js";
import { add, fact, h, main, mono, money, put, short, shortc, stepList, toast, tokenInfo, when } from "./dom.js";
import { ETH, setRouter, state } from "./state.js";
import { payeeList, pct, shareChange, splitLosers, splitOf } from "./splits.js";
import {
  batchTx, connect, contractTx, encode, eventsOf, needSession, pickProvider, readContract, refreshStatus, renderWallet,
  send, signIn, waitIndexed,
} from "./wallet.js";

// ------------------------------------------------------------------ store

async function viewStore(params) {
  const q = params.get("q") || "", genre = params.get("genre") || "", sort = params.get("sort") || "newest";
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    location.hash = "#/?" + new URLSearchParams([...f].filter(([, v]) => v)).toString();
  } },
  h("div", {}, h("label", { for: "q" }, "Search"), h("input", { id: "q", name: "q", type: "search", value: q, placeholder: "title, artist, genre" })),
  h("div", {}, h("label", { for: "genre" }, "Genre"), h("input", { id: "genre", name: "genre", value: genre })),
  h("div", {}, h("label", { for: "sort" }, "Sort"), h("select", { id: "sort", name: "sort" },
    ["newest", "price", "sales"].map((s) => h("option", { value: s, selected: s === sort }, s)))),
  h("button", { type: "submit" }, "Search"));
  const grid = h("div", { class: "grid" });
  put(main, h("h1", {}, "Store"), form, grid);
  const qs = new URLSearchParams({ limit: "60", sort });
  if (q) qs.set("q", q);
  if (genre) qs.set("genre", genre);
  const page = await api("/api/tracks?" + qs);
  if (!page.items.length) grid.replaceWith(h("p", {}, "No tracks match."));
  for (const t of page.items) grid.append(trackCard(t));
}

function trackCard(t) {
  const title = t.title || `Track ${t.track_id}`;
  return h("article", { class: "card", "aria-label": title },
    h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${title}`, loading: "lazy" }),
    h("h3", {}, h("a", { href: `#/track/${t.track_id}` }, title)),
    h("div", { class: "muted" }, t.artist_name || short(t.artist), t.genre ? ` · ${t.genre}` : ""),
    h("audio", { controls: true, preload: "none", src: `/api/tracks/${t.track_id}/preview`, "aria-label": `Preview of ${title}` }),
    h("div", {}, h("span", { class: "price" }, isFree(t) ? "Free" : money(t.price, t.token)), " ",
      h("a", { class: "button", href: `#/track/${t.track_id}`, "aria-label": `${isFree(t) ? "Get" : "Buy"} ${title}` },
        isFree(t) ? "Get" : "Buy")));
}

// A free track (ETH, price 0) downloads for any signed-in wallet; each wallet's first
// download of it in an epoch counts toward the sponsor pools that pay its artists.
const isFree = (t) => t.token === ETH && BigInt(t.price) === 0n;

async function viewTrack(id) {
  const t = await api(`/api/tracks/${id}`);
  const info = tokenInfo(t.token);
  const title = t.title || `Track ${t.track_id}`;
  const amount = h("input", { id: "amount", type: "text", inputmode: "decimal", value: ethers.formatUnits(BigInt(t.price), info.decimals), "aria-describedby": "amount-help" });
  const out = h("div", { "aria-live": "polite" });
  const buy = h("button", { type: "button", id: "buy", onclick: () => buyTrack(t, amount.value, out, buy) }, `Buy for ${info.symbol}`);
  put(main, 
    h("h1", {}, title),
    h("div", { class: "panel" },
      h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${title}`, width: 220, height: 220 }),
      h("p", {}, h("strong", {}, t.artist_name || ""), " ", h("a", { class: "mono", href: `#/ledger/artist/${t.artist}` }, short(t.artist))),
      h("p", { class: "muted" }, [t.genre, t.duration ? `${t.duration.toFixed(1)} s` : null, `${t.sales} sales`].filter(Boolean).join(" · ")),
      h("audio", { controls: true, preload: "none", src: `/api/tracks/${t.track_id}/preview`, "aria-label": `Preview of ${title}` }),
      h("p", {}, "Price: ", h("span", { class: "price" }, isFree(t) ? "Free" : money(t.price, t.token))),
      t.blocked ? [h("p", { class: "error", id: "taken-down" }, `This track was taken down and cannot be bought or downloaded. The public reason is at ipfs://${t.block_reason_cid}.`),
        state.account && state.account.toLowerCase() === t.artist ? counterNoticeForm({ track_id: t.track_id }, "It is your track: if the takedown is mistaken, tell the moderators.") : null] :
      isFree(t) && t.listed ? freeDownload(t) :
      t.listed ? [h("label", { for: "amount" }, `Pay (${info.symbol})`), amount,
        h("p", { id: "amount-help", class: "muted" }, "Pay what you want: the price or more. The split sends it to the artist and collaborators."),
        buy] : h("p", { class: "error" }, "This track is not for sale right now."),
      out,
      t.pending_split_changes ? h("p", { class: "warn", id: "pending-note" }, `A change of who is paid is waiting for consent (${t.pending_split_changes}): see below.`) : null,
      h("p", {}, h("a", { href: `#/ledger/track/${t.track_id}` }, "This track's sales in the ledger"))));
  const mine = state.account && state.account.toLowerCase() === t.artist.toLowerCase();
  const splits = await api(`/api/ledger/tracks/${t.track_id}/splits`).catch((e) => ({ error: explain(e) }));
  add(main, mine ? listingEditor(t) : null, splitPanel(t, splits, mine));
}

// The artist's listing: price and whether it is for sale (updateTrack). Who is paid
// changes through "Change split", with the consent of payees who would lose share.
function listingEditor(t) {
  const info = tokenInfo(t.token);
  const out = h("div", { "aria-live": "polite" });
  const price = h("input", { id: "edit-price", inputmode: "decimal", value: ethers.formatUnits(BigInt(t.price), info.decimals) });
  const listed = h("input", { id: "edit-listed", type: "checkbox", checked: t.listed });
  const save = h("button", { type: "submit", id: "save-listing" }, "Save");
  const form = h("form", { class: "filters", id: "listing-form", onsubmit: async (e) => {
    e.preventDefault();
    let value;
    try { value = ethers.parseUnits(price.value.trim(), info.decimals); } catch { put(out, h("p", { class: "error" }, `Enter a price in ${info.symbol}, like 0.01.`)); return; }
    if (value === 0n && t.token !== ETH) { put(out, h("p", { class: "error" }, "A track paid in a token needs a price above zero.")); return; }
    if (!state.account && !(await connect())) return;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the store"]]);
    put(out, steps);
    save.disabled = true;
    try {
      const receipt = await send(contractTx("updateTrack", [t.track_id, value, listed.checked]), steps);
      await waitIndexed(receipt.blockNumber, steps);
      add(out, h("p", { class: "ok", id: "listing-saved" }, listed.checked ? `Saved: for sale at ${money(value, t.token)}.` : "Saved: not for sale."));
      setTimeout(route, 1500);
    } catch (err) { steps.fail(explain(err)); save.disabled = false; }
  } },
  h("div", {}, h("label", { for: "edit-price" }, `Price (${info.symbol})`), price),
  h("div", {}, h("label", { for: "edit-listed" }, "For sale"), listed), save);
  return h("section", { class: "panel", id: "listing", "aria-labelledby": "listing-h" }, h("h2", { id: "listing-h" }, "Your listing"),
    h("p", { class: "muted" }, "Fans pay at least this price. The token is fixed at registration."), form, out);
}

// Who is paid for a track, every change since its registration, and the changes waiting
// for consent: public, for fans and auditors alike. The artist gets the "Change split" form;
// a payee whose consent is missing can accept here too.
function splitPanel(t, splits, mine) {
  const panel = h("section", { class: "panel", id: "split", "aria-labelledby": "split-h" }, h("h2", { id: "split-h" }, "Who is paid"));
  if (splits.error) { add(panel, h("p", { class: "error" }, `The split history is not available now: ${splits.error}`)); return panel; }
  const history = splits.history || [];
  const now = history.findLast((x) => x.split_id === splits.split_id) || history[history.length - 1];
  if (!now) { add(panel, h("p", { class: "muted" }, "The ledger has not indexed this track's split yet.")); return panel; }
  const current = { split_id: now.split_id, recipients: now.recipients, shares_ppm: now.shares_ppm };
  const me = state.account?.toLowerCase();
  add(panel,
    h("p", { class: "muted" }, "Each sale, after the platform fee, is shared among these payees by the contract. ",
      "Changing it needs the consent of every payee whose share would fall."),
    h("div", { class: "table-wrap" }, h("table", { id: "current-split", class: "split-table" },
      h("caption", { class: "muted" }, "Split ", h("span", { class: "mono", title: current.split_id }, short(current.split_id))),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Payee"), h("th", { scope: "col", class: "num" }, "Share"))),
      h("tbody", {}, current.recipients.map((r, i) => h("tr", {},
        h("td", { class: "addr" }, h("a", { class: "mono", href: `#/ledger/artist/${r.toLowerCase()}` }, ethers.getAddress(r)), r.toLowerCase() === t.artist.toLowerCase() ? h("span", { class: "muted" }, " (artist)") : null),
        h("td", { class: "num" }, pct(current.shares_ppm[i]))))))));
  const proposals = splits.proposals || [];
  const pending = proposals.filter((p) => p.status === "pending");
  add(panel, h("h3", {}, "Waiting for consent"), pending.length
    ? h("ul", { class: "proposals", id: "split-proposals" }, pending.map((p) => proposalItem(t, current, p, me)))
    : h("p", { class: "muted", id: "no-proposals" }, "No change is waiting for consent."));
  add(panel, h("h3", {}, "History"), h("div", { class: "table-wrap" }, h("table", { id: "split-history", class: "stack" },
    h("thead", {}, h("tr", {}, ["Block", "Change", "Payees", "Transaction"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, [...history].reverse().map((x) => h("tr", { "data-split": x.split_id },
      h("td", { class: "num", "data-label": "Block" }, x.block_number),
      h("td", { "data-label": "Change" }, x.previous_split_id ? ["from ", h("span", { class: "mono", title: x.previous_split_id }, short(x.previous_split_id)), " to ",
        h("span", { class: "mono", title: x.split_id }, short(x.split_id))] : ["registered with ", h("span", { class: "mono", title: x.split_id }, short(x.split_id))]),
      h("td", { class: "wrap", "data-label": "Payees" }, payeeList(x.recipients, x.shares_ppm)),
      h("td", { "data-label": "Transaction" }, h("a", { class: "mono", href: `#/proof/${x.tx_hash}/${x.log_index}`, title: x.tx_hash }, short(x.tx_hash)))))))));
  const past = proposals.filter((p) => p.status !== "pending");
  if (past.length) {
    add(panel, h("details", { id: "past-proposals" }, h("summary", {}, `Earlier proposals (${past.length})`),
      h("ul", { class: "proposals" }, past.map((p) => h("li", { "data-split": p.split_id }, h("div", {}, `Proposed in block ${p.block_number}: `,
        payeeList(p.recipients, p.shares_ppm), " — ",
        p.status === "applied" ? h("span", { class: "ok" }, "applied")
          : h("span", { class: "muted" }, p.status === "cancelled" ? "withdrawn by the artist" : "superseded by another change")))))));
  }
  if (mine && pending.length) add(panel, withdrawProposalsButton(t.track_id, pending.length));
  if (mine) add(panel, changeSplitForm(t, current, pending));
  return panel;
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
  const who = (a) => [h("a", { class: "mono", href: `#/ledger/artist/${a.toLowerCase()}`, title: ethers.getAddress(a) }, shortc(a)),
    losses.get(a.toLowerCase()) ? ` (${shareChange(losses.get(a.toLowerCase()))})` : ""];
  const out = h("div", { "aria-live": "polite" });
  const canAccept = me && waitingFor.some((a) => a.toLowerCase() === me);
  const accept = canAccept ? h("button", { type: "button", class: "accept", onclick: () => acceptProposal(t.track_id, p.split_id, accept, out) }, "Accept") : null;
  return h("li", { class: "proposal", "data-split": p.split_id },
    h("div", {}, h("strong", {}, `Proposed in block ${p.block_number}: `), payeeList(p.recipients, p.shares_ppm),
      h("span", { class: "muted" }, " · transaction "), h("span", { class: "mono", title: p.tx_hash }, short(p.tx_hash))),
    h("div", { class: "missing" }, `${p.missing} consent${p.missing === 1 ? "" : "s"} missing, from: `, waitingFor.map((a, i) => [i ? ", " : "", who(a)])),
    accepted.size ? h("div", { class: "muted" }, "Already accepted by: ", [...p.accepted].map((a, i) => [i ? ", " : "", who(a)])) : null,
    accept, out);
}

// The artist proposes a new split. It is created first when it does not exist yet, in the
// same transaction (multicall). Before sending, the form says whether the change lands at
// once or waits for consents, computed as the contract computes it.
function changeSplitForm(t, current, pending) {
  const rows = h("div", { id: "change-split-rows" });
  const verdict = h("div", { id: "split-verdict", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "propose-split" }, "Propose this split");
  const out = h("div", { "aria-live": "polite" });
  const addRow = (address = "", percent = "") => {
    const row = h("div", { class: "split-row" },
      h("input", { type: "text", name: "payee", value: address, placeholder: "0x… payee address", "aria-label": "New payee address", oninput: check }),
      h("input", { type: "number", name: "percent", value: percent, min: "0.0001", max: "100", step: "0.0001", "aria-label": "New share in percent", oninput: check }),
      h("span", {}, "%"),
      h("button", { type: "button", class: "secondary", "aria-label": "Remove this payee", onclick: () => { row.remove(); check(); } }, "Remove"));
    rows.append(row);
  };
  // The split the form describes, or why it is not one yet.
  function read() {
    const parts = [...rows.querySelectorAll(".split-row")].map((r) => ({ address: r.querySelector("[name=payee]").value.trim(), percent: r.querySelector("[name=percent]").value }));
    if (!parts.length) return { error: "Add at least one payee." };
    const bad = parts.find((p) => !ethers.isAddress(p.address));
    if (bad) return { error: `"${bad.address || "(empty)"}" is not an address (or its checksum is wrong).` };
    const pairs = parts.map((p) => ({ address: ethers.getAddress(p.address), ppm: Math.round(Number(p.percent || 0) * 10000) }));
    if (new Set(pairs.map((p) => p.address)).size !== pairs.length) return { error: "A payee appears twice." };
    if (pairs.some((p) => p.address === ETH)) return { error: "The zero address cannot be paid." };
    if (pairs.some((p) => p.address.toLowerCase() === state.contract.address.toLowerCase())) return { error: "The Marketplace itself cannot be a payee." };
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
    if (next.split_id === current.split_id) { put(verdict, h("p", { class: "muted" }, "This is the current split.")); return null; }
    if (pending.some((p) => p.split_id === next.split_id)) {
      put(verdict, h("p", { class: "warn" }, "This change is already proposed and waiting for consent (see above).")); return null;
    }
    const losers = splitLosers(current, next, t.artist);
    put(verdict, losers.length
      ? h("p", { class: "warn", id: "needs-consent" }, `Needs consent: ${losers.length === 1 ? "this payee's share falls, so they must" : "these payees' shares fall, so each must"} accept it in their studio before it applies: `,
        losers.map((x, i) => [i ? ", " : "", h("span", { class: "mono", title: ethers.getAddress(x.address) }, shortc(x.address)), ` (${shareChange(x)})`]),
        ". Until then sales keep the current split.")
      : h("p", { class: "ok", id: "lands-at-once" }, "Applies at once: nobody's share falls (yours may: you are the one proposing it)."));
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
      calls.push(encode("proposeSplit", [t.track_id, [current.recipients, current.shares_ppm], [next.recipients, next.shares_ppm]]));
      const receipt = await send(batchTx(calls), steps);
      await waitIndexed(receipt.blockNumber, steps);
      const proposed = eventsOf(receipt, "SplitChangeProposed")[0];
      add(out, proposed
        ? h("p", { class: "ok", id: "split-result" }, `Proposed: waiting for ${proposed.args.mustConsent.length} consent(s) from `,
          proposed.args.mustConsent.map((a, i) => [i ? ", " : "", h("span", { class: "mono" }, shortc(a))]), ".")
        : h("p", { class: "ok", id: "split-result" }, "Changed: sales from now on follow the new split."));
      setTimeout(route, 1500);
    } catch (err) { steps.fail(explain(err)); submit.disabled = false; }
  } },
  h("fieldset", {}, h("legend", {}, "Payees and their share of each sale (after the platform fee)"), rows,
    h("button", { type: "button", class: "secondary", id: "change-split-add", onclick: () => { addRow(); check(); } }, "Add a payee"), verdict),
  submit, out);
  current.recipients.forEach((r, i) => addRow(ethers.getAddress(r), String(Number(current.shares_ppm[i]) / 10000)));
  check();
  return h("details", { class: "change-split", id: "change-split-panel" }, h("summary", {}, "Change split"),
    h("p", { class: "muted" }, "Raising a share, adding a payee from your own share, or any change where nobody but you loses applies at once. ",
      "If a collaborator's share would fall, they must accept first; proposals made before a change that lands are void."), form);
}

async function buyTrack(t, amountText, out, button) {
  const info = tokenInfo(t.token);
  let amount;
  try { amount = ethers.parseUnits(amountText.trim(), info.decimals); } catch { put(out, h("p", { class: "error" }, "Enter an amount like 0.01.")); return; }
  if (amount < BigInt(t.price)) { put(out, h("p", { class: "error" }, `The price is ${money(t.price, t.token)}; pay that or more.`)); return; }
  if (!state.account && !(await connect())) return;
  const isEth = t.token === ETH;
  const steps = stepList([...(isEth ? [] : [["approved", "Approve the token"]]), ["submitted", "Submit the purchase"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
  put(out, steps);
  button.disabled = true;
  try {
    if (!isEth) {
      const erc20 = new ethers.Interface(["function allowance(address,address) view returns (uint256)", "function approve(address,uint256) returns (bool)"]);
      const rpc = new ethers.BrowserProvider(state.wallet);
      const raw = await rpc.call({ to: t.token, data: erc20.encodeFunctionData("allowance", [state.account, state.contract.address]) });
      if (BigInt(raw) < amount) {
        await send({ to: t.token, data: erc20.encodeFunctionData("approve", [state.contract.address, amount]) });
      }
      steps.mark("approved", "Token approved");
    }
    const receipt = await send(contractTx("buy", [t.track_id, amount], isEth ? amount : 0n), steps);
    await waitIndexed(receipt.blockNumber, steps);
    out.append(h("p", { class: "ok" }, "Bought. "), downloadLink(t));
  } catch (e) {
    steps.fail(explain(e));
  } finally {
    button.disabled = false;
  }
}

function downloadLink(t) {
  return h("button", { type: "button", class: "download", onclick: async () => {
    if (await needSession()) downloadFile(t);
  } }, `Download ${t.title || "the track"}`);
}

// ------------------------------------------------------------------ free downloads

// A free download counts toward the sponsor pools only when the wallet signs it
// (EIP-712 FreeDownload(trackId, epoch)); the server records it in public, so the
// fan is told so before the wallet opens, and can download without being counted.
function freeDownload(t) {
  const title = t.title || "the track";
  const out = h("div", { id: "free-download-result", "aria-live": "polite" });
  const notice = h("div", { class: "panel notice", id: "free-download-notice", hidden: true },
    h("p", {}, h("strong", {}, "Your download is recorded publicly. "),
      "To count toward the sponsor pools, your wallet signs this download. The sponsor-pool report of this epoch, " +
      "published on IPFS for anyone to check, then lists your wallet address with this track."),
    h("p", { class: "muted" }, "Signing costs nothing and sends no transaction. If you prefer not to be listed, download without signing: " +
      "you get the same file, it just does not count."),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "sign-download", onclick: () => go(true) }, "Sign and download"),
      h("button", { type: "button", class: "secondary", id: "plain-download", onclick: () => go(false) }, "Download without counting")));
  const start = h("button", { type: "button", class: "download", onclick: () => {
    notice.hidden = false;
    start.hidden = true;
    put(out);
    notice.querySelector("#sign-download").focus();
  } }, `Download ${title}`);
  async function go(sign) {
    for (const b of notice.querySelectorAll("button")) b.disabled = true;
    try {
      if (!(await needSession())) { put(out, h("p", { class: "error" }, "Sign in with your wallet to download this track.")); return; }
      if (sign) put(out, await countFreeDownload(t));
      else put(out, h("p", { class: "muted" }, "Not counted: you chose not to sign. Downloading."));
      downloadFile(t);
      notice.hidden = true;
      start.hidden = false;
    } finally {
      for (const b of notice.querySelectorAll("button")) b.disabled = false;
    }
  }
  return [h("p", { class: "muted" }, "Free to download: sponsors pay the artists for fans who download it, through the public sponsor pools."),
    start, notice, out];
}

function downloadFile(t) {
  // Through a link so the browser streams the file to disk; the session cookie gates it.
  const a = h("a", { href: `/api/tracks/${t.track_id}/download`, download: "" });
  document.body.append(a); a.click(); a.remove();
}

const freeDownloadTypes = { FreeDownload: [{ name: "trackId", type: "uint256" }, { name: "epoch", type: "uint256" }] };
const receiptTypes = { FreeDownloadRecorded: [{ name: "listener", type: "address" }, { name: "trackId", type: "uint256" }, { name: "epoch", type: "uint256" },
  { name: "blockNumber", type: "uint256" }, { name: "signatureHash", type: "bytes32" }] };
const eip712Domain = () => ({ name: "Ninety", version: "1", chainId: state.status.chain_id, verifyingContract: ethers.getAddress(state.contract.address) });

// Sign FreeDownload(trackId, current epoch), record it, keep the receipt; what happened, in words.
async function countFreeDownload(t) {
  let epoch, signature;
  try {
    epoch = (await api("/api/pools")).current_epoch;
    if (state.chainId !== state.status.chain_id) throw new Error(`Your wallet is on chain ${state.chainId}; Ninety runs on chain ${state.status.chain_id}.`);
    const typed = { types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" },
      { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }], ...freeDownloadTypes },
    primaryType: "FreeDownload", domain: eip712Domain(), message: { trackId: t.track_id, epoch } };
    signature = await state.wallet.request({ method: "eth_signTypedData_v4", params: [state.account, JSON.stringify(typed)] });
    const signer = ethers.verifyTypedData(eip712Domain(), freeDownloadTypes, { trackId: t.track_id, epoch }, signature);
    if (signer !== state.account) throw new Error(`Your wallet signed as ${short(signer)}, not as ${short(state.account)}.`);
  } catch (e) {
    const why = explain(e);
    return h("p", { class: "warn", id: "not-counted" },
      why === "You rejected the request in your wallet." ? "Not counted: you declined to sign in your wallet. " : `Not counted: ${why} `,
      "You still get the track: it is downloading now, it just does not count toward the sponsor pools.");
  }
  let r;
  try {
    r = await api(`/api/tracks/${t.track_id}/free-download`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ epoch, signature }) });
  } catch (e) {
    return h("p", { class: "error", id: "not-counted" }, `Not counted: the server did not record it (${explain(e)}). Downloading anyway.`);
  }
  if (r.receipt) await keepReceipt(t, r, signature);
  const kept = r.receipt ? " Your receipt is kept in this browser: after the epoch is published, the Pools page checks the report includes it." : "";
  return r.counted
    ? h("p", { class: "ok", id: "counted" }, `Counted: this download adds to epoch ${r.epoch}'s sponsor pools for the artist.${kept}`)
    : h("p", { class: "warn", id: "not-counted" }, `Not counted: ${(r.reason || "the server did not say why").replace(/\.$/, "")}.${r.receipt ? " It is recorded, and counts if your wallet still qualifies when the epoch is closed." : ""}${kept}`);
}

// ------------------------------------------------------------------ receipts (localStorage)

const receiptsKey = () => `ninety-receipts:${state.status.chain_id}:${state.contract.address.toLowerCase()}`;

function loadReceipts() {
  try {
    const list = JSON.parse(localStorage.getItem(receiptsKey()) || "[]");
    return Array.isArray(list) ? list : [];
  } catch { return []; }
}

// The receipt is the server's EIP-712 signature over FreeDownloadRecorded(listener,
// trackId, epoch, blockNumber, keccak256(signature)): kept with who signed it, so a
// download left out of the report, or shown with another block or signature, can be proven
// (`ninety verify epoch N --receipts FILE` takes these entries as they are).
async function keepReceipt(t, r, signature) {
  let receiptSigner = null;
  try {
    receiptSigner = ethers.verifyTypedData(eip712Domain(), receiptTypes, { listener: state.account, trackId: r.track_id, epoch: r.epoch,
      blockNumber: r.block_number, signatureHash: ethers.keccak256(signature) }, r.receipt);
  } catch { /* kept as is */ }
  const entry = { chain_id: state.status.chain_id, contract: state.contract.address.toLowerCase(), epoch: r.epoch,
    wallet: state.account.toLowerCase(), track_id: r.track_id, block_number: r.block_number, title: t.title || null, signature, receipt: r.receipt,
    receipt_signer: receiptSigner && receiptSigner.toLowerCase(), counted: r.counted, reason: r.reason || "", recorded_at: Math.floor(Date.now() / 1000) };
  const list = loadReceipts().filter((x) => !(x.epoch === entry.epoch && x.wallet === entry.wallet && x.track_id === entry.track_id));
  list.push(entry);
  try { localStorage.setItem(receiptsKey(), JSON.stringify(list)); } catch { toast("This browser did not keep the receipt (storage is full or disabled)."); }
}

async function viewPurchases() {
  put(main, h("h1", {}, "My purchases"));
  if (!state.account) { main.append(h("p", {}, "Connect your wallet to see what it bought."), h("button", { type: "button", onclick: async () => { if (await connect()) route(); } }, "Connect wallet")); return; }
  const sales = await api(`/api/ledger/sales?buyer=${state.account}&limit=200`);
  if (!sales.items.length) { main.append(h("p", {}, "This wallet has not bought anything yet. ", h("a", { href: "#/" }, "Visit the store."))); return; }
  const seen = new Set();
  const list = h("div", { class: "grid" });
  main.append(list);
  for (const s of sales.items) {
    if (seen.has(s.track_id)) continue;
    seen.add(s.track_id);
    const t = await api(`/api/tracks/${s.track_id}`).catch(() => null);
    if (!t) continue;
    list.append(h("article", { class: "card" },
      h("img", { src: `/api/tracks/${t.track_id}/artwork`, alt: `Artwork for ${t.title}` }),
      h("h3", {}, t.title), h("div", { class: "muted" }, t.artist_name),
      h("div", {}, `Paid ${money(s.amount, s.token)} on ${when(s.block_time)}`), downloadLink(t)));
  }
}

// ------------------------------------------------------------------ studio

async function viewStudio() {
  put(main, h("h1", {}, "Studio"));
  if (!state.account || !state.session) {
    main.append(h("p", {}, "Sign in with your wallet to upload tracks and see your earnings."),
      h("button", { type: "button", onclick: async () => { if (await signIn()) route(); } }, "Sign in"));
    return;
  }
  let summary = null, failure = null;
  try { summary = await api(`/api/ledger/artists/${state.account.toLowerCase()}`); } catch (e) { failure = explain(e); }
  add(main, summary ? await proposalsPanel(summary) : null, await earningsPanel(summary, failure), await claimsPanel(), await tracksPanel(), uploadPanel());
}

// The artist's own tracks, each linking to its page, where its listing and split are edited.
async function tracksPanel() {
  const page = await api(`/api/tracks?artist=${state.account.toLowerCase()}&include_unlisted=true&limit=100`).catch(() => null);
  if (!page || !page.items.length) return null;
  return h("section", { class: "panel", id: "my-tracks", "aria-labelledby": "my-tracks-h" }, h("h2", { id: "my-tracks-h" }, "Your tracks"),
    h("ul", { class: "receipts" }, page.items.map((t) => h("li", {},
      h("div", {}, h("a", { href: `#/track/${t.track_id}` }, t.title || `Track ${t.track_id}`), " · ",
        t.listed ? (isFree(t) ? "free" : money(t.price, t.token)) : h("span", { class: "muted" }, "not for sale"),
        t.pending_split_changes ? h("span", { class: "warn" }, ` · split change waiting for consent`) : null),
      h("div", { class: "muted" }, "Open it to change its price, take it off sale or change who is paid.")))));
}

function uploadPanel() {
  const tokens = state.status.tokens;
  const rows = h("div", { id: "split-rows" });
  const total = h("p", { id: "split-total", "aria-live": "polite" });
  const addRow = (address = "", percent = "") => {
    const row = h("div", { class: "split-row" },
      h("input", { type: "text", name: "payee", value: address, placeholder: "0x… payee address", "aria-label": "Payee address", oninput: check }),
      h("input", { type: "number", name: "percent", value: percent, min: "0.0001", max: "100", step: "0.0001", "aria-label": "Share in percent", oninput: check }),
      h("span", {}, "%"),
      h("button", { type: "button", class: "secondary", "aria-label": "Remove this payee", onclick: () => { row.remove(); check(); } }, "Remove"));
    rows.append(row);
    check();
  };
  const submit = h("button", { type: "submit", id: "upload" }, "Upload");
  function split() {
    return [...rows.querySelectorAll(".split-row")].map((r) => ({ address: r.querySelector("[name=payee]").value.trim(), percent: r.querySelector("[name=percent]").value }));
  }
  function check() {
    const parts = split();
    const ppm = parts.reduce((s, p) => s + Math.round(Number(p.percent || 0) * 10000), 0);
    const badAddress = parts.find((p) => !ethers.isAddress(p.address));
    let msg = `Total: ${(ppm / 10000).toFixed(4).replace(/\.?0+$/, "")}%`;
    let ok = ppm === 1_000_000 && !badAddress && parts.length > 0;
    if (ppm !== 1_000_000) msg += " (must be exactly 100%)";
    if (badAddress) msg += ` · "${badAddress.address || "(empty)"}" is not an address`;
    total.textContent = msg;
    total.className = ok ? "ok" : "error";
    submit.disabled = !ok;
    return ok;
  }
  const progress = h("progress", { max: "100", value: "0", hidden: true, "aria-label": "Upload progress" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "upload-form", onsubmit: (e) => { e.preventDefault(); if (check()) upload(form, split(), progress, out, submit); } },
    h("label", { for: "audio" }, "Audio (WAV, FLAC, MP3 or OGG)"), h("input", { id: "audio", name: "audio", type: "file", accept: "audio/*", required: true }),
    h("label", { for: "artwork" }, "Artwork (PNG or JPEG)"), h("input", { id: "artwork", name: "artwork", type: "file", accept: "image/png,image/jpeg", required: true }),
    h("label", { for: "title" }, "Title"), h("input", { id: "title", name: "title", required: true, maxlength: 300 }),
    h("label", { for: "artist_name" }, "Artist name"), h("input", { id: "artist_name", name: "artist_name", required: true, maxlength: 300 }),
    h("label", { for: "genre" }, "Genre"), h("input", { id: "genre", name: "genre", maxlength: 100 }),
    h("label", { for: "description" }, "Description"), h("textarea", { id: "description", name: "description", rows: 2, maxlength: 5000 }),
    h("label", { for: "price" }, "Price"), h("input", { id: "price", name: "price_human", required: true, inputmode: "decimal", value: "0.01" }),
    h("label", { for: "token" }, "Paid in"), h("select", { id: "token", name: "token" }, tokens.map((t) => h("option", { value: t.address }, t.symbol))),
    h("label", { for: "preview_start" }, "Preview starts at (seconds)"), h("input", { id: "preview_start", name: "preview_start", type: "number", min: "0", step: "0.1", value: "0" }),
    h("fieldset", {}, h("legend", {}, "Split: who is paid, and how much of each sale (after the platform fee)"),
      rows, h("button", { type: "button", class: "secondary", id: "add-payee", onclick: () => addRow() }, "Add a collaborator"), total),
    submit, progress, out);
  addRow(state.account, "100");
  return h("section", { class: "panel", "aria-labelledby": "upload-h" }, h("h2", { id: "upload-h" }, "Upload a track"), form);
}

function upload(form, split, progress, out, submit) {
  const data = new FormData(form);
  const token = tokenInfo(data.get("token"));
  let price;
  try { price = ethers.parseUnits(String(data.get("price_human")).trim(), token.decimals); } catch { put(out, h("p", { class: "error" }, "Enter a price like 0.01.")); return; }
  data.delete("price_human");
  data.set("price", price.toString());
  data.set("split", JSON.stringify(split.map((p) => ({ address: p.address, share_ppm: Math.round(Number(p.percent) * 10000) }))));
  // XMLHttpRequest, not fetch: it reports upload progress.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/uploads");
  progress.hidden = false;
  submit.disabled = true;
  put(out, h("p", {}, "Uploading…"));
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total); };
  xhr.onerror = () => { submit.disabled = false; put(out, h("p", { class: "error" }, "The upload failed: the server is not reachable.")); };
  xhr.onload = () => {
    submit.disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 409 && body.track) { put(out, duplicateRefusal(body)); return; }
    if (xhr.status !== 201) { put(out, h("p", { class: "error" }, `Upload refused: ${body.detail || "HTTP " + xhr.status}`)); return; }
    progress.value = 100;
    const steps = stepList([["split", "Create the split on chain"], ["submitted", "Register the track"], ["mined", "Mined"], ["indexed", "In the store"]]);
    const register = h("button", { type: "button", id: "register", onclick: async () => {
      register.disabled = true;
      try {
        await send({ to: body.create_split_call.to, data: body.create_split_call.data });
        steps.mark("split", "Split created");
        // A fresh attestation right before listing: the server checks the recording again
        // against what was registered since the upload (a copy is refused here).
        // It binds the split too (a new upload of your own recording may not pay the
        // earlier track's collaborators less: that change needs their consent).
        const split = body.recipients.map((address, i) => ({ address, share_ppm: body.shares_ppm[i] }));
        const fresh = await api(`/api/uploads/${body.metadata_cid}/attestation`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ split }) });
        const data = state.iface.encodeFunctionData("registerTrack", [body.metadata_cid, body.split_id, token.address, price, fresh.attestation]);
        const receipt = await send({ to: body.register_call.to, data }, steps);
        const log = receipt.logs.map((l) => { try { return state.iface.parseLog(l); } catch { return null; } }).find((l) => l?.name === "TrackRegistered");
        await waitIndexed(receipt.blockNumber, steps);
        const id = log ? Number(log.args.trackId) : null;
        out.append(h("p", { class: "ok", id: "registered" }, "Your track is in the store. ", id ? h("a", { href: `#/track/${id}` }, `Open track ${id}`) : ""));
      } catch (e) {
        steps.fail(explain(e));
        register.disabled = false;
      }
    } }, "Register on chain");
    put(out, h("p", { class: "ok" }, `Pinned to IPFS: metadata ${body.metadata_cid}`), h("p", {}, "Now register it from your wallet (two transactions):"), register, steps);
  };
  xhr.send(data);
}

// What this wallet earned and can collect. One click distributes every split balance
// waiting for it and withdraws, in one transaction; "Send to another address" does the
// same with withdrawTo, for a wallet that cannot receive ETH or that a stablecoin blocklists.
async function earningsPanel(summary, failure) {
  const me = state.account.toLowerCase();
  const panel = h("section", { class: "panel", "aria-labelledby": "earn-h" }, h("h2", { id: "earn-h" }, "Earnings"));
  if (!summary) { panel.append(h("p", { class: "error" }, failure)); return panel; }
  const rows = summary.tokens.map((t) => h("tr", {},
    h("td", {}, t.token_symbol), h("td", { class: "num" }, t.sales), h("td", { class: "num" }, money(t.gross, t.token)),
    h("td", { class: "num" }, money(t.credited, t.token)), h("td", { class: "num" }, money(t.withdrawn, t.token)),
    h("td", { class: "num owed" }, money(t.owed, t.token))));
  const waiting = summary.undistributed || [];
  const tokensWithMoney = [...new Set([...summary.tokens.filter((t) => BigInt(t.owed) > 0n).map((t) => t.token), ...waiting.map((w) => w.token)])];
  const out = h("div", { "aria-live": "polite" });
  const buttons = [];
  // The payee's own balance: distribute what waits in its splits (a split already
  // distributed by someone else moves nothing), then withdraw (to `to`, if given).
  async function collect(to) {
    for (const b of buttons) b.disabled = true;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
    put(out, steps);
    try {
      const calls = waiting.map((w) => encode("distribute", [w.split_id, w.token, w.recipients, w.shares_ppm]));
      calls.push(to ? encode("withdrawTo", [to, tokensWithMoney]) : encode("withdraw", [state.account, tokensWithMoney]));
      const receipt = await send(batchTx(calls), steps);
      await waitIndexed(receipt.blockNumber, steps);
      const paid = eventsOf(receipt, "Withdrawal").filter((e) => e.args.account.toLowerCase() === me);
      const sum = paid.map((e) => money(e.args.amount, e.args.token)).join(" and ");
      out.append(paid.length
        ? h("p", { class: "ok", id: "withdrawn" }, to ? `Sent ${sum} to ${to}.` : `Withdrawn to your wallet: ${sum}.`)
        : h("p", { class: "ok", id: "withdrawn" }, "Nothing left to collect: someone already paid your balance out to your wallet ",
          "(anyone may distribute a split or withdraw for a payee, always to the payee). Your wallet has it."));
      setTimeout(route, 1500);
    } catch (e) { steps.fail(explain(e)); for (const b of buttons) b.disabled = !tokensWithMoney.length; }
  }
  const withdraw = h("button", { type: "button", id: "withdraw", disabled: !tokensWithMoney.length, onclick: () => collect(null) }, "Withdraw everything");
  buttons.push(withdraw);
  add(panel,
    summary.tokens.length ? h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "muted" }, `As of block ${summary.as_of_block}`),
      h("thead", {}, h("tr", {}, ["Token", "Sales", "Gross sales", "Credited to you", "Withdrawn", "Owed now"].map((c, i) => h("th", { scope: "col", class: i ? "num" : "" }, c)))),
      h("tbody", {}, rows))) : h("p", {}, "No sales yet."),
    waiting.length ? h("p", { class: "muted" }, `Also waiting in your splits: ${waiting.map((w) => money(w.amount, w.token)).join(", ")} (shared among the split's payees when you withdraw).`) : null,
    withdraw, tokensWithMoney.length ? withdrawElsewhere(collect, buttons) : null, out, await earningsChart(me));
  return panel;
}

// The address a payee's balance goes to instead of their wallet: refused unless it is a
// well-formed address with a valid checksum (when mixed case), not zero, not the Marketplace.
function checkDestination(text) {
  const t = text.trim();
  if (!t) return { error: "Enter the address to send your earnings to." };
  if (!/^0x[0-9a-fA-F]{40}$/.test(t)) return { error: "That is not an address: it should be 0x followed by 40 hexadecimal characters." };
  let address;
  try { address = ethers.getAddress(t); } catch {
    return { error: "This address's checksum (its mix of capital letters) is wrong, so a character is mistyped. Copy it again from the wallet it belongs to." };
  }
  if (address === ETH) return { error: "That is the zero address: whatever is sent there is lost. Enter a real address." };
  if (address.toLowerCase() === state.contract.address.toLowerCase()) return { error: "That is the Marketplace itself: money sent there would be stuck. Enter another address." };
  const unchecked = t.slice(2) === t.slice(2).toLowerCase() || t.slice(2) === t.slice(2).toUpperCase();
  return { address, note: unchecked ? `No checksum to check (the address is in one case): make sure it is ${address}.` : null };
}

function withdrawElsewhere(collect, buttons) {
  const input = h("input", { id: "withdraw-to", type: "text", autocomplete: "off", spellcheck: "false", placeholder: "0x…", size: 44, "aria-describedby": "withdraw-to-help" });
  const help = h("p", { id: "withdraw-to-help", "aria-live": "polite", class: "muted" },
    "Only you can do this, and only with your own balance. Check the address: a payment cannot be taken back.");
  const go = h("button", { type: "button", id: "withdraw-to-send", class: "secondary", onclick: () => {
    const d = checkDestination(input.value);
    if (d.error) { put(help, h("span", { class: "error" }, d.error)); input.focus(); return; }
    put(help, h("span", {}, `Sending everything owed to you to ${d.address}.`), d.note ? h("span", { class: "warn" }, " " + d.note) : null);
    collect(d.address);
  } }, "Send to this address");
  buttons.push(go);
  input.addEventListener("input", () => {
    const d = input.value.trim() ? checkDestination(input.value) : {};
    put(help, d.error ? h("span", { class: "error" }, d.error) : d.note ? h("span", { class: "warn" }, d.note)
      : h("span", { class: "muted" }, "Only you can do this, and only with your own balance. Check the address: a payment cannot be taken back."));
  });
  return h("details", { class: "elsewhere", id: "elsewhere" }, h("summary", {}, "Send to another address"),
    h("p", {}, "If your wallet cannot receive ETH (some contract wallets refuse it) or a stablecoin has blocked it, ",
      "the contract pays what it owes you to another address of yours instead."),
    h("label", { for: "withdraw-to" }, "Address to receive your earnings"), input, " ", go, help);
}

// Split changes this wallet must consent to: its share would fall. Accepting is one call;
// the last consent moves the track to the new split.
async function proposalsPanel(summary) {
  const waiting = summary.proposals_to_accept || [];
  if (!waiting.length) return null;
  const me = state.account.toLowerCase();
  const panel = h("section", { class: "panel notice", id: "proposals", "aria-labelledby": "proposals-h" },
    h("h2", { id: "proposals-h" }, "Proposals waiting for you"),
    h("p", {}, "An artist proposes to change who is paid for a track, and your share would fall. Nothing changes unless you accept; ",
      "until then sales keep the current split."));
  for (const p of waiting) {
    const t = await api(`/api/tracks/${p.track_id}`).catch(() => null);
    const current = { recipients: p.current_recipients, shares_ppm: p.current_shares_ppm };
    const mine = splitLosers(current, p, "").find((x) => x.address === me);
    const out = h("div", { "aria-live": "polite" });
    const accept = h("button", { type: "button", class: "accept", onclick: () => acceptProposal(p.track_id, p.split_id, accept, out) }, "Accept");
    panel.append(h("article", { class: "proposal", "data-track": p.track_id, "data-split": p.split_id },
      h("h3", {}, h("a", { href: `#/track/${p.track_id}` }, t?.title || `Track ${p.track_id}`), t?.artist_name ? ` by ${t.artist_name}` : ""),
      h("p", { class: "loss" }, h("strong", {}, "You lose: "), mine ? `your share goes from ${shareChange(mine)}.` : "nothing (your share does not fall)."),
      h("dl", { class: "facts" }, fact("Now", payeeList(current.recipients, current.shares_ppm)),
        fact("Proposed", payeeList(p.recipients, p.shares_ppm)),
        fact("Consents missing", `${p.missing}, yours included`)),
      h("div", { class: "actions" }, accept), out));
  }
  return panel;
}

async function acceptProposal(trackId, splitId, button, out) {
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

// Sponsor-pool allocations to splits this wallet is paid from, not yet claimed: one
// transaction claims into the split and distributes it, so it shows as owed at once.
// Claiming or distributing what someone else already did moves nothing and still succeeds.
async function claimsPanel() {
  const me = state.account.toLowerCase();
  const panel = h("section", { class: "panel", "aria-labelledby": "claims-h" }, h("h2", { id: "claims-h" }, "Sponsor pools"));
  let pools;
  try { pools = await api("/api/pools"); } catch (e) { add(panel, h("p", { class: "error" }, explain(e))); return panel; }
  const open = [];
  for (const e of pools.epochs.filter((x) => x.published)) {
    const a = await api(`/api/pools/${e.epoch}/allocations?payee=${me}`).catch(() => ({ allocations: [] }));
    for (const x of a.allocations) if (!x.claimed) open.push({ epoch: e.epoch, ...x });
  }
  if (!open.length) { add(panel, h("p", { class: "muted" }, "Nothing to claim. Free downloads of your free tracks, signed by qualified listeners, earn a share of each epoch's sponsor pools.")); return panel; }
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
          : h("span", { class: "ok" }, "Nothing left to claim: someone claimed it first. It is shared out to the split's payees."));
      } catch (e) { steps.fail(explain(e)); button.disabled = false; }
    } }, "Claim");
    return h("tr", {}, h("td", { class: "num" }, x.epoch), h("td", {}, payeeList(x.recipients, x.shares_ppm || [])),
      h("td", { class: "num" }, money(x.amount, x.token)), h("td", {}, button), out);
  });
  add(panel, h("div", { class: "table-wrap" }, h("table", { id: "claims" },
    h("thead", {}, h("tr", {}, ["Epoch", "Split", "Allocation", "", ""].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows))));
  return panel;
}

// Net sales per day of the artist's tracks, one chart per token (plain SVG).
async function earningsChart(me) {
  const byToken = {};
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const p = await api(`/api/ledger/sales?artist=${me}&order=asc&limit=500${cursor ? "&cursor=" + cursor : ""}`);
    for (const s of p.items) {
      const day = new Date(s.block_time * 1000).toISOString().slice(0, 10);
      const t = (byToken[s.token] ||= {});
      t[day] = (t[day] || 0n) + BigInt(s.amount) - BigInt(s.platform_fee);
    }
    cursor = p.next_cursor;
    if (!cursor) break;
  }
  const wrap = h("div", {}, h("h3", {}, "Net sales per day"));
  if (!Object.keys(byToken).length) { wrap.append(h("p", { class: "muted" }, "The chart appears after your first sale.")); return wrap; }
  for (const [token, days] of Object.entries(byToken)) {
    const info = tokenInfo(token);
    const entries = Object.entries(days).sort();
    const values = entries.map(([, v]) => Number(ethers.formatUnits(v, info.decimals)));
    const max = Math.max(...values) || 1;
    const w = 600, hgt = 160, bw = Math.max(4, Math.min(60, (w - 40) / entries.length - 4));
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt + 20}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `Net ${info.symbol} per day: ` + entries.map(([d], i) => `${d} ${values[i]}`).join(", "));
    entries.forEach(([day], i) => {
      const bh = (values[i] / max) * (hgt - 20);
      const rect = document.createElementNS(svg.namespaceURI, "rect");
      Object.entries({ x: 30 + i * (bw + 4), y: hgt - bh, width: bw, height: bh, fill: "#0b5fff" }).forEach(([k, v]) => rect.setAttribute(k, v));
      const title = document.createElementNS(svg.namespaceURI, "title");
      title.textContent = `${day}: ${values[i]} ${info.symbol}`;
      rect.append(title);
      svg.append(rect);
    });
    const label = document.createElementNS(svg.namespaceURI, "text");
    label.setAttribute("x", 30); label.setAttribute("y", 14); label.textContent = `${info.symbol} (max ${max} per day)`;
    svg.append(label);
    wrap.append(svg);
  }
  return wrap;
}

// An upload whose recording another wallet registered first (or that was taken down):
// say which public track it matches, and let the artist answer with a counter-notice.
function duplicateRefusal(body) {
  const t = body.track;
  const name = t.title ? `“${t.title}”` : `track ${t.track_id}`;
  const how = body.match.kind === "exact" ? "the same audio" : "its audio fingerprint (a re-encoded or edited copy)";
  const form = counterNoticeForm({ refusal_id: body.refusal_id }, "");
  return h("div", { class: "panel", id: "duplicate" },
    h("p", { class: "error" }, t.blocked
      ? ["This recording matches ", h("a", { href: `#/track/${t.track_id}` }, name), ", which was taken down: it cannot be uploaded again."]
      : ["This recording matches ", h("a", { href: `#/track/${t.track_id}` }, name), ` by ${t.artist_name || short(t.artist)}, registered first by another wallet.`]),
    h("p", { class: "muted" }, `Matched by ${how}. Nothing was pinned. If it is yours (a new wallet, a licensed sample), file a counter-notice for refusal ${body.refusal_id}.`),
    form);
}

// A counter-notice about `subject` ({refusal_id} or {track_id}): moderators read it in
// `ninety moderate queue`.
function counterNoticeForm(subject, intro) {
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "counter-notice", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const n = await api("/api/moderation/counter-notices", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...subject, statement: f.get("statement"), contact: f.get("contact") }) });
      put(out, h("p", { class: "ok", id: "counter-notice-filed" }, `Counter-notice ${n.id} filed. A moderator will contact you.`
        + (subject.refusal_id ? " If they allow it, upload the same file again." : "")));
      e.target.hidden = true;
    } catch (err) { put(out, h("p", { class: "error" }, explain(err))); }
  } },
  intro ? h("p", {}, intro) : null,
  h("label", { for: "cn-statement" }, "Why this recording is yours to sell (moderators only see this)"),
  h("textarea", { id: "cn-statement", name: "statement", required: true, minlength: 20, maxlength: 5000, rows: 4 }),
  h("label", { for: "cn-contact" }, "How a moderator can reach you"),
  h("input", { id: "cn-contact", name: "contact", required: true, minlength: 3, maxlength: 300 }),
  h("button", { type: "submit" }, "File a counter-notice"));
  return h("div", {}, form, out);
}

// ------------------------------------------------------------------ ledger explorer

const SALE_FILTERS = ["track", "artist", "payee", "buyer", "token", "from_block", "to_block"];
const WITHDRAWAL_FILTERS = ["account", "token", "from_block", "to_block"];

async function viewLedger(params) {
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
      (state.status?.tokens || []).map((t) => h("option", { value: t.address, selected: params.get(n) === t.address }, t.symbol)))
      : h("input", { id: `f-${n}`, name: n, value: params.get(n) || "", size: n.includes("block") || n === "track" ? 8 : 20 }))),
  h("button", { type: "submit" }, "Filter"));
  const query = new URLSearchParams();
  for (const n of names) if (params.get(n)) query.set(n, params.get(n));
  const csv = h("a", { class: "button secondary", id: "csv", href: `/api/ledger/${kind}?${query}&format=csv`, download: `ninety-${kind}.csv` }, "Download CSV");
  const recon = h("div", { class: "panel", "aria-live": "polite" }, h("strong", {}, "Reconciliation against the chain: "),
    h("button", { type: "button", class: "secondary", onclick: async (e) => {
      e.target.disabled = true;
      try {
        const r = await api("/api/ledger/reconciliation");
        put(recon, h("strong", {}, "Reconciliation against the chain: "),
          h("span", { class: r.ok ? "ok" : "error", id: "recon-result" }, r.ok ? `OK at block ${r.block}` : `${r.differences.length} difference(s) at block ${r.block}`),
          h("span", { class: "muted" }, ` · ${r.accounts_checked} accounts and ${r.splits_checked} splits checked`),
          r.differences.length ? h("ul", {}, r.differences.map((d) => h("li", {}, `${d.kind} ${d.key}: chain ${d.chain}, ledger ${d.ledger}`))) : null);
      } catch (err) { recon.append(h("p", { class: "error" }, explain(err))); e.target.disabled = false; }
    } }, "Check now"));
  const table = h("div", { class: "table-wrap" });
  const takedowns = h("div", { class: "panel", id: "takedowns" });
  put(main, h("h1", {}, "Public ledger"),
    h("p", { class: "muted" }, "Every sale and withdrawal the contract recorded, each with a proof back to its log on chain."),
    recon, form, csv, table, takedowns);
  await ledgerPage(kind, query, null, table);
  const blocks = (await api("/api/moderation/takedowns?limit=20")).items;
  put(takedowns, h("h2", {}, "Takedowns"), blocks.length
    ? h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["Block", "Time", "Track", "Action", "Public reason"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, blocks.map((b) => h("tr", {}, h("td", { class: "num" }, b.block_number), h("td", {}, when(b.block_time)),
        h("td", {}, h("a", { href: `#/ledger/track/${b.track_id}` }, b.track_id)), h("td", {}, b.blocked ? "blocked" : "unblocked"),
        h("td", { class: "mono" }, b.reason_cid))))))
    : h("p", { class: "muted" }, "No track has been taken down."));
}

async function ledgerPage(kind, query, cursor, table) {
  const q = new URLSearchParams(query);
  q.set("limit", "25");
  if (cursor) q.set("cursor", cursor);
  const page = await api(`/api/ledger/${kind}?${q}`);
  const proof = (r) => h("a", { href: `#/proof/${r.tx_hash}/${r.log_index}`, class: "mono" }, short(r.tx_hash));
  const head = kind === "sales" ? ["Block", "Time", "Track", "Artist", "Buyer", "Amount", "Platform fee", "Proof"] : ["Block", "Time", "Account", "Amount", "Proof"];
  const rows = page.items.map((r) => kind === "sales"
    ? h("tr", {}, h("td", { class: "num" }, r.block_number), h("td", {}, when(r.block_time)),
      h("td", {}, h("a", { href: `#/ledger/track/${r.track_id}` }, r.track_id)),
      h("td", {}, h("a", { href: `#/ledger/artist/${r.artist}`, class: "mono" }, short(r.artist))),
      h("td", { class: "mono" }, short(r.buyer)), h("td", { class: "num" }, money(r.amount, r.token)),
      h("td", { class: "num" }, money(r.platform_fee, r.token)), h("td", {}, proof(r)))
    : h("tr", {}, h("td", { class: "num" }, r.block_number), h("td", {}, when(r.block_time)),
      h("td", {}, h("a", { href: `#/ledger/artist/${r.account}`, class: "mono" }, short(r.account)),
        r.paid_to && r.paid_to.toLowerCase() !== r.account.toLowerCase() ? [" → paid to ", h("span", { class: "mono", title: ethers.getAddress(r.paid_to) }, shortc(r.paid_to))] : null),
      h("td", { class: "num" }, money(r.amount, r.token)), h("td", {}, proof(r))));
  const more = page.next_cursor ? h("button", { type: "button", class: "secondary", onclick: () => ledgerPage(kind, query, page.next_cursor, table) }, "Next page") : null;
  put(table, 
    page.items.length ? h("table", { id: "ledger-table" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows))
      : h("p", {}, "No rows match these filters."),
    cursor ? h("button", { type: "button", class: "secondary", onclick: () => ledgerPage(kind, query, null, table) }, "First page") : null, more);
}

// ------------------------------------------------------------------ sponsor pools

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
    try { now = Number((await state.wallet.request({ method: "eth_getBlockByNumber", params: ["latest", false] })).timestamp); } catch { /* the clock will do */ }
  }
  return current ? Math.min(Math.max(now, current.starts_at), current.ends_at) : now;
}

// A listen leaf as ninety.merkle.listen_leaf builds it, and OpenZeppelin's MerkleProof
// check (each step hashes the pair in ascending order).
function listenLeaf(epoch, wallet, trackId) {
  const inner = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["uint256", "address", "uint256"], [epoch, wallet, trackId]));
  return ethers.keccak256(inner);
}
function verifyProof(root, proof, leaf) {
  let node = leaf.toLowerCase();
  for (const p of proof) {
    const sibling = p.toLowerCase();
    node = ethers.keccak256(node < sibling ? ethers.concat([node, sibling]) : ethers.concat([sibling, node]));
  }
  return node === String(root).toLowerCase();
}


async function viewPools() {
  const pools = await api("/api/pools");
  const current = pools.current_epoch;
  const seconds = pools.epoch_seconds;
  const byEpoch = new Map(pools.epochs.map((e) => [e.epoch, e]));
  const now = byEpoch.get(current) || { epoch: current, published: false, tokens: [], starts_at: pools.epoch_start + current * seconds,
    ends_at: pools.epoch_start + (current + 1) * seconds, rules_hash: null, rules_cid: null, qualified_listeners: 0, free_downloads: 0 };
  const chainTime = await chainNow(now);
  const others = pools.epochs.filter((e) => e.epoch !== current);
  put(main, h("h1", {}, "Sponsor pools"),
    h("p", { class: "muted" }, "Sponsors fund a pool per epoch, a fixed window of block time. When it ends, every qualified listener ",
      "(a wallet that bought a track in that epoch or the 3 before) directs an equal share of each pool to the free tracks it signed for, ",
      "at most what it paid the platform in fees. The platform keeps at most 10% of what is paid out; what is left carries over. ",
      "The report lists every signed download, so anyone can re-check it."),
    currentPanel(pools, now, chainTime), youPanel(pools), fundPanel(pools), receiptsPanel(pools),
    h("h2", {}, "Other epochs"),
    others.length ? others.map((e) => epochPanel(pools, e)) : h("p", { class: "muted" }, "No other epoch has money or a report yet."));
  // Each published epoch's allocations, and whether they were claimed.
  for (const e of pools.epochs) {
    if (!e.published) continue;
    const a = await api(`/api/pools/${e.epoch}/allocations`).catch(() => null);
    const panel = document.getElementById(`epoch-${e.epoch}`);
    if (!a || !a.allocations.length || !panel) continue;
    panel.append(h("h3", {}, "Allocations"), h("div", { class: "table-wrap" }, h("table", { class: "allocations" },
      h("thead", {}, h("tr", {}, ["Split", "Payees", "Amount", "Claimed"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, a.allocations.map((x) => h("tr", {}, h("td", { class: "mono" }, short(x.split_id)),
        h("td", {}, x.shares_ppm ? payeeList(x.recipients, x.shares_ppm) : x.recipients.map((r, j) => [j ? ", " : "", h("a", { class: "mono", href: `#/ledger/artist/${r}` }, short(r))])),
        h("td", { class: "num" }, money(x.amount, x.token)), h("td", {}, x.claimed ? "yes" : "not yet")))))));
  }
  await checkReceipts(pools);
}

function currentPanel(pools, e, chainTime) {
  const left = e.ends_at - chainTime;
  return h("section", { class: "panel", id: "current-epoch", "aria-labelledby": "current-h" },
    h("h2", { id: "current-h" }, `Now: epoch ${e.epoch}`),
    h("dl", { class: "facts" },
      fact("Runs", `${when(e.starts_at)} to ${when(e.ends_at)} (block time)`),
      fact("Time left", left > 0 ? `${duration(left)} (by the latest block)` : "ending: the next block starts the next epoch"),
      fact("Rules", e.rules_hash ? [mono(e.rules_hash), " · ", mono(e.rules_cid, true), h("span", { class: "muted" }, " (committed on chain before the epoch began)")]
        : h("span", { class: "error" }, "none committed: this epoch cannot be funded")),
      fact("Listeners", `${e.qualified_listeners ?? 0} qualified listener${e.qualified_listeners === 1 ? "" : "s"}, `,
        `${e.free_downloads ?? 0} counted free download${e.free_downloads === 1 ? "" : "s"} so far`)),
    tokensTable(e, false));
}

// The signed-in wallet's standing in the current epoch (`you` is null unless signed in).
function youPanel(pools) {
  const you = pools.you;
  const panel = h("section", { class: "panel", id: "you", "aria-labelledby": "you-h" }, h("h2", { id: "you-h" }, "Your wallet this epoch"));
  if (!you) {
    add(panel, h("p", {}, "Sign in to see whether your wallet qualifies to direct sponsor money with its free downloads."),
      h("button", { type: "button", onclick: async () => { if (await signIn()) route(); } }, "Sign in"));
    return panel;
  }
  const can = (you.can_direct || []).filter((c) => BigInt(c.amount) > 0n);
  const who = short(ethers.getAddress(you.wallet));
  add(panel,
    you.qualifies
      ? h("p", { class: "ok", id: "standing" }, `${who} qualifies in epoch ${pools.current_epoch}. `,
        can.length ? `It can direct up to ${can.map((c) => money(c.amount, c.token)).join(" and ")}, shared evenly among the free tracks it signs for.`
          : "It can direct nothing yet (it paid no platform fees in this window).")
      : h("p", { class: "warn", id: "standing" }, `${who} does not qualify in epoch ${pools.current_epoch}: ${you.reason || "no reason given"}. `,
        "Its free downloads are not recorded until it qualifies: then sign them again to count them."),
    h("p", { class: "muted" }, `Free downloads it signed this epoch: ${you.free_downloads ?? 0}.`));
  return panel;
}

function fundPanel(pools) {
  const current = pools.current_epoch;
  const out = h("div", { "aria-live": "polite" });
  const amount = h("input", { id: "fund-amount", inputmode: "decimal", value: "0.1" });
  const token = h("select", { id: "fund-token" }, state.status.tokens.map((t) => h("option", { value: t.address }, t.symbol)));
  const submit = h("button", { type: "submit" }, `Fund epoch ${current}`);
  const epoch = h("input", { id: "fund-epoch", type: "number", min: current, max: current + 1000, step: 1, value: current,
    oninput: () => { submit.textContent = `Fund epoch ${epoch.value || current}`; } });
  const fund = h("form", { class: "filters", "aria-label": "Fund a pool", onsubmit: async (e) => {
    e.preventDefault();
    const target = Number(epoch.value);
    if (!Number.isInteger(target) || target < current || target > current + 1000) {
      put(out, h("p", { class: "error" }, `Choose epoch ${current} (the current one) or a later one, up to ${current + 1000}.`)); return;
    }
    const info = tokenInfo(token.value);
    let value;
    try { value = ethers.parseUnits(amount.value.trim(), info.decimals); } catch { put(out, h("p", { class: "error" }, "Enter an amount like 0.1.")); return; }
    if (value <= 0n) { put(out, h("p", { class: "error" }, "Enter an amount above zero.")); return; }
    if (!state.account && !(await connect())) return;
    const isEth = token.value === ETH;
    const steps = stepList([...(isEth ? [] : [["approved", "Approve the token"]]), ["submitted", "Submit the deposit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
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
  h("div", {}, h("label", { for: "fund-amount" }, "Amount"), amount), h("div", {}, h("label", { for: "fund-token" }, "Token"), token), submit);
  return h("section", { class: "panel", "aria-labelledby": "fund-h" }, h("h2", { id: "fund-h" }, "Fund a pool"),
    h("p", { class: "muted" }, `Fund the current epoch (${current}) or a later one. You can take a deposit back until its epoch ends; `,
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
        fact("Listens root", e.listens_root ? mono(e.listens_root, true) : h("span", { class: "muted" }, "see the report")),
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
    return t.carried_to_epoch != null ? `${money(t.carried_over, t.token)} → epoch ${t.carried_to_epoch}` : money(t.carried_over, t.token);
  };
  const rows = settled
    ? [["Funded", (t) => money(t.funded, t.token)], ["Taken back", (t) => money(t.withdrawn, t.token)],
      ["Pool at the end", (t) => money(t.settled_pool ?? "0", t.token)], ["Allocated to artists", (t) => money(t.allocated, t.token)],
      ["Claimed", (t) => money(t.claimed, t.token)], ["Platform fee (≤ 1/9 of allocated)", (t) => money(t.platform_fee ?? "0", t.token)],
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
  const panel = h("section", { class: "panel", id: "receipts", "aria-labelledby": "receipts-h" }, h("h2", { id: "receipts-h" }, "My receipts"));
  if (!receipts.length) {
    add(panel, h("p", { class: "muted" }, "No receipts in this browser yet. When you sign a free download, the server's receipt is kept here, ",
      "and once its epoch is published this page checks that the report includes your download."));
    return panel;
  }
  add(panel, h("p", { class: "muted" }, "Kept in this browser only. Each is checked against the published report's listens root with its Merkle proof."),
    h("ul", { class: "receipts" }, receipts.map((r) => h("li", { class: "receipt-row", "data-epoch": r.epoch, "data-track": r.track_id, "data-wallet": r.wallet },
      h("div", {}, h("strong", {}, `Epoch ${r.epoch}`), " · ", h("a", { href: `#/track/${r.track_id}` }, r.title || `Track ${r.track_id}`),
        " · ", h("span", { class: "mono" }, short(ethers.getAddress(r.wallet)))),
      h("div", { class: "muted" }, "When recorded: ", r.counted ? "counted" : `not counted: ${r.reason || "no reason given"}`),
      h("div", {}, "In the report: ", h("span", { class: "receipt-status", "aria-live": "polite" }, waiting(pools, r)))))));
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
        put(cell, missing(r, `the server's listens root ${short(data.listens_root)} is not the one published on chain (${short(e.listens_root)})`));
        continue;
      }
      const leaf = listenLeaf(r.epoch, r.wallet, r.track_id);
      const entry = (data.listens || []).find((x) => Number(x.track_id) === r.track_id && x.wallet.toLowerCase() === r.wallet);
      const altered = entry && (Number(entry.block_number) !== Number(r.block_number) || String(entry.signature).toLowerCase() !== String(r.signature).toLowerCase());
      if (altered) {
        put(cell, missing(r, `the report shows it at block ${entry.block_number} or with another signature, not as recorded (block ${r.block_number})`));
      } else if (entry && Array.isArray(entry.proof) && verifyProof(data.listens_root, entry.proof, leaf)) {
        put(cell, h("span", { class: "ok" }, "included"), h("span", { class: "muted" },
          entry.counted ? " · counted" : entry.reason && entry.reason !== r.reason ? ` · not counted: ${entry.reason}` : " · not counted"));
      } else {
        put(cell, missing(r, entry ? "its proof does not lead to the listens root" : "the report does not list it"));
      }
    } catch (err) {
      put(cell, h("span", { class: "error" }, `Could not check it now: ${explain(err)}`));
    }
  }
}

function missing(r, why) {
  const evidence = { epoch: r.epoch, wallet: r.wallet, track_id: r.track_id, block_number: r.block_number, signature: r.signature,
    receipt: r.receipt, receipt_signer: r.receipt_signer, chain_id: r.chain_id, contract: r.contract };
  return [h("strong", { class: "error" }, "MISSING — keep this receipt: it proves the server recorded your download"),
    h("span", { class: "muted" }, ` (${why}).`), h("pre", { class: "receipt" }, JSON.stringify(evidence, null, 2))];
}


async function viewArtistLedger(address) {
  const s = await api(`/api/ledger/artists/${address}`);
  put(main, h("h1", {}, "Artist ", h("span", { class: "mono" }, short(address))),
    h("p", {}, h("a", { href: `#/ledger?artist=${address}` }, "Their sales"), " · ", h("a", { href: `#/?q=` }, "Store"),
      " · ", h("a", { href: `#/ledger?kind=withdrawals&account=${address}` }, "Their withdrawals")),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "muted" }, `As of block ${s.as_of_block}; owed is read from the contract`),
      h("thead", {}, h("tr", {}, ["Token", "Sales", "Buyers", "Gross", "Fees", "Net to splits", "Credited", "Withdrawn", "Owed (chain)"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, s.tokens.map((t) => h("tr", {}, h("td", {}, t.token_symbol), h("td", { class: "num" }, t.sales), h("td", { class: "num" }, t.buyers),
        ...[t.gross, t.fees, t.net, t.credited, t.withdrawn, t.owed].map((v) => h("td", { class: "num" }, money(v, t.token)))))))));
}

async function viewTrackLedger(id) {
  const s = await api(`/api/ledger/tracks/${id}`);
  put(main, h("h1", {}, `Track ${id} in the ledger`),
    h("p", {}, h("a", { href: `#/track/${id}` }, "In the store, with who is paid and every change of its split"), " · ", h("a", { href: `#/ledger?track=${id}` }, "Its sales")),
    h("p", {}, `${s.sales} sales, gross ${money(s.gross, s.token)}, platform fees ${money(s.fees, s.token)}, net ${money(s.net, s.token)}.`),
    h("h2", {}, "Paid to"), h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Payee"), h("th", { scope: "col" }, "Credited"))),
      h("tbody", {}, s.payees.map((p) => h("tr", {}, h("td", {}, h("a", { class: "mono", href: `#/ledger/artist/${p.payee}` }, p.payee)), h("td", { class: "num" }, money(p.credited, p.token))))))),
    h("h2", {}, "Sales per day"), h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Sales"), h("th", { scope: "col" }, "Gross"))),
      h("tbody", {}, s.sales_per_day.map((d) => h("tr", {}, h("td", {}, d.day), h("td", { class: "num" }, d.sales), h("td", { class: "num" }, money(d.gross, s.token))))))));
}

async function viewProof(tx, index) {
  const p = await api(`/api/ledger/proofs/${tx}/${index}`);
  put(main, h("h1", {}, "Proof of a ledger row"),
    h("p", {}, p.canonical ? h("span", { class: "ok" }, "This log is in the canonical chain.") : h("span", { class: "error" }, "This log's block is no longer canonical."),
      p.matches === false ? h("span", { class: "error" }, " The database row does NOT match the log.") : null),
    h("p", { class: "muted" }, "Check it against any node: eth_getTransactionReceipt for this transaction has this log at this index."),
    h("pre", { id: "proof" }, JSON.stringify(p, null, 2)));
}

// ------------------------------------------------------------------ routing

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
  for (const a of document.querySelectorAll("nav a")) a.toggleAttribute("aria-current", a.getAttribute("href") === "#/" + (parts[0] || ""));
  for (const a of document.querySelectorAll("nav a[aria-current]")) a.setAttribute("aria-current", "page");
  try {
    if (!state.status) await refreshStatus();
    if (!state.status) throw new ApiError(0, "The Ninety server is not reachable. Is it running?");
    if (parts[0] === "track") await viewTrack(parts[1]);
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
  // Reconnect silently if the wallet already authorised this site.
  const provider = pickProvider();
  if (provider) {
    try {
      const accounts = await provider.request({ method: "eth_accounts" });
      if (accounts.length) await connect();
    } catch { /* the user connects by hand */ }
  }
  renderWallet();
  await route();
}

start();
