// Keyboard shortcuts (not while typing in a field); "?" lists them.
import { $ } from "./dom.js";

export function bindKeys(app) {
  const actions = {
    j: () => app.move(1),
    k: () => app.move(-1),
    ArrowDown: () => app.move(1),
    ArrowUp: () => app.move(-1),
    o: () => app.openSelected(),
    Enter: () => app.openSelected(),
    u: () => app.closeReader(),
    r: () => app.act("reply"),
    a: () => app.act("replyAll"),
    f: () => app.act("forward"),
    c: () => app.compose(),
    "#": () => app.act("delete"),
    Delete: () => app.act("delete"),
    s: () => app.act("flag"),
    "/": () => $("search").focus(),
    "?": () => $("help").showModal(),
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || app.address === null) return;
    const target = event.target;
    if (target.closest("input, textarea, select, dialog, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (!$("compose").hidden && event.key !== "?") return;
    // Enter on a focused button or link is that button's or link's, not "open"
    if (event.key === "Enter" && target.closest("button, a")) return;
    // the arrows only in the list: elsewhere they scroll the page as usual
    if (event.key.startsWith("Arrow") && !target.closest("#message-list")) return;
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      Promise.resolve(action()).catch(app.failed);
    }
  });
}
