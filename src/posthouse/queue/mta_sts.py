"""MTA-STS (RFC 8461): discovering, fetching, parsing and caching recipient domains' policies.

``StsPolicies.lookup(domain)`` answers with the policy in force for a domain (or none) and
any problem met on the way, for TLS-RPT. Policies are cached as one JSON file per domain in
``<data_dir>/mta-sts/``, so they survive restarts; a cached policy is used until its max_age
runs out, and it stays in force when a refresh fails (RFC 8461 5.1). Deciding what a policy
means for one MX host is tls_policy.py's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from posthouse.clock import Clock
from posthouse.dns.resolver import Resolver, TempFail
from posthouse.net.certs import name_matches
from posthouse.queue.https_get import FetchError, https_get

log = logging.getLogger("posthouse.queue")

MAX_AGE_LIMIT = 31557600  # RFC 8461 3.2: max_age is at most one year
_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")  # RFC 8461 3.1 sts-id
_MODES = ("enforce", "testing", "none")
REFETCH_PAUSE = 300.0  # seconds without a new fetch after one failed (cached policy holds)


class PolicyError(ValueError):
    """A TXT record or policy file that does not follow RFC 8461."""


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A parsed policy file (RFC 8461 3.2) with the id and time it was fetched under."""

    mode: str
    mx: tuple[str, ...]
    max_age: int
    policy_id: str
    fetched: str  # ISO 8601, UTC
    text: str  # the file as served, for TLS-RPT's policy-string

    def matches(self, host: str) -> bool:
        """Whether an MX host is one the policy names (RFC 8461 4.1)."""
        return any(name_matches(pattern, host) for pattern in self.mx)

    def expired(self, now: datetime) -> bool:
        """Past its max_age since it was fetched."""
        return now >= datetime.fromisoformat(self.fetched) + timedelta(seconds=self.max_age)


@dataclass(frozen=True, slots=True)
class StsLookup:
    """What a lookup found: the policy to apply (None: none) and a problem to report."""

    policy: StsPolicy | None
    problem: str | None = None  # an RFC 8460 result type: sts-policy-fetch-error ...
    detail: str = ""


def parse_txt(records: tuple[str, ...]) -> str | None:
    """The id of the one ``v=STSv1`` record (RFC 8461 3.1); None when there is not exactly
    one; PolicyError when it is malformed."""
    ours = [r for r in records if r.startswith("v=STSv1;") or r == "v=STSv1"]
    if len(ours) != 1:
        return None
    fields: dict[str, str] = {}
    for part in ours[0].split(";"):
        key, eq, value = part.strip().partition("=")
        if key and eq:
            fields.setdefault(key.strip(), value.strip())
    policy_id = fields.get("id", "")
    if not _ID_RE.fullmatch(policy_id):
        raise PolicyError(f"bad id {policy_id!r} in the _mta-sts record")
    return policy_id


def parse_policy(text: str, *, policy_id: str, fetched: datetime) -> StsPolicy:
    """A policy file: "key: value" lines (RFC 8461 3.2); unknown keys are ignored."""
    values: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip(), []).append(value.strip())
    if values.get("version", [""])[0] != "STSv1":
        raise PolicyError("policy version is not STSv1")
    mode = values.get("mode", [""])[0]
    if mode not in _MODES:
        raise PolicyError(f"bad policy mode {mode!r}")
    age = values.get("max_age", [""])[0]
    if not age.isdigit() or len(age) > 10:
        raise PolicyError(f"bad max_age {age!r}")
    mx = tuple(m.lower().rstrip(".") for m in values.get("mx", []) if m)
    if mode != "none" and not mx:
        raise PolicyError("policy names no mx")
    return StsPolicy(mode, mx, min(int(age), MAX_AGE_LIMIT), policy_id,
                     fetched.isoformat(), text)


class PolicyCache:
    """Policies on disk, one JSON file per domain; a damaged file counts as absent."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, domain: str) -> Path:
        return self._dir / f"{domain.lower()}.json"

    def get(self, domain: str) -> StsPolicy | None:
        """The cached policy of ``domain``."""
        try:
            raw = json.loads(self._path(domain).read_text(encoding="utf-8"))
            return StsPolicy(**{**raw, "mx": tuple(raw["mx"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def put(self, domain: str, policy: StsPolicy) -> None:
        """Store durably: a temporary file renamed over the old one."""
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._path(domain)
        # a name of this process's own: worker processes may store one domain at once
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(policy), f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)


class StsPolicies:
    """Finds the policy in force for a recipient domain."""

    def __init__(self, *, resolver: Resolver, cache: PolicyCache, clock: Clock,
                 context: ssl.SSLContext, port: int = 443, timeout: float = 30.0) -> None:
        self._resolver = resolver
        self._cache = cache
        self._clock = clock
        self._context = context
        self._port = port
        self._timeout = timeout
        self._paused: dict[str, float] = {}  # domain -> monotonic time of the next fetch

    async def lookup(self, domain: str) -> StsLookup:
        """The policy for ``domain`` (A-label), refreshed when the TXT id changed or the
        cached one expired (RFC 8461 5.1)."""
        now = self._clock.now()
        cached = self._cache.get(domain)
        if cached is not None and cached.expired(now):
            cached = None
        answer = await self._resolver.txt(f"_mta-sts.{domain}")
        if isinstance(answer, tuple):
            try:
                policy_id = parse_txt(answer)
            except PolicyError as exc:
                return self._keep(cached, "sts-policy-invalid", str(exc))
        else:
            policy_id = None
            if isinstance(answer, TempFail):
                return self._keep(cached, None, answer.reason)
        if policy_id is None:  # no record now: a cached policy still holds (RFC 8461 5.1)
            return self._keep(cached, None, "")
        if cached is not None and cached.policy_id == policy_id:
            return self._keep(cached, None, "")
        if self._clock.monotonic() < self._paused.get(domain, 0.0):
            return self._keep(cached, None, "")  # failed a moment ago: not once per session
        found = await self._fetch(domain, policy_id, now, cached)
        if found.problem is None:
            self._paused.pop(domain, None)
        else:
            self._paused[domain] = self._clock.monotonic() + REFETCH_PAUSE
        return found

    async def _fetch(self, domain: str, policy_id: str, now: datetime,
                     cached: StsPolicy | None) -> StsLookup:
        host = f"mta-sts.{domain}"
        try:
            ctype, body = await https_get(host, "/.well-known/mta-sts.txt",
                                          resolver=self._resolver, context=self._context,
                                          port=self._port, within=self._timeout)
        except FetchError as exc:
            log.warning("mta-sts %s: policy fetch failed: %s", domain, exc)
            kind = "sts-webpki-invalid" if "CERTIFICATE" in str(exc).upper() else \
                "sts-policy-fetch-error"
            return self._keep(cached, kind, str(exc))
        try:
            if ctype.split(";")[0].strip().lower() != "text/plain":  # RFC 8461 3.2
                raise PolicyError(f"policy served as {ctype or 'no media type'}")
            policy = parse_policy(body.decode("utf-8"), policy_id=policy_id, fetched=now)
        except (PolicyError, UnicodeDecodeError) as exc:
            log.warning("mta-sts %s: invalid policy: %s", domain, exc)
            return self._keep(cached, "sts-policy-invalid", str(exc))
        try:
            self._cache.put(domain, policy)
        except OSError as exc:
            log.error("mta-sts %s: cannot cache the policy: %s", domain, exc)
        return StsLookup(policy if policy.mode != "none" else None)

    @staticmethod
    def _keep(cached: StsPolicy | None, problem: str | None, detail: str) -> StsLookup:
        """The cached policy (if any, and not mode none) with the problem met."""
        policy = cached if cached is not None and cached.mode != "none" else None
        return StsLookup(policy, problem, detail)
