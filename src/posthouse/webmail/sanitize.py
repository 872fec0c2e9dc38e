"""A message's HTML made inert for the webmail: the allowlist sanitiser, plain text as HTML, and
the document (with the Content-Security-Policy to send beside it) that the webmail shows in an
``<iframe sandbox>`` without allow-scripts or allow-same-origin.

Owns what of a message's markup may reach a browser. Never fetches anything, never touches the
store: a ``cid:`` part is resolved by the caller's ``cid_url``.

The library is nh3, the Python binding of the Rust crate ammonia. It parses with html5ever, an
implementation of the WHATWG parsing algorithm that browsers run, so the tree it cleans is the
tree a browser would build (foster parenting, raw-text elements, unclosed tags, comments), and
it writes that tree out anew, so no markup from the input survives except through the allowlist.
It is an allowlist (tags, per-tag attributes, URL schemes), and one ``attribute_filter`` hook
lets this module decide every URL and every inline style in one function. Its own
``filter_style_properties`` keeps CSS properties by name only, not by value, so inline styles
go through tinycss2 (a CSS Syntax Level 3 tokenizer) and a value allowlist here instead.

``<style>`` elements are dropped with their content rather than filtered: a style sheet has
selectors that reach outside the message (``body``, ``*``), at-rules (``@import``,
``@font-face``) and ``url()`` in many places, and a filter for all that is a second sanitiser.
Mail that is laid out for webmail carries its layout inline; what it loses is mostly media
queries. Every remote fetch (image, background) is refused unless the reader allowed remote
images, and counted so the webmail can offer to show them; CSS ``url()`` is never kept.
Nesting is capped before parsing (webmail/nesting.py): the HTML5 parse is quadratic in depth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from urllib.parse import unquote

import nh3
import tinycss2
from tinycss2 import ast as css

from posthouse.webmail.nesting import cap_nesting


@dataclass(frozen=True)
class SanitizedHtml:
    html: str  # a safe HTML fragment (body content only)
    blocked_remote_images: int  # remote images/backgrounds removed because not allowed


# Open elements before start tags are dropped (webmail/nesting.py): the parse is quadratic in
# depth. Chromium's own tree stops at 512; real mail stays far below either.
_MAX_DEPTH = 256

# Layout elements of mail; anything else is unwrapped (its text kept) or, below, dropped whole.
_TAGS = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
    "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li",
    "main", "mark", "nav", "ol", "p", "pre", "q", "s", "samp", "section", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "tt", "u", "ul", "var", "wbr",
})
# Dropped with everything inside: code, style sheets, embedded documents and the foreign
# (svg, math) namespaces, and elements whose text is not message text.
_DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "title", "template", "noscript", "noembed", "noframes", "iframe",
    "frame", "frameset", "object", "embed", "applet", "svg", "math", "select", "textarea",
    "head",
})
_GENERIC_ATTRIBUTES = frozenset({
    "style", "title", "dir", "lang", "align", "valign", "width", "height", "bgcolor",
})
_TAG_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "border", "hspace", "vspace"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "background", "summary",
                        "frame", "rules"}),
    "td": frozenset({"colspan", "rowspan", "background", "nowrap", "scope", "abbr"}),
    "th": frozenset({"colspan", "rowspan", "background", "nowrap", "scope", "abbr"}),
    "tr": frozenset({"background"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "font": frozenset({"color", "face", "size"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value", "type"}),
    "hr": frozenset({"size", "noshade", "color"}),
    "details": frozenset({"open"}),
}
# ammonia's first check of href and src, before _Policy decides each URL by attribute
# (cid: must pass it to reach _Policy, which never returns one).
_URL_SCHEMES = frozenset({"http", "https", "mailto", "data", "cid"})

_CSS_PROPERTIES = frozenset({
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-variant", "font-weight", "line-height", "letter-spacing", "word-spacing",
    "text-align", "text-decoration", "text-indent", "text-transform", "white-space",
    "vertical-align", "direction", "width", "height", "min-width", "max-width",
    "min-height", "max-height", "margin", "margin-top", "margin-right", "margin-bottom",
    "margin-left", "padding", "padding-top", "padding-right", "padding-bottom",
    "padding-left", "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "border-top-color", "border-right-color", "border-bottom-color",
    "border-left-color", "border-top-style", "border-right-style", "border-bottom-style",
    "border-left-style", "border-top-width", "border-right-width", "border-bottom-width",
    "border-left-width", "display", "float", "clear", "table-layout", "caption-side",
    "empty-cells", "list-style-type", "list-style-position", "word-break", "word-wrap",
    "overflow-wrap", "text-overflow", "overflow", "background",
})
_CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_CSS_PLAIN_TOKENS = (css.IdentToken, css.NumberToken, css.PercentageToken, css.DimensionToken,
                     css.HashToken, css.StringToken, css.WhitespaceToken)

# Browsers strip leading and trailing C0 controls and spaces from a URL and drop tab and
# newline anywhere in it (WHATWG URL, basic URL parser), so a scheme is judged after that.
_URL_STRIP = "".join(chr(c) for c in range(0x21))
_URL_DROP = re.compile(r"[\t\n\r]")
_REMOTE = re.compile(r"https?://[^/?#\\\s]", re.IGNORECASE)
# What cid_url may answer: a path on the webmail's own origin or an image as a data: URL.
_PART_URL = re.compile(r"/(?!/)[^\s\\]*|data:image/[a-z0-9.+-]+;base64,[a-z0-9+/=]*",
                       re.IGNORECASE)
_DATA_IMAGE = re.compile(
    r"data:image/(?:png|gif|jpeg|webp)(?:;[a-z0-9=.+-]+)*,[a-z0-9+/=%._~-]*", re.IGNORECASE)


def _normalised_url(value: str) -> str:
    url = _URL_DROP.sub("", value.strip(_URL_STRIP))
    if url.startswith("//"):  # scheme-relative: remote all the same
        return "https:" + url
    return url


def _is_remote(url: str) -> bool:
    return _REMOTE.match(url) is not None


class _Policy:
    """One sanitize_html call's decisions on URLs and styles, and what it blocked."""

    def __init__(self, allow_remote_images: bool, cid_url: Callable[[str], str | None]) -> None:
        self.allow_remote_images = allow_remote_images
        self.cid_url = cid_url
        self.blocked_remote_images = 0
        self.part_urls: set[str] = set()  # what cid_url answered: the only relative URLs kept

    def filter_attribute(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return self._style(value)
        if attribute == "href":
            return self._link(value)
        if attribute == "src" and tag == "img":
            return self._image(value, data_allowed=True)
        if attribute == "background":
            return self._image(value, data_allowed=False)
        return value

    def keep_relative(self, url: str) -> str | None:
        return url if url in self.part_urls else None

    def _link(self, value: str) -> str | None:
        url = _normalised_url(value)
        if _is_remote(url) or url[:7].lower() == "mailto:":
            return url
        return None

    def _image(self, value: str, *, data_allowed: bool) -> str | None:
        url = _normalised_url(value)
        if url[:4].lower() == "cid:":
            # RFC 2392: a cid URL is the Content-ID without its angle brackets, %-encoded.
            part = self.cid_url(unquote(url[4:]))
            if part is None or not _PART_URL.fullmatch(part):
                return None
            self.part_urls.add(part)
            return part
        if _is_remote(url):
            if self.allow_remote_images:
                return url
            self.blocked_remote_images += 1
            return None
        if data_allowed and _DATA_IMAGE.fullmatch(url):
            return url
        return None

    def _style(self, value: str) -> str | None:
        if "\\" in value:  # escapes are how url( and expression( are spelt past filters
            return None
        kept = []
        for item in tinycss2.parse_blocks_contents(value, skip_comments=True,
                                                   skip_whitespace=True):
            if not isinstance(item, css.Declaration):
                continue  # at-rules, qualified rules, parse errors
            urls = list(_css_urls(item.value))
            if urls:
                if not self.allow_remote_images:
                    self.blocked_remote_images += sum(
                        1 for url in urls if _is_remote(_normalised_url(url)))
                continue
            if item.lower_name not in _CSS_PROPERTIES or not _safe_css(item.value):
                continue
            text = "".join(" " if isinstance(token, css.WhitespaceToken)
                           else tinycss2.serialize([token]) for token in item.value).strip()
            if text:
                kept.append(f"{item.lower_name}:{text}" + ("!important" if item.important else ""))
        return ";".join(kept) or None


def _css_urls(tokens: Iterable[css.Node]) -> Iterable[str]:
    """The URLs of url() in a declaration's value, quoted or not, at any depth (a loop, not
    recursion: a value may nest blocks thousands deep)."""
    todo = [iter(tokens)]
    while todo:
        token = next(todo[-1], None)
        if token is None:
            todo.pop()
        elif isinstance(token, css.URLToken):
            yield token.value
        elif isinstance(token, css.FunctionBlock):
            if token.lower_name == "url":
                yield "".join(t.value for t in token.arguments if isinstance(t, css.StringToken))
            todo.append(iter(token.arguments))
        elif isinstance(token, css.ParenthesesBlock | css.SquareBracketsBlock
                        | css.CurlyBracketsBlock):
            todo.append(iter(token.content))


def _safe_css(tokens: Iterable[css.Node], *, in_function: bool = False) -> bool:
    """Only words, numbers, colours, strings and rgb()/hsl() colours: no url(), no
    expression(), no var(), no blocks."""
    for token in tokens:
        if isinstance(token, _CSS_PLAIN_TOKENS):
            if isinstance(token, css.StringToken) and "\n" in token.value:
                return False
            continue
        if isinstance(token, css.LiteralToken) and token.value in {",", "/"}:
            continue
        if (isinstance(token, css.FunctionBlock) and not in_function
                and token.lower_name in _CSS_FUNCTIONS
                and _safe_css(token.arguments, in_function=True)):
            continue
        return False
    return True


def sanitize_html(html: str, *, allow_remote_images: bool,
                  cid_url: Callable[[str], str | None]) -> SanitizedHtml:
    """The inert form of a message's HTML (a whole document or a fragment). Sanitising the
    output again gives it back unchanged, except for the part URLs ``cid_url`` made, which a
    second call without the same parts drops (they are relative URLs)."""
    policy = _Policy(allow_remote_images, cid_url)
    cleaned = _cleaner(policy.keep_relative, policy.filter_attribute).clean(
        cap_nesting(html, _MAX_DEPTH))
    # ammonia appends target and rel to <a> after the filter; when the filter has removed
    # an href the two come out swapped. A second pass without the filter (which now finds
    # nothing to remove) puts them in the order every later pass keeps: output is a fixpoint.
    return SanitizedHtml(_cleaner(policy.keep_relative, None).clean(cleaned),
                         policy.blocked_remote_images)


def _cleaner(keep_relative: Callable[[str], str | None],
             filter_attribute: Callable[[str, str, str], str | None] | None) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={"*": set(_GENERIC_ATTRIBUTES)} | {
            tag: set(names) for tag, names in _TAG_ATTRIBUTES.items()},
        attribute_filter=filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(_URL_SCHEMES),
        url_relative=keep_relative,
    )


# A URL in plain text ends before whitespace, angle brackets and quotes; trailing
# punctuation and an unbalanced closing bracket belong to the sentence, not to the URL.
_TEXT_URL = re.compile(r"https?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_"


def _url_end(url: str) -> str:
    while url and (url[-1] in _TRAILING or _unbalanced_close(url)):
        url = url[:-1]
    return url


def _unbalanced_close(url: str) -> bool:
    pairs = {")": "(", "]": "["}
    last = url[-1]
    return last in pairs and url.count(last) > url.count(pairs[last])


def text_to_html(text: str) -> str:
    """A text/plain body as an HTML fragment: all of it escaped, line breaks kept (by the
    document's ``plain-text`` class), http(s) URLs as links that open outside the webmail."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    pieces = []
    done = 0
    for match in _TEXT_URL.finditer(text):
        url = _url_end(match.group())
        if not _is_remote(url):
            continue
        pieces.append(escape(text[done:match.start()]))
        pieces.append(f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">'
                      f"{escape(url)}</a>")
        done = match.start() + len(url)
    pieces.append(escape(text[done:]))
    return f'<div class="plain-text">{"".join(pieces)}</div>'


# Readable defaults only; nothing here loads anything.
_DOCUMENT_CSS = (
    "html{color-scheme:light}"
    "body{margin:0;padding:12px 16px;font:14px/1.45 system-ui,sans-serif;color:#1f2328;"
    "background:#fff;overflow-wrap:break-word}"
    "img{max-width:100%;height:auto}"
    "a{color:#0b57d0}"
    "blockquote{margin:0 0 0 4px;padding-left:10px;border-left:3px solid #c4c7c5;"
    "color:#444746}"
    "pre{white-space:pre-wrap}"
    ".plain-text{white-space:pre-wrap;font:inherit}"
)


def content_security_policy(*, allow_remote_images: bool) -> str:
    """The CSP of a rendered message: no script, no fetch, no form, no base; images from the
    webmail's own origin and data: URLs, and from anywhere only when the reader allowed it."""
    images = "img-src 'self' data:" + (" https: http:" if allow_remote_images else "")
    return (f"default-src 'none'; style-src 'unsafe-inline'; {images}; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


def render_document(fragment: str, *, allow_remote_images: bool) -> tuple[bytes, str]:
    """The full HTML5 document for a sanitised (or text_to_html) fragment, and its CSP."""
    document = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<style>{_DOCUMENT_CSS}</style></head>\n<body>{fragment}</body></html>\n"
    )
    return (document.encode("utf-8", "replace"),
            content_security_policy(allow_remote_images=allow_remote_images))
