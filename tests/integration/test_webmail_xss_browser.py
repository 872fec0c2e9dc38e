"""The XSS corpus and remote images through the real webmail, in headless Chromium (Debian's
chromium and chromedriver, driven by Selenium): messages delivered on port 25, the login at
/mail, the message opened in its sandboxed render frame, remote images shown on request.

A recording HTTP listener on 127.0.0.1 stands for the outside world. The corpus message
carries each vector of tests/data/xss/vectors.txt in an inline text/html part of its own
(multipart/mixed: each part is sanitised alone, RFC 8621 4.1.4 puts each in htmlBody), so an
unclosed element in one cannot swallow the next. No vector may open a dialog, set a marker in
the top page or the frame, change the title, or reach the listener; with remote images shown,
only the image URLs the sanitiser kept may. Its subject and From, full of markup, read as
text. The image message: its cid: part (RFC 2392) shows at once, its remote image only after
"Show remote images", fetched once, with neither Referer nor cookie. A clipped body says so
in the frame, and the app links the original above it. Screenshots go to
tests/artifacts/webmail/xss-*.png (ignored by git).
"""

from __future__ import annotations

import base64
import html
import http.server
import re
import smtplib
from collections.abc import Iterator
from email.header import Header
from pathlib import Path

import pytest

from posthouse.webmail.render import MAX_BODY_CHARS
from posthouse.webmail.sanitize import sanitize_html
from tests.support.browser import (
    ARTIFACTS,
    chromium,
    dialogs,
    needs_chromium,
    settle,
    wait_for,
    wait_visible,
    webmail_log_in,
)
from tests.support.local_http import Answer, LocalHttp, png
from tests.support.server import ServerThread, make_config
from tests.support.xss_corpus import load_cases

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

ALICE = "alice@example.test"
EVE = "eve@remote.example"
EVIL_SUBJECT = "<img src=x onerror=\"top.xssHit=1\"><script>alert('subject')</script> & more"
EVIL_NAME = "<b onmouseover=alert(1)>Eve</b><script>top.xssHit=2</script>"

pytestmark = [pytest.mark.slow, needs_chromium]


# the sanitiser keeps no id: the images are found by their alt text
LOGO_WIDTH = "return document.querySelector('img[alt=logo]').naturalWidth"
REMOTE_WIDTH = "return document.querySelector('img[alt=remote]')?.naturalWidth"
PIXEL = png(40, 30, (200, 30, 30))
LOGO = png(120, 36, (11, 87, 208))


class Listener:
    """The outside world: records each request (path, Referer, Cookie), answers a PNG.
    The test's own barrier tab and its favicon are counted apart."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str | None, str | None]] = []
        self.barriers = 0
        self.http = LocalHttp(self._record)
        self.origin = self.http.origin

    def _record(self, request: http.server.BaseHTTPRequestHandler) -> Answer:
        if request.path.startswith("/barrier"):
            self.barriers += 1
        elif request.path != "/favicon.ico":
            self.hits.append((request.path, request.headers.get("Referer"),
                              request.headers.get("Cookie")))
        return 200, {"Content-Type": "image/png"}, PIXEL

    def paths(self) -> list[str]:
        return [path for path, _referer, _cookie in self.hits]

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(ALICE)
        yield srv


@pytest.fixture
def browser(server: ServerThread, tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(server, tmp_path / "chromium", size="1280,900",
                  keep_dialogs=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = ARTIFACTS / "webmail"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def send(server: ServerThread, data: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail(EVE, [ALICE], data.encode())


def corpus_message(origin: str) -> str:
    """Every corpus vector in an inline text/html part of its own, under a subject and a
    From display name made of markup (RFC 2047 encoded words, decoded by the server)."""
    parts = "".join(
        "--v\r\nContent-Type: text/html; charset=utf-8\r\nContent-Disposition: inline\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(case.with_listener(origin).encode()).decode().replace("\n", "\r\n")
        for case in load_cases())
    name = Header(EVIL_NAME, "utf-8").encode(linesep="\r\n")
    subject = Header(EVIL_SUBJECT, "utf-8").encode(linesep="\r\n")
    return (f"From: {name} <{EVE}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            "Message-ID: <corpus@remote.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=v\r\n\r\n"
            "--v\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            "<h1>The XSS corpus</h1>\r\n" + parts + "--v--\r\n")


def image_message(origin: str) -> str:
    logo = base64.encodebytes(LOGO).decode().replace("\n", "\r\n")
    return (f"From: Eve <{EVE}>\r\nTo: {ALICE}\r\nSubject: Pictures\r\n"
            "Message-ID: <pictures@remote.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/related; boundary=r\r\n\r\n"
            "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            '<p>Our logo: <img src="cid:logo@remote.example" alt="logo"></p>\r\n'
            f'<p>A remote picture: <img src="{origin}/pixel.png" alt="remote"></p>'
            "\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <logo@remote.example>\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + logo + "--r--\r\n")


def allowed_when_shown(origin: str) -> set[str]:
    """The listener paths the corpus may fetch once remote images are shown: the image and
    background URLs the sanitiser keeps, and nothing else."""
    kept = set()
    for case in load_cases():
        clean = sanitize_html(case.with_listener(origin), allow_remote_images=True,
                              cid_url=lambda cid: None).html
        for url in re.findall(r'(?:src|background)="([^"]*)"', clean):
            url = html.unescape(url)
            if url.startswith(origin + "/"):
                kept.add(url[len(origin):])
    return kept


def log_in(driver: WebDriver, server: ServerThread) -> None:
    webmail_log_in(driver, server, ALICE, until="#message-list li.row")


def open_row(driver: WebDriver, text: str) -> None:
    def clicked() -> bool:
        try:
            for element in driver.find_elements(By.CSS_SELECTOR, "#message-list li.row"):
                if text in element.text:
                    element.click()
                    return True
        except StaleElementReferenceException:
            pass
        return False

    wait_for(clicked)


def frame_loaded(driver: WebDriver, images: int) -> None:
    """Wait until the render frame holds the document asked for, every image settled."""
    def ready() -> bool:
        frame = driver.find_element(By.ID, "r-frame")
        if not (frame.get_attribute("src") or "").endswith(f"?images={images}"):
            return False
        driver.switch_to.frame(frame)
        try:
            return bool(driver.execute_script(
                "return document.readyState === 'complete' && document.body !== null"
                " && [...document.images].every(i => i.complete)"))
        finally:
            driver.switch_to.default_content()

    wait_for(ready)


def markers(driver: WebDriver) -> tuple[object, object]:
    found = driver.execute_script(
        "return [window.xssHit === undefined ? null : window.xssHit, document.title];")
    return (found[0], found[1])


def frame_markers(driver: WebDriver) -> tuple[object, object]:
    driver.switch_to.frame(driver.find_element(By.ID, "r-frame"))
    try:
        return markers(driver)
    finally:
        driver.switch_to.default_content()


def barrier(driver: WebDriver, listener: Listener) -> None:
    """A request of the test's own through the browser and the listener: any request the
    page set off before is received before it (one browser, one listener)."""
    before = listener.barriers
    webmail = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(f"{listener.origin}/barrier")
    wait_for(lambda: listener.barriers > before)
    driver.close()
    driver.switch_to.window(webmail)


def test_the_xss_corpus_runs_nothing_in_the_webmail(server: ServerThread, listener: Listener,
                                                     browser: WebDriver, shots: Path) -> None:
    send(server, corpus_message(listener.origin))
    log_in(browser, server)
    title = browser.title
    assert title

    # the subject and the sender, markup as text in the list
    # (read in one go: the list is re-rendered on push)
    subject, sender, elements = browser.execute_script(
        "const row = document.querySelector('#message-list li.row');"
        "return [row.querySelector('.subject').textContent,"
        " row.querySelector('.from').textContent,"
        " document.querySelectorAll('#message-list img, #message-list script,"
        " #message-list b').length];")
    assert EVIL_SUBJECT in subject
    assert sender.removeprefix("Unread: ") == EVIL_NAME  # the prefix: for screen readers
    assert elements == 0

    open_row(browser, "& more")
    frame_loaded(browser, 0)
    seen = settle(browser)
    assert browser.find_element(By.ID, "r-subject").text == EVIL_SUBJECT
    meta = browser.find_element(By.ID, "r-meta")
    assert f"{EVIL_NAME} <{EVE}>" in meta.text
    assert meta.find_elements(By.CSS_SELECTOR, "b, script, img") == []
    frame = browser.find_element(By.ID, "r-frame")
    assert frame.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    assert seen == []
    assert markers(browser) == (None, title)
    assert frame_markers(browser) == (None, "")
    browser.save_screenshot(str(shots / "xss-corpus.png"))
    barrier(browser, listener)
    assert listener.paths() == []

    # the corpus has remote images: shown, only those the sanitiser kept are fetched
    wait_visible(browser, "#show-images").click()
    frame_loaded(browser, 1)
    seen = settle(browser)
    assert seen == []
    assert markers(browser) == (None, title)
    assert frame_markers(browser) == (None, "")
    browser.save_screenshot(str(shots / "xss-corpus-images.png"))
    barrier(browser, listener)
    fetched = set(listener.paths())
    allowed = allowed_when_shown(listener.origin)
    # exactly the kept images: each part was rendered, none fetched anything else
    assert fetched == allowed, (fetched - allowed, allowed - fetched)
    assert all(referer is None and cookie is None for _path, referer, cookie in listener.hits)
    assert dialogs(browser) == []


def test_remote_images_wait_for_the_reader_and_cid_images_do_not(
        server: ServerThread, listener: Listener, browser: WebDriver, shots: Path) -> None:
    send(server, image_message(listener.origin))
    log_in(browser, server)
    open_row(browser, "Pictures")
    frame_loaded(browser, 0)
    assert wait_visible(browser, "#r-images-count").text == "1 remote image hidden."
    assert wait_visible(browser, "#show-images").is_displayed()
    browser.switch_to.frame(browser.find_element(By.ID, "r-frame"))
    assert browser.execute_script(LOGO_WIDTH) == 120
    assert browser.execute_script(REMOTE_WIDTH) in (None, 0)  # left out
    browser.switch_to.default_content()
    # the logo is part of the body (shown by its Content-ID), not a file to download
    assert browser.find_elements(By.CSS_SELECTOR, "#r-attachments li") == []
    browser.save_screenshot(str(shots / "xss-images-blocked.png"))
    barrier(browser, listener)
    assert listener.hits == []

    browser.find_element(By.ID, "show-images").click()
    frame_loaded(browser, 1)
    browser.switch_to.frame(browser.find_element(By.ID, "r-frame"))
    wait_for(lambda: browser.execute_script(REMOTE_WIDTH) == 40)
    assert browser.execute_script(LOGO_WIDTH) == 120
    browser.switch_to.default_content()
    assert not browser.find_element(By.ID, "r-images").is_displayed()
    browser.save_screenshot(str(shots / "xss-images-shown.png"))
    barrier(browser, listener)
    assert listener.hits == [("/pixel.png", None, None)]  # once, no Referer, no cookie


def test_a_clipped_message_links_its_original(server: ServerThread, listener: Listener,
                                              browser: WebDriver, shots: Path) -> None:
    row = "<p>A long newsletter line, <b>again</b> and again.</p>\r\n"
    body = row * (MAX_BODY_CHARS // len(row) + 100) + "<p title=end>the end</p>\r\n"
    send(server, f"From: Eve <{EVE}>\r\nTo: {ALICE}\r\nSubject: Huge\r\n"
         "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body)
    log_in(browser, server)
    open_row(browser, "Huge")
    frame_loaded(browser, 0)
    link = wait_visible(browser, "#r-original")
    assert "This message was clipped" in browser.find_element(By.ID, "r-clipped").text
    href = link.get_attribute("href") or ""
    browser.switch_to.frame(browser.find_element(By.ID, "r-frame"))
    assert browser.find_elements(By.CSS_SELECTOR, "p[title=end]") == []
    assert "This message was clipped" in browser.find_element(By.TAG_NAME, "body").text
    browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "xss-clipped.png"))
    # the link downloads the whole message (same origin, with the session's cookie)
    original = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done);",
        href)
    assert "<p title=end>the end</p>" in original
    assert listener.hits == []
