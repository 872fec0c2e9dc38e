"""FETCH ENVELOPE, BODY and BODYSTRUCTURE values from the JSON cached at delivery.

The result is nested Python values for the response encoder: None is NIL, int a number,
str a string, list a parenthesised list (RFC 9051 7.5.2, RFC 3501 7.4.2). The JSON schemas
are documented in posthouse.message.envelope and posthouse.message.structure.

Decisions:
- type, subtype, parameter values and encodings are sent as written in the message
  (lower-case "text" "plain" ... "7bit" when defaulted); parameter names are lower-case.
  Clients compare these case-insensitively; both cases are legal.
- body-fld-param is NIL when there are no parameters; body-fld-lang is always a list.
- extension data is sent in full (md5, dsp, lang, loc) when ``extended``; never otherwise.
- a multipart with no body parts gets one empty text/plain part, because the grammar
  (``body-type-mpart = 1*body SP media-subtype``) requires at least one.
- message/global is shown like message/rfc822 (RFC 9051 media-message; RFC 6532 3.7).
"""

from __future__ import annotations

import json

Value = str | int | None | list["Value"]

_EMPTY_PART: dict[str, object] = {
    "type": "text",
    "subtype": "plain",
    "params": [["charset", "us-ascii"]],
    "enc": "7bit",
    "size": 0,
    "lines": 0,
}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _params(value: object) -> Value:
    """``[[name, value], ...]`` -> ``[name, value, ...]`` or NIL when empty."""
    flat: list[Value] = []
    if isinstance(value, list):
        for pair in value:
            if isinstance(pair, list) and len(pair) == 2:
                flat.extend([_string(pair[0]) or "", _string(pair[1]) or ""])
    return flat or None


def _address_list(value: object) -> Value:
    if not isinstance(value, list) or not value:
        return None
    out: list[Value] = []
    for address in value:
        if isinstance(address, list) and len(address) == 4:
            out.append([_string(member) for member in address])
    return out or None


def _envelope(members: object) -> list[Value]:
    if not isinstance(members, list) or len(members) != 10:
        raise ValueError("an envelope has ten members")
    out: list[Value] = []
    for index, member in enumerate(members):
        out.append(_address_list(member) if 2 <= index <= 7 else _string(member))
    return out


def envelope_value(envelope_json: str) -> list[Value]:
    """The ENVELOPE list: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
    message-id. Raises ValueError if the JSON is not an envelope."""
    return _envelope(json.loads(envelope_json))


def _extension(obj: dict[str, object]) -> list[Value]:
    """body-fld-dsp, body-fld-lang, body-fld-loc."""
    dsp = obj.get("dsp")
    disposition: Value = None
    if isinstance(dsp, list) and len(dsp) == 2:
        disposition = [_string(dsp[0]) or "", _params(dsp[1])]
    lang = obj.get("lang")
    language: Value = None
    if isinstance(lang, list) and lang:
        language = [_string(tag) or "" for tag in lang]
    return [disposition, language, _string(obj.get("loc"))]


def _multipart(obj: dict[str, object], parts: list[object], extended: bool) -> list[Value]:
    children = [_body(child, extended) for child in parts] or [_body(_EMPTY_PART, extended)]
    out: list[Value] = [*children, _string(obj.get("subtype")) or ""]
    if extended:
        out += [_params(obj.get("params")), *_extension(obj)]
    return out


def _single(obj: dict[str, object], extended: bool) -> list[Value]:
    maintype = _string(obj.get("type")) or ""
    out: list[Value] = [
        maintype,
        _string(obj.get("subtype")) or "",
        _params(obj.get("params")),
        _string(obj.get("id")),
        _string(obj.get("desc")),
        _string(obj.get("enc")) or "7bit",
        _number(obj.get("size")),
    ]
    if "env" in obj and isinstance(obj.get("body"), dict):
        out += [_envelope(obj["env"]), _body(obj["body"], extended), _number(obj.get("lines"))]
    elif maintype.lower() == "text":
        out.append(_number(obj.get("lines")))
    if extended:
        out += [_string(obj.get("md5")), *_extension(obj)]
    return out


def _body(obj: object, extended: bool) -> list[Value]:
    if not isinstance(obj, dict):
        raise ValueError("a body structure is a JSON object")
    parts = obj.get("parts")
    if isinstance(parts, list):
        return _multipart(obj, parts, extended)
    return _single(obj, extended)


def bodystructure_value(bodystructure_json: str, *, extended: bool) -> list[Value]:
    """The BODYSTRUCTURE list (``extended=True``) or the BODY list (``extended=False``,
    no extension data at any depth). Raises ValueError if the JSON is not a structure."""
    return _body(json.loads(bodystructure_json), extended)
