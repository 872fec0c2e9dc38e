"""Deeply nested HTML that would pin a CPU in the webmail's sanitiser.

Before webmail/nesting.py: html5ever (under nh3) parses in time quadratic in nesting depth,
so 100,000 nested ``<div>`` (500 kB of mail) took 106 s, and 100,000 ``<ul><li>`` 198 s.
Now start tags past a depth bound are dropped in one linear pass before parsing. Each case
below is a way to make a naive count undercount (an end tag the parser ignores, an element it
would not close), checked on html5lib's parse of the capped markup, and so is any repetition
of a random tag soup. No wall clock here: pytest's timeout stops a quadratic parse.
"""

from __future__ import annotations

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.webmail.nesting import cap_nesting
from posthouse.webmail.sanitize import sanitize_html

LIMIT = 16


def depth(html: str) -> int:
    tree = html5lib.parseFragment(html, treebuilder="etree", namespaceHTMLElements=False)
    deepest = 0
    todo = [(tree, 0)]
    while todo:
        element, level = todo.pop()
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in element)
    return deepest


@pytest.mark.parametrize("unit", [
    "<div>", "<ul><li>", "<table>", "<blockquote>x",
    "<span><div></span>",       # "any other end tag" stops at a special element
    "<td><span></td>",          # </td> outside a table is ignored
    "<form><div></form>",       # </form> removes the form only
    "<b><div></b>",             # the adoption agency keeps the div open
    "<div><optgroup><optgroup>",  # in body an optgroup does not close an optgroup
    "<svg><col>",               # in svg, col is an element like any other
    "<svg><td><td>",            # and td closes no td
    "<svg></svg><x/>",          # in HTML "<x/>" opens x
    "<p><button><p>", "<li><section><li>", "<dd><span><dd>",
    "<span><li></span>",        # </span> stops at the li: no implied end tags for it
    "<svg><g></svg><x/>",       # the svg is gone, so "<x/>" opens an HTML x
    "<div>t</li><optgroup></div>t<li>",  # </li> closed the div too: </div> must not
                                         # close the optgroup (in body, optgroups nest)
])
def test_a_deep_unit_stays_within_the_bound(unit: str) -> None:
    html = unit * 400
    capped = cap_nesting(html, LIMIT)
    assert depth(capped) <= 4 * LIMIT


def test_mail_within_the_bound_is_untouched() -> None:
    html = ("<html><body><table><tr><td><table><tr><td><div><p>Hi <b>there</b><p>unclosed"
            "<ul><li>one<li>two</ul><dl><dt>a<dd>b</dl><svg><path d='M0'></path></svg><br>"
            "<img src=x><table><tr><td>1<td>2<tr><td>3</table>"
            "</div></td></tr></table></td></tr></table></body></html>") * 200
    assert cap_nesting(html, LIMIT) == html


NAMES = ["div", "span", "p", "li", "ul", "td", "tr", "table", "b", "a", "form", "button",
         "select", "option", "optgroup", "template", "svg", "math", "g", "foreignObject",
         "mtext", "title", "textarea", "h1", "dd", "nobr", "rt", "caption", "col", "object",
         "font", "body", "noscript", "pre", "br", "desc", "plaintext", "image"]
TAGS = st.tuples(st.sampled_from(["", "/"]), st.sampled_from(NAMES),
                 st.sampled_from(["", "/", " x=1"]))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(TAGS, min_size=1, max_size=12), st.integers(1, 30))
def test_any_repeated_tag_soup_stays_within_the_bound(unit: list[tuple[str, str, str]],
                                                      times: int) -> None:
    html = "".join(f"<{end}{name}{rest}>t" for end, name, rest in unit) * times
    assert depth(cap_nesting(html, 6)) <= 4 * 6


def test_the_sanitiser_caps_before_it_parses() -> None:
    html = "<div>" * 200_000 + "deep" + "</div>" * 200_000
    out = sanitize_html(html, allow_remote_images=False, cid_url=lambda cid: None).html
    assert out.endswith("deep" + "</div>" * out.count("<div>"))
    assert out.count("<div>") <= 256
