// Reading one message: its headers, the other messages of its thread, the body (HTML in
// the sandboxed render frame, plain text escaped with links), the attachments.
import { $, addressText, el, linkified, shortName, when } from "./dom.js";

export const READ_PROPERTIES = [
  "id", "blobId", "threadId", "mailboxIds", "keywords", "from", "to", "cc", "replyTo", "subject",
  "sentAt", "receivedAt", "messageId", "inReplyTo", "references", "textBody", "htmlBody",
  "attachments", "bodyValues"];

export async function openEmail(app, id) {
  const responses = await app.jmap.call([
    ["Email/get", { ids: [id], properties: READ_PROPERTIES, fetchTextBodyValues: true }, "e"],
    ["Thread/get", { "#ids": { resultOf: "e", name: "Email/get", path: "/list/*/threadId" } },
     "t"],
    ["Email/get", { "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" },
                    properties: ["id", "from", "receivedAt", "keywords"] }, "m"],
  ]);
  const [e, , m] = responses.map(([name, args]) => {
    if (name === "error") throw new Error(args.type);
    return args;
  });
  const email = e.list[0];
  if (!email) {
    app.closeReader();
    return;
  }
  app.openEmail = email;
  show(app, email, m.list);
  if (!email.keywords.$seen) {
    await app.setKeyword(email.id, "$seen", true);
  }
}

export function textOf(email) {
  return (email.textBody || []).map((part) => email.bodyValues[part.partId]?.value || "")
    .join("\n");
}

function meta(email) {
  const rows = [["From", addressText(email.from)], ["To", addressText(email.to)]];
  if (email.cc && email.cc.length) rows.push(["Cc", addressText(email.cc)]);
  rows.push(["Date", new Date(email.sentAt || email.receivedAt).toLocaleString()]);
  return rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]);
}

function show(app, email, threadEmails) {
  $("r-subject").textContent = email.subject || "(no subject)";
  $("r-meta").replaceChildren(...meta(email));
  $("flag-button").textContent = email.keywords.$flagged ? "Unflag" : "Flag";
  const others = threadEmails.length > 1 ? threadEmails : [];
  $("r-thread").replaceChildren(...others.map((t) => el("li", {},
    el("button", { type: "button", class: t.id === email.id ? "current" : "",
                   onclick: () => openEmail(app, t.id).catch(app.failed) },
       `${shortName(t.from)} · ${when(t.receivedAt)}`))));
  const html = (email.htmlBody || []).some((part) => part.type === "text/html");
  const frame = $("r-frame");
  const text = $("r-text");
  $("r-images").hidden = true;
  $("r-clipped").hidden = true;
  if (html) {
    text.hidden = true;
    frame.hidden = false;
    loadFrame(app, email, false);
  } else {
    frame.hidden = true;
    frame.removeAttribute("src");
    text.hidden = false;
    text.replaceChildren(...linkified(textOf(email)));
  }
  // an image the HTML shows by its Content-ID (RFC 2392) is part of the body, not a file
  const listed = (email.attachments || []).filter((part) => !(html && part.cid
    && (part.type || "").startsWith("image/") && part.disposition !== "attachment"));
  $("r-attachments").replaceChildren(...listed.map((part) => el("li", {},
    el("a", { href: app.jmap.downloadUrl(part.blobId, part.name, part.type),
              download: part.name || "attachment" },
       part.name || "(unnamed)"),
    el("span", { class: "size" }, ` ${part.type}, ${formatSize(part.size)}`))));
  app.showPane("reader");
}

// The framed document, whether it left remote images out and whether its body was clipped
// (asked with HEAD); a clipped one links the whole message (the frame's own link opens
// outside the sandbox as another site, without the cookie).
async function loadFrame(app, email, images) {
  const url = `/mail/render/${encodeURIComponent(email.id)}?images=${images ? 1 : 0}`;
  $("r-frame").src = url;
  if (images) {
    $("r-images").hidden = true;
    return;
  }
  const response = await fetch(url, { method: "HEAD", credentials: "same-origin" });
  if (app.openEmail?.id !== email.id) return;  // another message was opened meanwhile
  if (response.headers.get("X-Posthouse-Clipped") === "1") {
    $("r-original").href = app.jmap.downloadUrl(email.blobId, "message.eml", "message/rfc822");
    $("r-clipped").hidden = false;
  }
  const blocked = Number(response.headers.get("X-Posthouse-Blocked-Images") || 0);
  if (blocked > 0) {
    $("r-images-count").textContent = `${blocked} remote image${blocked > 1 ? "s" : ""} hidden.`;
    $("r-images").hidden = false;
    $("show-images").onclick = () => loadFrame(app, email, true);
  }
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
