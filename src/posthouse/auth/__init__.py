"""Authentication: credentials -> principal, argon2id hashing, SCRAM secrets, verification
cache, throttling, and the one SASL exchange every protocol uses.

app.py builds the ``Authenticator`` (``build_authenticator``); a session then either checks a
user name and password itself (POP3 USER/PASS, IMAP LOGIN)::

    principal = await authenticator.authenticate(user, password, remote_ip=peer_ip)

or runs a SASL exchange on the client's raw lines (SMTP AUTH, POP3 AUTH, IMAP AUTHENTICATE)::

    # auth/sasl_exchange.py
    exchange = SaslExchange(authenticator, remote_ip=peer_ip, allowed=mechanisms)
    result = await exchange.start(event.mechanism, event.initial)   # then exchange.step(line)
    # a sasl.Challenge to send, a Principal, or a SaslOutcome to map to the protocol's reply

``authenticate`` raises ``HashBusy`` when the password-hash queue is full (auth/scheduler.py);
the exchange turns that into ``SaslOutcome.UNAVAILABLE``. Either way the session answers with
its protocol's temporary error.
"""

from posthouse.auth.authenticator import Authenticator, Principal, build_authenticator
from posthouse.auth.cache import VerificationCache
from posthouse.auth.passwords import PasswordHasher
from posthouse.auth.scheduler import HashBusy, HashScheduler
from posthouse.auth.throttle import Throttle, ThrottlePolicy, source_key

__all__ = [
    "Authenticator",
    "HashBusy",
    "HashScheduler",
    "PasswordHasher",
    "Principal",
    "Throttle",
    "ThrottlePolicy",
    "VerificationCache",
    "build_authenticator",
    "source_key",
]
