"""Every XSS corpus case, sanitised and rendered by webmail/sanitize.py, loaded in headless
Chromium (Debian's chromium and chromedriver, driven by Selenium) from a small HTTP server on
127.0.0.1, in two ways:

- deployed: as the webmail will show it, inside ``<iframe sandbox>`` on a page of the same
  origin, the document served with the Content-Security-Policy render_document returns;
- bare: the rendered document as a top-level page with no CSP and scripts allowed, so that
  the sanitiser alone is what stands between the vector and the browser.

A vector that ran would call alert(), set window.xssHit or document.title, or make the browser
fetch from a recording listener (another port, so another origin). None may. So that this
cannot pass by seeing nothing, the raw vectors of a few cases of each kind are loaded bare
first and must trip each kind of marker. A newsletter-like mail is rendered and its
screenshot saved to tests/artifacts/webmail/ (ignored by git). In a frame sandboxed with
allow-popups (and allow-popups-to-escape-sandbox), a link opens its own window, with neither
referrer nor opener."""

from __future__ import annotations

import contextlib
import http.server
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from posthouse.webmail.sanitize import render_document, sanitize_html
from tests.support.browser import chromium, needs_chromium, settle, wait_for
from tests.support.local_http import Answer, LocalHttp, png
from tests.support.xss_corpus import XssCase, load_cases

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import UnexpectedAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "webmail"
CASES = load_cases()

pytestmark = [pytest.mark.slow, needs_chromium]


class Listener:
    """An HTTP server that records the path (and Referer) of every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.referers: list[str | None] = []
        self.http = LocalHttp(self._record)
        self.origin = self.http.origin

    def _record(self, request: http.server.BaseHTTPRequestHandler) -> Answer:
        self.hits.append(request.path)
        self.referers.append(request.headers.get("Referer"))
        return 200, {"Content-Type": "text/plain"}, b""

    def stop(self) -> None:
        self.http.stop()


LOGO = png(160, 48, (11, 87, 208))
NEWSLETTER = """<!DOCTYPE html><html><head><title>Weekly</title>
<style>@media (max-width: 600px) { .col { display: block } }</style></head>
<body style="margin:0;background-color:#f3f4f6">
<table width="100%" cellpadding="0" cellspacing="0" bgcolor="#f3f4f6"><tr><td align="center">
<table width="600" cellpadding="24" cellspacing="0" style="background-color:#ffffff;
 border:1px solid #e5e7eb;border-radius:8px;font-family:Georgia, serif;color:#111827">
<tr><td><img src="cid:logo@news.example.test" alt="Harbour News" width="160" height="48">
<img src="https://tracker.example.test/open.gif?u=42" width="1" height="1" alt=""></td></tr>
<tr><td><h1 style="font-size:26px;margin:0 0 12px 0;color:#0b57d0">The week at the harbour</h1>
<p style="font-size:16px;line-height:1.5">Three ships came in on Tuesday, and the new crane
lifted its first container. <b>Thank you</b> to everyone who came to the open day.</p>
<table width="100%" cellpadding="8" cellspacing="0"><tr>
<td class="col" width="50%" valign="top" style="background-color:#eef2ff;border-radius:6px">
<h3 style="margin:0">Timetable</h3><ul><li>Ferry: 08:10, 12:40</li><li>Pilot boat: on call</li>
</ul></td><td class="col" width="50%" valign="top" style="background-color:#ecfdf5">
<h3 style="margin:0">Weather</h3><p>Westerly 4, <i>showers later</i>.</p></td></tr></table>
<blockquote>The harbour master: "Mind the new buoys."</blockquote>
<p style="text-align:center"><a href="https://news.example.test/read?id=7"
 style="display:inline-block;padding:12px 20px;background-color:#0b57d0;color:#ffffff;
 text-decoration:none;border-radius:6px" onclick="alert(1)">Read the full story</a></p>
</td></tr>
<tr><td style="font-size:12px;color:#6b7280;border-top:1px solid #e5e7eb">
You get this because you subscribed. <a href="https://news.example.test/unsubscribe">Unsubscribe</a>
</td></tr></table></td></tr></table></body></html>"""


class Site:
    """The webmail's stand-in: serves rendered documents, the framing page and parts."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.blocked: dict[str, int] = {}
        self.strays: list[str] = []
        self.http = LocalHttp(lambda request: self.answer(unquote(request.path)))
        self.origin = self.http.origin

    def stop(self) -> None:
        self.http.stop()

    def source(self, name: str) -> str | None:
        if name == "newsletter":
            return NEWSLETTER
        if name == "link":
            return f'<p><a href="{self.listener.origin}/clicked" target="_self">open</a></p>'
        case = next((case for case in CASES if case.name == name), None)
        return None if case is None else case.with_listener(self.listener.origin)

    def answer(self, path: str) -> Answer:
        html = {"Content-Type": "text/html; charset=utf-8"}
        parts = path.strip("/").split("/")
        if parts == ["favicon.ico"]:  # the browser's own
            return 404, {}, b""
        if parts == ["part", "logo.png"]:
            return 200, {"Content-Type": "image/png"}, LOGO
        if len(parts) == 2 and parts[0] in {"frame", "frame-popups"}:
            # The webmail's page around the message; "frame-popups" lets its links open a
            # window of their own (still no scripts, no same origin in the frame).
            sandbox = ("sandbox" if parts[0] == "frame"
                       else 'sandbox="allow-popups allow-popups-to-escape-sandbox"')
            page = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>webmail</title>'
                    f"</head><body style=\"margin:0\"><iframe {sandbox} "
                    f'src="/doc/deployed/{parts[1]}" style="border:0;width:100%;height:100vh">'
                    "</iframe></body></html>")
            return 200, html, page.encode()
        if len(parts) == 3 and parts[0] == "doc":
            mode, name = parts[1], parts[2]
            source = self.source(name)
            if source is None:
                self.strays.append(path)
                return 404, {}, b""
            if mode == "raw":  # the control: the vector as it came, nothing in the way
                return 200, html, source.encode()
            sanitized = sanitize_html(
                source, allow_remote_images=False,
                cid_url=lambda cid: "/part/logo.png" if cid == "logo@news.example.test" else None)
            self.blocked[name] = sanitized.blocked_remote_images
            body, csp = render_document(sanitized.html, allow_remote_images=False)
            if mode == "deployed":
                return 200, html | {"Content-Security-Policy": csp}, body
            return 200, html, body
        self.strays.append(path)  # e.g. a relative URL a vector resolved against the page
        return 404, {}, b""


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def site(listener: Listener) -> Iterator[Site]:
    server = Site(listener)
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    # Alerts are left open so the test sees them, rather than dismissed by the driver.
    with chromium(None, tmp_path / "chromium", size="1000,800", keep_dialogs=True) as driver:
        yield driver


def load(driver: WebDriver, url: str) -> list[str]:
    """Loads a page, lets it settle (load event, two frames, a task), returns the dialogs."""
    with contextlib.suppress(UnexpectedAlertPresentException):
        driver.get(url)
    return settle(driver)


def markers(driver: WebDriver) -> list[object]:
    return driver.execute_script("return [window.xssHit, document.title];")  # type: ignore[no-any-return]


# Raw vectors that must trip each kind of marker when nothing is in the way.
CONTROLS = {
    "img-onerror": "alert", "svg-onload": "alert", "script-upper": "xssHit",
    "img-onerror-no-quotes-slash": "xssHit", "body-onpageshow": "title",
    "img-onerror-newline-before-equals": "/nl", "meta-refresh": "/refresh",
    "remote-tracking-pixel": "/open.gif", "css-background-url": "/css-bg.png",
    "link-stylesheet": "/link.css",
}


def test_the_harness_sees_each_marker_on_raw_vectors(browser: WebDriver, site: Site,
                                                     listener: Listener) -> None:
    for name, marker in CONTROLS.items():
        dialogs = load(browser, f"{site.origin}/doc/raw/{name}")
        if marker == "alert":
            assert dialogs, name
        elif marker == "xssHit":
            assert markers(browser)[0] == 1, name
        elif marker == "title":
            assert markers(browser)[1] == "XSS", name
        else:
            wait_for(lambda marker=marker: any(hit.startswith(marker) for hit in listener.hits))


@pytest.mark.parametrize("mode", ["deployed", "bare"])
def test_no_corpus_vector_runs_or_fetches(browser: WebDriver, site: Site, listener: Listener,
                                          mode: str) -> None:
    ran: dict[str, object] = {}
    for case in CASES:
        if mode == "deployed":
            dialogs = load(browser, f"{site.origin}/frame/{case.name}")
            top = markers(browser)
            browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
            inner = markers(browser)
            browser.switch_to.default_content()
            hit = dialogs or top != [None, "webmail"] or inner != [None, ""]
            if hit:
                ran[case.name] = (dialogs, top, inner)
        else:
            dialogs = load(browser, f"{site.origin}/doc/bare/{case.name}")
            page = markers(browser)
            url = browser.current_url
            if dialogs or page != [None, ""] or not url.startswith(site.origin):
                ran[case.name] = (dialogs, page, url)
    assert ran == {}
    assert len(site.blocked) == len(CASES)
    # A request set off by the last cases would be in flight still: one more round trip
    # through the browser and the listener orders it before the check.
    load(browser, f"{listener.origin}/barrier")
    wait_for(lambda: "/barrier" in listener.hits)
    assert [hit for hit in listener.hits if hit != "/favicon.ico"] == ["/barrier"]
    assert site.strays == []


def test_a_newsletter_renders_readably(browser: WebDriver, site: Site,
                                       listener: Listener) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    browser.set_window_size(900, 1000)
    assert load(browser, f"{site.origin}/frame/newsletter") == []
    assert site.blocked["newsletter"] == 1  # the tracking pixel
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    logo = browser.find_element(By.CSS_SELECTOR, "img[alt='Harbour News']")
    # The cid: part came from the webmail's own origin through CSP img-src 'self'.
    assert browser.execute_script("return arguments[0].naturalWidth", logo) == 160
    link = browser.find_element(By.LINK_TEXT, "Read the full story")
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("onclick") is None
    assert "The week at the harbour" in browser.find_element(By.TAG_NAME, "h1").text
    browser.switch_to.default_content()
    assert browser.save_screenshot(str(ARTIFACTS / "newsletter.png"))
    assert listener.hits == []
    assert site.strays == []


def test_a_link_opens_its_own_window_without_referrer_or_opener(
        browser: WebDriver, site: Site, listener: Listener) -> None:
    assert load(browser, f"{site.origin}/frame-popups/link") == []
    webmail = browser.current_window_handle
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    browser.find_element(By.LINK_TEXT, "open").click()
    browser.switch_to.default_content()
    wait_for(lambda: "/clicked" in listener.hits)
    assert listener.referers[listener.hits.index("/clicked")] is None  # rel=noreferrer
    assert browser.current_url == f"{site.origin}/frame-popups/link"  # target=_blank
    wait_for(lambda: len(browser.window_handles) == 2)
    opened = next(handle for handle in browser.window_handles if handle != webmail)
    browser.switch_to.window(opened)
    assert browser.execute_script("return window.opener") is None  # rel=noopener
    browser.close()
    browser.switch_to.window(webmail)


def test_a_corpus_case_name_is_a_path_segment() -> None:
    # The site above routes by case name.
    assert all(isinstance(case, XssCase) and "/" not in case.name and " " not in case.name
               for case in CASES)
