"""The body structure of a parsed message as JSON, the form the store caches.

Schema (one JSON object per MIME part; keys whose value would be null/empty are omitted):

    type, subtype   str   as written in the message ("text", "plain" when defaulted)
    params          [[name, value], ...]   Content-Type parameters, names lower-cased,
                    RFC 2231 continuations merged (see posthouse.message.params)
    dsp             [type, [[name, value], ...]]   Content-Disposition
    lang            [tag, ...]   Content-Language
    loc             str   Content-Location
    -- multipart only --
    parts           [part, ...]   the body parts, in order (may be empty)
    -- every other part --
    id, desc, md5   str   Content-ID, Content-Description (raw), Content-MD5
    enc             str   Content-Transfer-Encoding as written, "7bit" when absent
    size            int   body octets, still transfer-encoded
    lines           int   body lines; text/* and message/rfc822|global only
    env             envelope (posthouse.message.envelope); message/rfc822|global only
    body            part  the encapsulated message's structure; message/rfc822|global only

Strings are header text unfolded but not RFC 2047-decoded, as IMAP serves them.
"""

from __future__ import annotations

import json

from posthouse.message.envelope import build_envelope
from posthouse.message.headers import clean_string, split_header
from posthouse.message.mime import Part
from posthouse.message.params import Params

JsonObject = dict[str, object]
DEFAULT_ENCODING = "7bit"


def _params(params: Params) -> list[list[str]]:
    return [[clean_string(name), clean_string(value)] for name, value in params]


def _extension(part: Part) -> JsonObject:
    """The keys shared by single parts and multiparts (BODYSTRUCTURE extension data)."""
    obj: JsonObject = {}
    if part.disposition is not None:
        obj["dsp"] = [clean_string(part.disposition[0]), _params(part.disposition[1])]
    if part.language:
        obj["lang"] = [clean_string(tag) for tag in part.language]
    if part.location is not None:
        obj["loc"] = clean_string(part.location)
    return obj


def _optional(obj: JsonObject, key: str, value: str | None) -> None:
    if value is not None:
        obj[key] = clean_string(value)


def part_structure(data: bytes, part: Part) -> JsonObject:
    """The JSON object (as Python values) of one part and its descendants."""
    obj: JsonObject = {"type": clean_string(part.maintype), "subtype": clean_string(part.subtype)}
    if part.params:
        obj["params"] = _params(part.params)
    if part.multipart:
        obj["parts"] = [part_structure(data, child) for child in part.children]
        obj.update(_extension(part))
        return obj
    _optional(obj, "id", part.content_id)
    _optional(obj, "desc", part.description)
    obj["enc"] = clean_string(part.encoding or DEFAULT_ENCODING)
    obj["size"] = part.size
    if part.message is not None or part.is_type("text"):
        obj["lines"] = part.lines
    if part.message is not None:
        inner = part.message
        obj["env"] = build_envelope(split_header(data, inner.header_start, inner.end))
        obj["body"] = part_structure(data, inner)
    _optional(obj, "md5", part.md5)
    obj.update(_extension(part))
    return obj


def bodystructure_json(data: bytes, root: Part) -> str:
    """The body structure of a parsed message as compact JSON text."""
    return json.dumps(part_structure(data, root), ensure_ascii=False, separators=(",", ":"))
