// The studio's profile editor: the name, bio, links and picture fans see on the artist page
// (PUT /api/artists/me/profile, multipart; the server checks and re-encodes the picture as it
// does track artwork, pins the profile to IPFS and keeps the latest edit).
import { api, explain } from "../api.js";
import { h, put } from "../dom.js";
import { route, state } from "../state.js";
import { needSession } from "../wallet.js";

// The API's bounds, checked here first so a person hears about them before uploading.
const MAX_NAME = 80, MAX_BIO = 2000, MAX_LINKS = 5, MAX_LABEL = 40, MAX_URL = 300;
const MAX_AVATAR = 10 * 1024 * 1024;

export async function profilePanel() {
  const me = state.account.toLowerCase();
  const p = await api(`/api/artists/${me}`).catch(() => null);
  const out = h("div", { "aria-live": "polite", id: "profile-result" });
  const name = h("input", { id: "profile-name", name: "name", required: true, maxlength: MAX_NAME,
    value: p?.name || "", autocomplete: "nickname" });
  const bio = h("textarea", { id: "profile-bio", name: "bio", rows: 4, maxlength: MAX_BIO }, p?.bio || "");
  const avatar = h("input", { id: "profile-avatar", name: "avatar", type: "file", accept: "image/png,image/jpeg" });
  const remove = p?.avatar_url ? h("input", { id: "profile-remove-avatar", type: "checkbox" }) : null;
  const rows = h("div", { id: "profile-links" });
  const addLink = h("button", { type: "button", class: "secondary", id: "profile-add-link", onclick: () => linkRow() },
    "Add a link");
  function linkRow(label = "", url = "") {
    const row = h("div", { class: "split-row link-row" },
      h("input", { name: "link-label", value: label, maxlength: MAX_LABEL, placeholder: "Label, like Bandcamp",
        "aria-label": "Link label" }),
      h("input", { name: "link-url", type: "url", value: url, maxlength: MAX_URL, placeholder: "web address",
        "aria-label": "Link address" }),
      h("button", { type: "button", class: "secondary", "aria-label": "Remove this link",
        onclick: () => { row.remove(); addLink.disabled = false; } }, "Remove"));
    rows.append(row);
    addLink.disabled = rows.children.length >= MAX_LINKS;
  }
  for (const l of p?.links || []) linkRow(l.label, l.url);
  const save = h("button", { type: "submit", id: "save-profile" }, "Save profile");
  const form = h("form", { id: "profile-form", onsubmit: async (e) => {
    e.preventDefault();
    const links = [...rows.querySelectorAll(".link-row")].map((r) => ({
      label: r.querySelector("[name=link-label]").value.trim(), url: r.querySelector("[name=link-url]").value.trim() }))
      .filter((l) => l.label || l.url);
    const problem = check(name.value.trim(), bio.value, links, avatar.files[0]);
    if (problem) { put(out, h("p", { class: "error" }, problem)); return; }
    const data = new FormData();
    data.set("name", name.value.trim());
    data.set("bio", bio.value.trim());
    data.set("links", JSON.stringify(links));
    if (avatar.files[0]) data.set("avatar", avatar.files[0]);
    else if (remove?.checked) data.set("remove_avatar", "1");
    if (!(await needSession())) return;
    save.disabled = true;
    put(out, h("p", {}, "Saving…"));
    try {
      await api("/api/artists/me/profile", { method: "PUT", body: data });
      put(out, h("p", { class: "ok", id: "profile-saved" }, "Saved. ",
        h("a", { href: `#/artist/${me}` }, "See your artist page.")));
      setTimeout(route, 1500);
    } catch (err) {
      put(out, h("p", { class: "error" }, `Not saved: ${explain(err)}`));
      save.disabled = false;
    }
  } },
  h("div", { class: "field" }, h("label", { for: "profile-name" }, "Name"), name),
  h("div", { class: "field" }, h("label", { for: "profile-bio" }, "Bio"), bio),
  h("fieldset", {}, h("legend", {}, `Links (at most ${MAX_LINKS}, http or https)`), rows, addLink),
  h("div", { class: "field" }, h("label", { for: "profile-avatar" }, "Picture (PNG or JPEG)"), avatar,
    p?.avatar_url ? h("div", { class: "current-avatar" },
      h("img", { class: "avatar small", src: p.avatar_url, alt: "Your current picture", width: 64, height: 64 }),
      h("label", { for: "profile-remove-avatar" }, remove, " Remove the picture")) : null),
  save);
  return h("section", { class: "panel", id: "profile", "aria-labelledby": "profile-h" },
    h("h2", { id: "profile-h" }, "Your profile"),
    h("p", { class: "muted" }, "What fans see on ", h("a", { href: `#/artist/${me}` }, "your artist page"),
      " and beside your tracks. It is public, and pinned to IPFS with each edit."),
    form, out);
}

// What is wrong with the form, in words, or null.
function check(name, bio, links, file) {
  if (!name) return "Enter a name.";
  if (name.length > MAX_NAME) return `A name has at most ${MAX_NAME} characters.`;
  if (bio.length > MAX_BIO) return `A bio has at most ${MAX_BIO} characters.`;
  if (links.length > MAX_LINKS) return `At most ${MAX_LINKS} links.`;
  for (const l of links) {
    if (!l.label || l.label.length > MAX_LABEL) return `Each link needs a label of 1 to ${MAX_LABEL} characters.`;
    let ok = false;
    try { ok = /^https?:$/.test(new URL(l.url).protocol); } catch { /* not a URL */ }
    if (!ok || l.url.length > MAX_URL) return `"${l.label}": enter a web address starting with https (at most ${MAX_URL} characters).`;
  }
  if (file && file.size > MAX_AVATAR) return "The picture is too large: at most 10 MB.";
  return null;
}
