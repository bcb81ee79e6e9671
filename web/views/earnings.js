// What a payee earned and can collect, in the studio: the table per token, withdrawing
// (to the wallet or to another address) and the chart of net sales per day.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain } from "../api.js";
import { add, h, money, put, stepList, tokenInfo } from "../dom.js";
import { ETH, route, state } from "../state.js";
import { batchTx, encode, eventsOf, send, waitIndexed } from "../wallet.js";

// What this wallet earned and can collect. One click distributes every split balance
// waiting for it and withdraws, in one transaction; "Send to another address" does the
// same with withdrawTo, for a wallet that cannot receive ETH or that a stablecoin blocklists.
export async function earningsPanel(summary, failure) {
  const me = state.account.toLowerCase();
  const panel = h("section", { class: "panel", "aria-labelledby": "earn-h" }, h("h2", { id: "earn-h" }, "Earnings"));
  if (!summary) { panel.append(h("p", { class: "error" }, failure)); return panel; }
  const rows = summary.tokens.map((t) => h("tr", {},
    h("td", {}, t.token_symbol), h("td", { class: "num" }, t.sales), h("td", { class: "num" }, money(t.gross, t.token)),
    h("td", { class: "num" }, money(t.credited, t.token)), h("td", { class: "num" }, money(t.withdrawn, t.token)),
    h("td", { class: "num owed" }, money(t.owed, t.token))));
  const waiting = summary.undistributed || [];
  const tokensWithMoney = [...new Set([
    ...summary.tokens.filter((t) => BigInt(t.owed) > 0n).map((t) => t.token), ...waiting.map((w) => w.token)])];
  const out = h("div", { "aria-live": "polite" });
  if (state.withdrawal) {
    out.append(h("p", { class: "ok", id: "withdrawn" }, ...state.withdrawal));
    state.withdrawal = null;
  }
  const buttons = [];
  // The payee's own balance: distribute what waits in its splits (a split already
  // distributed by someone else moves nothing), then withdraw (to `to`, if given).
  async function collect(to) {
    for (const b of buttons) b.disabled = true;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
    put(out, steps);
    try {
      const calls = waiting.map((w) => encode("distribute", [w.split_id, w.token, w.recipients, w.shares_ppm]));
      calls.push(to ? encode("withdrawTo", [to, tokensWithMoney])
        : encode("withdraw", [state.account, tokensWithMoney]));
      const receipt = await send(batchTx(calls), steps);
      await waitIndexed(receipt.blockNumber, steps);
      const paid = eventsOf(receipt, "Withdrawal").filter((e) => e.args.account.toLowerCase() === me);
      const sum = paid.map((e) => money(e.args.amount, e.args.token)).join(" and ");
      // The ledger has the block now: draw the studio again so the table shows the new
      // balances, with this message under it (it used to sit beside the old figures).
      state.withdrawal = paid.length ? [to ? `Sent ${sum} to ${to}.` : `Withdrawn to your wallet: ${sum}.`]
        : ["Nothing left to collect: someone already paid your balance out to your wallet ",
          "(anyone may distribute a split or withdraw for a payee, always to the payee). Your wallet has it."];
      await route();
    } catch (e) { steps.fail(explain(e)); for (const b of buttons) b.disabled = !tokensWithMoney.length; }
  }
  const withdraw = h("button", { type: "button", id: "withdraw", disabled: !tokensWithMoney.length,
    onclick: () => collect(null) }, "Withdraw everything");
  buttons.push(withdraw);
  const head = ["Token", "Sales", "Gross sales", "Credited to you", "Withdrawn", "Owed now"];
  add(panel,
    summary.tokens.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "muted" }, `As of block ${summary.as_of_block}`),
      h("thead", {}, h("tr", {}, head.map((c, i) => h("th", { scope: "col", class: i ? "num" : "" }, c)))),
      h("tbody", {}, rows))) : h("p", {}, "No sales yet."),
    waiting.length ? h("p", { class: "muted" },
      `Also waiting in your splits: ${waiting.map((w) => money(w.amount, w.token)).join(", ")} `
      + "(shared among the split's payees when you withdraw).")
      : null,
    withdraw, tokensWithMoney.length ? withdrawElsewhere(collect, buttons) : null, out, await earningsChart(me));
  return panel;
}

// The address a payee's balance goes to instead of their wallet: refused unless it is a
// well-formed address with a valid checksum (when mixed case), not zero, not the Marketplace.
function checkDestination(text) {
  const t = text.trim();
  if (!t) return { error: "Enter the address to send your earnings to." };
  if (!/^0x[0-9a-fA-F]{40}$/.test(t)) {
    return { error: "That is not an address: it should be 0x followed by 40 hexadecimal characters." };
  }
  let address;
  try { address = ethers.getAddress(t); } catch {
    return { error: "This address's checksum (its mix of capital letters) is wrong, so a character is mistyped. "
      + "Copy it again from the wallet it belongs to." };
  }
  if (address === ETH) {
    return { error: "That is the zero address: whatever is sent there is lost. Enter a real address." };
  }
  if (address.toLowerCase() === state.contract.address.toLowerCase()) {
    return { error: "That is the Marketplace itself: money sent there would be stuck. Enter another address." };
  }
  const unchecked = t.slice(2) === t.slice(2).toLowerCase() || t.slice(2) === t.slice(2).toUpperCase();
  const note = unchecked ? `No checksum to check (the address is in one case): make sure it is ${address}.` : null;
  return { address, note };
}

function withdrawElsewhere(collect, buttons) {
  const input = h("input", { id: "withdraw-to", type: "text", autocomplete: "off", spellcheck: "false",
    placeholder: "0x…", size: 44, "aria-describedby": "withdraw-to-help" });
  const help = h("p", { id: "withdraw-to-help", "aria-live": "polite", class: "muted" },
    "Only you can do this, and only with your own balance. Check the address: a payment cannot be taken back.");
  const go = h("button", { type: "button", id: "withdraw-to-send", class: "secondary", onclick: () => {
    const d = checkDestination(input.value);
    if (d.error) { put(help, h("span", { class: "error" }, d.error)); input.focus(); return; }
    put(help, h("span", {}, `Sending everything owed to you to ${d.address}.`),
      d.note ? h("span", { class: "warn" }, " " + d.note) : null);
    collect(d.address);
  } }, "Send to this address");
  buttons.push(go);
  input.addEventListener("input", () => {
    const d = input.value.trim() ? checkDestination(input.value) : {};
    put(help, d.error ? h("span", { class: "error" }, d.error) : d.note ? h("span", { class: "warn" }, d.note)
      : h("span", { class: "muted" },
        "Only you can do this, and only with your own balance. Check the address: a payment cannot be taken back."));
  });
  return h("details", { class: "elsewhere", id: "elsewhere" }, h("summary", {}, "Send to another address"),
    h("p", {}, "If your wallet cannot receive ETH (some contract wallets refuse it) or a stablecoin has blocked it, ",
      "the contract pays what it owes you to another address of yours instead."),
    h("label", { for: "withdraw-to" }, "Address to receive your earnings"), input, " ", go, help);
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
  if (!Object.keys(byToken).length) {
    wrap.append(h("p", { class: "muted" }, "The chart appears after your first sale."));
    return wrap;
  }
  for (const [token, days] of Object.entries(byToken)) wrap.append(dayChart(tokenInfo(token), days));
  return wrap;
}

// One token's bars, a bar per day, each titled with its day and amount.
function dayChart(info, days) {
  const entries = Object.entries(days).sort();
  const values = entries.map(([, v]) => Number(ethers.formatUnits(v, info.decimals)));
  const max = Math.max(...values) || 1;
  const w = 600, hgt = 160, bw = Math.max(4, Math.min(60, (w - 40) / entries.length - 4));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt + 20}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label",
    `Net ${info.symbol} per day: ` + entries.map(([d], i) => `${d} ${values[i]}`).join(", "));
  entries.forEach(([day], i) => {
    const bh = (values[i] / max) * (hgt - 20);
    const rect = document.createElementNS(svg.namespaceURI, "rect");
    Object.entries({ x: 30 + i * (bw + 4), y: hgt - bh, width: bw, height: bh, fill: "#0b5fff" })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const title = document.createElementNS(svg.namespaceURI, "title");
    title.textContent = `${day}: ${values[i]} ${info.symbol}`;
    rect.append(title);
    svg.append(rect);
  });
  const label = document.createElementNS(svg.namespaceURI, "text");
  label.setAttribute("x", 30); label.setAttribute("y", 14); label.textContent = `${info.symbol} (max ${max} per day)`;
  svg.append(label);
  return svg;
}
