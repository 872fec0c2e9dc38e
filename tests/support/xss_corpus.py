"""The XSS corpus (tests/data/xss/vectors.txt) and an independent check that a sanitised
fragment is inert, made on html5lib's parse (not the sanitiser's own parser)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path
from xml.etree.ElementTree import Element

import html5lib
from html5lib.serializer import HTMLSerializer

VECTORS = Path(__file__).resolve().parents[1] / "data" / "xss" / "vectors.txt"
LISTENER = "LISTENER"  # the placeholder for the recording listener's http://host:port

# Elements that run code, load documents or change how the page's URLs resolve.
FORBIDDEN_ELEMENTS = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "select", "textarea", "svg", "math", "base", "meta", "link", "style",
    "template", "noscript", "portal", "isindex", "keygen", "param", "source", "video",
    "audio", "area", "map", "picture", "dialog", "marquee", "plaintext", "xmp",
})
# Attributes a browser reads as a URL (HTML, SVG, MathML and legacy ones).
URL_ATTRIBUTES = frozenset({
    "href", "src", "background", "action", "formaction", "data", "poster", "cite",
    "codebase", "dynsrc", "lowsrc", "longdesc", "usemap", "ping", "srcset", "xlink:href",
    "manifest", "icon", "profile", "classid", "archive",
})
SAFE_URL = re.compile(r"(https?://[^/?#\\\s]|mailto:)", re.IGNORECASE)
DATA_IMAGE = re.compile(r"data:image/(png|gif|jpeg|webp)[;,]", re.IGNORECASE)
BAD_CSS = ("url(", "expression", "@import", "behavior", "-moz-binding", "\\", "javascript:",
           "image-set", "var(")


@dataclasses.dataclass(frozen=True)
class XssCase:
    name: str
    html: str  # with LISTENER placeholders

    def with_listener(self, origin: str) -> str:
        return self.html.replace(LISTENER, origin)


def load_cases() -> list[XssCase]:
    cases = []
    name = ""
    lines: list[str] = []
    for line in VECTORS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#### "):
            if name:
                cases.append(XssCase(name, "\n".join(lines)))
            name, lines = line[5:].strip(), []
        elif name:
            lines.append(line)
        # lines before the first case are the file's comment
    if name:
        cases.append(XssCase(name, "\n".join(lines)))
    return cases


def _elements(root: Element) -> Iterable[Element]:
    yield from root.iter()


def inert_problems(fragment: str, *, part_urls: frozenset[str] = frozenset()) -> list[str]:
    """What in a sanitised fragment could run code or fetch something not allowed; empty if
    nothing. ``part_urls`` are the same-origin URLs cid_url handed out (the only relative
    URLs allowed)."""
    tree = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=False)
    problems = []
    for element in _elements(tree):
        if not isinstance(element.tag, str):
            continue  # comments
        if element.tag.startswith("{"):
            problems.append(f"foreign element {element.tag}")
            continue
        if element.tag in FORBIDDEN_ELEMENTS:
            problems.append(f"element <{element.tag}>")
        for name, value in element.attrib.items():
            name = name.lower()
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{element.tag}>")
            if name in URL_ATTRIBUTES and not (
                    SAFE_URL.match(value)
                    or (element.tag == "img" and name == "src" and DATA_IMAGE.match(value))
                    or value in part_urls):
                problems.append(f"URL {name}={value!r} on <{element.tag}>")
            if name == "style":
                lowered = re.sub(r"\s+", "", value.lower())
                problems += [f"style with {bad!r}: {value!r}"
                             for bad in BAD_CSS if bad in lowered]
                if re.search(r"(^|;)(position|z-index):", lowered):
                    problems.append(f"style that positions: {value!r}")
            if name in {"srcdoc", "formaction", "srcset", "http-equiv", "xmlns"}:
                problems.append(f"attribute {name} on <{element.tag}>")
    return problems


_SERIALIZER = HTMLSerializer(
    quote_attr_values="always", omit_optional_tags=False, minimize_boolean_attributes=False,
    use_trailing_solidus=False, escape_lt_in_attrs=True, resolve_entities=False)


def parses_alike(fragment: str) -> bool:
    """Whether html5lib (another parser than the sanitiser's) reads the fragment as the tree
    it was written from: its serialisation of what it parsed is the fragment again. The two
    serialisers differ only in escaping ">" and U+00A0, which neither parser needs."""
    tree = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=False)
    again = _SERIALIZER.render(html5lib.getTreeWalker("etree")(tree))
    def plain(html: str) -> str:
        return html.replace("&gt;", ">").replace("&nbsp;", "\xa0")
    return plain(again) == plain(fragment)
