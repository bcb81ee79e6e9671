// Uploading a track from the studio: the server checks the files and pins them to IPFS,
// then the artist's wallet creates the split and registers the track (two transactions).
import { ethers } from "../vendor/ethers.min.js";
import { explain, postJson } from "../api.js";
import { h, put, stepList, tokenInfo } from "../dom.js";
import { splitEditor } from "../splits.js";
import { state } from "../state.js";
import { send, waitIndexed } from "../wallet.js";
import { duplicateRefusal } from "./moderation.js";

export function uploadPanel() {
  const tokens = state.status.tokens;
  const submit = h("button", { type: "submit", id: "upload" }, "Upload");
  const editor = splitEditor(submit);
  const progress = h("progress", { max: "100", value: "0", hidden: true, "aria-label": "Upload progress" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "upload-form", onsubmit: (e) => {
    e.preventDefault();
    if (editor.check()) upload(form, editor.shares(), progress, out, submit);
  } },
  h("label", { for: "audio" }, "Audio (WAV, FLAC, MP3 or OGG)"),
  h("input", { id: "audio", name: "audio", type: "file", accept: "audio/*", required: true }),
  h("label", { for: "artwork" }, "Artwork (PNG or JPEG)"),
  h("input", { id: "artwork", name: "artwork", type: "file", accept: "image/png,image/jpeg", required: true }),
  h("label", { for: "title" }, "Title"), h("input", { id: "title", name: "title", required: true, maxlength: 300 }),
  h("label", { for: "artist_name" }, "Artist name"),
  h("input", { id: "artist_name", name: "artist_name", required: true, maxlength: 300 }),
  h("label", { for: "genre" }, "Genre"), h("input", { id: "genre", name: "genre", maxlength: 100 }),
  h("label", { for: "description" }, "Description"),
  h("textarea", { id: "description", name: "description", rows: 2, maxlength: 5000 }),
  h("label", { for: "price" }, "Price"),
  h("input", { id: "price", name: "price_human", required: true, inputmode: "decimal", value: "0.01" }),
  h("label", { for: "token" }, "Paid in"),
  h("select", { id: "token", name: "token" }, tokens.map((t) => h("option", { value: t.address }, t.symbol))),
  h("label", { for: "preview_start" }, "Preview starts at (seconds)"),
  h("input", { id: "preview_start", name: "preview_start", type: "number", min: "0", step: "0.1", value: "0" }),
  h("fieldset", {}, h("legend", {}, "Split: who is paid, and how much of each sale (after the platform fee)"),
    editor.element),
  submit, progress, out);
  editor.addRow(state.account, "100");
  return h("section", { class: "panel", "aria-labelledby": "upload-h" },
    h("h2", { id: "upload-h" }, "Upload a track"), form);
}

function upload(form, split, progress, out, submit) {
  const data = new FormData(form);
  const token = tokenInfo(data.get("token"));
  let price;
  try { price = ethers.parseUnits(String(data.get("price_human")).trim(), token.decimals); } catch {
    put(out, h("p", { class: "error" }, "Enter a price like 0.01."));
    return;
  }
  data.delete("price_human");
  data.set("price", price.toString());
  data.set("split", JSON.stringify(split));
  // XMLHttpRequest, not fetch: it reports upload progress.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/uploads");
  progress.hidden = false;
  submit.disabled = true;
  put(out, h("p", {}, "Uploading…"));
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total); };
  xhr.onerror = () => {
    submit.disabled = false;
    put(out, h("p", { class: "error" }, "The upload failed: the server is not reachable."));
  };
  xhr.onload = () => {
    submit.disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 409 && body.track) { put(out, duplicateRefusal(body)); return; }
    if (xhr.status !== 201) {
      put(out, h("p", { class: "error" }, `Upload refused: ${body.detail || "HTTP " + xhr.status}`));
      return;
    }
    progress.value = 100;
    const steps = stepList([["split", "Create the split on chain"], ["submitted", "Register the track"],
      ["mined", "Mined"], ["indexed", "In the store"]]);
    const register = h("button", { type: "button", id: "register", onclick: async () => {
      register.disabled = true;
      try {
        await registerTrack(body, token, price, steps, out);
      } catch (e) {
        steps.fail(explain(e));
        register.disabled = false;
      }
    } }, "Register on chain");
    put(out, h("p", { class: "ok" }, `Pinned to IPFS: metadata ${body.metadata_cid}`),
      h("p", {}, "Now register it from your wallet (two transactions):"), register, steps);
  };
  xhr.send(data);
}

// Create the upload's split, then register the track with a fresh attestation.
async function registerTrack(body, token, price, steps, out) {
  await send({ to: body.create_split_call.to, data: body.create_split_call.data });
  steps.mark("split", "Split created");
  // A fresh attestation right before listing: the server checks the recording again
  // against what was registered since the upload (a copy is refused here).
  // It binds the split too (a new upload of your own recording may not pay the
  // earlier track's collaborators less: that change needs their consent).
  const split = body.recipients.map((address, i) => ({ address, share_ppm: body.shares_ppm[i] }));
  const fresh = await postJson(`/api/uploads/${body.metadata_cid}/attestation`, { split });
  const data = state.iface.encodeFunctionData("registerTrack",
    [body.metadata_cid, body.split_id, token.address, price, fresh.attestation]);
  const receipt = await send({ to: body.register_call.to, data }, steps);
  const log = receipt.logs.map((l) => { try { return state.iface.parseLog(l); } catch { return null; } })
    .find((l) => l?.name === "TrackRegistered");
  await waitIndexed(receipt.blockNumber, steps);
  const id = log ? Number(log.args.trackId) : null;
  out.append(h("p", { class: "ok", id: "registered" }, "Your track is in the store. ",
    id ? h("a", { href: `#/track/${id}` }, `Open track ${id}`) : ""));
}
