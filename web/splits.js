// Splits as the contract sees them: who is paid for a track and their share of each sale, in
// parts per million. The track page, the studio and the pools page all show them.
import { ethers } from "./vendor/ethers.min.js";
import { h } from "./dom.js";
import { personWithAddress } from "./names.js";

// Shares are parts per million; shown as percentages with up to 4 decimals.
export const pct = (ppm) => `${(Number(ppm) / 10000).toFixed(4).replace(/\.?0+$/, "")}%`;

// A split as the contract commits it: recipients sorted ascending by address, shares
// alongside, id = keccak256(abi.encode(recipients, sharesPpm)).
export function splitOf(pairs) {
  const sorted = pairs.map((p) => ({ address: ethers.getAddress(p.address), ppm: Number(p.ppm) }))
    .sort((x, y) => (BigInt(x.address) < BigInt(y.address) ? -1 : 1));
  const recipients = sorted.map((p) => p.address), shares = sorted.map((p) => p.ppm);
  const encoded = ethers.AbiCoder.defaultAbiCoder().encode(["address[]", "uint32[]"], [recipients, shares]);
  return { split_id: ethers.keccak256(encoded), recipients, shares_ppm: shares };
}

// Who must consent to moving from split `current` to `next`, as the contract decides: each
// payee of `current` whose share falls (leaving counts as zero), except the artist.
export function splitLosers(current, next, artist) {
  const kept = new Map(next.recipients.map((r, i) => [r.toLowerCase(), Number(next.shares_ppm[i])]));
  return current.recipients
    .map((r, i) => ({
      address: r.toLowerCase(), from: Number(current.shares_ppm[i]), to: kept.get(r.toLowerCase()) || 0 }))
    .filter((p) => p.to < p.from && p.address !== artist.toLowerCase());
}

// One payee of a split being edited (the upload form and the track page's "Change split"):
// address, share in percent and Remove. `onChange` runs on every edit and after a removal.
export function payeeRow(address, percent, onChange, labels = { payee: "Payee address", share: "Share in percent" }) {
  const row = h("div", { class: "split-row" },
    h("input", { type: "text", name: "payee", value: address, placeholder: "0x… payee address",
      "aria-label": labels.payee, oninput: onChange }),
    h("input", { type: "number", name: "percent", value: percent, min: "0.0001", max: "100", step: "0.0001",
      "aria-label": labels.share, oninput: onChange }),
    h("span", {}, "%"),
    h("button", { type: "button", class: "secondary", "aria-label": "Remove this payee",
      onclick: () => { row.remove(); onChange(); } }, "Remove"));
  return row;
}

// "Ada 0x12…cd 70% · 0x34…ef 30%", each payee linked to their artist page by name (resolved
// by the view beforehand with resolveNames), with the short address beside it, or by short
// address alone; a share is left out when unknown.
export const payeeList = (recipients, shares = []) => recipients.map((r, i) => [i ? " · " : "",
  personWithAddress(r), shares[i] != null ? [" ", pct(shares[i])] : null]);
export const shareChange = (p) => (p.to ? `${pct(p.from)} → ${pct(p.to)}` : `${pct(p.from)} → removed`);

// The split editor of the upload and release forms: payee rows, "Add a collaborator" and
// a live total that keeps `submit` disabled until the shares make exactly 100%.
export function splitEditor(submit) {
  const rows = h("div", { id: "split-rows" });
  const total = h("p", { id: "split-total", "aria-live": "polite" });
  const parts = () => [...rows.querySelectorAll(".split-row")].map((r) => ({
    address: r.querySelector("[name=payee]").value.trim(), percent: r.querySelector("[name=percent]").value }));
  function check() {
    const list = parts();
    const ppm = list.reduce((s, p) => s + Math.round(Number(p.percent || 0) * 10000), 0);
    const badAddress = list.find((p) => !ethers.isAddress(p.address));
    let msg = `Total: ${(ppm / 10000).toFixed(4).replace(/\.?0+$/, "")}%`;
    const ok = ppm === 1_000_000 && !badAddress && list.length > 0;
    if (ppm !== 1_000_000) msg += " (must be exactly 100%)";
    if (badAddress) msg += ` · "${badAddress.address || "(empty)"}" is not an address`;
    total.textContent = msg;
    total.className = ok ? "ok" : "error";
    submit.disabled = !ok;
    return ok;
  }
  const addRow = (address = "", percent = "") => { rows.append(payeeRow(address, percent, check)); check(); };
  // Replace the rows with (address, parts per million) pairs.
  const fill = (pairs) => {
    rows.replaceChildren(...pairs.map(([a, ppm]) =>
      payeeRow(ethers.getAddress(a), String(Number(ppm) / 10000), check)));
    check();
  };
  // The split as the API takes it: [{address, share_ppm}].
  const shares = () => parts().map((p) => ({ address: p.address, share_ppm: Math.round(Number(p.percent) * 10000) }));
  const element = [rows,
    h("button", { type: "button", class: "secondary", id: "add-payee", onclick: () => addRow() }, "Add a collaborator"),
    total];
  return { element, check, addRow, fill, shares };
}
