"""What the server advertises, by connection state (RFC 9051 6.1.1, 7.2.2).

Only extensions that work are listed, and every one of them in every state: clients such
as Python's imaplib read the list once, before login. What depends on the channel comes on
top before login: STARTTLS while the connection is plain, LOGINDISABLED and no AUTH=
mechanisms while passwords may not be sent (RFC 9051 6.2.3, 11.1; RFC 8314); where they may,
SCRAM-SHA-256 first.
"""

from __future__ import annotations

from posthouse.imap.responses import Atom, Code

_BASE = ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE")
_EXTENSIONS = (
    "MOVE", "UIDPLUS", "MULTIAPPEND", "UNSELECT", "NAMESPACE", "SPECIAL-USE",
    "CREATE-SPECIAL-USE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES",
    "BINARY", "STATUS=SIZE", "UTF8=ACCEPT", "QUOTA", "QUOTA=RES-STORAGE", "CONDSTORE",
    "QRESYNC",
    "UIDONLY",  # RFC 9586
    "SAVEDATE",  # RFC 8514
    "UNAUTHENTICATE",  # RFC 8437
    "PREVIEW",  # RFC 8970
    "OBJECTID",  # RFC 8474
    "COMPRESS=DEFLATE",  # RFC 4978
    "METADATA",  # RFC 5464: mailbox entries
    "METADATA-SERVER",  # RFC 5464: server entries
    "LIST-METADATA",  # RFC 9590
    "NOTIFY",  # RFC 5465
)
ENABLEABLE = frozenset({"IMAP4REV2", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC", "UIDONLY"})


def capabilities(
    *, tls: bool, secure: bool, authenticated: bool, max_message_size: int,
    mechanisms: tuple[str, ...],
) -> list[str]:
    """The capability names for the current state.

    ``tls``: the connection is encrypted; ``secure``: passwords may be sent (TLS, or a
    loopback peer with plaintext allowed by configuration); ``mechanisms``: the SASL
    mechanisms offered now (``HandlerContext.sasl_mechanisms``).
    """
    names = [*_BASE, *_EXTENSIONS, f"APPENDLIMIT={max_message_size}"]
    if authenticated:
        return names
    if not tls:
        names.append("STARTTLS")
    names += [f"AUTH={m}" for m in mechanisms]
    if not secure:
        names.append("LOGINDISABLED")
    return names


def capability_code(names: list[str]) -> Code:
    """The ``[CAPABILITY ...]`` response code (greeting, login OK)."""
    return Code("CAPABILITY", tuple(Atom(n) for n in names))
