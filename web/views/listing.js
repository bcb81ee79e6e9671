// The artist's listing editor, on their track's or release's page: its price and whether
// it is for sale (updateTrack, which takes a release's id as well as a track's).
import { ethers } from "../vendor/ethers.min.js";
import { explain } from "../api.js";
import { add, h, money, put, stepList, tokenInfo } from "../dom.js";
import { ETH, route, state } from "../state.js";
import { connect, contractTx, send, waitIndexed } from "../wallet.js";

// Who is paid changes through "Change split", with the consent of payees who would lose share.
export function listingEditor(t, what = "track") {
  const info = tokenInfo(t.token);
  const out = h("div", { "aria-live": "polite" });
  const price = h("input", { id: "edit-price", inputmode: "decimal",
    value: ethers.formatUnits(BigInt(t.price), info.decimals) });
  const listed = h("input", { id: "edit-listed", type: "checkbox", checked: t.listed });
  const save = h("button", { type: "submit", id: "save-listing" }, "Save");
  const form = h("form", { class: "filters", id: "listing-form", onsubmit: async (e) => {
    e.preventDefault();
    let value;
    try { value = ethers.parseUnits(price.value.trim(), info.decimals); } catch {
      put(out, h("p", { class: "error" }, `Enter a price in ${info.symbol}, like 0.01.`));
      return;
    }
    if (value === 0n && t.token !== ETH) {
      put(out, h("p", { class: "error" }, `A ${what} paid in a token needs a price above zero.`));
      return;
    }
    if (!state.account && !(await connect())) return;
    const steps = stepList([["submitted", "Submit"], ["mined", "Mined"], ["indexed", "In the store"]]);
    put(out, steps);
    save.disabled = true;
    try {
      const receipt = await send(contractTx("updateTrack", [t.track_id, value, listed.checked]), steps);
      await waitIndexed(receipt.blockNumber, steps);
      add(out, h("p", { class: "ok", id: "listing-saved" },
        listed.checked ? `Saved: for sale at ${money(value, t.token)}.` : "Saved: not for sale."));
      setTimeout(route, 1500);
    } catch (err) { steps.fail(explain(err)); save.disabled = false; }
  } },
  h("div", {}, h("label", { for: "edit-price" }, `Price (${info.symbol})`), price),
  h("div", {}, h("label", { for: "edit-listed" }, "For sale"), listed), save);
  return h("section", { class: "panel", id: "listing", "aria-labelledby": "listing-h" },
    h("h2", { id: "listing-h" }, "Your listing"),
    h("p", { class: "muted" }, "Fans pay at least this price. The token is fixed at registration."), form, out);
}
