"""DKIM-signing at submission of a message a local user sent to local recipients (RFC 6376).

A submission (port 587/465 AUTH, JMAP EmailSubmission) with at least one LOCAL recipient is
signed once, before the one store commit, so that every local copy carries the signature a
remote recipient sees. The store keeps one blob for the local copies and the queue entry of
the same message, so the queued copy is signed too; the queue worker sends it as it is when
its topmost DKIM-Signature is ours for the domain and verifies with our key
(``mailauth/dkim.py carries_own_signature``, ``queue/prepare.py``): no recipient gets two of
our signatures. Mail for remote recipients only is stored unsigned and signed at relay time,
as before (a rotated key applies to what is still queued).

d= is the queue's rule (``sender_domain``, which ``queue/prepare.py`` uses too): the
envelope sender's domain when it is local, else the submitting user's own domain; relayed or
unauthenticated mail is never signed. dkimpy walks the whole message, so the signature is
computed in a thread, off the event loop. The caller still answers 250 only after the commit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from posthouse.delivery.transaction import DeliveryTransaction
from posthouse.dns.idn import to_alabel
from posthouse.mailauth.dkim import DkimKeys, sign
from posthouse.message.address import domain_of
from posthouse.store.api import AccountStore


async def sender_domain(store: AccountStore, mail_from: str,
                        sender_user_id: int | None) -> str | None:
    """d= (an A-label) for a message user ``sender_user_id`` submitted with envelope sender
    ``mail_from``: that address's domain when it is local, else the user's own domain.
    None when no user submitted it or neither domain is local."""
    if sender_user_id is None:
        return None
    candidates = [domain_of(mail_from)]
    user = await store.get_user_by_id(sender_user_id)
    if user is not None:
        candidates.append(domain_of(user.address))
    for domain in candidates:
        if domain and await store.is_local_domain(domain):
            try:
                return to_alabel(domain)
            except ValueError:
                return None
    return None


async def sign_submission(txn: DeliveryTransaction, data: bytes, *, store: AccountStore,
                          keys: DkimKeys | None, when: datetime) -> bytes:
    """``data`` with our DKIM-Signature when ``txn`` is a local user's submission with a
    local recipient; else ``data`` as it is (the queue signs what it relays)."""
    if keys is None or not txn.local_user_ids():
        return data
    domain = await sender_domain(store, txn.mail_from, txn.sender_user_id)
    if domain is None:
        return data
    return await asyncio.to_thread(sign, data, keys=keys, domain=domain,
                                   timestamp=int(when.timestamp()))
