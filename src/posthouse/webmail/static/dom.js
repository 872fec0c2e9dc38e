// Building the page from data without ever parsing HTML: elements, text, links.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

// Plain text with its http(s) links made clickable; everything else stays text.
export function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    nodes.push(text.slice(last, match.index));
    nodes.push(el("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" },
                  match[0]));
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

export function addressText(list) {
  return (list || []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(", ");
}

export function shortName(list) {
  return (list || []).map((a) => a.name || a.email).join(", ");
}

// "Name <a@b>, c@d" -> [{name, email}]; commas inside quotes do not split.
export function parseAddresses(text) {
  const out = [];
  for (const piece of (text || "").match(/("[^"]*"|[^,])+/g) || []) {
    const found = piece.match(/^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/);
    if (found) out.push({ name: found[1].trim() || null, email: found[2].trim() });
    else if (piece.trim()) out.push({ name: null, email: piece.trim() });
  }
  return out;
}

export function when(iso) {
  const date = new Date(iso);
  const now = new Date();
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  return date.toLocaleDateString([], { month: "short", day: "numeric",
    year: date.getFullYear() === now.getFullYear() ? undefined : "numeric" });
}

export function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}
