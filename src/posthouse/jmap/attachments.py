"""``hasAttachment`` (RFC 8621 4.1.1) from the body structure the store cached at delivery,
so the Email/query filter and the Email/get property agree and neither reads message bytes.
Pure; never parses MIME itself.

RFC 8621 4.1.4's parseStructure (email_props.collect_parts, the one copy) runs over parts
built from the cached structure (message/structure.py's JSON: type, disposition, filename
and name parameters are all it needs). A server SHOULD say true when the ``attachments``
list holds a part whose Content-Disposition is not "inline" (4.1.1); that is the rule here.
"""

from __future__ import annotations

import json
from typing import Any

from posthouse.jmap.email_props import collect_parts
from posthouse.message.params import Params, param_text


def _params(raw: Any) -> Params:
    if not isinstance(raw, list):
        return ()
    return tuple((str(p[0]), str(p[1])) for p in raw
                 if isinstance(p, list) and len(p) == 2)


def _part(node: dict[str, Any]) -> dict[str, Any]:
    """The fields of an EmailBodyPart that parseStructure looks at."""
    mime_type = f"{node.get('type', 'text')}/{node.get('subtype', 'plain')}".lower()
    dsp = node.get("dsp")
    disposition = str(dsp[0]).lower() if isinstance(dsp, list) and dsp else None
    name = None
    if isinstance(dsp, list) and len(dsp) == 2:
        name = param_text(_params(dsp[1]), "filename")
    name = name or param_text(_params(node.get("params")), "name")
    out: dict[str, Any] = {"type": mime_type, "disposition": disposition, "name": name}
    parts = node.get("parts")
    if isinstance(parts, list):
        out["subParts"] = [_part(p) for p in parts if isinstance(p, dict)]
    return out


def attachment_parts(bodystructure: str) -> list[dict[str, Any]]:
    """The ``attachments`` list of 4.1.4 (type, disposition and name of each part)."""
    try:
        root = json.loads(bodystructure)
    except ValueError:
        return []
    if not isinstance(root, dict):
        return []
    text: list[dict[str, Any]] = []
    html: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    collect_parts([_part(root)], "mixed", False, html, text, attachments)
    return attachments


def has_attachment(attachments: list[dict[str, Any]]) -> bool:
    """4.1.1: a part in ``attachments`` without Content-Disposition: inline."""
    return any(p.get("disposition") != "inline" for p in attachments)


def structure_has_attachment(bodystructure: str) -> bool:
    """``hasAttachment`` of a message from its cached body structure."""
    return has_attachment(attachment_parts(bodystructure))
