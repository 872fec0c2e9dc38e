"""The CAPA reply (RFC 2449 5, 6): which capabilities are listed, from the config and the
session state (replies.py words the reply)."""

from __future__ import annotations

from posthouse.pop3 import replies
from posthouse.pop3.config import Pop3Config
from posthouse.pop3.replies import Ok
from posthouse.pop3.states import Pop3State


def capabilities(
    config: Pop3Config, *, state: Pop3State, tls_active: bool, mechanisms: tuple[str, ...]
) -> Ok:
    """The capability list; login-related tags only in AUTHORIZATION.

    EXPIRE NEVER (RFC 2449 6.7): the server never removes POP3 mail on its own; messages go
    only when a client DELEs them (and accounts that keep POP3 mail only mark them seen), so
    "0" (removed after retrieval) would be wrong either way.
    """
    plaintext_ok = tls_active or config.allow_plaintext
    in_auth = state is Pop3State.AUTHORIZATION
    tags = ["TOP", "UIDL"]
    if in_auth and plaintext_ok:
        tags.append("USER")
    if in_auth and mechanisms:
        tags.append("SASL " + " ".join(mechanisms))
    tags += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
    if config.login_delay is not None:
        tags.append(f"LOGIN-DELAY {config.login_delay}")
    tags.append("UTF8 USER" if plaintext_ok else "UTF8")  # RFC 6856 2: USER/PASS take UTF-8
    if in_auth and config.tls_available and not tls_active:
        tags.append("STLS")  # RFC 2595 4: never after TLS is active
    tags.append(f"IMPLEMENTATION {config.implementation}")
    return replies.capability_list(tags)
