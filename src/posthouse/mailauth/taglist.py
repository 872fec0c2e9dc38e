"""Tag=value lists, the record syntax of DKIM signatures and keys (RFC 6376 3.2) and of
DMARC records (RFC 7489 6.4).

``tag-list = tag-spec *( ";" tag-spec ) [ ";" ]``, ``tag-spec = [FWS] tag-name [FWS] "="
[FWS] tag-value [FWS]``. Tag names are case-sensitive; a tag given twice makes the whole
list invalid (RFC 6376 3.2); an empty trailing spec after the last ";" is allowed.
"""

from __future__ import annotations

import re

# RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC (ALNUMPUNC = ALPHA / DIGIT / "_").
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FWS = " \t\r\n"


class TagListError(ValueError):
    """The text is not a valid tag-list; the message says why."""


def parse_tag_list(text: str) -> dict[str, str]:
    """The tags of ``text`` in order, values with surrounding whitespace removed."""
    tags: dict[str, str] = {}
    specs = text.split(";")
    for i, spec in enumerate(specs):
        if not spec.strip(_FWS):
            if i == len(specs) - 1:
                break  # the optional ";" at the end
            raise TagListError("empty tag-spec")
        name, eq, value = spec.partition("=")
        name = name.strip(_FWS)
        if not eq or _TAG_NAME.fullmatch(name) is None:
            raise TagListError(f"malformed tag-spec {spec.strip(_FWS)[:40]!r}")
        if name in tags:
            raise TagListError(f"tag {name} given twice")
        tags[name] = value.strip(_FWS)
    return tags


def without_whitespace(value: str) -> str:
    """A base64 tag value with its folding whitespace removed (RFC 6376 3.5, b= and bh=)."""
    return "".join(value.split())


def blank_tag(raw: bytes, tag: bytes) -> bytes:
    """``raw`` (a tag-list as it appeared) with the value of ``tag`` removed, everything
    else byte for byte: how a verifier rebuilds the signed DKIM-Signature field (RFC 6376
    3.7, "with the value of the b= tag ... deleted")."""
    out: list[bytes] = []
    for spec in raw.split(b";"):
        name, eq, _ = spec.partition(b"=")
        if eq and name.strip(_FWS.encode()) == tag:
            out.append(name + eq)
        else:
            out.append(spec)
    return b";".join(out)
