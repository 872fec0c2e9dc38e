"""Header text for an SPF verdict: Received-SPF (RFC 7208 9.1) and the Authentication-Results
resinfo for spf (RFC 8601 2.7.2, RFC 7208 9.2).

Owns the rendering only; it never evaluates. Values from the client (HELO, MAIL FROM) are
cleaned of control characters and quoted where they are not a dot-atom, so they cannot end
the field or add another.
"""

from __future__ import annotations

import re

from posthouse.mailauth.spf import SpfResult, SpfVerdict

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_TEXT = rf"{_ATEXT}(?:\.{_ATEXT})*"
_DOT_ATOM = re.compile(rf"{_DOT_ATOM_TEXT}\Z")
# RFC 8601 2.2: value = token / quoted-string; a token has no tspecials (RFC 2045 5.1).
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")
_ADDRESS = re.compile(rf"(?:{_DOT_ATOM_TEXT})?@[A-Za-z0-9._-]+\Z")


def received_spf_field(verdict: SpfVerdict, receiver: str) -> bytes:
    """The Received-SPF header field, folded, ending in CRLF."""
    comment = _comment(verdict, _clean(receiver))
    pairs = [("receiver", receiver), ("client-ip", verdict.ip)]
    if verdict.identity == "mailfrom":
        pairs.append(("envelope-from", verdict.sender))
    if verdict.helo:
        pairs.append(("helo", verdict.helo))
    if verdict.mechanism:
        pairs.append(("mechanism", verdict.mechanism))
    if verdict.problem:
        pairs.append(("problem", verdict.problem))
    pairs.append(("identity", verdict.identity))
    lines = [f"Received-SPF: {verdict.result.value} ({_comment_text(comment)})"]
    lines += [f"\t{key}={_atom_or_quoted(value)};" for key, value in pairs]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def spf_resinfo(verdict: SpfVerdict) -> str:
    """The "spf=<result> smtp.mailfrom=..." (or smtp.helo=...) piece of Authentication-Results."""
    if verdict.identity == "helo":
        prop = f"smtp.helo={pvalue(verdict.helo)}"
    else:
        prop = f"smtp.mailfrom={pvalue(verdict.sender)}"
    reason = verdict.problem or verdict.explanation
    note = f" ({_comment_text(_clean(reason))})" if reason else ""
    return f"spf={verdict.result.value}{note} {prop}"


def _comment(v: SpfVerdict, receiver: str) -> str:
    who = f"domain of {_clean(v.sender)}" if v.identity == "mailfrom" \
        else f"HELO name {_clean(v.helo)}"
    texts = {
        SpfResult.PASS: f"{who} designates {v.ip} as permitted sender",
        SpfResult.FAIL: f"{who} does not designate {v.ip} as permitted sender",
        SpfResult.SOFTFAIL: f"{who} discourages use of {v.ip} as sender",
        SpfResult.NEUTRAL: f"{v.ip} is neither permitted nor denied by {who}",
        SpfResult.NONE: f"{who} publishes no SPF policy",
        SpfResult.TEMPERROR: f"temporary error evaluating {who}",
        SpfResult.PERMERROR: f"permanent error in the SPF policy of {who}",
    }
    return f"{receiver}: {texts[v.result]}"


def _clean(text: str) -> str:
    """Printable ASCII and non-ASCII text only: no CR, LF or other control characters."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _comment_text(text: str) -> str:
    # RFC 5322 3.2.2: parentheses and backslash in a comment are quoted-pairs.
    return re.sub(r"([()\\])", r"\\\1", text)


def _quoted(text: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", _clean(text)) + '"'


def _atom_or_quoted(text: str) -> str:
    return text if _DOT_ATOM.match(text) else _quoted(text)


def pvalue(text: str) -> str:
    """A property value for Authentication-Results, quoted unless it is a token, an
    address or a domain (RFC 8601 2.2); shared by the spf and iprev resinfos."""
    if _TOKEN.match(text) or _ADDRESS.match(text):
        return text
    return _quoted(text)
