"""Mailbox names: validation and normalization (pure functions, shared by the store and IMAP).

Names are UTF-8 strings with "/" as the hierarchy delimiter. They only ever live in SQL, never
in file paths, but are validated strictly anyway so that no layer has to trust them.
"""

from __future__ import annotations

from posthouse.store.errors import InvalidMailboxName
from posthouse.store.models import HIERARCHY_DELIMITER, INBOX

MAX_NAME_BYTES = 1000
MAX_LEVELS = 30
# IMAP LIST wildcards (RFC 9051 6.3.9) cannot be part of a name.
_WILDCARDS = frozenset("*%")


def _is_control(ch: str) -> bool:
    """C0 controls, DEL and C1 controls."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def _is_inbox(component: str) -> bool:
    """"INBOX" in any ASCII case (RFC 9051 5.1: INBOX is case-insensitive).

    ASCII-only on purpose: with a dotless i (U+0131), "\u0131nbox".upper() is "INBOX" in
    Python, yet it is another name.
    """
    return component.isascii() and component.upper() == INBOX


def _check_component(component: str) -> None:
    if not component:
        raise InvalidMailboxName("empty hierarchy level (leading, trailing or double '/')")
    if component in (".", ".."):
        raise InvalidMailboxName(f"hierarchy level {component!r} is not allowed")


def _check_characters(name: str) -> None:
    for ch in name:
        if _is_control(ch):
            raise InvalidMailboxName("control characters are not allowed")
        if ch in _WILDCARDS:
            raise InvalidMailboxName("'*' and '%' are not allowed")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMailboxName("not valid Unicode (lone surrogate)") from None
    if size > MAX_NAME_BYTES:
        raise InvalidMailboxName(f"longer than {MAX_NAME_BYTES} bytes")


def normalize_mailbox_name(name: str) -> str:
    """Validate a mailbox name and return its canonical spelling.

    Raises InvalidMailboxName. "INBOX" is matched case-insensitively, also as the first
    hierarchy level ("inbox/x" -> "INBOX/x"). Normalizing twice gives the same result.
    """
    if not name:
        raise InvalidMailboxName("empty name")
    if name.startswith("~"):  # RFC 9051 5.1: "~" names other users' mailboxes by convention
        raise InvalidMailboxName("names starting with '~' are reserved for other users")
    _check_characters(name)
    components = name.split(HIERARCHY_DELIMITER)
    if len(components) > MAX_LEVELS:
        raise InvalidMailboxName(f"more than {MAX_LEVELS} hierarchy levels")
    for component in components:
        _check_component(component)
    if _is_inbox(components[0]):
        components[0] = INBOX
    return HIERARCHY_DELIMITER.join(components)


def is_inbox(name: str) -> bool:
    """Whether a normalized name is INBOX itself."""
    return name == INBOX


def parent_names(name: str) -> list[str]:
    """The superior names of a normalized name, outermost first ("a/b/c" -> ["a", "a/b"])."""
    components = name.split(HIERARCHY_DELIMITER)
    return [HIERARCHY_DELIMITER.join(components[:i]) for i in range(1, len(components))]


def is_inferior(name: str, parent: str) -> bool:
    """Whether ``name`` lies strictly below ``parent`` in the hierarchy."""
    return name.startswith(parent + HIERARCHY_DELIMITER)


def renamed(name: str, old: str, new: str) -> str:
    """The new name of ``name`` (``old`` itself or one of its inferiors) after old -> new."""
    if name == old:
        return new
    if not is_inferior(name, old):
        raise ValueError(f"{name!r} is not {old!r} or below it")
    return new + name[len(old):]
