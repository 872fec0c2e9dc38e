// Writing: new, reply, reply all, forward (with the original's attachments); uploads,
// drafts kept in Drafts ($draft, $seen; a new save replaces the old), and sending with
// EmailSubmission, which moves the message from Drafts to Sent when it went.
import { $, addressText, el, parseAddresses, toast } from "./dom.js";
import { textOf } from "./reader.js";

function prefixed(prefix, subject) {
  const clean = subject || "";
  return clean.toLowerCase().startsWith(prefix.toLowerCase()) ? clean : `${prefix} ${clean}`;
}

function quoted(email) {
  const who = addressText(email.from);
  const date = new Date(email.sentAt || email.receivedAt).toLocaleString();
  const lines = textOf(email).replace(/\n+$/, "").split("\n").map((l) => `> ${l}`);
  return `\n\nOn ${date}, ${who} wrote:\n${lines.join("\n")}\n`;
}

function forwarded(email) {
  return ["", "", "---------- Forwarded message ----------",
    `From: ${addressText(email.from)}`,
    `Date: ${new Date(email.sentAt || email.receivedAt).toLocaleString()}`,
    `Subject: ${email.subject || ""}`, `To: ${addressText(email.to)}`, "",
    textOf(email)].join("\n");
}

// mode: "new" | "reply" | "replyAll" | "forward" | "draft"
export function startCompose(app, mode = "new", original = null) {
  const me = app.address.toLowerCase();
  const draft = { id: null, inReplyTo: null, references: null, attachments: [] };
  let to = [], cc = [], subject = "", body = "";
  if (original && (mode === "reply" || mode === "replyAll")) {
    to = original.replyTo && original.replyTo.length ? original.replyTo : original.from;
    if (mode === "replyAll") {
      const seen = new Set(to.map((a) => a.email.toLowerCase()).concat([me]));
      cc = (original.to || []).concat(original.cc || []).filter((a) => {
        const key = a.email.toLowerCase();
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    subject = prefixed("Re:", original.subject);
    body = quoted(original);
    draft.inReplyTo = original.messageId;
    draft.references = (original.references || []).concat(original.messageId || []);
  } else if (original && mode === "forward") {
    subject = prefixed("Fwd:", original.subject);
    body = forwarded(original);
    draft.attachments = (original.attachments || []).map((a) =>
      ({ blobId: a.blobId, name: a.name, type: a.type, size: a.size }));
  } else if (original && mode === "draft") {
    ({ to = [], cc = [] } = original);
    subject = original.subject || "";
    body = textOf(original);
    draft.id = original.id;
    draft.inReplyTo = original.inReplyTo;
    draft.references = original.references;
    draft.attachments = (original.attachments || []).map((a) =>
      ({ blobId: a.blobId, name: a.name, type: a.type, size: a.size }));
  }
  app.draft = draft;
  $("c-from").replaceChildren(...app.identities.map((i) =>
    el("option", { value: i.id }, i.name ? `${i.name} <${i.email}>` : i.email)));
  $("c-to").value = addressText(to);
  $("c-cc").value = addressText(cc);
  $("c-subject").value = subject;
  $("c-body").value = body;
  $("compose-status").textContent = "";
  renderAttachments(app);
  app.showPane("compose");
  (to.length ? $("c-body") : $("c-to")).focus();
  if (to.length) $("c-body").setSelectionRange(0, 0);
}

function renderAttachments(app) {
  $("c-attachments").replaceChildren(...app.draft.attachments.map((a, i) => el("li", {},
    a.name || "(unnamed)",
    el("button", { type: "button", class: "link", "aria-label": `remove ${a.name}`,
                   onclick: () => { app.draft.attachments.splice(i, 1); renderAttachments(app); } },
       "✕"))));
}

export async function attachFiles(app, files) {
  for (const file of files) {
    $("compose-status").textContent = `Uploading ${file.name}…`;
    const blob = await app.jmap.upload(file);
    app.draft.attachments.push({ blobId: blob.blobId, name: file.name,
                                 type: file.type || "application/octet-stream",
                                 size: blob.size });
  }
  $("compose-status").textContent = "";
  $("c-files").value = "";
  renderAttachments(app);
}

function orNull(list) {
  return list.length ? list : null;
}

function emailObject(app) {
  const identity = app.identities.find((i) => i.id === $("c-from").value) || app.identities[0];
  const drafts = app.byRole.drafts.id;
  return {
    mailboxIds: { [drafts]: true },
    keywords: { $draft: true, $seen: true },
    from: [{ name: identity.name || null, email: identity.email }],
    to: orNull(parseAddresses($("c-to").value)),
    cc: orNull(parseAddresses($("c-cc").value)),
    subject: $("c-subject").value,
    inReplyTo: app.draft.inReplyTo,
    references: orNull(app.draft.references || []),
    bodyValues: { body: { value: $("c-body").value } },
    textBody: [{ partId: "body", type: "text/plain" }],
    attachments: app.draft.attachments.map((a) =>
      ({ blobId: a.blobId, type: a.type, name: a.name, disposition: "attachment" })),
  };
}

function created(result, key) {
  if (result.notCreated && result.notCreated[key]) {
    const error = result.notCreated[key];
    throw new Error(`${error.type}${error.description ? ": " + error.description : ""}`);
  }
  return result.created[key];
}

export async function saveDraft(app) {
  const result = await app.jmap.get([["Email/set", {
    create: { draft: emailObject(app) },
    destroy: app.draft.id ? [app.draft.id] : null,
  }]], "Email/set");
  app.draft.id = created(result, "draft").id;
  $("compose-status").textContent = "Draft saved.";
}

export async function send(app) {
  const object = emailObject(app);
  if (!object.to && !object.cc) {
    $("compose-status").textContent = "Who is it for? Add an address in To.";
    return;
  }
  const identity = app.identities.find((i) => i.id === $("c-from").value) || app.identities[0];
  $("compose-status").textContent = "Sending…";
  const responses = await app.jmap.call([
    ["Email/set", { create: { send: object },
                    destroy: app.draft.id ? [app.draft.id] : null }, "e"],
    ["EmailSubmission/set", {
      create: { s: { emailId: "#send", identityId: identity.id } },
      onSuccessUpdateEmail: { "#s": {
        [`mailboxIds/${app.byRole.drafts.id}`]: null,
        [`mailboxIds/${app.byRole.sent.id}`]: true,
        "keywords/$draft": null } },
    }, "s"],
  ]);
  for (const [name, args] of responses) {
    if (name === "error") throw new Error(args.type);
    if (name === "Email/set" && args.notCreated) created(args, "send");
    if (name === "EmailSubmission/set" && args.notCreated) created(args, "s");
  }
  app.draft = null;
  toast("Message sent.");
  app.closeCompose();
}
