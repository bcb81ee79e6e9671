// The wallet: EIP-1193 providers found by EIP-6963 discovery or as window.ethereum,
// Sign-In with Ethereum, the status banner, and transactions sent through the wallet.
// The page reaches no node itself (its CSP allows only this site): every chain read and
// every transaction goes through the wallet.
import { ethers } from "./vendor/ethers.min.js";
import { api, explain, postJson } from "./api.js";
import { h, put, short, toast } from "./dom.js";
import { route, state } from "./state.js";

window.addEventListener("eip6963:announceProvider", (event) => {
  const d = event.detail;
  if (d?.provider && !state.providers.some((p) => p.info?.uuid === d.info?.uuid)) state.providers.push(d);
});
window.dispatchEvent(new Event("eip6963:requestProvider"));

export function pickProvider() {
  if (state.providers.length) return state.providers[0].provider;
  return window.ethereum || null;
}

export async function connect() {
  const provider = pickProvider();
  if (!provider) { toast("No browser wallet found. Install one (any EIP-1193 wallet) and reload."); return false; }
  try {
    const accounts = await provider.request({ method: "eth_requestAccounts" });
    state.wallet = provider;
    state.account = ethers.getAddress(accounts[0]);
    state.chainId = Number(await provider.request({ method: "eth_chainId" }));
    provider.on?.("accountsChanged", (a) => {
      state.account = a[0] ? ethers.getAddress(a[0]) : null;
      state.session = null;
      renderWallet();
      route();
    });
    provider.on?.("chainChanged", (c) => { state.chainId = Number(c); refreshStatus(); });
    try {
      const me = await api("/api/auth/me");
      if (me.address === state.account.toLowerCase()) state.session = me.address;
    } catch { /* not signed in */ }
    renderWallet();
    await refreshStatus();
    return true;
  } catch (e) {
    toast(explain(e));
    return false;
  }
}

async function switchChain() {
  try {
    const chainId = "0x" + state.status.chain_id.toString(16);
    await state.wallet.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (e) { toast(explain(e)); }
}

export function renderWallet() {
  document.getElementById("account").textContent =
    state.account ? short(state.account) + (state.session ? " (signed in)" : "") : "";
  document.getElementById("connect").hidden = !!state.account;
  document.getElementById("signin").hidden = !state.account || !!state.session;
}

// Sign-In with Ethereum (EIP-4361): the server checks domain, URI, chain, nonce and times.
export async function signIn() {
  if (!state.account && !(await connect())) return false;
  try {
    const nonce = await api("/api/auth/nonce");
    const now = new Date();
    const message = [
      `${nonce.domain} wants you to sign in with your Ethereum account:`, state.account, "",
      "Sign in to Ninety", "",
      `URI: ${location.origin}`, "Version: 1", `Chain ID: ${state.status.chain_id}`, `Nonce: ${nonce.nonce}`,
      `Issued At: ${now.toISOString()}`, `Expiration Time: ${new Date(now.getTime() + 8 * 3600e3).toISOString()}`,
    ].join("\n");
    const signature = await state.wallet.request({
      method: "personal_sign", params: [ethers.hexlify(ethers.toUtf8Bytes(message)), state.account] });
    const s = await postJson("/api/auth/login", { message, signature });
    state.session = s.address;
    renderWallet();
    toast("Signed in.");
    return true;
  } catch (e) {
    toast(explain(e));
    return false;
  }
}

export async function needSession() {
  if (state.session) return true;
  return signIn();
}

// The banner: what is down or behind (node, IPFS, indexer) and a wallet on the wrong chain.
export async function refreshStatus() {
  const banner = document.getElementById("banner");
  const problems = [];
  let bad = false;
  try {
    state.status = await api("/api/status");
    const s = state.status;
    if (!s.chain_reachable) {
      problems.push("The blockchain node is not reachable: purchases and balances are unavailable.");
      bad = true;
    }
    if (s.ipfs_reachable === false) {
      problems.push("The IPFS node is down: previews, artwork, uploads and downloads are unavailable.");
    }
    if (s.indexed_block === null) problems.push("The ledger has not been built yet: the indexer has not run.");
    else if (s.lag_blocks > 5) {
      problems.push(`The indexer is ${s.lag_blocks} blocks behind the chain: recent sales may not show yet.`);
    }
    if (state.account && state.chainId !== null && s.chain_id !== null && state.chainId !== s.chain_id) {
      problems.push(`Your wallet is on chain ${state.chainId}; Ninety runs on chain ${s.chain_id}.`);
      bad = true;
    }
  } catch (e) {
    problems.push(explain(e));
    bad = true;
  }
  put(banner, ...problems.map((p) => h("div", {}, p)));
  if (problems.some((p) => p.includes("Your wallet is on chain"))) {
    banner.append(h("button", { type: "button", class: "secondary", onclick: switchChain }, "Switch network"));
  }
  banner.hidden = problems.length === 0;
  banner.className = bad ? "bad" : "";
}

// Send a transaction from the wallet; `steps` shows submitted → mined (→ indexed by the caller).
export async function send(tx, steps) {
  if (state.chainId !== state.status.chain_id) {
    throw new Error(`Switch your wallet to chain ${state.status.chain_id} first.`);
  }
  // Run it first as a call: a refusal is then said in words (from the contract's custom
  // error) before anything is signed, whether or not the wallet estimates gas itself
  // (some, like Anvil's own accounts, would mine a reverting transaction).
  await state.wallet.request({ method: "eth_call", params: [{ from: state.account, ...tx }, "latest"] });
  const hash = await state.wallet.request({ method: "eth_sendTransaction", params: [{ from: state.account, ...tx }] });
  steps?.mark("submitted", `Submitted: ${short(hash)}`);
  const rpc = new ethers.BrowserProvider(state.wallet);
  const receipt = await rpc.waitForTransaction(hash);
  if (!receipt || receipt.status !== 1) throw new Error(`The transaction ${hash} failed on chain.`);
  steps?.mark("mined", `Mined in block ${receipt.blockNumber}`);
  return receipt;
}

export async function waitIndexed(block, steps) {
  for (let i = 0; i < 240; i++) {
    const s = await api("/api/status").catch(() => null);
    if (s && s.indexed_block !== null && s.indexed_block >= block) { steps?.mark("indexed", "In the ledger"); return; }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("The sale is on chain but the indexer has not caught up yet; it will appear shortly.");
}

export const encode = (fn, args) => state.iface.encodeFunctionData(fn, args);
export const contractTx = (fn, args, value = 0n) => ({
  to: state.contract.address, data: encode(fn, args), value: "0x" + BigInt(value).toString(16),
});
// Several calls in one transaction (the contract's multicall), or the one call as it is.
export const batchTx = (calls) => (calls.length === 1
  ? { to: state.contract.address, data: calls[0], value: "0x0" }
  : contractTx("multicall", [calls]));

// The Marketplace's events in a receipt (optionally only those named `name`).
export function eventsOf(receipt, name) {
  const market = state.contract.address.toLowerCase();
  return receipt.logs.filter((l) => l.address.toLowerCase() === market)
    .map((l) => { try { return state.iface.parseLog(l); } catch { return null; } })
    .filter((e) => e && (!name || e.name === name));
}

// A view of the contract, read through the wallet's node (the page itself may only reach
// the site: its CSP allows no other origin).
export async function readContract(fn, args) {
  const data = await state.wallet.request({
    method: "eth_call", params: [{ to: state.contract.address, data: encode(fn, args) }, "latest"] });
  return state.iface.decodeFunctionResult(fn, data);
}
