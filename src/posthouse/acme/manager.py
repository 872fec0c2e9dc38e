"""Obtaining and renewing the server's certificate: decides when (no certificate, a name
not covered, fewer than ``renew_days`` left, or forced), runs one ACME order for every name,
stores the result and installs it; on failure it logs, keeps the current certificate and
retries with exponential backoff.

It receives everything: the client's transport, the files, the board, the names (app.py
reads them from the store) and the install callback (the TLS factory's reload). It never
listens and never touches the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posthouse.acme.challenges import ChallengeBoard
from posthouse.acme.client import AcmeClient, AcmeError
from posthouse.acme.files import AcmeFiles
from posthouse.acme.transport import AcmeUnreachable, HttpsTransport
from posthouse.clock import Clock
from posthouse.net.tls import TlsSetupError

log = logging.getLogger("posthouse.acme")

ACCOUNT_GONE = "urn:ietf:params:acme:error:accountDoesNotExist"
UNAUTHORIZED = "urn:ietf:params:acme:error:unauthorized"


@dataclass(frozen=True)
class AcmeSettings:
    """What [tls] says about ACME."""

    directory: str
    email: str = ""
    renew_days: int = 30
    challenges: tuple[str, ...] = ("tls-alpn-01", "http-01")
    check_seconds: float = 12 * 3600.0
    retry_seconds: float = 300.0  # the first retry after a failure; doubles to check_seconds


class AcmeFailed(Exception):
    """This attempt did not produce a certificate (the reason is logged)."""


def backoff(failures: int, first: float, ceiling: float) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row (>= 1)."""
    return float(min(first * 2.0 ** min(failures - 1, 30), ceiling))


def renewal_due(
    cert: x509.Certificate | None, names: Sequence[str], clock: Clock, renew_days: int
) -> str:
    """Why a new certificate is needed, or "" when the current one will do."""
    if cert is None:
        return "no certificate yet"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        covered = {n.lower() for n in san.value.get_values_for_type(x509.DNSName)}
    except x509.ExtensionNotFound:
        covered = set()
    missing = [n for n in names if n.lower() not in covered]
    if missing:
        return f"not covering {', '.join(missing)}"
    left = cert.not_valid_after_utc - clock.now()
    if left <= timedelta(days=renew_days):
        return f"expires in {left.days} days"
    return ""


def make_csr(names: Sequence[str]) -> tuple[bytes, bytes]:
    """A new P-256 key and a CSR naming every name (SAN; RFC 8555 7.4): (key PEM, CSR DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.DER)


class CertificateManager:
    """Keeps the live certificate issued and fresh; ``run()`` is the background loop."""

    def __init__(
        self,
        settings: AcmeSettings,
        *,
        files: AcmeFiles,
        board: ChallengeBoard,
        transport: HttpsTransport,
        names: Callable[[], Awaitable[list[str]]],
        install: Callable[[], bool],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.files = files
        self.board = board
        self.transport = transport
        self.names = names
        self.install = install
        self.clock = clock
        self.failures = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    async def check(self, *, force: bool = False) -> bool:
        """Renew if due (or ``force``, or ``posthouse acme renew`` asked for it); True when a
        new certificate was installed, False when none was needed. AcmeFailed when one was
        needed and could not be had: the current certificate stays."""
        async with self._lock:
            names = await self.names()
            if force or self.files.renewal_requested():
                reason = "renewal requested"
            else:
                reason = renewal_due(
                    self.files.current(), names, self.clock, self.settings.renew_days
                )
            if not reason:
                return False
            log.info("acme: requesting a certificate for %s (%s)", ", ".join(names), reason)
            try:
                await self._obtain(names)
            except (AcmeError, AcmeUnreachable, TlsSetupError, OSError, ValueError) as exc:
                self.failures += 1
                log.error(
                    "acme: no certificate for %s: %s; keeping the current certificate "
                    "(attempt %d failed)",
                    ", ".join(names),
                    exc,
                    self.failures,
                )
                raise AcmeFailed(str(exc)) from None
            self.failures = 0
            self.files.clear_renewal_request()
            if not self.install():
                raise AcmeFailed("the new certificate could not be loaded")
            return True

    async def _obtain(self, names: list[str]) -> None:
        directory = self.settings.directory
        client = AcmeClient(
            self.transport,
            directory,
            self.files.account_key(),
            account_url=self.files.account_url(directory),
        )
        if not client.account_url:
            self.files.save_account_url(directory, await client.register(self.settings.email))
        try:
            order = await client.new_order(names)
        except AcmeError as exc:
            if exc.problem_type not in (ACCOUNT_GONE, UNAUTHORIZED):
                raise
            # The CA forgot or deactivated the account (RFC 8555 7.3.1, 7.3.6): a new one.
            log.warning(
                "acme: the account %s is refused (%s); registering again", client.account_url, exc
            )
            client.account_url = ""
            self.files.save_account_url(directory, await client.register(self.settings.email))
            order = await client.new_order(names)
        await client.authorize(order, self.board, self.settings.challenges)
        key_pem, csr = make_csr(names)
        chain = await client.download(await client.finalize(order, csr))
        self.files.save_live(key_pem, chain)
        cert = self.files.current()
        log.info(
            "acme: new certificate for %s, valid until %s",
            ", ".join(names),
            cert.not_valid_after_utc.isoformat() if cert else "?",
        )

    def request_check(self) -> None:
        """Check now instead of at the next interval (SIGHUP)."""
        self._wake.set()

    async def run(self) -> None:
        """Check at start, then every ``check_seconds``; after a failure retry sooner with
        backoff, doubling from ``retry_seconds``."""
        while True:
            try:
                await self.check()
                wait = self.settings.check_seconds
            except AcmeFailed:
                wait = backoff(
                    self.failures, self.settings.retry_seconds, self.settings.check_seconds
                )
                log.info("acme: next attempt in %.0f seconds", wait)
            except Exception:  # a CA answer this client did not expect: the loop goes on
                self.failures += 1
                wait = backoff(
                    self.failures, self.settings.retry_seconds, self.settings.check_seconds
                )
                log.exception(
                    "acme: unexpected failure; keeping the current certificate, "
                    "next attempt in %.0f seconds",
                    wait,
                )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
