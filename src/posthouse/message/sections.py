"""FETCH body sections over raw bytes and a parsed tree (RFC 9051 6.4.5, RFC 3516).

Part numbering (RFC 9051 6.4.5): the parts of a multipart are numbered from 1; a
non-multipart message has exactly one part, 1, which is its body; after a message/rfc822
(or message/global) part, the next number addresses the parts of the encapsulated message
in the same way. HEADER, HEADER.FIELDS[.NOT] and TEXT apply to the top-level message or to
a message/rfc822|global part; MIME needs a part number.

Decision: a section that does not exist (part number out of range, HEADER on a part that
is not a message, MIME without part number) yields the empty string, as common servers do;
FETCH then answers with an empty string rather than failing the whole command.

``parse`` (posthouse.message.mime) is one pass of ``bytes.find`` over boundaries plus the
part headers; the tree is immutable, so a session may cache it per message.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from posthouse.message.headers import fields_finder, header_spans, select_fields, split_header
from posthouse.message.mime import Part
from posthouse.message.transfer import decode_transfer


class Spec(enum.Enum):
    """The section-text of a section specifier; values are as spelt in IMAP."""

    BODY = ""  # BODY[] or BODY[1.2]: the whole message or the part's body
    HEADER = "HEADER"
    HEADER_FIELDS = "HEADER.FIELDS"
    HEADER_FIELDS_NOT = "HEADER.FIELDS.NOT"
    TEXT = "TEXT"
    MIME = "MIME"


@dataclass(frozen=True, slots=True)
class UnknownEncoding:
    """BINARY of a part whose transfer encoding is not known: the caller answers
    ``NO [UNKNOWN-CTE]`` (RFC 3516 4.3, RFC 9051 7.1)."""

    encoding: str


def _step(node: Part, number: int) -> Part | None:
    """The part ``number`` (1-based) inside ``node``, per RFC 9051 6.4.5 numbering."""
    if node.multipart:
        return node.children[number - 1] if 0 < number <= len(node.children) else None
    inner = node.message
    if inner is None:
        return None
    if inner.multipart:
        return inner.children[number - 1] if 0 < number <= len(inner.children) else None
    return inner if number == 1 else None


def find_part(root: Part, path: Sequence[int]) -> Part | None:
    """The part at ``path`` (e.g. (1, 2) for "1.2"); ``root`` for (); None if absent."""
    if not path:
        return root
    node: Part | None = root
    if not root.multipart:  # a single-part message has one part, 1: its body
        node = root if path[0] == 1 else None
        path = path[1:]
    for number in path:
        if node is None:
            return None
        node = _step(node, number)
    return node


def _header_subset(data: bytes, entity: Part, names: Iterable[str], keep: bool) -> bytes:
    """The fields whose name is (keep=True) or is not (keep=False) in ``names``, in message
    order with their folding, then the blank line if the header had one."""
    wanted = {name.lower() for name in names}
    header = split_header(data, entity.header_start, entity.end)
    chosen = [f.raw for f in header.fields if (bool(f.name) and f.name.lower() in wanted) == keep]
    return _join_fields(chosen, header.has_blank_line)


def _join_fields(chosen: list[bytes], blank: bool) -> bytes:
    """Selected raw fields as one block, the last one closed, then the blank line if any."""
    if chosen and not chosen[-1].endswith(b"\n"):
        chosen[-1] += b"\r\n"  # the header ended without a line end: close the last field
    return b"".join(chosen) + (b"\r\n" if blank else b"")


def _message_entity(root: Part, path: Sequence[int]) -> Part | None:
    """The message whose header/text HEADER and TEXT address at ``path``."""
    if not path:
        return root
    part = find_part(root, path)
    return None if part is None else part.message


def extract(
    data: bytes,
    root: Part,
    path: Sequence[int] = (),
    spec: Spec = Spec.BODY,
    fields: Iterable[str] = (),
) -> bytes:
    """The octets of BODY[<path>.<spec> (<fields>)], before any <partial> slicing."""
    if spec is Spec.BODY:
        if not path:
            return data
        part = find_part(root, path)
        return b"" if part is None else data[part.body_start : part.end]
    if spec is Spec.MIME:
        part = find_part(root, path) if path else None
        return b"" if part is None else data[part.header_start : part.body_start]
    entity = _message_entity(root, path)
    if entity is None:
        return b""
    if spec is Spec.HEADER:
        return data[entity.header_start : entity.body_start]
    if spec is Spec.TEXT:
        return data[entity.body_start : entity.end]
    return _header_subset(data, entity, fields, keep=spec is Spec.HEADER_FIELDS)


TOP_LEVEL_SPECS = frozenset(
    {Spec.HEADER, Spec.HEADER_FIELDS, Spec.HEADER_FIELDS_NOT, Spec.TEXT}
)


def extract_top(data: bytes, spec: Spec, fields: Iterable[str] = ()) -> bytes:
    """HEADER, HEADER.FIELDS[.NOT] or TEXT of the top-level message from its header alone.

    The octets are those of ``extract(data, parse(data), (), spec, fields)`` without parsing
    the MIME tree: the top-level entity's header is the first header block of ``data`` and
    its body runs to the end.
    """
    if spec in (Spec.HEADER_FIELDS, Spec.HEADER_FIELDS_NOT):
        chosen, blank = select_fields(data, fields, keep=spec is Spec.HEADER_FIELDS)
        return _join_fields(chosen, blank)
    if spec not in (Spec.HEADER, Spec.TEXT):
        raise ValueError(f"{spec} needs the MIME tree")
    _, body_start, _ = header_spans(data)
    return data[:body_start] if spec is Spec.HEADER else data[body_start:]


def top_fields_reader(fields: Iterable[str]) -> Callable[[bytes], bytes]:
    """``extract_top(data, Spec.HEADER_FIELDS, fields)`` as a function of ``data`` alone,
    the fields' pattern looked up once: the FETCH of a message list calls it per message."""
    names = tuple(fields)
    find = fields_finder(names)

    def read(data: bytes) -> bytes:
        found = find(data)
        if found is None:  # a header past the limits: the general path decides
            found = select_fields(data, names, keep=True)
        return _join_fields(*found)

    return read


def extract_binary(data: bytes, root: Part, path: Sequence[int]) -> bytes | UnknownEncoding:
    """BINARY[<path>]: the part's body with its transfer encoding removed (RFC 3516 4.1).

    BINARY[] is the whole message as stored; multipart and message parts carry an
    identity encoding and come back unchanged; an absent part is the empty string.
    """
    if not path:
        return data
    part = find_part(root, path)
    if part is None:
        return b""
    body = data[part.body_start : part.end]
    if part.multipart or part.message is not None:
        return body
    decoded = decode_transfer(body, part.encoding)
    if decoded is None:
        return UnknownEncoding(part.encoding or "")
    return decoded


def binary_size(data: bytes, root: Part, path: Sequence[int]) -> int | UnknownEncoding:
    """BINARY.SIZE[<path>]: the size of what BINARY[<path>] returns (RFC 3516 4.2)."""
    content = extract_binary(data, root, path)
    return content if isinstance(content, UnknownEncoding) else len(content)


def partial(content: bytes, origin: int, length: int | None = None) -> bytes:
    """``<origin.length>`` slicing (RFC 9051 6.4.5): an origin past the end gives the
    empty string; ``length`` None means to the end."""
    if origin < 0 or (length is not None and length < 0):
        return b""
    return content[origin:] if length is None else content[origin : origin + length]
