// Paying for a listing (a track or a release) from the wallet. ETH: one `buy` with the
// amount as value. A token: when the Marketplace may already take the amount, one `buy`;
// when the token takes EIP-2612 permits, the wallet signs a permit (no transaction) and one
// `buyWithPermit` both allows and pays; otherwise `approve` then `buy`, two transactions.
import { ethers } from "./vendor/ethers.min.js";
import { explain } from "./api.js";
import { add, h, put, stepList } from "./dom.js";
import { ETH, state } from "./state.js";
import { contractTx, send, waitIndexed } from "./wallet.js";

const erc20 = new ethers.Interface([
  "function allowance(address,address) view returns (uint256)",
  "function approve(address,uint256) returns (bool)",
  "function nonces(address) view returns (uint256)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
  "function name() view returns (string)",
  "function version() view returns (string)",
  "function eip712Domain() view returns (bytes1,string,string,uint256,address,bytes32,uint256[])",
]);
const PERMIT_TYPES = { Permit: [
  { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
  { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] };
const DOMAIN_FIELDS = [["name", "string"], ["version", "string"], ["chainId", "uint256"],
  ["verifyingContract", "address"], ["salt", "bytes32"]];
const PERMIT_SECONDS = 30 * 60;

// A view of the token, read through the wallet's node; null when the token does not answer.
async function read(token, fn, args = []) {
  try {
    const data = await state.wallet.request({ method: "eth_call",
      params: [{ to: token, data: erc20.encodeFunctionData(fn, args) }, "latest"] });
    return erc20.decodeFunctionResult(fn, data);
  } catch { return null; }
}

// The token's EIP-712 domain when it takes EIP-2612 permits, else null. The domain is read
// from EIP-5267 `eip712Domain()` when the token has it, else built from name() and
// version() (or "1"); it is used only if its hash is the token's own DOMAIN_SEPARATOR, so
// a permit is never signed for a domain the token would not recognise.
export async function permitDomain(token) {
  const [nonce, separator] = await Promise.all([read(token, "nonces", [state.account]),
    read(token, "DOMAIN_SEPARATOR")]);
  if (!nonce || !separator) return null;
  let domain;
  const d = await read(token, "eip712Domain");
  if (d) {
    const bits = Number(d[0]);
    const values = [d[1], d[2], Number(d[3]), d[4], d[5]];
    domain = Object.fromEntries(DOMAIN_FIELDS.map(([k], i) => [k, values[i]]).filter((_, i) => bits & (1 << i)));
    // The token answers both the domain and the separator: a token naming another token's
    // domain would have the wallet sign a permit valid on that other token. Only a domain
    // of this very token on this chain is used; anything else pays by approve + buy.
    if (String(domain.verifyingContract || "").toLowerCase() !== token.toLowerCase()
      || Number(domain.chainId) !== Number(state.status.chain_id)) return null;
  } else {
    const name = await read(token, "name");
    if (!name) return null;
    const version = await read(token, "version");
    domain = { name: name[0], version: version ? version[0] : "1", chainId: state.status.chain_id,
      verifyingContract: ethers.getAddress(token) };
  }
  try {
    if (ethers.TypedDataEncoder.hashDomain(domain) !== separator[0]) return null;
  } catch { return null; }
  return { domain, nonce: nonce[0] };
}

// How this purchase will be paid: "eth", "allowance" (already allowed: one `buy`),
// "permit" (a signature, then one transaction) or "approve" (two transactions).
export async function planPurchase(token, amount) {
  if (token === ETH) return { path: "eth", token, amount };
  const allowance = await read(token, "allowance", [state.account, state.contract.address]);
  if (allowance && allowance[0] >= amount) return { path: "allowance", token, amount };
  const permit = await permitDomain(token);
  return permit ? { path: "permit", token, amount, ...permit } : { path: "approve", token, amount };
}

// What the buyer is about to do, in words, shown before the wallet opens.
export function pathText(plan) {
  return {
    eth: "One transaction: confirm the purchase in your wallet.",
    allowance: "One transaction: the Marketplace may already take this amount, confirm the purchase in your wallet.",
    permit: "One transaction: first sign a permit in your wallet (a signature, free, nothing is sent), "
      + "then confirm the purchase.",
    approve: "Two transactions: this token takes no permits, so first approve the amount, then confirm the purchase.",
  }[plan.path];
}

export function purchaseSteps(plan) {
  return stepList([
    ...(plan.path === "permit" ? [["signed", "Sign the permit in your wallet"]] : []),
    ...(plan.path === "approve" ? [["approved", "Approve the token in your wallet"]] : []),
    ["submitted", "Confirm the purchase in your wallet"], ["mined", "Mined"], ["indexed", "In the ledger"]]);
}

// A wallet that cannot sign typed data answers "unsupported method" (EIP-1193 4200,
// JSON-RPC -32601): then the purchase falls back to approve + buy.
const unsupported = (e) => {
  const code = e?.code ?? e?.info?.error?.code ?? e?.error?.code;
  return code === 4200 || code === -32601 || /not supported|unsupported|does not exist/i.test(String(e?.message));
};

// Sign the permit: owner = this wallet, spender = the Marketplace, value = the amount,
// valid ~30 minutes of the chain's clock.
async function signPermit(plan) {
  const block = await state.wallet.request({ method: "eth_getBlockByNumber", params: ["latest", false] });
  const now = Math.max(Math.floor(Date.now() / 1000), Number(block?.timestamp || 0));
  const message = { owner: state.account, spender: ethers.getAddress(state.contract.address),
    value: plan.amount.toString(), nonce: plan.nonce.toString(), deadline: String(now + PERMIT_SECONDS) };
  const types = { EIP712Domain: DOMAIN_FIELDS.filter(([k]) => k in plan.domain).map(([name, type]) => ({ name, type })),
    ...PERMIT_TYPES };
  const typed = { types, primaryType: "Permit", domain: plan.domain, message };
  const signature = await state.wallet.request({
    method: "eth_signTypedData_v4", params: [state.account, JSON.stringify(typed)] });
  const signer = ethers.verifyTypedData(plan.domain, PERMIT_TYPES, message, signature);
  if (signer !== state.account) throw new Error(`Your wallet signed the permit as ${signer}, not as ${state.account}.`);
  const sig = ethers.Signature.from(signature);
  return { deadline: message.deadline, v: sig.v, r: sig.r, s: sig.s };
}

// Pay for listing `id` as `plan` says, ticking `steps` off; the purchase's receipt.
// When the wallet cannot sign permits the plan becomes approve + buy, and
// `onFallback(newPlan)` answers the steps to tick from then on.
export async function pay(id, plan, steps, onFallback) {
  if (plan.path === "permit") {
    let permit;
    try {
      permit = await signPermit(plan);
    } catch (e) {
      if (!unsupported(e)) throw new Error(permitRefusal(e));
      const next = { ...plan, path: "approve" };
      return pay(id, next, onFallback ? onFallback(next) : steps);
    }
    steps?.mark("signed", "Permit signed");
    return send(contractTx("buyWithPermit", [id, plan.amount, permit.deadline, permit.v, permit.r, permit.s]), steps);
  }
  if (plan.path === "approve") {
    await send({ to: plan.token, data: erc20.encodeFunctionData("approve", [state.contract.address, plan.amount]) });
    steps?.mark("approved", "Token approved");
  }
  return send(contractTx("buy", [id, plan.amount], plan.path === "eth" ? plan.amount : 0n), steps);
}

function permitRefusal(e) {
  const why = explain(e);
  return why === "You rejected the request in your wallet."
    ? "You declined to sign the permit in your wallet: nothing was paid." : `The permit was not signed: ${why}`;
}

// The whole purchase as the track and release pages show it: which path, its steps, and
// `done(out)` once the sale is in the ledger. The button stays disabled while it runs.
export async function buyListing(id, token, amount, out, button, done) {
  if (state.chainId !== state.status.chain_id) {
    // Checked before anything is read: on another chain the token's permit domain is not this one's.
    put(out, h("p", { class: "error" }, `Switch your wallet to chain ${state.status.chain_id} first.`));
    return;
  }
  button.disabled = true;
  try {
    let plan;
    try { plan = await planPurchase(token, amount); } catch (e) {
      put(out, h("p", { class: "error" }, explain(e)));
      return;
    }
    const show = (p) => {
      const steps = purchaseSteps(p);
      put(out, h("p", { class: "muted", id: "pay-path", "data-path": p.path }, pathText(p)), steps);
      return steps;
    };
    const steps = show(plan);
    let current = steps;
    try {
      const receipt = await pay(id, plan, steps, (next) => {
        current = show(next);
        add(out, h("p", { class: "warn" }, "Your wallet cannot sign permits, so the token is approved first."));
        return current;
      });
      await waitIndexed(receipt.blockNumber, current);
      done(out);
    } catch (e) { current.fail(explain(e)); }
  } finally { button.disabled = false; }
}
