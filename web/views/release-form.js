// "New release" in the studio: the artist picks their own tracks in order, names the
// release, adds artwork, a price and a split; the server pins the artwork and metadata, the
// catalog signer approves it, and the artist's wallet creates the split (if new) and
// registers the release.
import { ethers } from "../vendor/ethers.min.js";
import { api, explain, postJson } from "../api.js";
import { h, main, money, put, short, shortc, stepList, tokenInfo } from "../dom.js";
import { pct, splitEditor, splitOf } from "../splits.js";
import { ETH, route, state } from "../state.js";
import { contractTx, eventsOf, readContract, send, signIn, waitIndexed } from "../wallet.js";

export async function viewNewRelease() {
  put(main, h("p", {}, h("a", { href: "#/studio" }, "Back to the studio")), h("h1", {}, "New release"));
  if (!state.account || !state.session) {
    main.append(h("p", {}, "Sign in with your wallet to make a release of your tracks."),
      h("button", { type: "button", onclick: async () => { if (await signIn()) route(); } }, "Sign in"));
    return;
  }
  const page = await api(`/api/tracks?artist=${state.account.toLowerCase()}&include_unlisted=true&limit=500`);
  const mine = page.items.filter((t) => t.genuine && !t.blocked);
  if (!mine.length) {
    main.append(h("p", {}, "You have no tracks to put on a release yet: upload some in the studio first."));
    return;
  }
  main.append(releaseForm(mine));
}

// The least split the server attests for a release sold at `price` (base units) in `token`
// (backend/release_splits.py): each collaborator earns from a sale of the release at least
// what selling each of its tracks once pays them, i.e. their share of each track priced in
// `token` times its price, over `price` (rounded up); their whole share of a track priced in
// another token (which cannot be compared with the price). The rest goes to the artist.
// { split } or, when no split can be fair at this price, { least } (the least price in
// `token` that has one; null when only repricing the other-token tracks helps).
export function fairSplit(tracks, splits, artist, token, price) {
  const me = artist.toLowerCase();
  const inToken = token.toLowerCase();
  const earned = new Map();
  const whole = new Map();
  splits.forEach((s, i) => s.recipients.forEach((r, j) => {
    const a = r.toLowerCase();
    const share = BigInt(s.shares_ppm[j]);
    const trackPrice = BigInt(tracks[i].price);
    if (a === me || trackPrice === 0n || share === 0n) return;
    if (tracks[i].token.toLowerCase() === inToken) earned.set(a, (earned.get(a) || 0n) + share * trackPrice);
    else if (share > (whole.get(a) || 0n)) whole.set(a, share);
  }));
  const total = 1_000_000n;
  const ceil = (a, b) => (a + b - 1n) / b;
  const payees = new Set([...earned.keys(), ...whole.keys()]);
  const owedAt = (p) => new Map([...payees].map((a) => {
    const e = earned.get(a) || 0n;
    const w = whole.get(a) || 0n;
    const o = e > 0n ? ceil(e, p) : 0n;
    return [a, o > w ? o : w];
  }));
  const sum = (m) => [...m.values()].reduce((x, y) => x + y, 0n);
  const fits = (p) => sum(owedAt(p)) <= total;
  if (sum(owedAt(1n << 200n)) > total) return { least: null };
  if (BigInt(price) === 0n ? payees.size > 0 : !fits(BigInt(price))) {
    let low = ceil(sum(new Map(earned)), total) || 1n;
    let high = low;
    while (!fits(high)) high *= 2n;
    while (low < high) {
      const mid = (low + high) / 2n;
      if (fits(mid)) high = mid; else low = mid + 1n;
    }
    return { least: low };
  }
  const pairs = BigInt(price) === 0n ? [] : [...owedAt(BigInt(price))].filter(([, p]) => p > 0n)
    .map(([a, p]) => [a, Number(p)]);
  const rest = 1_000_000 - pairs.reduce((s, [, p]) => s + p, 0);
  // No zero share (createSplit refuses one): when the tracks pay only others, the artist gets none.
  return { split: rest > 0 ? [[me, rest], ...pairs] : pairs };
}

// The release's price as typed, in base units of `token`; else what its tracks priced in
// `token` cost bought one by one (the price the server assumes without one).
function typedPrice(text, token, tracks) {
  try {
    const p = ethers.parseUnits(String(text).trim(), token.decimals);
    if (p >= 0n && String(text).trim()) return p;
  } catch { /* not a price yet: fall back on the tracks' */ }
  return tracks.filter((t) => t.token.toLowerCase() === token.address.toLowerCase())
    .reduce((s, t) => s + BigInt(t.price), 0n);
}

function releaseForm(mine) {
  const chosen = [];
  const splits = new Map();
  const submit = h("button", { type: "submit", id: "create-release" }, "Create the release");
  const editor = splitEditor(submit);
  const list = h("ol", { id: "release-tracks", class: "tracklist" });
  const picker = h("select", { id: "pick-track" });
  const sum = h("p", { class: "muted", id: "chosen-sum" });
  const note = h("p", { class: "muted", id: "split-note" });
  const out = h("div", { "aria-live": "polite" });
  const pick = h("div", {}, h("label", { for: "pick-track" }, "Your tracks"), picker, " ",
    h("button", { type: "button", class: "secondary", id: "add-track", onclick: () => {
      const t = mine.find((x) => String(x.track_id) === picker.value);
      if (t) { chosen.push(t); redraw().catch((err) => put(out, h("p", { class: "error" }, explain(err)))); }
    } }, "Add to the release"));
  const allIn = h("p", { class: "muted", hidden: true }, "All your tracks are on the release.");
  async function redraw() {
    put(list, chosen.map((t, i) => h("li", {}, h("span", {}, t.title || `Track ${t.track_id}`), " ",
      i ? h("button", { type: "button", class: "secondary", "aria-label": `Move ${t.title} up`, onclick: () => {
        [chosen[i - 1], chosen[i]] = [chosen[i], chosen[i - 1]]; redraw();
      } }, "Move up") : null, " ",
      h("button", { type: "button", class: "secondary", "aria-label": `Remove ${t.title}`, onclick: () => {
        chosen.splice(i, 1); redraw();
      } }, "Remove"))));
    const left = mine.filter((t) => !chosen.includes(t));
    put(picker, left.map((t) => h("option", { value: t.track_id }, t.title || `Track ${t.track_id}`)));
    pick.hidden = !left.length;
    allIn.hidden = !!left.length;
    const sums = {};
    for (const t of chosen) sums[t.token] = (sums[t.token] || 0n) + BigInt(t.price);
    sum.textContent = chosen.length ? `Tracks bought one by one: ${Object.entries(sums)
      .map(([token, s]) => money(s, token)).join(" + ")}` : "Add tracks to the release, in the order they play.";
    if (!chosen.length) return;
    for (const t of chosen) {
      if (!splits.has(t.split_id)) splits.set(t.split_id, await api(`/api/splits/${t.split_id}`));
    }
    suggestSplit();
  }
  // Recomputed whenever the tracks, the price or the token change: the fair split depends on all three.
  function suggestSplit() {
    if (!chosen.length) return;
    const token = tokenInfo(form.elements.token.value);
    const price = typedPrice(form.elements.price_human.value, token, chosen);
    const fair = fairSplit(chosen, chosen.map((t) => splits.get(t.split_id)), state.account, token.address, price);
    if (fair.split) {
      editor.fill(fair.split);
      note.textContent = `Suggested for a price of ${money(price, token.address)}: each collaborator earns from a sale `
        + "of the release at least what a sale of their track pays them (the catalog refuses less). "
        + "You may give them more.";
    } else if (fair.least !== null) {
      note.textContent = `Priced at ${money(price, token.address)} this release pays its tracks' collaborators less `
        + `than a sale of their tracks does: price it at ${money(fair.least, token.address)} or more (or take tracks out).`;
    } else {
      note.textContent = `Tracks priced in another token than ${token.symbol} pay their collaborators more than `
        + `100% together: price the release in their token, or take tracks out.`;
    }
  }
  const tokens = state.status.tokens;
  const form = h("form", { id: "release-form", onsubmit: (e) => {
    e.preventDefault();
    if (editor.check()) create(form, chosen, editor, out, submit);
  } },
  h("fieldset", {}, h("legend", {}, "Tracks, in the order they play"), list,
    pick, allIn, sum),
  h("label", { for: "title" }, "Title"), h("input", { id: "title", name: "title", required: true, maxlength: 300 }),
  h("label", { for: "release_type" }, "Release type"),
  h("select", { id: "release_type", name: "release_type" },
    [["album", "Album"], ["ep", "EP"], ["single", "Single"]].map(([v, l]) => h("option", { value: v }, l))),
  h("label", { for: "genre" }, "Genre"), h("input", { id: "genre", name: "genre", maxlength: 100 }),
  h("label", { for: "description" }, "Description"),
  h("textarea", { id: "description", name: "description", rows: 2, maxlength: 5000 }),
  h("label", { for: "artwork" }, "Artwork (PNG or JPEG)"),
  h("input", { id: "artwork", name: "artwork", type: "file", accept: "image/png,image/jpeg", required: true }),
  h("label", { for: "price" }, "Price"),
  h("input", { id: "price", name: "price_human", required: true, inputmode: "decimal", oninput: () => suggestSplit() }),
  h("label", { for: "token" }, "Paid in"),
  h("select", { id: "token", name: "token", onchange: () => suggestSplit() },
    tokens.map((t) => h("option", { value: t.address }, t.symbol))),
  h("fieldset", {}, h("legend", {}, "Split: who is paid, and how much of each sale (after the platform fee)"),
    note, editor.element),
  submit, out);
  editor.addRow(state.account, "100");
  redraw();
  return h("section", { class: "panel", "aria-labelledby": "release-h" },
    h("h2", { id: "release-h" }, "Your release"), form);
}

async function create(form, chosen, editor, out, submit) {
  const data = new FormData(form);
  const token = tokenInfo(data.get("token"));
  let price;
  try { price = ethers.parseUnits(String(data.get("price_human")).trim(), token.decimals); } catch {
    put(out, h("p", { class: "error" }, `Enter a price in ${token.symbol}, like 9.5.`));
    return;
  }
  if (!chosen.length) { put(out, h("p", { class: "error" }, "Add at least one track to the release.")); return; }
  if (price === 0n && token.address !== ETH) {
    put(out, h("p", { class: "error" }, "A release paid in a token needs a price above zero."));
    return;
  }
  const body = new FormData();
  for (const k of ["title", "description", "genre", "release_type"]) body.set(k, data.get(k));
  body.set("track_ids", JSON.stringify(chosen.map((t) => t.track_id)));
  body.set("artwork", data.get("artwork"));
  const steps = stepList([["pinned", "Pin the artwork and details to IPFS"], ["attested", "Get the catalog's approval"],
    ["split", "Create the split on chain"], ["submitted", "Register the release in your wallet"],
    ["mined", "Mined"], ["indexed", "In the store"]]);
  put(out, steps);
  submit.disabled = true;
  let pinned = null;
  const run = async () => {
    steps.clearFailures();
    try {
      if (!pinned) pinned = await api("/api/releases", { method: "POST", body });
      submit.hidden = true; // from here on "Try again" goes on with these pinned files
      steps.mark("pinned", `Pinned to IPFS (metadata ${short(pinned.metadata_cid)})`);
      // The split as the form has it now: after a refusal the artist corrects it, then tries again.
      if (!editor.check()) throw new Error("The split must add up to exactly 100%: correct it above.");
      const split = editor.shares();
      // The catalog's approval first: it costs nothing, and a refused split is then never created on chain.
      const fresh = await postJson(`/api/uploads/${pinned.metadata_cid}/attestation`,
        { split, token: token.address, price: price.toString() });
      steps.mark("attested", "Approved by the catalog");
      const s = splitOf(split.map((p) => ({ address: p.address, ppm: p.share_ppm })));
      const [exists] = await readContract("splitExists", [s.split_id]);
      if (!exists) await send(contractTx("createSplit", [s.recipients, s.shares_ppm]));
      steps.mark("split", exists ? "The split already exists" : "Split created");
      const receipt = await send(contractTx("registerRelease", [pinned.metadata_cid, s.split_id, token.address, price,
        pinned.track_ids, fresh.attestation]), steps);
      const id = Number(eventsOf(receipt, "ReleaseRegistered")[0].args.releaseId);
      await waitIndexed(receipt.blockNumber, steps);
      await untilShown(id);
      out.append(h("p", { class: "ok", id: "release-registered" }, "Your release is in the store: ",
        h("a", { href: `#/release/${id}` }, `open “${data.get("title")}”`), "."));
    } catch (e) {
      steps.fail(e.body?.suggested_split ? unfair(e.body, editor) : explain(e));
      // The pinned files are kept: trying again goes on from the step that failed.
      out.append(h("button", { type: "button", class: "secondary", onclick: (ev) => { ev.target.remove(); run(); } },
        "Try again"));
      submit.disabled = false;
    }
  };
  await run();
}

// The catalog refused a split that pays the tracks' collaborators less from a sale of the
// release than a sale of their tracks does: say who and how much, in percent, and put the
// suggested split back in the form.
function unfair(body, editor) {
  editor.fill(body.suggested_split.map((p) => [p.address, p.share_ppm]));
  const who = (body.losers || []).map((x) => `${shortc(x.address)} gets ${pct(x.new_share_ppm)} `
    + `where at this price their fair share is ${pct(x.share_ppm)} (what a sale of their tracks pays them)`)
    .join("; ");
  return `The catalog refused this split: ${who || "a collaborator would lose share"}. `
    + "The suggested split is back in the form: check it and try again.";
}

// The indexer reads the release's metadata from IPFS just after the block: wait (a little)
// until the release page has its title, so the link opens a complete page.
async function untilShown(id) {
  for (let i = 0; i < 40; i++) {
    const r = await api(`/api/releases/${id}`).catch(() => null);
    if (r?.title) return;
    await new Promise((ok) => setTimeout(ok, 500));
  }
}
