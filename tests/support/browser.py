"""Headless Chromium for the browser tests (Debian's chromium and chromedriver, driven by
Selenium). The browser trusts only the test server's own self-signed certificate:
``--ignore-certificate-errors-spki-list`` with the SHA-256 of its public key (Chromium
honours it with a ``--user-data-dir``), not ``--ignore-certificate-errors``."""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from posthouse.config import tls_paths
from tests.support.server import ServerThread

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver")


def wait_for(check: Callable[[], object], timeout: float = 30) -> None:
    """Poll ``check`` until it is true (the page works asynchronously)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def screenshot_dir(name: str) -> Path:
    """tests/artifacts/<name>/, emptied (ignored by git)."""
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def spki_hash(server: ServerThread | Path) -> str:
    """The SHA-256 of the certificate's public key: a running test server's, or the
    certificate file given (a benchmark's posthouse subprocess)."""
    cert_path = server if isinstance(server, Path) else tls_paths(server.cfg)[0]
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextmanager
def chromium(server: ServerThread | Path | None, profile: Path, *, size: str = "1280,900",
             console_log: bool = False, keep_dialogs: bool = False) -> Iterator[Any]:
    """A headless Chromium WebDriver trusting ``server``'s certificate (or that certificate
    file; None: plain HTTP only), quit at the end; with ``keep_dialogs`` an alert stays open
    for the test to see (not dismissed)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    trust = () if server is None else (
        f"--ignore-certificate-errors-spki-list={spki_hash(server)}",)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={size}", f"--user-data-dir={profile}", *trust,
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    if keep_dialogs:
        options.unhandled_prompt_behavior = "ignore"
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def dialogs(driver: Any) -> list[str]:
    """The dialogs open now (alert, confirm, prompt), each accepted (needs keep_dialogs)."""
    from selenium.common.exceptions import NoAlertPresentException

    seen = []
    while True:
        try:
            dialog = driver.switch_to.alert
            seen.append(dialog.text)
            dialog.accept()
        except NoAlertPresentException:
            return seen


def settle(driver: Any) -> list[str]:
    """Two frames and a task for the page to do what it will; the dialogs it opened."""
    from selenium.common.exceptions import UnexpectedAlertPresentException

    seen: list[str] = []
    for _ in range(20):
        seen += dialogs(driver)
        try:
            driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 0)));")
            break
        except UnexpectedAlertPresentException:
            continue
    return seen + dialogs(driver)


def wait_visible(driver: Any, selector: str) -> Any:
    """The first element matching ``selector`` once one is displayed (a page that reloads
    meanwhile is looked at again)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    found: list[Any] = []

    def visible() -> bool:
        try:
            found[:] = [e for e in driver.find_elements(By.CSS_SELECTOR, selector)
                        if e.is_displayed()]
        except StaleElementReferenceException:
            return False
        return bool(found)

    wait_for(visible)
    return found[0]


def webmail_log_in(driver: Any, server: ServerThread, address: str, *,
                   until: str = "#message-list") -> None:
    """Log in at /mail with the test password; wait for ``until`` to show."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from tests.support.server import PASSWORD

    driver.get(f"https://127.0.0.1:{server.port('https')}/mail")
    form = wait_visible(driver, "#login-form")
    form.find_element(By.NAME, "address").send_keys(address)
    form.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait_visible(driver, until)
