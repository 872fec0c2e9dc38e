"""Authentication: credentials -> principal, argon2id hashing, verification cache, throttling.

Usage from an IO adapter (after a SASL exchange produced ``sasl.Credentials``)::

    authenticator = Authenticator(store, hasher=PasswordHasher(), cache=VerificationCache(),
                                  throttle=Throttle())
    principal = await authenticator.authenticate(creds.authcid, creds.password,
                                                 remote_ip=peer_ip)
    if principal is None:
        ...  # SMTP 535 5.7.8, IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]
"""

from posthouse.auth.authenticator import Authenticator, Principal, build_authenticator
from posthouse.auth.cache import VerificationCache
from posthouse.auth.passwords import PasswordHasher
from posthouse.auth.throttle import Throttle, ThrottlePolicy, source_key

__all__ = [
    "Authenticator",
    "PasswordHasher",
    "Principal",
    "Throttle",
    "ThrottlePolicy",
    "VerificationCache",
    "build_authenticator",
    "source_key",
]
