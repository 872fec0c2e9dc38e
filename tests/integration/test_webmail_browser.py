"""The webmail end to end in headless Chromium (Debian's chromium and chromedriver, driven
by Selenium), against a real server: log in (a wrong password is told so), read a message
delivered on port 25, reply to all with an attachment (it reaches the remote sender
DKIM-signed, the local Cc over IMAP, and a copy lands in Sent), keep a draft that an IMAP
client sees in Drafts, search, move a message to a folder, see a message delivered during
the session appear without a reload (push), an HTML message in its sandboxed frame, a
phone-sized screen; forward with the original's attachments through a draft reopened from
Drafts; page by scrolling, mark unread, delete to Trash and from Trash for good, log out;
and the keyboard shortcuts.

The browser trusts only this server's own certificate (tests/support/browser.py).
Screenshots go to tests/artifacts/webmail/ (ignored by git).
"""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import (
    chromium,
    needs_chromium,
    screenshot_dir,
    wait_for,
    wait_visible,
)
from tests.support.jmap import imap_login
from tests.support.peer_smtp import PeerSmtp
from tests.support.server import PASSWORD, ServerThread
from tests.support.signing import dkim_valid, signing_config

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

ALICE = "alice@example.test"
BOB = "bob@example.test"
ZOE = "zoe@remote.example"

pytestmark = needs_chromium


@pytest.fixture
def server(tmp_path: Path, peer: PeerSmtp) -> Iterator[ServerThread]:
    """remote.example's mail goes to the scripted peer, DKIM-signed."""
    with ServerThread(signing_config(tmp_path / "data", peer.port)) as srv:
        srv.add_user(ALICE)
        srv.add_user(BOB)
        yield srv


@pytest.fixture
def browser(server: ServerThread, tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(server, tmp_path / "chromium", size="1280,860", console_log=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshot_dir("webmail")


def shot(driver: WebDriver, folder: Path, name: str) -> None:
    assert driver.save_screenshot(str(folder / f"{name}.png"))


def deliver(server: ServerThread, subject: str, body: str = "Hello Alice.\r\n", *,
            html: bool = False, cc: str = BOB) -> None:
    """A message from the remote zoe to alice (and cc bob), over port 25."""
    kind = "text/html" if html else "text/plain"
    data = (f"From: Zoe Remote <{ZOE}>\r\nTo: Alice <{ALICE}>\r\nCc: {cc}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{abs(hash(subject))}@remote.example>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {kind}; charset=utf-8\r\n\r\n{body}")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail(ZOE, [ALICE], data.encode())


def mailbox_subjects(server: ServerThread, user: str, mailbox: str) -> list[str]:
    imap = imap_login(server, user)
    try:
        typ, data = imap.select(f'"{mailbox}"')
        assert typ == "OK", data
        typ, found = imap.search(None, "ALL")
        subjects = []
        for num in found[0].split():
            typ, fetched = imap.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = fetched[0][1]
            assert isinstance(raw, bytes)
            subjects.append(str(email.message_from_bytes(
                raw, policy=email.policy.default)["Subject"]))
        return subjects
    finally:
        imap.logout()


def open_app(driver: WebDriver, server: ServerThread) -> None:
    driver.get(f"https://127.0.0.1:{server.port('https')}/mail")


def log_in(driver: WebDriver, server: ServerThread, address: str = ALICE) -> None:
    open_app(driver, server)
    form = wait_visible(driver, "#login-form")
    form.find_element(By.NAME, "address").send_keys(address)
    form.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait_visible(driver, "#message-list")


def row_texts(driver: WebDriver) -> list[str]:
    """The list's rows as text, read in one go (the list is re-rendered on push)."""
    texts = driver.execute_script(
        "return [...document.querySelectorAll('#message-list li.row')].map(r => r.innerText)")
    return [str(t) for t in texts]


def row(driver: WebDriver, subject: str) -> WebElement:
    """The row of that subject (waited for)."""
    found: list[WebElement] = []

    def present() -> bool:
        for element in driver.find_elements(By.CSS_SELECTOR, "#message-list li.row"):
            try:
                if subject in element.text:
                    found[:] = [element]
                    return True
            except StaleElementReferenceException:
                return False
        return False

    wait_for(present)
    return found[0]


def click_row(driver: WebDriver, subject: str) -> None:
    """Click the row of that subject, again if the list re-rendered it meanwhile."""
    def clicked() -> bool:
        try:
            row(driver, subject).click()
        except StaleElementReferenceException:
            return False
        return True

    wait_for(clicked)


def click(driver: WebDriver, selector: str) -> None:
    """Click what the selector finds, again if the page re-rendered it meanwhile."""
    def clicked() -> bool:
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
        except StaleElementReferenceException:
            return False
        return True

    wait_for(clicked)


def folder_id(driver: WebDriver, name: str) -> str:
    """The mailbox id of the folder list's entry of that name."""
    return str(driver.execute_script(
        "return [...document.querySelectorAll('#folder-list button')]"
        ".find(b => b.querySelector('.name').textContent === arguments[0]).dataset.id", name))


def rows(driver: WebDriver) -> list[str]:
    return row_texts(driver)


def text_of(driver: WebDriver, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def no_console_errors(driver: WebDriver, *expected: str) -> None:
    """No error in the console but ``expected`` ones (URLs answered with an error on
    purpose) and the app's first question, answered 401 before the login."""
    allowed = ("/mail/session - Failed to load resource", *expected)
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and not any(a in e["message"] for a in allowed)]
    assert errors == []


def test_a_webmail_session_in_chromium(server: ServerThread, peer: PeerSmtp,
                                       browser: WebDriver, shots: Path,
                                       tmp_path: Path) -> None:
    deliver(server, "Lunch on Friday?", "Shall we meet at noon?\r\n"
            "The menu: https://food.example/menu\r\n")
    deliver(server, "Quarterly numbers", "The numbers are in.\r\n")
    deliver(server, "Newsletter", "<h1>News</h1><p>Hello <b>Alice</b>.</p>"
            "<script>document.title='owned'</script>\r\n", html=True)
    imap = imap_login(server, ALICE)
    assert imap.create("Projects")[0] == "OK"
    imap.logout()

    open_app(browser, server)
    wait_visible(browser, "#login-form")
    shot(browser, shots, "01-login")
    form = browser.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "address").send_keys(ALICE)
    form.find_element(By.NAME, "password").send_keys("not it" + Keys.ENTER)
    wait_for(lambda: text_of(browser, "#login-error") == "Wrong address or password.")
    log_in(browser, server)
    assert len(rows(browser)) == 3
    assert "Inbox" in text_of(browser, "#folder-list")
    inbox_count = browser.find_element(By.CSS_SELECTOR, "#folder-list .current .count").text
    assert inbox_count == "3"
    shot(browser, shots, "02-inbox")

    # read the message delivered on port 25: it is marked read, its link clickable
    click_row(browser, "Lunch on Friday?")
    wait_visible(browser, "#r-text")
    assert "Shall we meet at noon?" in text_of(browser, "#r-text")
    link = browser.find_element(By.CSS_SELECTOR, "#r-text a")
    assert link.get_attribute("href") == "https://food.example/menu"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
    wait_for(lambda: browser.find_element(
        By.CSS_SELECTOR, "#folder-list .current .count").text == "2")
    assert "unread" not in row(browser, "Lunch on Friday?").get_attribute("class")
    shot(browser, shots, "03-reading")

    # reply to all with an attachment
    attachment = tmp_path / "agenda.txt"
    attachment.write_text("1. soup\n2. cake\n")
    browser.find_element(By.CSS_SELECTOR, "#reader [data-action=replyAll]").click()
    wait_visible(browser, "#compose")
    assert browser.find_element(By.ID, "c-to").get_attribute("value") == \
        f"Zoe Remote <{ZOE}>"
    assert browser.find_element(By.ID, "c-cc").get_attribute("value") == BOB
    assert browser.find_element(By.ID, "c-subject").get_attribute("value") == \
        "Re: Lunch on Friday?"
    assert "> Shall we meet at noon?" in browser.find_element(
        By.ID, "c-body").get_attribute("value")
    browser.find_element(By.ID, "c-body").send_keys("Noon works for me.\n")
    browser.find_element(By.ID, "c-files").send_keys(str(attachment))
    wait_for(lambda: "agenda.txt" in text_of(browser, "#c-attachments"))
    shot(browser, shots, "04-reply")
    browser.find_element(By.CSS_SELECTOR, "#compose-form button[type=submit]").click()
    wait_for(lambda: browser.find_element(By.ID, "compose").get_attribute("hidden")
             is not None)

    wait_for(lambda: len(peer.accepted()) == 1)
    sent = peer.accepted()[0]
    assert sent.rcpts == [ZOE]
    # signed once, at submission (Bob got a local copy): below our Received field
    assert sent.data.partition(b"\r\n\r\n")[0].count(b"DKIM-Signature:") == 1
    assert dkim_valid(server, sent.data)
    parsed = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert str(parsed["Subject"]) == "Re: Lunch on Friday?"
    assert parsed["In-Reply-To"] == f"<{abs(hash('Lunch on Friday?'))}@remote.example>"
    assert [p.get_filename() for p in parsed.iter_attachments()] == ["agenda.txt"]
    wait_for(lambda: "Re: Lunch on Friday?" in mailbox_subjects(server, BOB, "INBOX"))
    assert mailbox_subjects(server, ALICE, "Sent") == ["Re: Lunch on Friday?"]
    assert mailbox_subjects(server, ALICE, "Drafts") == []
    imap = imap_login(server, BOB)
    imap.select("INBOX")
    _typ, fetched = imap.search(None, 'SUBJECT "Re: Lunch"')
    _typ, body = imap.fetch(fetched[0].split()[0], "(RFC822)")
    imap.logout()
    raw = body[0][1]
    assert isinstance(raw, bytes)
    assert dkim_valid(server, raw)  # the local copy carries the same signature
    got = email.message_from_bytes(raw, policy=email.policy.default)
    (part,) = got.iter_attachments()
    assert part.get_content() == "1. soup\n2. cake\n"

    # a draft, kept on the server, seen by an IMAP client in Drafts
    browser.find_element(By.ID, "compose-button").click()
    wait_visible(browser, "#compose")
    browser.find_element(By.ID, "c-to").send_keys(BOB)
    browser.find_element(By.ID, "c-subject").send_keys("Draft: the offsite")
    browser.find_element(By.ID, "c-body").send_keys("Ideas so far: a lake.")
    browser.find_element(By.ID, "save-draft").click()
    wait_for(lambda: text_of(browser, "#compose-status") == "Draft saved.")
    browser.find_element(By.ID, "c-body").send_keys(" And a boat.")
    browser.find_element(By.ID, "save-draft").click()
    wait_for(lambda: mailbox_subjects(server, ALICE, "Drafts") == ["Draft: the offsite"])
    imap = imap_login(server, ALICE)
    imap.select("Drafts")
    _typ, fetched = imap.fetch("1", "(FLAGS BODY.PEEK[TEXT])")
    imap.logout()
    assert b"\\Draft" in fetched[0][0]
    assert b"a lake. And a boat." in fetched[0][1]
    shot(browser, shots, "05-draft")
    browser.find_element(By.ID, "discard").click()

    # search
    search = browser.find_element(By.ID, "search")
    search.send_keys("numbers" + Keys.ENTER)
    wait_for(lambda: [r.count("Quarterly numbers") for r in rows(browser)] == [1])
    assert text_of(browser, "#list-title") == "Search: numbers"
    shot(browser, shots, "06-search")

    # move it to a folder
    click_row(browser, "Quarterly numbers")
    wait_visible(browser, "#r-text")
    click(browser, "#move-to")
    click(browser, f"#move-to option[value='{folder_id(browser, 'Projects')}']")
    wait_for(lambda: mailbox_subjects(server, ALICE, "Projects") == ["Quarterly numbers"])
    assert "Quarterly numbers" not in mailbox_subjects(server, ALICE, "INBOX")

    # the HTML message, in its sandboxed frame, its script never run
    click(browser, "#folder-list [data-role=inbox]")
    click_row(browser, "Newsletter")
    frame = wait_visible(browser, "#r-frame")
    assert frame.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    assert frame.get_attribute("src").endswith("?images=0")
    shot(browser, shots, "07-html")

    # push: a message delivered now shows up without a reload
    click(browser, "#folder-list [data-role=inbox]")
    browser.execute_script("window.posthouseOldPage = true")
    deliver(server, "Breaking: the cake is ready")
    row(browser, "Breaking: the cake is ready")
    assert browser.execute_script("return window.posthouseOldPage") is True
    # the one unread message in the Inbox now: the new one (the others were read)
    wait_for(lambda: browser.find_element(
        By.CSS_SELECTOR, "#folder-list .current .count").text == "1")
    shot(browser, shots, "08-pushed")

    # a phone: one pane at a time
    browser.set_window_size(390, 844)
    assert not browser.find_element(By.ID, "folders").is_displayed()
    shot(browser, shots, "09-phone-list")
    click_row(browser, "Breaking: the cake is ready")
    wait_visible(browser, "#r-text")
    assert not browser.find_element(By.ID, "list-pane").is_displayed()
    shot(browser, shots, "10-phone-reading")
    browser.find_element(By.CSS_SELECTOR, "#reader [data-action=back]").click()
    wait_visible(browser, "#list-pane")
    browser.find_element(By.ID, "folders-button").click()
    wait_visible(browser, "#folders")
    shot(browser, shots, "11-phone-folders")
    no_console_errors(browser, "/mail/login - Failed to load resource")


def test_keyboard_shortcuts(server: ServerThread, browser: WebDriver, shots: Path) -> None:
    for n in range(3):
        deliver(server, f"Message {n}", f"Body {n}.\r\n")
    log_in(browser, server)
    wait_for(lambda: len(rows(browser)) == 3)
    body = browser.find_element(By.TAG_NAME, "body")

    def selected() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, "li.row.selected .subject").text)

    body.send_keys("j")
    assert selected() == "Message 2"
    body.send_keys("j")
    body.send_keys("j")
    body.send_keys("k")
    assert selected() == "Message 1"
    body.send_keys("o")
    wait_visible(browser, "#r-text")
    assert text_of(browser, "#r-subject") == "Message 1"
    body.send_keys("j")  # next, while reading
    wait_for(lambda: text_of(browser, "#r-subject") == "Message 0")
    body.send_keys("s")
    wait_for(lambda: browser.find_element(By.ID, "flag-button").text == "Unflag")
    wait_for(lambda: "★" in row(browser, "Message 0").text)
    body.send_keys("u")
    wait_for(lambda: not browser.find_element(By.ID, "reader").is_displayed())
    body.send_keys(Keys.ENTER)
    wait_visible(browser, "#r-text")
    body.send_keys("r")
    wait_visible(browser, "#compose")
    assert browser.find_element(By.ID, "c-subject").get_attribute("value") == "Re: Message 0"
    browser.find_element(By.ID, "discard").click()
    body.send_keys("a")
    wait_visible(browser, "#compose")
    assert browser.find_element(By.ID, "c-cc").get_attribute("value") == BOB  # reply all
    browser.find_element(By.ID, "discard").click()
    body.send_keys("f")
    wait_visible(browser, "#compose")
    assert browser.find_element(By.ID, "c-subject").get_attribute("value") == "Fwd: Message 0"
    assert browser.find_element(By.ID, "c-to").get_attribute("value") == ""
    browser.find_element(By.ID, "discard").click()
    body.send_keys("#")
    wait_for(lambda: len(rows(browser)) == 2)
    assert mailbox_subjects(server, ALICE, "Trash") == ["Message 0"]
    body.send_keys("c")
    wait_visible(browser, "#compose")
    assert browser.switch_to.active_element.get_attribute("id") == "c-to"
    browser.find_element(By.ID, "discard").click()
    body.send_keys("/")
    assert browser.switch_to.active_element.get_attribute("id") == "search"
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    body.send_keys("?")
    wait_visible(browser, "#help")
    shot(browser, shots, "12-help")
    no_console_errors(browser)


def test_a_forward_keeps_the_attachments_through_a_draft(
        server: ServerThread, browser: WebDriver, shots: Path) -> None:
    data = (f"From: Zoe Remote <{ZOE}>\r\nTo: {ALICE}\r\nSubject: plans\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nThe plan is attached.\r\n"
            "--b\r\nContent-Type: text/plain; name=plan.txt\r\n"
            "Content-Disposition: attachment; filename=plan.txt\r\n\r\n"
            "step one\r\n--b--\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail(ZOE, [ALICE], data.encode())
    log_in(browser, server)
    click_row(browser, "plans")
    link = wait_visible(browser, "#r-attachments a")
    assert link.text == "plan.txt"
    assert "/jmap/download/" in str(link.get_attribute("href"))
    click(browser, "#reader [data-action=forward]")
    wait_visible(browser, "#compose")
    assert "plan.txt" in text_of(browser, "#c-attachments")
    assert browser.find_element(By.ID, "c-subject").get_attribute("value") == "Fwd: plans"
    browser.find_element(By.ID, "c-to").send_keys(BOB)
    browser.find_element(By.ID, "save-draft").click()
    wait_for(lambda: text_of(browser, "#compose-status") == "Draft saved.")
    browser.find_element(By.ID, "discard").click()

    # the draft opens again from Drafts, attachment and all, and goes
    click(browser, "#folder-list [data-role=drafts]")
    click_row(browser, "Fwd: plans")
    wait_visible(browser, "#compose")
    assert browser.find_element(By.ID, "c-to").get_attribute("value") == BOB
    assert "plan.txt" in text_of(browser, "#c-attachments")
    shot(browser, shots, "13-forward-draft")
    click(browser, "#compose-form button[type=submit]")
    wait_for(lambda: "Fwd: plans" in mailbox_subjects(server, BOB, "INBOX"))
    imap = imap_login(server, BOB)
    imap.select("INBOX")
    _typ, body = imap.fetch("1", "(RFC822)")
    imap.logout()
    raw = body[0][1]
    assert isinstance(raw, bytes)
    assert dkim_valid(server, raw)  # the local copy carries the same signature
    (part,) = email.message_from_bytes(raw, policy=email.policy.default).iter_attachments()
    assert part.get_filename() == "plan.txt"
    assert part.get_content().strip() == "step one"
    wait_for(lambda: mailbox_subjects(server, ALICE, "Drafts") == [])
    assert mailbox_subjects(server, ALICE, "Sent") == ["Fwd: plans"]
    no_console_errors(browser)


def seen_flags(server: ServerThread, user: str, mailbox: str) -> list[bool]:
    imap = imap_login(server, user)
    try:
        imap.select(mailbox, readonly=True)
        _typ, data = imap.fetch("1:*", "(FLAGS)")
        return [b"\\Seen" in line for line in data if isinstance(line, bytes)]
    finally:
        imap.logout()


def test_paging_mark_unread_and_deleting_for_good(
        server: ServerThread, browser: WebDriver, shots: Path) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        for n in range(45):
            smtp.sendmail(ZOE, [ALICE], (f"From: {ZOE}\r\nTo: {ALICE}\r\n"
                                         f"Subject: Note {n:02}\r\n\r\nNote {n}.\r\n").encode())
    log_in(browser, server)
    wait_for(lambda: len(rows(browser)) == 40)  # the first page
    assert text_of(browser, "#list-status") == "Scroll for more…"
    browser.execute_script("const p = document.getElementById('list-pane');"
                           "p.scrollTop = p.scrollHeight")
    wait_for(lambda: len(rows(browser)) == 45)
    assert text_of(browser, "#list-status") == ""
    assert "Note 00" in rows(browser)[-1]
    shot(browser, shots, "14-scrolled")

    browser.execute_script("document.getElementById('list-pane').scrollTop = 0")
    click_row(browser, "Note 44")
    wait_visible(browser, "#r-text")
    wait_for(lambda: seen_flags(server, ALICE, "INBOX")[-1])
    click(browser, "#reader [data-action=unread]")
    wait_for(lambda: not seen_flags(server, ALICE, "INBOX")[-1])
    wait_for(lambda: browser.execute_script(
        "return [...document.querySelectorAll('#message-list li.row.unread')]"
        ".some(r => r.innerText.includes('Note 44'))"))

    click_row(browser, "Note 44")
    wait_visible(browser, "#r-text")
    click(browser, "#reader [data-action=delete]")
    wait_for(lambda: mailbox_subjects(server, ALICE, "Trash") == ["Note 44"])
    click(browser, "#folder-list [data-role=trash]")
    click_row(browser, "Note 44")
    wait_visible(browser, "#r-text")
    click(browser, "#reader [data-action=delete]")
    wait_for(lambda: mailbox_subjects(server, ALICE, "Trash") == [])
    assert len(mailbox_subjects(server, ALICE, "INBOX")) == 44

    # log out: back to the login form, and a reload does not bring the session back
    click(browser, "#logout-button")
    wait_visible(browser, "#login-form")
    browser.refresh()
    wait_visible(browser, "#login-form")
    assert not browser.find_element(By.ID, "app").is_displayed()
    no_console_errors(browser)
