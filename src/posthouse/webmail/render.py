"""The reader's HTML view of one message: a complete document for a sandboxed iframe.

The HTML body parts go through ``sanitize.sanitize_html``; text parts among them are
escaped into ``<pre>``. Images the message carries itself (``cid:`` references, RFC 2392)
become ``data:`` URLs, so the framed document needs no cookie and loads nothing from this
server; remote images only when asked. The document's own Content-Security-Policy says the
same (no script, inline styles only, images from ``data:`` and, when allowed, the
network) and sandboxes it even when opened outside the iframe. A body over
``MAX_BODY_CHARS`` is clipped before it is sanitised (as Gmail clips at 102 kB: the
HTML5 parse and the browser's layout of megabytes would stall both) and closed by a notice;
the link to the whole message is the app's, above the frame (a link in the frame opens as
another site, so without the session's SameSite=Strict cookie). Pure: bytes in, text out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape

from posthouse.jmap.email_props import ParsedEmail
from posthouse.webmail.sanitize import sanitize_html

MAX_INLINE_IMAGE_BYTES = 2 * 1024 * 1024
MAX_BODY_CHARS = 1024 * 1024  # of the body parts' text, together
CLIPPED_NOTICE = "This message was clipped; download the original"
_CLIPPED_NOTICE_HTML = ('<p style="margin:16px 0 0;padding:8px 12px;border:1px solid #d97706;'
                        f'background:#fffbeb;color:#78350f">[...] {CLIPPED_NOTICE} with the '
                        "link above the message.</p>")
_DOCUMENT = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
             '<meta name="referrer" content="no-referrer"><base target="_blank">'
             '<style>body{{font-family:system-ui,sans-serif;margin:0;padding:12px;'
             'overflow-wrap:anywhere}}pre{{white-space:pre-wrap}}img{{max-width:100%}}'
             '</style></head><body>{body}</body></html>')


@dataclass(frozen=True)
class RenderedMail:
    """The document, its policy, and how many remote images were left out."""

    document: str
    policy: str
    blocked_remote_images: int
    clipped: bool = False


def content_policy(remote_images: bool) -> str:
    """The framed document's CSP: nothing runs, nothing loads but inline images (and
    remote ones when asked); links may open outside the sandbox in a new tab."""
    images = "data: https: http:" if remote_images else "data:"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
            "sandbox allow-popups allow-popups-to-escape-sandbox")


def render_mail(parsed: ParsedEmail, *, remote_images: bool) -> RenderedMail:
    """The HTML body (or the text body when there is no HTML) as a framed document."""
    pieces: list[str] = []
    blocked = 0
    room = MAX_BODY_CHARS
    clipped = False
    for part in parsed.html_body or parsed.text_body:
        value = parsed.body_value(part["partId"], 0)
        if value is None:
            continue
        text = value["value"]
        if len(text) > room:
            # The cut may fall inside a tag or a character reference: the sanitiser parses
            # what is left as a browser would and writes only whole elements out.
            text, clipped = text[:room], True
        room -= len(text)
        if part["type"] == "text/html":
            clean = sanitize_html(text, allow_remote_images=remote_images,
                                  cid_url=lambda cid: inline_image(parsed, cid))
            pieces.append(clean.html)
            blocked += clean.blocked_remote_images
        else:
            pieces.append(f"<pre>{escape(text)}</pre>")
        if clipped:
            break
    if clipped:
        pieces.append(_CLIPPED_NOTICE_HTML)
    document = _DOCUMENT.format(body="".join(pieces))
    return RenderedMail(document, content_policy(remote_images), blocked, clipped)


def inline_image(parsed: ParsedEmail, content_id: str) -> str | None:
    """The ``data:`` URL of the message's image part with that Content-ID, or None."""
    wanted = content_id.strip("<> ").lower()
    for part_id, part in parsed.parts.items():
        if part.content_id is None or part.content_id.strip("<> ").lower() != wanted:
            continue
        mime_type = parsed.part_type(part_id)
        data = parsed.part_bytes(part_id)
        if (not mime_type.startswith("image/") or data is None
                or len(data) > MAX_INLINE_IMAGE_BYTES):
            return None
        return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"
    return None
