// Answering the moderators: an upload refused as a copy of a registered (or taken-down)
// recording, and the counter-notice an artist files about a refusal or a takedown.
import { explain, postJson } from "../api.js";
import { h, put, short } from "../dom.js";

// An upload whose recording another wallet registered first (or that was taken down):
// say which public track it matches, and let the artist answer with a counter-notice.
export function duplicateRefusal(body) {
  const t = body.track;
  const name = t.title ? `“${t.title}”` : `track ${t.track_id}`;
  const how = body.match.kind === "exact" ? "the same audio" : "its audio fingerprint (a re-encoded or edited copy)";
  const form = counterNoticeForm({ refusal_id: body.refusal_id }, "");
  const link = h("a", { href: `#/track/${t.track_id}` }, name);
  return h("div", { class: "panel", id: "duplicate" },
    h("p", { class: "error" }, t.blocked
      ? ["This recording matches ", link, ", which was taken down: it cannot be uploaded again."]
      : ["This recording matches ", link,
        ` by ${t.artist_name || short(t.artist)}, registered first by another wallet.`]),
    h("p", { class: "muted" }, `Matched by ${how}. Nothing was pinned. `
      + `If it is yours (a new wallet, a licensed sample), file a counter-notice for refusal ${body.refusal_id}.`),
    form);
}

// A counter-notice about `subject` ({refusal_id} or {track_id}): moderators read it in
// `ninety moderate queue`.
export function counterNoticeForm(subject, intro) {
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "counter-notice", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const n = await postJson("/api/moderation/counter-notices",
        { ...subject, statement: f.get("statement"), contact: f.get("contact") });
      put(out, h("p", { class: "ok", id: "counter-notice-filed" },
        `Counter-notice ${n.id} filed. A moderator will contact you.`
        + (subject.refusal_id ? " If they allow it, upload the same file again." : "")));
      e.target.hidden = true;
    } catch (err) { put(out, h("p", { class: "error" }, explain(err))); }
  } },
  intro ? h("p", {}, intro) : null,
  h("label", { for: "cn-statement" }, "Why this recording is yours to sell (moderators only see this)"),
  h("textarea", { id: "cn-statement", name: "statement", required: true, minlength: 20, maxlength: 5000, rows: 4 }),
  h("label", { for: "cn-contact" }, "How a moderator can reach you"),
  h("input", { id: "cn-contact", name: "contact", required: true, minlength: 3, maxlength: 300 }),
  h("button", { type: "submit" }, "File a counter-notice"));
  return h("div", {}, form, out);
}
