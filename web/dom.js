// Building the page: an element helper (text is always set as text, never parsed as HTML),
// and the formats every view shares (addresses, amounts, times).
import { ethers } from "./vendor/ethers.min.js";
import { state } from "./state.js";

export const main = document.getElementById("main");

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// replaceChildren and append, skipping the null/false left by conditional children. Nested
// lists are flattened all the way down, as h() does: a list left inside would be appended as
// its text ("," + a link's href + …) instead of as its elements.
const keep = (kids) => kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false);
export const put = (el, ...kids) => el.replaceChildren(...keep(kids));
export const add = (el, ...kids) => el.append(...keep(kids));

export const short = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : "");
// An address as wallets show it (EIP-55 mixed case), shortened: the API answers in lowercase.
export const shortc = (a) => short(ethers.getAddress(a));
export const tokenInfo = (address) =>
  (state.status?.tokens || []).find((t) => t.address.toLowerCase() === (address || "").toLowerCase()) ||
  { address, symbol: "?", decimals: 0 };
export const money = (amount, token) => {
  const t = tokenInfo(token);
  return `${ethers.formatUnits(BigInt(amount), t.decimals)} ${t.symbol}`;
};
export const when = (unix) => new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";

// A term and its value in a <dl class="facts">; a hash or CID, shortened unless `full`.
export const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
export const mono = (text, full = false) =>
  h("span", { class: "mono", title: text || "" }, text ? (full ? text : short(text)) : "none");

export function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ""), 6000);
}

// The steps of a transaction as a list: `mark(key, text)` ticks one off, `fail(text)` says
// what went wrong (submitted → mined → indexed, by `send` and `waitIndexed`).
export function stepList(names) {
  const ul = h("ul", { class: "steps", "aria-live": "polite" });
  const items = Object.fromEntries(names.map(([key, label]) => {
    const li = h("li", {}, label);
    ul.append(li);
    return [key, li];
  }));
  ul.mark = (key, text) => { items[key].classList.add("done"); if (text) items[key].textContent = text; };
  ul.fail = (text) => { ul.append(h("li", { class: "failed error" }, text)); };
  // Trying again: the last failure is history once the steps go on.
  ul.clearFailures = () => { for (const li of ul.querySelectorAll("li.failed")) li.remove(); };
  return ul;
}
