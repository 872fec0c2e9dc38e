"""The ACME protocol (RFC 8555) as a client: directory, nonces, account, order,
authorizations, challenges, finalize, certificate download.

Every request but the directory and newNonce is a JWS POST (6.2; reads are POST-as-GET,
6.3). A ``badNonce`` error is retried with the nonce the error carried (6.5). Waits
honour Retry-After (8.2) and are bounded. The challenge answers go on a ChallengeBoard the
listeners consult; this module never listens. Errors are AcmeError (an RFC 7807 problem
document when the server sent one).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from posthouse.acme.challenges import ChallengeBoard
from posthouse.acme.jws import AccountKey, b64url, key_authorization, signed_request
from posthouse.acme.transport import AcmeResponse, HttpsTransport

log = logging.getLogger("posthouse.acme")

JOSE = "application/jose+json"
PEM_CHAIN = "application/pem-certificate-chain"
BAD_NONCE = "urn:ietf:params:acme:error:badNonce"
_NONCE_RETRIES = 10  # RFC 8555 6.5: badNonce is retried; pebble rejects some on purpose
_POLL_DEFAULT = 1.0  # seconds between polls when the server sends no Retry-After
_POLL_MAX_WAIT = 60.0  # a Retry-After beyond this is capped
_POLL_ATTEMPTS = 60


class AcmeError(Exception):
    """The server refused or failed a request, or an object ended invalid."""

    def __init__(self, message: str, problem_type: str = "") -> None:
        super().__init__(message)
        self.problem_type = problem_type


@dataclass(frozen=True)
class AcmeOrder:
    """An order (RFC 8555 7.1.3): its URL and its last known body."""

    url: str
    body: dict[str, Any]


class AcmeClient:
    """One account's conversation with one ACME directory."""

    def __init__(
        self,
        transport: HttpsTransport,
        directory_url: str,
        key: AccountKey,
        *,
        account_url: str = "",
    ) -> None:
        self.transport = transport
        self.directory_url = directory_url
        self.key = key
        self.account_url = account_url
        self._directory: dict[str, Any] = {}
        self._nonces: list[str] = []

    async def directory(self) -> dict[str, Any]:
        """The directory object (7.1.1), fetched once."""
        if not self._directory:
            response = await self.transport.request("GET", self.directory_url)
            if response.status != 200:
                raise _error("directory", response)
            self._directory = response.json()
        return self._directory

    async def _endpoint(self, name: str) -> str:
        url = (await self.directory()).get(name)
        if not isinstance(url, str):
            raise AcmeError(f"the ACME directory has no {name}")
        return url

    async def _nonce(self) -> str:
        if self._nonces:
            return self._nonces.pop()
        response = await self.transport.request("HEAD", await self._endpoint("newNonce"))
        nonce = response.header("Replay-Nonce")
        if nonce is None:
            raise AcmeError("newNonce gave no Replay-Nonce")
        return nonce

    async def post(
        self, url: str, payload: Any | None, *, accept: str = "", jwk: bool = False
    ) -> AcmeResponse:
        """A signed POST (payload None: POST-as-GET); retries badNonce (6.5)."""
        for _ in range(_NONCE_RETRIES):
            body = signed_request(
                self.key,
                url=url,
                nonce=await self._nonce(),
                payload=payload,
                kid=None if jwk else self.account_url or None,
            )
            response = await self.transport.request(
                "POST", url, json.dumps(body).encode("utf-8"), content_type=JOSE, accept=accept
            )
            nonce = response.header("Replay-Nonce")
            if nonce:
                self._nonces.append(nonce)  # every response carries a fresh one (6.5)
            if response.status < 400:
                return response
            problem = _problem(response)
            if problem.get("type") != BAD_NONCE:
                raise _error(f"POST {url}", response)
            log.debug("acme: badNonce from %s, retrying with a fresh nonce", url)
        raise AcmeError(f"POST {url}: the server kept rejecting nonces", BAD_NONCE)

    async def register(self, email: str = "") -> str:
        """Create (or find) the account (7.3); returns and remembers its URL."""
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if email:
            payload["contact"] = [f"mailto:{email}"]
        response = await self.post(await self._endpoint("newAccount"), payload, jwk=True)
        url = response.header("Location")
        if not url:
            raise AcmeError("newAccount gave no account URL")
        self.account_url = url
        return url

    async def new_order(self, names: Sequence[str]) -> AcmeOrder:
        """Ask for a certificate for ``names`` (7.4)."""
        payload = {"identifiers": [{"type": "dns", "value": n} for n in names]}
        response = await self.post(await self._endpoint("newOrder"), payload)
        url = response.header("Location")
        if not url:
            raise AcmeError("newOrder gave no order URL")
        return AcmeOrder(url, response.json())

    async def authorize(
        self, order: AcmeOrder, board: ChallengeBoard, preference: Sequence[str]
    ) -> None:
        """Prove control of every identifier of the order (7.5, 7.5.1) with the first
        challenge type of ``preference`` the server offers."""
        for authz_url in order.body.get("authorizations", []):
            authz = (await self.post(authz_url, None)).json()
            if authz.get("status") == "valid":
                continue  # still valid from an earlier order
            name = str(authz.get("identifier", {}).get("value", ""))
            challenge = _pick(authz.get("challenges", []), preference)
            if challenge is None:
                raise AcmeError(
                    f"{name}: none of the challenge types {list(preference)} is offered"
                )
            token = str(challenge["token"])
            keyauth = key_authorization(token, self.key)
            if challenge["type"] == "http-01":
                board.offer_http(token, keyauth)
            else:
                board.offer_alpn(name, keyauth)
            try:
                await self.post(str(challenge["url"]), {})  # 7.5.1: ready to be checked
                final = await self._poll(authz_url, done=("valid", "invalid"))
            finally:
                board.withdraw(token=token, name=name)
            if final.get("status") != "valid":
                raise AcmeError(
                    f"{name}: authorization {final.get('status')}: {_challenge_error(final)}"
                )
            log.info("acme: %s validated by %s", name, challenge["type"])

    async def finalize(self, order: AcmeOrder, csr_der: bytes) -> str:
        """Send the CSR (7.4) and wait for the order to be valid; the certificate URL."""
        ready = await self._poll(order.url, done=("ready", "valid", "invalid"))
        if ready.get("status") == "invalid":
            raise AcmeError(f"order {order.url} is invalid")
        if ready.get("status") == "ready":
            await self.post(str(ready["finalize"]), {"csr": b64url(csr_der)})
        final = await self._poll(order.url, done=("valid", "invalid"))
        if final.get("status") != "valid" or "certificate" not in final:
            raise AcmeError(
                f"order {order.url} ended {final.get('status')}: "
                f"{final.get('error', {}).get('detail', '')}"
            )
        return str(final["certificate"])

    async def download(self, certificate_url: str) -> bytes:
        """The PEM chain: the certificate, then its issuers (7.4.2)."""
        response = await self.post(certificate_url, None, accept=PEM_CHAIN)
        if b"-----BEGIN CERTIFICATE-----" not in response.body:
            raise AcmeError(f"{certificate_url} gave no PEM certificate chain")
        return response.body

    async def _poll(self, url: str, *, done: tuple[str, ...]) -> dict[str, Any]:
        """POST-as-GET ``url`` until its status is in ``done``, sleeping Retry-After."""
        for _ in range(_POLL_ATTEMPTS):
            response = await self.post(url, None)
            body: dict[str, Any] = response.json()
            if body.get("status") in done:
                return body
            await asyncio.sleep(retry_after(response.header("Retry-After")))
        raise AcmeError(f"{url} stayed {body.get('status')} too long")


def retry_after(value: str | None, now: datetime | None = None) -> float:
    """Seconds to wait from a Retry-After field (RFC 9110 10.2.3: delay-seconds or an
    HTTP-date), bounded to [0, _POLL_MAX_WAIT]; the default when absent or malformed."""
    if value is None:
        return _POLL_DEFAULT
    value = value.strip()
    if value.isdigit():
        return min(float(value), _POLL_MAX_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _POLL_DEFAULT
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, _POLL_MAX_WAIT))


def _pick(challenges: list[dict[str, Any]], preference: Sequence[str]) -> dict[str, Any] | None:
    by_type = {str(c.get("type")): c for c in challenges}
    for kind in preference:
        if kind in by_type and "token" in by_type[kind] and "url" in by_type[kind]:
            return by_type[kind]
    return None


def _challenge_error(authz: dict[str, Any]) -> str:
    for challenge in authz.get("challenges", []):
        error = challenge.get("error")
        if error:
            return f"{error.get('type', '')} {error.get('detail', '')}".strip()
    return "no detail"


def _problem(response: AcmeResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(what: str, response: AcmeResponse) -> AcmeError:
    problem = _problem(response)
    detail = problem.get("detail") or response.body[:200].decode("utf-8", "replace")
    return AcmeError(
        f"{what}: HTTP {response.status} {problem.get('type', '')} {detail}",
        str(problem.get("type", "")),
    )
