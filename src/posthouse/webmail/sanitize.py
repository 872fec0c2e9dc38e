"""HTML mail made safe to show (PLACEHOLDER, replaced on merge by the sanitiser being
written in parallel: this version shows the markup as escaped text and keeps nothing).

The contract the render page relies on: ``sanitize_html`` returns a fragment with no
script, no event handler, no active URL, no form and no remote load except images when
``allow_remote_images``; ``cid:`` image sources become ``cid_url(content_id)`` (dropped when
it answers None); ``blocked_remote_images`` counts the remote images left out. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class SanitizedHtml:
    """A safe HTML fragment and how many remote images it left out."""

    html: str
    blocked_remote_images: int


def sanitize_html(html: str, *, allow_remote_images: bool,
                  cid_url: Callable[[str], str | None]) -> SanitizedHtml:
    """Placeholder: everything escaped, in a <pre>."""
    del allow_remote_images, cid_url
    return SanitizedHtml(f"<pre>{escape(html)}</pre>", 0)
