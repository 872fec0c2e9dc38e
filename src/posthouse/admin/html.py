"""The web admin's templating: text is escaped unless it is already ``Html``.

``render(template, **values)`` fills a ``str.format`` template written in this package with
values escaped for HTML text and attribute values (``& < > " '``); a value that is ``Html``
(the result of another ``render`` or ``join``) goes in as it is. So a value from outside
(a domain, an address, a queue entry, a log line) can only ever be text on the page. Why
not Jinja2: the pages are a dozen small fragments; forty lines with escaping by type
need no new runtime dependency, and templates stay plain Python that mypy checks.
"""

from __future__ import annotations

import html
from collections.abc import Iterable


class Html(str):
    """Markup that is safe to put on a page as it is."""

    __slots__ = ()


def escape(value: object) -> Html:
    """``value`` as HTML text (quotes too: safe inside a quoted attribute value)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def render(template: str, /, **values: object) -> Html:
    """The template (a constant of this package) with every value escaped."""
    return Html(template.format_map({name: escape(v) for name, v in values.items()}))


def join(parts: Iterable[object], separator: str = "") -> Html:
    """Fragments one after another, each escaped unless it is Html already."""
    return Html(separator.join(escape(p) for p in parts))
