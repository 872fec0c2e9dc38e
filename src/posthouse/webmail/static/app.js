// The webmail: login, then one page that speaks JMAP with the session cookie.
import { Jmap, LoggedOut } from "./jmap.js";
import { $, toast } from "./dom.js";
import { displayName, loadFolders, renderFolders } from "./folders.js";
import { loadList, renderList, watchScroll } from "./list.js";
import { openEmail, READ_PROPERTIES } from "./reader.js";
import { attachFiles, saveDraft, send, startCompose } from "./compose.js";
import { bindKeys } from "./keys.js";

class MailApp {
  constructor() {
    this.address = null;
    this.jmap = null;
    this.mailboxes = [];
    this.byRole = {};
    this.identities = [];
    this.currentMailbox = null;
    this.searchText = "";
    this.items = [];
    this.total = 0;
    this.selected = -1;
    this.openEmail = null;
    this.draft = null;
    this.events = null;
    this.failed = (error) => this.fail(error);
  }

  async start(facts) {
    this.address = facts.address;
    this.jmap = new Jmap(facts.csrf);
    await this.jmap.start(facts.jmapSession);
    this.identities = (await this.jmap.get([["Identity/get", {}]], "Identity/get")).list;
    await loadFolders(this);
    this.currentMailbox = this.byRole.inbox.id;
    $("who").textContent = this.address;
    $("login").hidden = true;
    $("app").hidden = false;
    await this.showMailbox(this.currentMailbox);
    this.events = this.jmap.listen((changed) => this.changed(changed));
  }

  fail(error) {
    if (error instanceof LoggedOut) {
      this.loggedOut();
      return;
    }
    console.error(error);
    toast(`Something went wrong: ${error.message}`);
  }

  loggedOut() {
    if (this.events) this.events.close();
    window.location.reload();
  }

  currentBox() {
    return this.mailboxes.find((b) => b.id === this.currentMailbox) || null;
  }

  currentBoxName() {
    return displayName(this.currentBox());
  }

  // One pane at a time on a phone: body[data-view] says which (style.css).
  showPane(name) {
    document.body.dataset.view = name;
    $("reader").hidden = name !== "reader";
    $("compose").hidden = name !== "compose";
    $("nothing-open").hidden = name === "reader" || name === "compose";
  }

  async showMailbox(id) {
    this.currentMailbox = id;
    this.searchText = "";
    $("search").value = "";
    this.items = [];
    this.selected = -1;
    renderFolders(this);
    this.closeReader();
    await loadList(this);
    $("list-pane").scrollTop = 0;
  }

  async search(text) {
    this.searchText = text.trim();
    this.items = [];
    this.selected = -1;
    renderFolders(this);
    this.closeReader();
    await loadList(this);
  }

  select(index) {
    if (index < 0 || index >= this.items.length) return;
    this.selected = index;
    const list = $("message-list");
    const hadFocus = list.contains(document.activeElement);
    for (const [i, row] of [...list.children].entries()) {
      row.classList.toggle("selected", i === index);
      row.tabIndex = i === index ? 0 : -1;
      if (i === index) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    list.children[index].scrollIntoView({ block: "nearest" });
    if (hadFocus) list.children[index].focus({ preventScroll: true });
  }

  async move(step) {
    const next = this.selected < 0 ? 0 : this.selected + step;
    this.select(Math.min(Math.max(next, 0), this.items.length - 1));
    if (!$("reader").hidden) await this.openSelected();
    if (next >= this.items.length - 3 && this.items.length < this.total) {
      await loadList(this, { more: true });
    }
  }

  async openSelected() {
    const email = this.items[this.selected];
    if (!email) return;
    if (this.currentBox()?.role === "drafts" && !this.searchText) {
      await this.editDraft(email.id);
      return;
    }
    await openEmail(this, email.id);
  }

  async editDraft(id) {
    const { list } = await this.jmap.get([["Email/get", {
      ids: [id], properties: READ_PROPERTIES, fetchTextBodyValues: true }]], "Email/get");
    if (list[0]) startCompose(this, "draft", list[0]);
  }

  closeReader() {
    this.openEmail = null;
    const frame = $("r-frame");
    frame.removeAttribute("src");
    this.showPane("list");
  }

  closeCompose() {
    this.draft = null;
    if (this.openEmail) this.showPane("reader");
    else this.showPane("list");
  }

  compose() {
    startCompose(this, "new");
  }

  async setKeyword(id, keyword, on) {
    await this.jmap.get([["Email/set", { update: { [id]: { [`keywords/${keyword}`]: on || null } } }]],
                        "Email/set");
    const item = this.items.find((e) => e.id === id);
    if (item) {
      if (on) item.keywords[keyword] = true;
      else delete item.keywords[keyword];
      renderList(this);
    }
    await loadFolders(this);
  }

  // The reader's actions, on the open message (or the selected one in the list).
  async act(action) {
    const email = this.openEmail || this.items[this.selected];
    if (!email) return;
    if (["reply", "replyAll", "forward"].includes(action)) {
      if (!this.openEmail) await openEmail(this, email.id);
      startCompose(this, action, this.openEmail);
    } else if (action === "flag") {
      await this.setKeyword(email.id, "$flagged", !email.keywords.$flagged);
      if (this.openEmail) {
        this.openEmail.keywords.$flagged = !email.keywords.$flagged || undefined;
        $("flag-button").textContent = this.openEmail.keywords.$flagged ? "Unflag" : "Flag";
      }
    } else if (action === "unread") {
      await this.setKeyword(email.id, "$seen", false);
      this.closeReader();
    } else if (action === "delete") {
      await this.remove(email);
    } else if (action === "back") {
      this.closeReader();
    }
  }

  async remove(email) {
    const trash = this.byRole.trash;
    const inTrash = trash && email.mailboxIds[trash.id];
    const change = inTrash || !trash ? { destroy: [email.id] }
      : { update: { [email.id]: { mailboxIds: { [trash.id]: true } } } };
    await this.jmap.get([["Email/set", change]], "Email/set");
    toast(inTrash || !trash ? "Deleted for good." : "Moved to Trash.");
    await this.afterRemoval(email.id);
  }

  async moveTo(mailboxId) {
    const email = this.openEmail || this.items[this.selected];
    if (!email || !mailboxId) return;
    await this.jmap.get([["Email/set", {
      update: { [email.id]: { mailboxIds: { [mailboxId]: true } } } }]], "Email/set");
    toast(`Moved to ${displayName(this.mailboxes.find((b) => b.id === mailboxId))}.`);
    await this.afterRemoval(email.id);
  }

  async afterRemoval(id) {
    const index = this.items.findIndex((e) => e.id === id);
    this.closeReader();
    await Promise.all([loadFolders(this), loadList(this)]);
    if (this.items.length) this.select(Math.min(Math.max(index, 0), this.items.length - 1));
  }

  // Push: something changed in the account; ask what, then refresh counts and the list.
  // Changes that come while a refresh runs make one more refresh after it.
  async changed(types) {
    if (!types.Email && !types.Mailbox) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        await this.refresh(types);
      } while (this.refreshAgain);
    } catch (error) {
      this.fail(error);
    } finally {
      this.refreshing = false;
    }
  }

  async refresh(types) {
    if (this.emailState) {
      const result = await this.jmap.get([["Email/changes", { sinceState: this.emailState }]],
                                         "Email/changes").catch(() => null);
      if (result && !result.hasMoreChanges && result.created.length + result.updated.length
          + result.destroyed.length === 0 && !types.Mailbox) return;
    }
    const selectedId = this.items[this.selected]?.id;
    await Promise.all([loadFolders(this), loadList(this)]);  // counts and list at once
    const again = this.items.findIndex((e) => e.id === selectedId);
    if (again >= 0) this.select(again);
  }

  async logout() {
    await fetch("/mail/logout", { method: "POST", credentials: "same-origin",
                                  headers: { "X-Posthouse-CSRF": this.jmap.csrf } });
    this.loggedOut();
  }
}

async function login(app, form) {
  const body = JSON.stringify({ address: form.address.value, password: form.password.value });
  const response = await fetch("/mail/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body });
  const answer = await response.json().catch(() => ({ error: `error ${response.status}` }));
  if (!response.ok) {
    $("login-error").textContent = answer.error;
    return;
  }
  form.password.value = "";
  await app.start(answer);
}

function wire(app) {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    login(app, event.target).catch(app.failed);
  });
  $("logout-button").addEventListener("click", () => app.logout().catch(app.failed));
  $("compose-button").addEventListener("click", () => app.compose());
  $("folders-button").addEventListener("click", () => app.showPane("folders"));
  $("folder-list").addEventListener("click", () => {
    if (document.body.dataset.view === "folders") app.showPane("list");
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    app.search($("search").value).catch(app.failed);
    $("search").blur();
  });
  $("search").addEventListener("search", () => {
    if (!$("search").value && app.searchText) app.search("").catch(app.failed);
  });
  $("reader").querySelector(".tools").addEventListener("click", (event) => {
    const action = event.target.closest("button")?.dataset.action;
    if (action) app.act(action).catch(app.failed);
  });
  $("move-to").addEventListener("change", (event) => {
    app.moveTo(event.target.value).catch(app.failed);
    event.target.value = "";
  });
  $("compose-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send(app).catch((error) => {
      $("compose-status").textContent = `Not sent: ${error.message}`;
      app.failed(error);
    });
  });
  $("save-draft").addEventListener("click", () => saveDraft(app).catch(app.failed));
  $("discard").addEventListener("click", () => app.closeCompose());
  $("c-files").addEventListener("change", (event) =>
    attachFiles(app, [...event.target.files]).catch(app.failed));
  watchScroll(app);
  bindKeys(app);
}

async function boot() {
  const app = new MailApp();
  window.posthouseMail = app; // for the browser tests: whether the app is ready
  wire(app);
  const response = await fetch("/mail/session", { credentials: "same-origin" });
  if (response.ok) {
    await app.start(await response.json());
  } else {
    $("login").hidden = false;
    document.querySelector("#login-form input[name=address]").focus();
  }
}

boot().catch((error) => toast(`The mail app could not start: ${error.message}`));
