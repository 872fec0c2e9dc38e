"""DOM XSS in the webmail app: message data (subjects, names, previews, file names) must
reach the page as text. The app builds its DOM with ``dom.js el`` and ``textContent`` only;
no script of it may use a sink that parses HTML or code from a string. Checked end to end with
a subject and From made of markup in tests/integration/test_webmail_xss_browser.py."""

from __future__ import annotations

import re

from posthouse.webmail.pages import STATIC_DIR

HTML_SINKS = re.compile(
    r"\.(innerHTML|outerHTML|insertAdjacentHTML|srcdoc)\b|document\.write|\beval\s*\("
    r"|new\s+Function\b|createContextualFragment|setHTMLUnsafe|parseHTMLUnsafe|DOMParser")


def test_no_script_of_the_app_uses_an_html_or_code_sink() -> None:
    scripts = sorted(STATIC_DIR.glob("*.js"))
    assert scripts
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in scripts
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if HTML_SINKS.search(line)]
    assert found == []
