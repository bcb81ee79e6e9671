// Downloading a track: a bought one after signing in, a free one signed or not. A signed
// free download counts toward the sponsor pools; the server's receipt for it is kept in
// this browser, and the pools page checks it against the epoch's published report.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain, postJson } from "../api.js";
import { h, put, short, toast } from "../dom.js";
import { state } from "../state.js";
import { needSession } from "../wallet.js";

// The formats a download comes in (GET …/download?format=): the file as the artist uploaded
// it, or made from it by the server on the first request and kept for the next ones.
export const FORMATS = [["original", "Original file"], ["flac", "FLAC (lossless)"], ["mp3", "MP3 (320 kbps)"],
  ["ogg", "Ogg Vorbis"], ["aac", "AAC (.m4a)"]];

// A format chooser for one track; `.value` is the chosen format.
export function formatChooser(t) {
  const title = t.title || "the track";
  return h("select", { class: "format", "aria-label": `Format for ${title}` },
    FORMATS.map(([value, label]) => h("option", { value }, label)));
}

export function downloadLink(t) {
  const format = formatChooser(t);
  const button = h("button", { type: "button", class: "download", onclick: async () => {
    if (!(await needSession())) return;
    button.disabled = true;
    try { await downloadFile(t, format.value); } finally { button.disabled = false; }
  } }, `Download ${t.title || "the track"}`);
  return h("span", { class: "download-choice" }, format, " ", button);
}

async function downloadFile(t, format = "original") {
  const query = format && format !== "original" ? `?format=${encodeURIComponent(format)}` : "";
  const href = `/api/tracks/${t.track_id}/download${query}`;
  if (query) {
    // Another format is made on the first request: ask for its first byte, so a refusal is
    // said in words (a link would only show the browser's "download failed"). The server
    // answers 503 "making" (header X-Ninety-Transcode) after a few seconds while the file is
    // still being made; ask again after its Retry-After, saying so, until the file is there.
    const label = FORMATS.find(([v]) => v === format)?.[1] || format;
    toast(`Preparing ${label}…`);
    const started = Date.now();
    for (;;) {
      let r;
      try {
        r = await fetch(href, { credentials: "same-origin", headers: { Range: "bytes=0-0" } });
      } catch {
        toast("The Ninety server is not reachable. Is it running?");
        return;
      }
      if (r.ok) { await r.body?.cancel(); break; }
      let detail = `HTTP ${r.status}`;
      try { const body = await r.json(); detail = body.detail || body.title || detail; } catch { /* not JSON */ }
      const wait = Math.min(Math.max(Number(r.headers.get("Retry-After")) || 5, 1), 30);
      const making = r.status === 503 && r.headers.get("X-Ninety-Transcode") === "making";
      if (making && Date.now() - started < 15 * 60 * 1000) {
        const elapsed = Math.round((Date.now() - started) / 1000);
        toast(`Making ${label} of ${t.title || "the track"} (${elapsed} s so far); the download starts when it is ready.`);
        await new Promise((done) => setTimeout(done, wait * 1000));
        continue;
      }
      toast(r.status === 503 ? `The server is busy making other files: try again in ${wait} s.`
        : r.status === 429 ? `You already have a file being made, or asked for many: try again in ${wait} s.`
        : `Not downloaded: ${detail}`);
      return;
    }
    toast(`Downloading ${t.title || "the track"}.`);
  }
  // Through a link so the browser streams the file to disk; the session cookie gates it.
  const a = h("a", { href, download: "" });
  document.body.append(a); a.click(); a.remove();
}

// A free download counts toward the sponsor pools only when the wallet signs it
// (EIP-712 FreeDownload(trackId, epoch)); the server records it in public, so the
// fan is told so before the wallet opens, and can download without being counted.
export function freeDownload(t) {
  const title = t.title || "the track";
  const out = h("div", { id: "free-download-result", "aria-live": "polite" });
  const notice = h("div", { class: "panel notice", id: "free-download-notice", hidden: true },
    h("p", {}, h("strong", {}, "Your download is recorded publicly. "),
      "To count toward the sponsor pools, your wallet signs this download. The sponsor-pool report of this epoch, " +
      "published on IPFS for anyone to check, then lists your wallet address with this track."),
    h("p", { class: "muted" }, "Signing costs nothing and sends no transaction. "
      + "If you prefer not to be listed, download without signing: you get the same file, it just does not count."),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "sign-download", onclick: () => go(true) }, "Sign and download"),
      h("button", { type: "button", class: "secondary", id: "plain-download", onclick: () => go(false) },
        "Download without counting")));
  const format = formatChooser(t);
  const start = h("button", { type: "button", class: "download", onclick: () => {
    notice.hidden = false;
    start.hidden = true;
    put(out);
    notice.querySelector("#sign-download").focus();
  } }, `Download ${title}`);
  async function go(sign) {
    for (const b of notice.querySelectorAll("button")) b.disabled = true;
    try {
      if (!(await needSession())) {
        put(out, h("p", { class: "error" }, "Sign in with your wallet to download this track."));
        return;
      }
      if (sign) put(out, await countFreeDownload(t));
      else put(out, h("p", { class: "muted" }, "Not counted: you chose not to sign. Downloading."));
      await downloadFile(t, format.value);
      notice.hidden = true;
      start.hidden = false;
    } finally {
      for (const b of notice.querySelectorAll("button")) b.disabled = false;
    }
  }
  return [h("p", { class: "muted" },
    "Free to download: sponsors pay the artists for fans who download it, through the public sponsor pools."),
  h("span", { class: "download-choice" }, format, " ", start), notice, out];
}

const freeDownloadTypes = { FreeDownload: [{ name: "trackId", type: "uint256" }, { name: "epoch", type: "uint256" }] };
const receiptTypes = { FreeDownloadRecorded: [
  { name: "listener", type: "address" }, { name: "trackId", type: "uint256" }, { name: "epoch", type: "uint256" },
  { name: "blockNumber", type: "uint256" }, { name: "signatureHash", type: "bytes32" }] };
const eip712Domain = () => ({
  name: "Ninety", version: "1", chainId: state.status.chain_id,
  verifyingContract: ethers.getAddress(state.contract.address),
});

// Sign FreeDownload(trackId, current epoch), record it, keep the receipt; what happened, in words.
async function countFreeDownload(t) {
  let epoch, signature;
  try {
    epoch = (await api("/api/pools")).current_epoch;
    if (state.chainId !== state.status.chain_id) {
      throw new Error(`Your wallet is on chain ${state.chainId}; Ninety runs on chain ${state.status.chain_id}.`);
    }
    const typed = { types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" },
      { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }], ...freeDownloadTypes },
    primaryType: "FreeDownload", domain: eip712Domain(), message: { trackId: t.track_id, epoch } };
    signature = await state.wallet.request({
      method: "eth_signTypedData_v4", params: [state.account, JSON.stringify(typed)] });
    const signer = ethers.verifyTypedData(eip712Domain(), freeDownloadTypes, { trackId: t.track_id, epoch }, signature);
    if (signer !== state.account) {
      throw new Error(`Your wallet signed as ${short(signer)}, not as ${short(state.account)}.`);
    }
  } catch (e) {
    const why = explain(e);
    return h("p", { class: "warn", id: "not-counted" },
      why === "You rejected the request in your wallet."
        ? "Not counted: you declined to sign in your wallet. " : `Not counted: ${why} `,
      "You still get the track: it is downloading now, it just does not count toward the sponsor pools.");
  }
  let r;
  try {
    r = await postJson(`/api/tracks/${t.track_id}/free-download`, { epoch, signature });
  } catch (e) {
    return h("p", { class: "error", id: "not-counted" },
      `Not counted: the server did not record it (${explain(e)}). Downloading anyway.`);
  }
  if (r.receipt) await keepReceipt(t, r, signature);
  const kept = r.receipt ? " Your receipt is kept in this browser: after the epoch is published, "
    + "the Pools page checks the report includes it." : "";
  if (r.counted) {
    return h("p", { class: "ok", id: "counted" },
      `Counted: this download adds to epoch ${r.epoch}'s sponsor pools for the artist.${kept}`);
  }
  const recorded = r.receipt
    ? " It is recorded, and counts if your wallet still qualifies when the epoch is closed." : "";
  return h("p", { class: "warn", id: "not-counted" },
    `Not counted: ${(r.reason || "the server did not say why").replace(/\.$/, "")}.${recorded}${kept}`);
}

// ------------------------------------------------------------------ receipts (localStorage)

const receiptsKey = () => `ninety-receipts:${state.status.chain_id}:${state.contract.address.toLowerCase()}`;

export function loadReceipts() {
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
    receiptSigner = ethers.verifyTypedData(eip712Domain(), receiptTypes, {
      listener: state.account, trackId: r.track_id, epoch: r.epoch,
      blockNumber: r.block_number, signatureHash: ethers.keccak256(signature) }, r.receipt);
  } catch { /* kept as is */ }
  const entry = { chain_id: state.status.chain_id, contract: state.contract.address.toLowerCase(), epoch: r.epoch,
    wallet: state.account.toLowerCase(), track_id: r.track_id, block_number: r.block_number, title: t.title || null,
    signature, receipt: r.receipt, receipt_signer: receiptSigner && receiptSigner.toLowerCase(), counted: r.counted,
    reason: r.reason || "", recorded_at: Math.floor(Date.now() / 1000) };
  const list = loadReceipts()
    .filter((x) => !(x.epoch === entry.epoch && x.wallet === entry.wallet && x.track_id === entry.track_id));
  list.push(entry);
  try { localStorage.setItem(receiptsKey(), JSON.stringify(list)); } catch {
    toast("This browser did not keep the receipt (storage is full or disabled).");
  }
}
