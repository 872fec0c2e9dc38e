"""The webmail by keyboard and for assistive technology, in headless Chromium against a real
server: every control has an accessible name (the thread badge says what its number is, an
unread row says so in text),
the message list is one tab stop whose row moves with the arrows and opens with Enter, the
keyboard focus is drawn and survives a push re-rendering the list, Enter on a focused
button is that button's, a cleared search goes back to the folder; the list's columns line
up with and without a thread badge; the phone's top bar leaves the search field its room.

Screenshots go to tests/artifacts/webmail-a11y/ (ignored by git).
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import (
    chromium,
    needs_chromium,
    screenshot_dir,
    wait_for,
    webmail_log_in,
)
from tests.support.server import ServerThread, make_config

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

ALICE = "alice@example.test"
ZOE = "zoe@remote.example"

pytestmark = needs_chromium


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(ALICE)
        yield srv


@pytest.fixture
def browser(server: ServerThread, tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(server, tmp_path / "chromium", size="1280,860") as driver:
        yield driver


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshot_dir("webmail-a11y")


def deliver(server: ServerThread, subject: str, message_id: str, reply_to: str = "") -> None:
    thread = f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n" if reply_to else ""
    data = (f"From: Zoe Remote <{ZOE}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\n{thread}\r\nAbout {subject}.\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail(ZOE, [ALICE], data.encode())


def log_in(driver: WebDriver, server: ServerThread) -> None:
    webmail_log_in(driver, server, ALICE)


def rows(driver: WebDriver) -> list[str]:
    return [str(t) for t in driver.execute_script(
        "return [...document.querySelectorAll('#message-list li.row .subject')]"
        ".map(s => s.firstChild.textContent)")]


def names(driver: WebDriver, selector: str) -> list[str] | None:
    """The accessible names (as Chromium computes them) of the visible elements the
    selector finds; None when the page re-rendered them meanwhile (a push)."""
    try:
        return [str(e.accessible_name).strip()
                for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]
    except StaleElementReferenceException:
        return None


def press(driver: WebDriver, key: str) -> None:
    """A key to whatever has the focus (no element reference to go stale on a re-render)."""
    ActionChains(driver).send_keys(key).perform()


def focused(driver: WebDriver, script: str) -> object:
    """``script`` evaluated on document.activeElement (as ``a``)."""
    return driver.execute_script(f"const a = document.activeElement; return {script}")


def test_the_list_by_keyboard_and_every_control_named(server: ServerThread,
                                                      browser: WebDriver,
                                                      shots: Path) -> None:
    deliver(server, "Plans", "plans@remote.example")
    deliver(server, "Re: Plans", "re-plans@remote.example", reply_to="plans@remote.example")
    deliver(server, "Tickets", "tickets@remote.example")
    log_in(browser, server)
    wait_for(lambda: rows(browser) == ["Tickets", "Re: Plans"])

    # names: the thread badge says what its number is; no control is nameless
    wait_for(lambda: names(browser, "#message-list .thread-size") == ["2 messages in this thread"])
    assert browser.find_element(By.CSS_SELECTOR, "#message-list .thread-size").text == "2"
    controls = "#app button, #app select, #app input, #app a"
    wait_for(lambda: names(browser, controls) is not None)
    assert "" not in (names(browser, controls) or [""])
    # the time column lines up with and without a badge
    right_edges = browser.execute_script(
        "return [...document.querySelectorAll('#message-list li.row time')]"
        ".map(t => t.getBoundingClientRect().right)")
    assert len(set(right_edges)) == 1, right_edges

    # the list is one tab stop, reached with Tab, its focus drawn
    assert len(browser.find_elements(By.CSS_SELECTOR, "#message-list [tabindex='0']")) == 1
    browser.find_element(By.ID, "search").click()
    for _ in range(20):
        if focused(browser, "a.matches('#message-list li.row')"):
            break
        press(browser, Keys.TAB)
    assert focused(browser, "a.querySelector('.subject').firstChild.textContent") == "Tickets"
    assert focused(browser, "getComputedStyle(a).outlineStyle") != "none"

    # the arrows move the selection and the focus; Enter opens
    press(browser, Keys.ARROW_DOWN)
    assert focused(browser, "a.querySelector('.subject').firstChild.textContent") == \
        "Re: Plans"
    assert focused(browser, "a.classList.contains('selected')") is True
    assert focused(browser, "a.getAttribute('aria-current')") == "true"
    assert focused(browser, "a.tabIndex") == 0
    press(browser, Keys.ENTER)
    wait_for(lambda: browser.find_element(By.ID, "r-subject").text == "Re: Plans")
    wait_for(lambda: focused(browser, "a.dataset.id") is not None)
    opened = focused(browser, "a.dataset.id")
    assert browser.find_element(By.ID, "r-thread").accessible_name == \
        "Messages in this thread"
    # unread is said, not only drawn in bold and colour
    wait_for(lambda: browser.execute_script(
        "return [...document.querySelectorAll('#message-list li.row .from')]"
        ".map(f => f.textContent)") == ["Unread: Zoe Remote", "Zoe Remote"])

    # a push re-renders the list: the focus stays on the same message's row
    deliver(server, "Breaking", "breaking@remote.example")
    wait_for(lambda: rows(browser) == ["Breaking", "Tickets", "Re: Plans"])
    wait_for(lambda: focused(browser, "a.dataset.id") == opened)
    assert focused(browser, "a.classList.contains('selected')") is True
    browser.save_screenshot(str(shots / "01-list-focus.png"))

    # Enter on a focused button is the button's (here: forward), not "open"
    browser.execute_script(
        "document.querySelector('#reader [data-action=forward]').focus()")
    press(browser, Keys.ENTER)
    wait_for(lambda: browser.find_element(By.ID, "compose").is_displayed())
    assert browser.find_element(By.ID, "c-subject").get_attribute("value") == "Fwd: Re: Plans"
    browser.find_element(By.ID, "discard").click()

    # a search cleared with Escape goes back to the folder
    search = browser.find_element(By.ID, "search")
    search.send_keys("Tickets" + Keys.ENTER)
    wait_for(lambda: rows(browser) == ["Tickets"])
    search.click()
    press(browser, Keys.ESCAPE)
    wait_for(lambda: rows(browser) == ["Breaking", "Tickets", "Re: Plans"])
    assert browser.find_element(By.ID, "list-title").text == "Inbox"


def test_the_phone_top_bar_leaves_room_to_search(server: ServerThread, browser: WebDriver,
                                                 shots: Path) -> None:
    deliver(server, "Hello", "hello@remote.example")
    # a real 390 px wide viewport (headless windows are at least 500 px wide)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    log_in(browser, server)
    wait_for(lambda: rows(browser) == ["Hello"])
    bar = browser.find_element(By.CSS_SELECTOR, ".bar")
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth",
                                  bar)
    # the placeholder fits its field
    assert browser.execute_script(
        "const s = document.getElementById('search');"
        "const c = document.createElement('canvas').getContext('2d');"
        "c.font = getComputedStyle(s).font;"
        "return c.measureText(s.placeholder).width <= s.clientWidth")
    browser.save_screenshot(str(shots / "02-phone-list.png"))
