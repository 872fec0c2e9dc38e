"""The TLS policy of one outbound session: DANE, else MTA-STS, else opportunistic.

``TlsPolicy.for_domain`` finds the domain's MTA-STS policy; ``for_host`` decides for one MX
host what TLS is required and how the certificate is judged (DANE takes precedence over
MTA-STS, RFC 8461 2); ``judge`` looks at the chain after the handshake. Every outcome is
recorded for TLS-RPT. The bytes on the wire are connect.py's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.x509.verification import Store

from posthouse.dns.resolver import Resolver, TempFail, TlsaRecord, TlsaRecords
from posthouse.net.certs import load_trust_store, name_matches, verify_chain
from posthouse.queue.dane import check_dane, usable
from posthouse.queue.mta_sts import StsLookup, StsPolicies, StsPolicy
from posthouse.queue.tlsrpt import PolicyRef, SessionResult, TlsResultLog

STARTTLS_NOT_SUPPORTED = "starttls-not-supported"  # RFC 8460 4.3.2.1


class TlsNeed(enum.Enum):
    """What a session to one host needs."""

    OPPORTUNISTIC = "opportunistic"  # STARTTLS when offered; certificate not required
    DANE = "dane"  # TLS, and the chain must match a TLSA record (RFC 7672)
    ENCRYPT = "encrypt"  # TLS, unauthenticated: secure TLSA records, none usable (RFC 7672 2.2)
    STS_ENFORCE = "sts-enforce"  # TLS with a PKIX-valid certificate for the host (RFC 8461 5)
    STS_TESTING = "sts-testing"  # as enforce, but failures are only reported
    UNUSABLE = "unusable"  # a secure MX whose TLSA lookup failed: not contacted (RFC 7672 2.2)


@dataclass(frozen=True, slots=True)
class HostTls:
    """The decision for one MX host."""

    host: str
    need: TlsNeed
    policy: PolicyRef
    tlsa: tuple[TlsaRecord, ...] = ()

    @property
    def tls_required(self) -> bool:
        """No plaintext fallback."""
        return self.need in (TlsNeed.DANE, TlsNeed.ENCRYPT, TlsNeed.STS_ENFORCE,
                             TlsNeed.UNUSABLE)


@dataclass(frozen=True, slots=True)
class DomainTls:
    """What holds for every MX host of a domain: its MTA-STS policy, and whether DANE may
    apply (its MX RRset is DNSSEC-secure, RFC 7672 2.2.1)."""

    sts: StsLookup
    dane: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of a chain: may the session go on, and was the peer authenticated."""

    proceed: bool
    validated: bool
    problem: str = ""


def _sts_ref(domain: str, policy: StsPolicy) -> PolicyRef:
    lines = tuple(line.strip() for line in policy.text.replace("\r\n", "\n").split("\n")
                  if line.strip())
    return PolicyRef("sts", domain, lines, policy.mx)


def _tlsa_ref(domain: str, host: str, records: tuple[TlsaRecord, ...]) -> PolicyRef:
    strings = tuple(f"{r.usage} {r.selector} {r.mtype} {r.data.hex()}" for r in records)
    return PolicyRef("tlsa", domain, strings, (host,))


class TlsPolicy:
    """Decides and records; built by app.py with the resolver, policies and result log."""

    def __init__(self, *, resolver: Resolver, sts: StsPolicies | None, dane: bool,
                 ca_file: str, results: TlsResultLog | None) -> None:
        self._resolver = resolver
        self._sts = sts
        self._dane = dane
        self._ca_file = ca_file
        self._trust: Store | None = None  # loaded on first use
        self._results = results

    def _anchors(self) -> Store | None:
        if self._trust is None:
            self._trust = load_trust_store(self._ca_file)
        return self._trust

    async def for_domain(self, domain: str) -> DomainTls:
        """The domain's MTA-STS policy (a fetch problem is recorded) and whether its MX
        records are secure enough for DANE."""
        dane = self._dane and await self._resolver.is_secure(domain, "MX")
        if self._sts is None:
            return DomainTls(StsLookup(None), dane)
        found = await self._sts.lookup(domain)
        if found.problem is not None:
            ref = _sts_ref(domain, found.policy) if found.policy else PolicyRef("sts", domain)
            self.record(SessionResult(ref, False, found.problem, detail=found.detail))
        return DomainTls(found, dane)

    @staticmethod
    def opportunistic(domain: str, host: str) -> HostTls:
        """No policy: STARTTLS when offered, the chain only checked for REQUIRETLS."""
        return HostTls(host, TlsNeed.OPPORTUNISTIC, PolicyRef("no-policy-found", domain))

    async def for_host(self, domain: str, found: DomainTls, host: str) -> HostTls:
        """What the session to ``host`` needs (RFC 7672 2.2, RFC 8461 4)."""
        sts = found.sts
        if found.dane:
            answer = await self._resolver.tlsa(f"_25._tcp.{host}")
            if isinstance(answer, TlsaRecords) and answer.secure and answer.records:
                records = usable(answer.records)
                ref = _tlsa_ref(domain, host, answer.records)
                return HostTls(host, TlsNeed.DANE if records else TlsNeed.ENCRYPT, ref, records)
            if isinstance(answer, TempFail):
                # RFC 7672 2.2: a failed TLSA lookup (not a denial of existence) makes the
                # host unusable; falling back to plaintext or PKIX would let whoever breaks
                # the lookup strip DANE.
                return HostTls(host, TlsNeed.UNUSABLE, PolicyRef("tlsa", domain,
                                                                 mx_host=(host,)))
        policy = sts.policy
        if policy is None:
            return self.opportunistic(domain, host)
        need = TlsNeed.STS_ENFORCE if policy.mode == "enforce" else TlsNeed.STS_TESTING
        return HostTls(host, need, _sts_ref(domain, policy))

    def mx_allowed(self, tls: HostTls) -> bool:
        """RFC 8461 4.1: under enforce, only MX hosts the policy names; a mismatch is
        recorded (under testing as well, where the host is used anyway). A host whose TLSA
        lookup failed is never allowed (RFC 7672 2.2), recorded as dnssec-invalid."""
        if tls.need is TlsNeed.UNUSABLE:
            self.record(SessionResult(tls.policy, False, "dnssec-invalid", tls.host,
                                      detail=f"TLSA lookup for {tls.host} failed"))
            return False
        if tls.need not in (TlsNeed.STS_ENFORCE, TlsNeed.STS_TESTING):
            return True
        if any(name_matches(p, tls.host) for p in tls.policy.mx_host):
            return True
        self.record(SessionResult(tls.policy, False, "validation-failure", tls.host,
                                  detail=f"{tls.host} is not an MX of the policy"))
        return tls.need is TlsNeed.STS_TESTING

    def no_tls(self, tls: HostTls, address: str, detail: str, sending_ip: str = "") -> bool:
        """STARTTLS is missing or failed: may the session go on in plaintext?"""
        if tls.need is TlsNeed.OPPORTUNISTIC:
            return True
        self.record(SessionResult(tls.policy, False, STARTTLS_NOT_SUPPORTED, tls.host,
                                  address, detail, sending_ip))
        return not tls.tls_required

    def judge(self, tls: HostTls, chain: list[bytes], address: str,
              sending_ip: str = "") -> Verdict:
        """After the handshake: check the chain as the policy says and record the result."""
        where = (address, sending_ip)
        if tls.need is TlsNeed.DANE:
            dane = check_dane(tls.tlsa, chain, tls.host)
            if dane is not None:
                return self._failed(tls, where, dane.result_type, dane.text)
            return self._passed(tls, where, validated=True)
        problem = verify_chain(chain, tls.host, self._anchors())
        if tls.need is TlsNeed.ENCRYPT:
            return self._passed(tls, where, validated=False)
        if tls.need is TlsNeed.OPPORTUNISTIC:  # PKIX only tells REQUIRETLS whether to go on
            return Verdict(True, problem is None)
        if problem is not None:
            return self._failed(tls, where, problem.result_type, problem.text)
        return self._passed(tls, where, validated=True)

    def _failed(self, tls: HostTls, where: tuple[str, str], kind: str, text: str) -> Verdict:
        self.record(SessionResult(tls.policy, False, kind, tls.host, where[0], text, where[1]))
        return Verdict(tls.need is TlsNeed.STS_TESTING, False, text)

    def _passed(self, tls: HostTls, where: tuple[str, str], *, validated: bool) -> Verdict:
        self.record(SessionResult(tls.policy, True, receiving_mx=tls.host,
                                  receiving_ip=where[0], sending_ip=where[1]))
        return Verdict(True, validated)

    def record(self, result: SessionResult) -> None:
        """Keep a result for the TLS-RPT report (when reporting is on)."""
        if self._results is not None:
            self._results.record(result)

