// The message list: threads collapsed (Email/query collapseThreads), newest first, one
// page at a time as the list is scrolled (position/limit), with each thread's size.
import { $, el, shortName, when } from "./dom.js";

const PAGE = 40;
const PROPERTIES = ["id", "threadId", "mailboxIds", "keywords", "from", "to", "subject",
                    "receivedAt", "preview", "hasAttachment"];

function query(app) {
  return app.searchText ? { text: app.searchText } : { inMailbox: app.currentMailbox };
}

// Loads the first page again (keeping as many rows as were loaded), or the next page.
// A reload asked for while a load runs happens after it (push may ask at any time).
export async function loadList(app, { more = false } = {}) {
  if (app.listLoading) {
    if (more) return;
    await app.listLoading.catch(() => {});
    return loadList(app);
  }
  app.listLoading = fetchPage(app, more);
  try {
    await app.listLoading;
  } finally {
    app.listLoading = null;
  }
}

async function fetchPage(app, more) {
  const position = more ? app.items.length : 0;
  const limit = more ? PAGE : Math.max(PAGE, app.items.length);
  const responses = await app.jmap.call([
    ["Email/query", { filter: query(app), collapseThreads: true, position, limit,
                      sort: [{ property: "receivedAt", isAscending: false }],
                      calculateTotal: true }, "q"],
    ["Email/get", { "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
                    properties: PROPERTIES }, "g"],
    ["Thread/get", { "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" } },
     "t"],
  ]);
  const [q, g, t] = responses.map(([name, args]) => {
    if (name === "error") throw new Error(args.type);
    return args;
  });
  const byId = Object.fromEntries(g.list.map((e) => [e.id, e]));
  const sizes = Object.fromEntries(t.list.map((th) => [th.id, th.emailIds.length]));
  const page = q.ids.map((id) => byId[id]).filter(Boolean)
    .map((e) => ({ ...e, threadSize: sizes[e.threadId] || 1 }));
  app.items = more ? app.items.concat(page) : page;
  app.total = q.total;
  app.emailState = g.state;
  renderList(app);
}

function row(app, email, index) {
  const classes = ["row"];
  if (!email.keywords.$seen) classes.push("unread");
  if (email.keywords.$flagged) classes.push("flagged");
  if (index === app.selected) classes.push("selected");
  const sentView = app.currentBox()?.role === "sent" || app.currentBox()?.role === "drafts";
  const threadSize = `${email.threadSize} messages in this thread`;
  // One row is in the tab order (the selected one, else the first); arrows move (keys.js).
  const current = index === Math.max(app.selected, 0);
  return el("li", { class: classes.join(" "), dataset: { id: email.id },
                    tabindex: current ? "0" : "-1",
                    "aria-current": index === app.selected ? "true" : null,
                    onfocus: () => { if (app.selected !== index) app.select(index); },
                    onclick: () => { app.select(index); app.openSelected(); } },
    el("span", { class: "from" },
       email.keywords.$seen ? null : el("span", { class: "sr-only" }, "Unread: "),
       shortName(sentView ? email.to : email.from) || "(nobody)"),
    email.threadSize > 1 ? el("span", { class: "thread-size", title: threadSize,
                                        "aria-label": threadSize }, email.threadSize) : null,
    el("span", { class: "flag", title: "flagged" }, email.keywords.$flagged ? "★" : ""),
    el("time", { datetime: email.receivedAt }, when(email.receivedAt)),
    el("span", { class: "subject" }, email.subject || "(no subject)",
       email.hasAttachment ? el("span", { class: "clip" }, "attachment") : null),
    el("span", { class: "preview" }, email.preview || ""));
}

export function renderList(app) {
  $("list-title").textContent = app.searchText ? `Search: ${app.searchText}`
    : (app.currentBox() ? app.currentBoxName() : "");
  const list = $("message-list");
  const hadFocus = list.contains(document.activeElement);
  list.replaceChildren(...app.items.map((e, i) => row(app, e, i)));
  if (hadFocus) list.querySelector("[tabindex='0']")?.focus({ preventScroll: true });
  $("list-status").textContent = app.items.length === 0 ? "No messages."
    : (app.items.length < app.total ? "Scroll for more…" : "");
}

// Infinite scroll: the next page when the end of the list comes near.
export function watchScroll(app) {
  const pane = $("list-pane");
  pane.addEventListener("scroll", () => {
    if (app.items.length < app.total
        && pane.scrollTop + pane.clientHeight > pane.scrollHeight - 300) {
      loadList(app, { more: true }).catch(app.failed);
    }
  });
}
