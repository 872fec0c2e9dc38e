"""A bound on how deeply a message's HTML nests, applied before the HTML5 parser sees it.

Parsing is quadratic in nesting depth: most start tags make the WHATWG algorithm walk the
stack of open elements ("has a p element in button scope"), so 100,000 nested ``<div>``
(500 kB) cost html5ever minutes of CPU. Browsers cap the depth of their tree (Chromium at 512);
this does the like on the tags, in one linear pass, before parsing.

It keeps a stack of the open elements' names, meant to hold more than the parser's stack,
not less. An end tag closes the element on top, or a block right below a run of elements the
parser closes implicitly there (``p``; ``li`` in lists), and ``</table>`` its table; a
start tag closes only what the parser surely closes too (a ``p`` before a block, a ``li``
before a ``li``, a cell before a cell or row); inside svg and math nothing closes implicitly
and void names count. Tags in comments and raw text count as tags. Start tags met while the
stack is at the limit are removed (their end tags are left to the parser, which ignores them).

It is a bound checked, not proven: where the parser closes more than this count (a ``</li>``
that also closes a ``div`` above the ``li``), the stale entry left here must not later let an
end tag close an element the parser keeps, which is why only ``p`` (and ``li``, ``dd``, ``dt``
in lists) is popped from under a block's end tag. tests/regressions/test_webmail_deep_nesting.py
checks the known shapes and random tag soups on html5lib's parse. The webmail should still clip
very large HTML bodies. This is no security boundary: the sanitiser parses whatever comes out.
Mail that stays below the limit passes unchanged.
"""

from __future__ import annotations

import re

# A tag as the tokenizer opens it ("<" then a letter), up to the ">" that closes it (quoted
# attribute values may hold ">").
_TAG = re.compile(r"""<(/?)([A-Za-z][^\s/>]*)(?:[^>"']|"[^"]*"|'[^']*')*>?""")
_VOID = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
})
# A start tag of the key closes, in order, each of these that is on top at its turn.
_CELL = frozenset({"td", "th"})
_SECTION = frozenset({"tbody", "thead", "tfoot"})
_CLOSES_ON_TOP: dict[str, tuple[frozenset[str], ...]] = {
    "li": (frozenset({"li"}),),
    "dd": (frozenset({"dd", "dt"}),), "dt": (frozenset({"dd", "dt"}),),
    "td": (_CELL,), "th": (_CELL,),
    "tr": (_CELL, frozenset({"tr"})),
    "tbody": (_CELL, frozenset({"tr"}), _SECTION),
    "thead": (_CELL, frozenset({"tr"}), _SECTION),
    "tfoot": (_CELL, frozenset({"tr"}), _SECTION),
    "a": (frozenset({"a"}),), "nobr": (frozenset({"nobr"}),),
    "button": (frozenset({"button"}),),
}
# Not here: option and h1-h6 close only the parser's current node, which may be a formatting
# element it reconstructed (<i> after "</p>") that this count never sees.
# Start tags that close a p element in button scope (and so a p on top).
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
    "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu",
    "nav", "ol", "p", "search", "section", "summary", "ul", "pre", "listing", "form", "table",
    "xmp", "plaintext", "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6",
})
# The elements an end tag closes on its way when it sits right below a run of them ("generate
# implied end tags"). Only p in general: a stale entry here could make that pop an element the
# parser keeps, and a p is closed again by most start tags, so that cannot pile up.
_P = frozenset({"p"})
_IMPLIED_UNDER: dict[str, frozenset[str]] = {
    **dict.fromkeys([
        "address", "article", "aside", "blockquote", "button", "center", "details", "dialog",
        "dir", "div", "fieldset", "figcaption", "figure", "footer", "header", "hgroup",
        "listing", "main", "menu", "nav", "pre", "search", "section", "summary", "applet",
        "marquee", "object", "table", "template", "td", "th", "tr", "tbody", "thead", "tfoot",
        "caption", "h1", "h2", "h3", "h4", "h5", "h6"], _P),
    "ul": frozenset({"li", "p"}), "ol": frozenset({"li", "p"}),
    "dl": frozenset({"dd", "dt", "p"}),
}
_FOREIGN = frozenset({"svg", "math"})


def cap_nesting(html: str, limit: int) -> str:
    """``html`` less the start tags that would open more than ``limit`` elements."""
    stack: list[str] = []
    foreign = 0  # svg and math elements on the stack
    removed: list[tuple[int, int]] = []
    for tag in _TAG.finditer(html):
        name = tag.group(2).lower()
        if tag.group(1):
            implied = _IMPLIED_UNDER.get(name)
            if implied:  # only when the element is right below them
                below = len(stack)
                while below and stack[below - 1] in implied:
                    below -= 1
                if below and stack[below - 1] == name:
                    del stack[below:]
            if stack and stack[-1] == name:
                foreign -= name in _FOREIGN
                stack.pop()
            elif name == "table":
                _close_table(stack)
            continue
        # Inside svg and math, "col" or "<x/>" may open an element: counted (more, not less).
        if name in _VOID and not foreign:
            continue
        if len(stack) >= limit:  # removed, so it closes nothing either
            removed.append(tag.span())
            continue
        if not foreign:  # in svg and math a "td" or "li" is only a name: it closes nothing
            if stack and name in _CLOSES_P and stack[-1] == "p":
                stack.pop()
            for closed in _CLOSES_ON_TOP.get(name, ()):
                if stack and stack[-1] in closed:
                    stack.pop()
        stack.append(name)
        foreign += name in _FOREIGN
    if not removed:
        return html
    pieces = []
    done = 0
    for start, end in removed:
        pieces.append(html[done:start])
        done = end
    pieces.append(html[done:])
    return "".join(pieces)


def _close_table(stack: list[str]) -> None:
    """</table> pops everything up to a table in table scope; here only through names that
    cannot hide a boundary the parser honours (svg and math stop it, so does template)."""
    for depth in range(1, len(stack) + 1):
        name = stack[-depth]
        if name == "table":
            del stack[-depth:]
            return
        if name in {"template", "html", "svg", "math", "select"}:
            return
