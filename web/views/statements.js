// Monthly statements in the studio: pick a calendar month (UTC), read what the ledger says
// for it per token (opening owed, credits, withdrawals, closing owed) and download the same
// statement as a PDF or a CSV. The API owns every figure: this view only shows its `_units`
// strings (exact decimals), never adds anything up itself.
import { api, explain } from "../api.js";
import { add, h, put } from "../dom.js";
import { state } from "../state.js";

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
// The current calendar month in UTC: a later one has not begun, and the API refuses it (422).
export const currentMonth = () => new Date().toISOString().slice(0, 7);

// The statement's address and month as the API's path, or null for a month the API would refuse.
function statementPath(address, month) {
  const m = MONTH.exec(month);
  if (!m || Number(m[1]) < 1970 || month > currentMonth()) return null;
  return `/api/ledger/artists/${address}/statements/${month}`;
}

export async function statementsPanel() {
  const me = state.account.toLowerCase();
  const now = currentMonth();
  // type=month gives a picker where the browser has one; elsewhere it is a text field, so
  // the format is said in the placeholder and checked here, not left to the browser.
  const input = h("input", { type: "month", id: "statement-month", name: "month", min: "1970-01", max: now,
    value: now, placeholder: "YYYY-MM", pattern: "\\d{4}-\\d{2}", required: true,
    "aria-describedby": "statement-help" });
  const pdf = h("a", { class: "button", id: "statement-pdf" }, "Download PDF");
  const csv = h("a", { class: "button secondary", id: "statement-csv" }, "Download CSV");
  const summary = h("div", { id: "statement-summary", "aria-live": "polite" });
  const panel = h("section", { class: "panel", id: "statements", "aria-labelledby": "statements-h" },
    h("h2", { id: "statements-h" }, "Statements"),
    h("p", { class: "muted", id: "statement-help" },
      "What the ledger credited to you and what you withdrew in one calendar month (UTC), with every line ",
      "traced to its transaction. The PDF and the CSV hold the same figures as the summary below."),
    h("div", { class: "filters" }, h("div", {}, h("label", { for: "statement-month" }, "Month"), input), pdf, csv),
    summary);

  // Answers can arrive out of order when the month is changed quickly: only the latest is shown.
  let asked = 0;
  async function show() {
    const mine = ++asked;
    const month = input.value.trim();
    const path = statementPath(me, month);
    for (const [a, format] of [[pdf, "pdf"], [csv, "csv"]]) {
      // A link without href cannot be followed: no download of a month the API would refuse.
      if (path) { a.setAttribute("href", `${path}?format=${format}`); a.setAttribute("download", ""); }
      else { a.removeAttribute("href"); a.removeAttribute("download"); }
      a.toggleAttribute("aria-disabled", !path);
    }
    if (!path) {
      put(summary, h("p", { class: "error", id: "statement-error" },
        `Pick a month from 1970-01 to ${currentMonth()} (year and month, as 2026-01): a later month has not begun.`));
      return;
    }
    put(summary, h("p", { class: "muted" }, "Reading the ledger…"));
    let s;
    try { s = await api(path); } catch (e) {
      if (mine === asked) put(summary, h("p", { class: "error", id: "statement-error" }, explain(e)));
      return;
    }
    if (mine === asked) put(summary, statementSummary(s));
  }
  input.addEventListener("change", show);
  await show();
  return panel;
}

// One row per token: opening owed, credits, withdrawals, closing owed, in token units.
function statementSummary(s) {
  const head = ["Token", "Opening owed", "Credits", "Withdrawals", "Closing owed"];
  const rows = s.tokens.map((t) => h("tr", { "data-token": t.token },
    h("td", {}, t.token_symbol),
    ...["opening_owed", "credits", "withdrawals", "closing_owed"].map((k) =>
      h("td", { class: "num", "data-field": k }, `${t[k + "_units"]} ${t.token_symbol}`))));
  const waiting = s.tokens.filter((t) => t.waiting.length).map((t) =>
    t.waiting.map((w) => `${w.amount_units} ${t.token_symbol} (your share ${w.share_ppm / 10_000}%)`)).flat();
  const wrap = h("div", {});
  add(wrap,
    h("div", { class: "table-wrap" }, h("table", { id: "statement-table" },
      h("caption", { class: "muted" }, s.complete ? `${s.month}, complete`
        : `${s.month} so far: the month is not over (ledger as of block ${s.as_of_block})`),
      h("thead", {}, h("tr", {}, head.map((c, i) => h("th", { scope: "col", class: i ? "num" : "" }, c)))),
      h("tbody", {}, rows))),
    h("p", { class: "muted" }, "Opening owed + credits − withdrawals = closing owed. Credits are what the ",
      "contract started owing you: a sale counts once its split is shared out."),
    waiting.length ? h("p", { class: "muted", id: "statement-waiting" },
      `Still waiting in your splits at the end of the month: ${waiting.join(" and ")} `
      + "(not owed to you until someone distributes the split).") : null);
  return wrap;
}
