"""The reader's framed document (webmail/render.py): the policy, escaped text, no script,
and the message's own images (cid:, RFC 2392) as data: URLs."""

from __future__ import annotations

import base64

from posthouse.jmap.email_props import ParsedEmail
from posthouse.webmail.render import (
    CLIPPED_NOTICE,
    MAX_BODY_CHARS,
    content_policy,
    inline_image,
    render_mail,
)

PNG = b"\x89PNG\r\n\x1a\nfake"
RELATED = (b"From: a@example.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/related; boundary=r\r\n\r\n"
           b"--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b'<p>Logo: <img src="cid:logo@x"></p><script>alert(1)</script>\r\n'
           b"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode(PNG) + b"\r\n"
           b"--r\r\nContent-Type: text/plain\r\nContent-ID: <notes@x>\r\n\r\nnotes\r\n--r--\r\n")


def test_the_policy_runs_nothing_and_loads_remote_images_only_when_asked() -> None:
    strict = content_policy(False)
    assert "default-src 'none'" in strict
    assert "img-src data:;" in strict
    assert "script-src" not in strict
    assert "frame-ancestors 'self'" in strict
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in strict
    assert "img-src data: https: http:;" in content_policy(True)


def test_a_text_message_is_escaped_into_pre() -> None:
    data = (b"From: a@example.test\r\nSubject: s\r\n\r\n"
            b"1 < 2 & <b>not bold</b>\r\n")
    rendered = render_mail(ParsedEmail(data, "0" * 64), remote_images=False)
    assert "<pre>1 &lt; 2 &amp; &lt;b&gt;not bold&lt;/b&gt;" in rendered.document
    assert rendered.document.startswith("<!DOCTYPE html>")
    assert rendered.blocked_remote_images == 0


def test_an_html_message_never_carries_its_script() -> None:
    rendered = render_mail(ParsedEmail(RELATED, "0" * 64), remote_images=False)
    assert "<script>" not in rendered.document
    assert '<base target="_blank">' in rendered.document


def test_cid_images_become_data_urls_and_nothing_else_does() -> None:
    parsed = ParsedEmail(RELATED, "0" * 64)
    url = inline_image(parsed, "logo@x")
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert inline_image(parsed, "<LOGO@x>") == url
    assert inline_image(parsed, "notes@x") is None  # not an image
    assert inline_image(parsed, "missing@x") is None


def test_a_huge_html_body_is_clipped_before_sanitising_and_says_so() -> None:
    row = '<p style="color:#123456">line <b>bold</b> <img src="http://t.example/p.gif"></p>\n'
    html = row * (MAX_BODY_CHARS // len(row) + 500)
    data = (b"From: a@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode())
    rendered = render_mail(ParsedEmail(data, "0" * 64), remote_images=False)
    assert rendered.clipped
    assert len(rendered.document) < MAX_BODY_CHARS + 4096  # the sanitised copy is shorter
    assert rendered.document.count("<b>bold</b>") < len(html) // len(row)
    notice = rendered.document[rendered.document.rindex("<p "):]
    assert CLIPPED_NOTICE in notice
    assert "<a" not in notice  # the app links the original, above the frame
    # images past the cut are not counted as blocked: they are not shown at all
    assert rendered.blocked_remote_images == rendered.document.count("<b>bold</b>")


def test_a_body_under_the_limit_is_whole_and_has_no_notice() -> None:
    html = "<p>x</p>" * 1000
    data = (b"From: a@example.test\r\nSubject: small\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode())
    rendered = render_mail(ParsedEmail(data, "0" * 64), remote_images=False)
    assert not rendered.clipped
    assert rendered.document.count("<p>x</p>") == 1000
    assert CLIPPED_NOTICE not in rendered.document


def test_a_huge_text_body_is_clipped_too() -> None:
    data = (b"From: a@example.test\r\nSubject: big\r\n\r\n"
            + b"0123456789abcdef <&>\r\n" * (MAX_BODY_CHARS // 20 + 10))
    rendered = render_mail(ParsedEmail(data, "0" * 64), remote_images=False)
    assert rendered.clipped
    assert CLIPPED_NOTICE in rendered.document
