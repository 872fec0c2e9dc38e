"""Push latency to the browser: from the SMTP 250 to the webmail (/mail in headless Debian
Chromium, driven by Selenium) seeing the new message, beside IMAP IDLE on the same posthouse.

The page is not changed: before it loads, Chrome DevTools Protocol
``Page.addScriptToEvaluateOnNewDocument`` adds a hook (``HOOK``; the page's CSP forbids
inline scripts, CDP injection is not one) that wraps ``EventSource`` to note when each
``state`` event arrives, and a ``MutationObserver`` that notes when a message row is first
inserted into the list, keyed by its subject. Times are ``performance.timeOrigin +
performance.now()`` in the page and ``time.time()`` in the bench: one machine, one clock
(the offset between the page's clock and ``Date.now()`` is printed at the start).

Per delivery (a unique subject, sent over port 25 by the bench, timed from smtplib's 250):

- "StateChange in the page": the first ``state`` event the page's EventSource receives after
  the bench started the SMTP transaction;
- "row in the list": the new message's row inserted into the message list (the app asked
  Email/changes, Mailbox/get, then Email/query + Email/get + Thread/get, and rendered);
- the peer, IMAP IDLE: from the 250 to the untagged EXISTS (bench_jmap's client), and as a
  second reference the StateChange line on a Python event-source client (bench_jmap's).

The three kinds take turns delivery by delivery (the order flips every round), and the page
is left to settle (no refresh running) before the next delivery: the page sees the other
kinds' messages too. The INBOX holds --messages messages first (``posthouse import mbox``).

    .venv/bin/python -m bench.bench_webmail --quick   # 5 deliveries, 200 messages
    .venv/bin/python -m bench.bench_webmail           # 20 deliveries, 1,000 messages
"""

from __future__ import annotations

import os
import smtplib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.browser import chromium
from tests.support.peers import LOOPBACK

from bench.bench_jmap import HTTPS, USER, JmapClient, grow, imap_push, jmap_push
from bench.common import PASSWORD, Posthouse, SideResult, Table, bench, parser, quick_or
from posthouse.config import DataPaths

PEER = "IMAP IDLE, same posthouse"

# Runs in the page before its own scripts (CDP). window.__pushBench: states (times of the
# EventSource's "state" events), rows (subject -> time its row was first inserted).
HOOK = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const bench = { states: [], rows: {} };
  Object.defineProperty(window, "__pushBench", { value: bench });
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("state", () => bench.states.push(now()));
    }
  };
  new MutationObserver((records) => {
    const at = now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1 || !node.matches("li.row")) continue;
        const subject = node.querySelector(".subject")?.firstChild?.textContent;
        if (subject && !(subject in bench.rows)) bench.rows[subject] = at;
      }
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""

# Resolves with [state time, row time] once the page saw both (checked every 20 ms: the
# times themselves come from the hook, not from this loop).
WAIT_FOR_PUSH = """
const [subject, seenStates, done] = arguments;
const bench = window.__pushBench;
const check = () => {
  if (bench.states.length > seenStates && subject in bench.rows) {
    done([bench.states[seenStates], bench.rows[subject]]);
  } else {
    setTimeout(check, 20);
  }
};
check();
"""

# Resolves once no refresh has run for 300 ms (the page has taken in every change).
SETTLE = """
const done = arguments[0];
const app = window.posthouseMail;
let quiet = 0;
const check = () => {
  quiet = app.refreshing || app.listLoading ? 0 : quiet + 1;
  if (quiet >= 6) done(true); else setTimeout(check, 50);
};
check();
"""


@contextmanager
def webmail(ph: Posthouse, profile: Path) -> Iterator[Any]:
    """Chromium logged in to /mail as USER, the hook in place and the event source open."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium(DataPaths(ph.data_dir).cert, profile, size="1280,860") as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
        driver.set_script_timeout(60)
        driver.get(f"https://{LOOPBACK}:{ph.port_base + HTTPS}/mail")
        wait(lambda: driver.find_element(By.ID, "login-form").is_displayed())
        form = driver.find_element(By.ID, "login-form")
        form.find_element(By.NAME, "address").send_keys(USER)
        form.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
        wait(lambda: driver.execute_script(
            "return window.__pushBench.states.length > 0 "
            "&& document.querySelectorAll('#message-list li.row').length > 0"))
        yield driver


def wait(check: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the webmail did not get there in time")
        time.sleep(0.1)


def clock_offset_ms(driver: Any) -> float:
    """The page's clock (timeOrigin + now) minus the bench's time.time(), in ms."""
    before = time.time() * 1000
    page = float(driver.execute_script("return performance.timeOrigin + performance.now()"))
    after = time.time() * 1000
    return page - (before + after) / 2


# The page's requests from the StateChange on: [path, start, duration] (Resource Timing).
REQUESTS_SINCE = """
const since = arguments[0] - performance.timeOrigin;
return performance.getEntriesByType("resource").filter((e) => e.startTime >= since)
  .map((e) => [new URL(e.name).pathname, e.startTime - since, e.duration]);
"""


def browser_push(ph: Posthouse, driver: Any, subject: str) -> tuple[float, float, str]:
    """Milliseconds from the SMTP 250 to the page's StateChange and to the row in the list,
    and the requests the page made in between (start after the StateChange + duration)."""
    with smtplib.SMTP(LOOPBACK, ph.port("smtp"), timeout=60) as smtp:
        smtp.ehlo("bench.test")
        seen = int(driver.execute_script("return window.__pushBench.states.length"))
        smtp.sendmail("push@source.test", [USER],
                      f"Subject: {subject}\r\nFrom: push@source.test\r\n\r\nnow\r\n".encode())
        sent = time.time() * 1000
    state_at, row_at = driver.execute_async_script(WAIT_FOR_PUSH, subject, seen)
    requests = driver.execute_script(REQUESTS_SINCE, state_at)
    driver.execute_script("performance.clearResourceTimings()")
    shown = ", ".join(f"{path.rstrip('/').rpartition('/')[2]} @{start:.0f}+{took:.0f}"
                      for path, start, took in requests)
    return float(state_at) - sent, float(row_at) - sent, shown


def measure(ph: Posthouse, driver: Any, table: Table, pushes: int) -> None:
    client = JmapClient(ph.port_base + HTTPS)
    state, row, python, idle = SideResult(), SideResult(), SideResult(), SideResult()

    def in_browser(i: int) -> None:
        a, b, requests = browser_push(ph, driver, f"webmail push {i}")
        state.add({"ms": a})
        row.add({"ms": b})
        print(f"  {i}: browser StateChange {a:.1f} ms, row {b:.1f} ms ({requests})",
              flush=True)

    def python_client(i: int) -> None:
        python.add({"ms": jmap_push(ph, client)})

    def imap_idle(i: int) -> None:
        idle.add({"ms": imap_push(ph)})

    kinds = [in_browser, python_client, imap_idle]
    for i in range(pushes):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            kind(i)
            driver.execute_async_script(SETTLE)
    client.close()
    table.add("push, SMTP 250 -> StateChange in the page (webmail) / EXISTS (IDLE)",
              {"posthouse": state, PEER: idle})
    table.add("push, SMTP 250 -> new row in the webmail's list / EXISTS (IDLE)",
              {"posthouse": row, PEER: idle})
    table.add("push, SMTP 250 -> StateChange (Python event source) / EXISTS (IDLE)",
              {"posthouse": python, PEER: idle})


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--pushes", type=int, help="deliveries timed per kind (default 20, "
                   "--quick 5)")
    p.add_argument("--messages", type=int, help="messages in the INBOX before the first "
                   "delivery (default 1000, --quick 200)")
    args = p.parse_args()
    pushes = quick_or(args, args.pushes, 5, 20)
    messages = quick_or(args, args.messages, 200, 1000)
    load = os.getloadavg()
    table = Table(f"Webmail push in Chromium beside IMAP IDLE on one posthouse, {messages:,} "
                  f"messages in the INBOX, {pushes} deliveries (load {load[0]:.1f} at the "
                  "start)", PEER)
    with bench(args, "Webmail push", table) as b:
        ph = b.posthouse([USER])
        if b.ph_err:
            raise SystemExit(b.ph_err)
        ph.stop()
        seconds = grow(ph, b.lab, 0, messages)
        print(f"- INBOX filled with {messages:,} messages by import mbox in {seconds:.1f} s",
              flush=True)
        ph.start()
        with webmail(ph, b.lab / "chromium") as driver:
            print(f"- page clock - bench clock: {clock_offset_ms(driver):+.2f} ms", flush=True)
            measure(ph, driver, table, pushes)
        print(f"  load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
