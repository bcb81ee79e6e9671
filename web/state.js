// What every part of the web app shares: the server's status and contract, the wallet and
// its session, and a way to show the current page again.
export const ETH = "0x0000000000000000000000000000000000000000";

export const state = {
  status: null, contract: null, iface: null, wallet: null, account: null, session: null, providers: [],
  // What a finished withdrawal said, shown once on the studio page drawn after it, next to
  // the balances read after the withdrawal landed in the ledger.
  withdrawal: null,
};

// The router (app.js) registers itself here, so that a view or the wallet can render the page
// again after a change lands without importing the router, which imports every view.
let router = () => Promise.resolve();
export const setRouter = (fn) => { router = fn; };
export const route = () => router();
