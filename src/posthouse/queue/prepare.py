"""The bytes to relay: the stored message without its local Return-Path, DKIM-signed when a
local user submitted it."""

from __future__ import annotations

import asyncio

from posthouse.clock import Clock
from posthouse.delivery.headers import strip_return_path
from posthouse.dns.idn import to_alabel
from posthouse.mailauth.dkim import DkimKeys, sign
from posthouse.message.address import domain_of
from posthouse.store.api import AccountStore
from posthouse.store.models import QueuedMessage


async def signing_domain(store: AccountStore, message: QueuedMessage) -> str | None:
    """d= for a message a local user submitted: the envelope sender's domain when it is
    local, else the submitting user's own domain; None for relayed mail (not ours to sign)."""
    env = message.envelope
    if env.sender_user_id is None:
        return None
    candidates = [domain_of(env.mail_from)]
    user = await store.get_user_by_id(env.sender_user_id)
    if user is not None:
        candidates.append(domain_of(user.address))
    for domain in candidates:
        if domain and await store.is_local_domain(domain):
            try:
                return to_alabel(domain)
            except ValueError:
                return None
    return None


async def prepare(message: QueuedMessage, original: bytes, *, store: AccountStore,
                  keys: DkimKeys | None, clock: Clock) -> bytes:
    """What goes after DATA for ``message``."""
    data = strip_return_path(original)
    if keys is None:
        return data
    domain = await signing_domain(store, message)
    if domain is None:
        return data
    # dkimpy is pure Python and walks the whole message: keep it off the event loop.
    return await asyncio.to_thread(sign, data, keys=keys, domain=domain,
                                   timestamp=int(clock.now().timestamp()))
