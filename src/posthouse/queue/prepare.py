"""The bytes to relay: the stored message without its local Return-Path, DKIM-signed when a
local user submitted it or this server wrote it (a DSN, a TLS report: null sender, From in a
local domain's tree).

A submission that also had local recipients was signed before its commit
(``delivery/submission_dkim.py``) and the queue shares that blob: it is sent as it is when it
carries our valid signature for the domain (``carries_own_signature``), so a remote recipient gets
exactly one of our signatures."""

from __future__ import annotations

import asyncio

from posthouse.clock import Clock
from posthouse.delivery.headers import strip_return_path
from posthouse.delivery.submission_dkim import sender_domain
from posthouse.dns.idn import to_alabel
from posthouse.mailauth.dkim import DkimKeys, carries_own_signature, sign
from posthouse.message.address import parse_addresses
from posthouse.message.headers import decoded_value, split_header
from posthouse.store.api import AccountStore
from posthouse.store.models import QueuedMessage


async def signing_domain(store: AccountStore, message: QueuedMessage,
                         original: bytes = b"") -> str | None:
    """d= for a message a local user submitted: the envelope sender's domain when it is
    local, else the submitting user's own domain. For a notice this server wrote (null
    sender): the local domain its From is in (MAILER-DAEMON@<hostname> is signed by the
    hostname's local parent, aligned for DMARC). None for relayed mail (not ours to sign)."""
    env = message.envelope
    if env.sender_user_id is None:
        return None if env.mail_from else await _notice_domain(store, original)
    return await sender_domain(store, env.mail_from, env.sender_user_id)


async def _notice_domain(store: AccountStore, original: bytes) -> str | None:
    """The nearest local domain at or above the From domain of a null-sender message."""
    authors = [host for field in split_header(original).get_all("from")
               for _n, _a, _m, host in parse_addresses(decoded_value(field)) if host]
    if len(authors) != 1:
        return None
    labels = authors[0].lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):  # never a bare top-level domain
        candidate = ".".join(labels[start:])
        if await store.is_local_domain(candidate):
            try:
                return to_alabel(candidate)
            except ValueError:
                return None
    return None


async def prepare(message: QueuedMessage, original: bytes, *, store: AccountStore,
                  keys: DkimKeys | None, clock: Clock) -> bytes:
    """What goes after DATA for ``message``."""
    data = strip_return_path(original)
    if keys is None:
        return data
    domain = await signing_domain(store, message, original)
    if domain is None:
        return data
    # dkimpy is pure Python and walks the whole message: keep it off the event loop.
    return await asyncio.to_thread(_signed_once, data, keys=keys, domain=domain,
                                   timestamp=int(clock.now().timestamp()))


def _signed_once(data: bytes, *, keys: DkimKeys, domain: str, timestamp: int) -> bytes:
    """``data`` signed, unless it was signed at submission already (the blob it shares
    with the local copies)."""
    if carries_own_signature(data, domain=domain, keys=keys):
        return data
    return sign(data, keys=keys, domain=domain, timestamp=timestamp)
