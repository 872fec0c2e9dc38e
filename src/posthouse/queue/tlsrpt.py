"""TLS-RPT (RFC 8460) results: what each outbound TLS negotiation under a policy gave.

One JSON line per session result, in ``<data_dir>/tlsrpt/<YYYY-MM-DD>.jsonl`` (the UTC day),
so results survive restarts until tlsrpt_report.py sends and removes a day's file. Only
records: never decides delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from posthouse.clock import Clock

log = logging.getLogger("posthouse.queue")


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The policy a session ran under (RFC 8460 4.4 "policy")."""

    policy_type: str  # "sts", "tlsa" or "no-policy-found"
    domain: str  # the recipient (policy) domain
    policy_string: tuple[str, ...] = ()
    mx_host: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionResult:
    """One session: success, or a failure with its RFC 8460 4.3 result type."""

    policy: PolicyRef
    ok: bool
    result_type: str = ""
    receiving_mx: str = ""
    receiving_ip: str = ""
    detail: str = ""
    sending_ip: str = ""


class TlsResultLog:
    """Appends results to the day's file; a write error is logged, never raised."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self._clock = clock

    def day_file(self, day: str) -> Path:
        """The file of one UTC day ("2026-12-02")."""
        return self.directory / f"{day}.jsonl"

    def record(self, result: SessionResult) -> None:
        """Add one result under today's date."""
        line = json.dumps({**asdict(result), "policy": asdict(result.policy)})
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.day_file(self._clock.now().date().isoformat()).open(
                    "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as exc:
            log.error("tls-rpt: cannot record a result: %s", exc)

    def read_day(self, day: str) -> list[SessionResult]:
        """Every result recorded on ``day``; damaged lines are skipped."""
        try:
            lines = self.day_file(day).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                raw = json.loads(line)
                pol = raw.pop("policy")
                policy = PolicyRef(pol["policy_type"], pol["domain"],
                                   tuple(pol["policy_string"]), tuple(pol["mx_host"]))
                out.append(SessionResult(policy=policy, **raw))
            except (ValueError, KeyError, TypeError):
                continue
        return out
