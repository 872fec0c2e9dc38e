"""The web admin end to end in headless Chromium (Debian's chromium and chromedriver,
driven by Selenium): log in, add a domain and an account, see its DNS records with what
DNS says now, set a quota, retry a message waiting in the queue (relayed to an MX that
refuses connections), read the log, log out; a wrong password is refused and counted by
the mail login throttle (past its limit the page says so); a page on another origin that
auto-submits a form to /admin is refused with 403 and changes nothing.

The browser trusts only this server's own self-signed certificate:
``--ignore-certificate-errors-spki-list`` with the SHA-256 of its public key (Chromium
honours it with a ``--user-data-dir``), not ``--ignore-certificate-errors``.
A screenshot of each page goes to tests/artifacts/web_admin/ (ignored by git).
"""

from __future__ import annotations

import dataclasses
import http.server
import smtplib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from tests.support.admin_http import refuse_loopback
from tests.support.browser import chromium, needs_chromium, screenshot_dir, wait_for
from tests.support.dnsserver import DnsServer
from tests.support.server import PASSWORD, ServerThread, make_config

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ADMIN = "admin@example.test"

pytestmark = needs_chromium


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer({
        "unreachable.test": {"MX": ["10 mx.unreachable.test."]},
        "mx.unreachable.test": {"A": ["127.0.0.1"]},
        # shop.test publishes its MX and SPF already, nothing else yet.
        "shop.test": {"MX": ["10 mx.example.test."], "TXT": ['"v=spf1 mx -all"']},
        "_imaps._tcp.shop.test": {"SRV": ["0 1 993 mx.example.test."]},
        "_submissions._tcp.shop.test": {"SRV": ["0 1 465 old-mx.example.test."]},
        "mx.example.test": {"A": ["127.0.0.1"]},
    }).start()
    yield server
    server.stop()


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, dns: DnsServer) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, queue=QueueConfig(resolver=dns.address,
                                                     outbound_port=_closed_port()))
    with ServerThread(cfg) as srv:
        srv.add_user(ADMIN, role="admin")
        yield srv


@pytest.fixture
def browser(server: ServerThread, tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(server, tmp_path / "chromium") as driver:
        yield driver


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshot_dir("web_admin")


def shot(driver: WebDriver, folder: Path, name: str) -> None:
    # The whole page, not only the window.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 200, 4000)))
    assert driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(1280, 900)


def base(server: ServerThread) -> str:
    return f"https://127.0.0.1:{server.port('https')}"


def fill(driver: WebDriver, form_action: str, values: dict[str, str]) -> None:
    """Fill the form posting to ``form_action`` and submit it."""
    form = driver.find_element(By.CSS_SELECTOR, f'form[action="{form_action}"]')
    for name, value in values.items():
        field = form.find_element(By.NAME, name)
        if field.tag_name == "select":
            field.find_element(By.CSS_SELECTOR, f'option[value="{value}"]').click()
        else:
            field.clear()
            field.send_keys(value)
    submit_and_wait(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def submit_and_wait(driver: WebDriver, button: WebElement) -> None:
    """Click and wait until the next page has loaded (the old page's mark is gone)."""
    driver.execute_script("window.posthouseOldPage = true")
    button.click()
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return window.posthouseOldPage === undefined && document.readyState === 'complete'"))


def log_in(driver: WebDriver, server: ServerThread, password: str = PASSWORD) -> None:
    driver.get(base(server) + "/admin/login")
    fill(driver, "/admin/login", {"address": ADMIN, "password": password})


def queue_a_message(server: ServerThread) -> int:
    """Submit a message for a domain whose MX refuses connections; it waits in the queue
    after its first attempt."""
    with smtplib.SMTP_SSL("127.0.0.1", server.port("submissions"),
                          context=server.client_tls(), timeout=30) as smtp:
        smtp.login(ADMIN, PASSWORD)
        smtp.sendmail(ADMIN, ["bob@unreachable.test"],
                      b"From: admin@example.test\r\nTo: bob@unreachable.test\r\n"
                      b"Subject: waiting\r\n\r\nThis one waits.\r\n")
    wait_for(lambda: [q.attempts for q in server.call(server.store.list_queue())] == [1])
    (queued,) = server.call(server.store.list_queue())
    return int(queued.id)


def test_an_admin_session_in_chromium(server: ServerThread, browser: WebDriver,
                                      shots: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="posthouse")  # as `posthouse serve` logs by default
    queue_id = queue_a_message(server)
    browser.get(base(server) + "/admin")
    assert browser.current_url.endswith("/admin/login")
    shot(browser, shots, "01-login")

    fill(browser, "/admin/login", {"address": ADMIN, "password": PASSWORD})
    assert browser.current_url.endswith("/admin/status")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "mx.example.test" in body
    assert "https" in body
    assert "submissions" in body
    assert "1 messages, 1 pending recipients, 0 held" in body
    # The stylesheet came from this server and applied (the header is dark blue).
    header = browser.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(20, 50, 79, 1)"
    shot(browser, shots, "02-status")

    browser.find_element(By.LINK_TEXT, "Domains").click()
    fill(browser, "/admin/domains/add", {"domain": "Shop.TEST"})
    assert "domain shop.test added" in browser.find_element(By.CLASS_NAME, "notice").text
    assert server.call(server.store.is_local_domain("shop.test"))
    shot(browser, shots, "03-domains")

    browser.find_element(By.CSS_SELECTOR, 'a[href="/admin/dns?domain=shop.test"]').click()
    rows = {tuple(td.text for td in row.find_elements(By.TAG_NAME, "td"))[:2]:
            row.find_element(By.CSS_SELECTOR, ".verdict").text
            for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert rows[("shop.test.", "MX")] == "ok"
    assert rows[("shop.test.", "TXT")] == "ok"
    assert rows[("_dmarc.shop.test.", "TXT")] == "missing"
    assert rows[("_imaps._tcp.shop.test.", "SRV")] == "ok"
    assert rows[("_submissions._tcp.shop.test.", "SRV")] == "different"
    assert rows[("_pop3s._tcp.shop.test.", "SRV")] == "missing"
    assert rows[("posthouse._domainkey.shop.test.", "TXT")] == "missing"
    assert "v=DKIM1; k=rsa; p=" in browser.page_source
    shot(browser, shots, "04-dns")

    browser.find_element(By.LINK_TEXT, "Users").click()
    fill(browser, "/admin/users/add", {"address": "carol@shop.test",
                                       "password": "carol's long password"})
    assert "account carol@shop.test added" in browser.find_element(
        By.CLASS_NAME, "notice").text
    shot(browser, shots, "05-users")

    browser.find_element(By.LINK_TEXT, "carol@shop.test").click()
    fill(browser, "/admin/users/options", {"quota": "250", "pop3_keep": "yes"})
    assert "carol@shop.test: quota 250 MiB, POP3 keeps" in browser.find_element(
        By.CLASS_NAME, "notice").text
    carol = server.call(server.store.get_user("carol@shop.test"))
    assert (carol.quota_bytes, carol.pop3_keep) == (250 * 1024 * 1024, True)
    shot(browser, shots, "06-user")

    browser.find_element(By.LINK_TEXT, "Aliases").click()
    fill(browser, "/admin/aliases/add", {"address": "sales@shop.test",
                                         "targets": "carol@shop.test, admin@example.test"})
    assert server.call(server.store.get_alias("sales@shop.test")).targets == (
        "carol@shop.test", "admin@example.test")
    shot(browser, shots, "07-aliases")

    browser.find_element(By.LINK_TEXT, "Queue").click()
    assert "bob@unreachable.test" in browser.find_element(By.TAG_NAME, "table").text
    shot(browser, shots, "08-queue")
    browser.find_element(By.LINK_TEXT, str(queue_id)).click()
    shot(browser, shots, "09-queued-message")
    fill(browser, "/admin/queue/action", {})  # the first form: Retry now
    assert f"{queue_id} scheduled now" in browser.find_element(By.CLASS_NAME, "notice").text
    # The worker was woken and tried again at once (the MX still refuses).
    wait_for(lambda: [q.attempts for q in server.call(server.store.list_queue())] == [2])
    browser.refresh()
    shot(browser, shots, "10-queued-after-retry")

    browser.find_element(By.LINK_TEXT, "Log").click()
    assert "admin: /admin/queue/action by admin@example.test" in browser.find_element(
        By.TAG_NAME, "pre").text
    shot(browser, shots, "11-log")

    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "header form.logout button"))
    assert browser.current_url.endswith("/admin/login")
    browser.get(base(server) + "/admin/status")
    assert browser.current_url.endswith("/admin/login")  # the session is gone
    assert browser.get_cookie("__Host-posthouse-admin") is None


def test_wrong_passwords_are_throttled(server: ServerThread, browser: WebDriver,
                                       shots: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="posthouse.auth")
    log_in(browser, server, "a wrong password")
    assert "Wrong address or password" in browser.find_element(By.CLASS_NAME, "error").text
    shot(browser, shots, "12-login-wrong-password")
    log_in(browser, server, "another wrong one")
    failures = [r.getMessage() for r in caplog.records if "auth failure" in r.getMessage()]
    assert "source_failures=2" in failures[-1]
    assert "delay=1.0s" in failures[-1]
    # Past the throttle's limit this address is refused, even with the right password.
    refuse_loopback(server)
    log_in(browser, server, PASSWORD)
    assert "Too many failed logins" in browser.find_element(By.CLASS_NAME, "error").text
    assert browser.current_url.endswith("/admin/login")
    shot(browser, shots, "13-login-throttled")


class _EvilPage(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        page = (f'<!DOCTYPE html><html><body><h1>Win a prize</h1>'
                f'<form method="post" action="{self.target}/admin/domains/add">'
                '<input name="domain" value="evil.test"><input name="csrf" value="guess">'
                '</form><script>document.forms[0].submit()</script></body></html>')
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_cross_site_form_post_is_refused(server: ServerThread, browser: WebDriver,
                                           shots: Path) -> None:
    log_in(browser, server)
    assert browser.current_url.endswith("/admin/status")
    handler = type("Evil", (_EvilPage,), {"target": base(server)})
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        wait_for(lambda: browser.current_url.startswith(base(server)))
        wait_for(lambda: "403" in browser.find_element(By.TAG_NAME, "body").text)
        assert "refused" in browser.find_element(By.TAG_NAME, "body").text
        shot(browser, shots, "14-cross-site-post-refused")
    finally:
        evil.shutdown()
        evil.server_close()
    assert server.call(server.store.list_domains()) == ["example.test"]
    browser.get(base(server) + "/admin/status")  # still logged in: nothing else happened
    assert browser.current_url.endswith("/admin/status")
