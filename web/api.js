// The Ninety API (same origin, session cookie) and what went wrong, in words a person can
// act on: the API's problem details, the wallet's refusals and the contract's custom errors.
import { money, short } from "./dom.js";
import { state } from "./state.js";

export class ApiError extends Error {
  // `body`: the problem details as the API sent them (some carry fields a view acts on).
  constructor(status, detail, body = null) { super(detail); this.status = status; this.body = body; }
}

export async function api(path, opts = {}) {
  let r;
  try {
    r = await fetch(path, { credentials: "same-origin", ...opts });
  } catch {
    throw new ApiError(0, "The Ninety server is not reachable. Is it running?");
  }
  if (!r.ok) {
    let detail = `HTTP ${r.status}`, body = null;
    try { body = await r.json(); detail = body.detail || body.title || detail; } catch { /* not JSON */ }
    throw new ApiError(r.status, detail, body);
  }
  return r.status === 204 ? null : r.json();
}

// POST a JSON body.
export const postJson = (path, body) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

// What went wrong, in words a person can act on (never a stack trace).
export function explain(err) {
  const code = err?.code ?? err?.info?.error?.code ?? err?.error?.code;
  const msg = String(err?.info?.error?.message || err?.error?.message || err?.shortMessage || err?.message || err);
  if (code === 4001 || code === "ACTION_REJECTED" || /rejected|denied/i.test(msg)) {
    return "You rejected the request in your wallet.";
  }
  if (/insufficient funds/i.test(msg)) return "Not enough funds in this wallet to pay for this (price plus gas).";
  if (code === 4902) return "Your wallet does not know this network yet.";
  const data = err?.data || err?.info?.error?.data || err?.error?.data;
  if (data && state.iface) {
    try {
      const e = state.iface.parseError(typeof data === "string" ? data : data.data);
      if (e) return refusal(e.name.replace("Marketplace__", ""), e.args.map(String));
    } catch { /* not one of ours */ }
  }
  if (err instanceof ApiError) return err.message;
  return msg.length > 300 ? msg.slice(0, 300) + "…" : msg;
}

// The contract's refusals that a person can act on, in words; the others by name.
// (Distributing, withdrawing or claiming what is already done is not a refusal: those
// steps return nothing moved, and the views say so from the receipt's events.)
function refusal(name, a) {
  const words = {
    EpochEnded: () => `Epoch ${a[0]} has ended and its pools no longer change: `
      + `fund the current epoch (${a[1]}) or a later one.`,
    EpochTooFar: () => `Deposits go at most 1,000 epochs ahead: choose epoch ${a[1]} or an earlier one.`,
    NoPoolRules: () => `No pool rules are committed for epoch ${a[0]} yet, so it cannot be funded: `
      + "choose an earlier epoch.",
    DepositLocked: () => `Epoch ${a[0]} has ended: its deposits belong to its pool until it is published `
      + `(or, if it never is, until epoch ${a[1]}).`,
    ZeroAmount: () => "Enter an amount above zero.",
    ZeroAddress: () => "The zero address cannot be paid (whatever is sent there is lost): enter a real address.",
    MarketplaceAsRecipient: () => "The Marketplace's own address cannot be paid: money sent there would be stuck. "
      + "Enter another address.",
    MalformedSplitData: () => "The split's data is malformed (an address or a share out of range): "
      + "fill the form again.",
    WrongSplitData: () => `The payees and shares sent are not those of split ${short(a[0])}: `
      + "the split may have changed meanwhile. Reload the page and try again.",
    UnknownSplit: () => `Split ${short(a[0])} does not exist on chain yet: it must be created first.`,
    SplitUnchanged: () => `Track ${a[0]} already pays exactly this split: change a payee or a share first.`,
    ProposalPending: () => `This change of track ${a[0]} is already proposed and waiting for consent: `
      + "the payees who lose share accept it in their studio.",
    ConsentNotNeeded: () => `Your consent is not needed for this change of track ${a[0]}: you already gave it, `
      + "or the change already landed or was replaced by another one.",
    RenounceDisabled: () => "Ownership cannot be renounced: pools carried over would be locked forever. "
      + "Transfer it instead.",
    NotArtist: () => `Only the track's artist (${short(a[2])}) can do this.`,
    ZeroPriceForToken: () => "A track paid in a token needs a price above zero (only ETH tracks can be free).",
    PriceTooHigh: () => `The price is above the contract's maximum (${a[1]} in the token's smallest unit).`,
    EthTransferFailed: () => `Sending ETH to ${short(a[0])} failed: that address does not accept ETH. `
      + "Send your earnings to another address instead.",
    AmountTooLarge: () => "The amount is too large for the contract to share out.",
    SharesSumInvalid: () => `The shares add up to ${Number(a[0]) / 10000}%, not 100%.`,
    DuplicateRecipient: () => `${short(a[0])} appears twice in the split.`,
    PermitFailed: () => `The token did not accept the permit (it expired or was already used), and the Marketplace `
      + `may take only ${money(a[1], a[0])} of the ${money(a[2], a[0])} to pay. Try the purchase again.`,
    TrackBlocked: () => `Track ${a[0]} was taken down, so it (and any release holding it) cannot be sold or listed.`,
    TrackNotListed: () => `Listing ${a[0]} is not for sale right now.`,
    AmountBelowPrice: () => "The amount is below the price: pay the price or more.",
    UnknownTrack: () => `There is no track ${a[0]}.`,
    ReleaseSize: () => `A release holds 1 to ${a[1]} tracks, not ${a[0]}.`,
    ReleaseInRelease: () => `${a[0]} is a release: a release holds tracks, not other releases.`,
    DuplicateTrack: () => `Track ${a[0]} is on the release twice: keep it once.`,
    CidAlreadyListed: () => "This metadata is already listed: upload the release again to list it anew.",
    AttestationExpired: () => "The catalog's approval expired before the transaction: try again.",
  };
  return words[name] ? "The contract refused: " + words[name]() : `The contract refused: ${name}(${a.join(", ")}).`;
}
