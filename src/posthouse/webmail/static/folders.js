// The folder list with unread counts (Mailbox/get), and the "Move to" choices.
import { $, el } from "./dom.js";

const ROLE_ORDER = ["inbox", "drafts", "sent", "archive", "junk", "trash"];

function rank(box) {
  const at = ROLE_ORDER.indexOf(box.role);
  return at < 0 ? ROLE_ORDER.length : at;
}

export function displayName(box) {
  return box.role === "inbox" ? "Inbox" : box.name;
}

export async function loadFolders(app) {
  const { list, state } = await app.jmap.get([["Mailbox/get", {}]], "Mailbox/get");
  list.sort((a, b) => rank(a) - rank(b) || (a.sortOrder - b.sortOrder)
            || a.name.localeCompare(b.name));
  app.mailboxes = list;
  app.mailboxState = state;
  app.byRole = Object.fromEntries(list.filter((b) => b.role).map((b) => [b.role, b]));
  renderFolders(app);
}

export function renderFolders(app) {
  $("folder-list").replaceChildren(...app.mailboxes.map((box) => el("li", {},
    el("button", {
      type: "button",
      class: box.id === app.currentMailbox && !app.searchText ? "folder current" : "folder",
      dataset: { id: box.id, role: box.role || "" },
      onclick: () => app.showMailbox(box.id),
    }, el("span", { class: "name" }, displayName(box)),
    box.unreadEmails > 0 ? el("span", { class: "count" }, box.unreadEmails) : null))));
  $("move-to").replaceChildren(el("option", { value: "" }, "Move to…"),
    ...app.mailboxes.map((box) => el("option", { value: box.id }, displayName(box))));
}
