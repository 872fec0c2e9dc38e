"""The SASL exchange every protocol uses: raw lines in, a principal or an outcome out; SCRAM
secrets from the authenticator under its throttle; secrets filled in at a password login.

The client side of SCRAM-SHA-256 is scramp's ScramClient.
"""

from __future__ import annotations

import base64
import dataclasses

import pytest
from scramp import ScramClient, ScramException

from posthouse import sasl
from posthouse.auth.authenticator import Principal
from posthouse.auth.passwords import scram_secrets_for
from posthouse.auth.sasl_exchange import ExchangeResult, SaslExchange, SaslOutcome
from tests.unit.test_auth_authenticator import Harness, run

ALICE = "alice@example.org"
IP = "192.0.2.1"
ALL = sasl.mechanisms(secure=True, scram=True)


@pytest.fixture
def h() -> Harness:
    """alice (id 7) as the CLI makes her: argon2 hash and SCRAM secrets."""
    harness = Harness()
    harness.add(ALICE, "s3cret", user_id=7)
    user = harness.accounts.users[ALICE]
    harness.accounts.users[ALICE] = dataclasses.replace(
        user, scram_secrets=scram_secrets_for("s3cret"))
    return harness


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def unb64(challenge: ExchangeResult) -> str:
    assert isinstance(challenge, sasl.Challenge), challenge
    return challenge.data.decode()


def scram_login(h: Harness, username: str, password: str, *, ip: str = IP,
                initial: bool = True) -> tuple[ExchangeResult, ScramClient]:
    """Run a SCRAM-SHA-256 exchange as a real client; the server signature is checked."""
    client = ScramClient(["SCRAM-SHA-256"], username, password)
    exchange = SaslExchange(h.auth, remote_ip=ip, allowed=ALL)

    async def converse() -> ExchangeResult:
        first = b64(client.get_client_first())
        if initial:
            result = await exchange.start("scram-sha-256", first)
        else:
            assert await exchange.start("SCRAM-SHA-256", None) == sasl.Challenge(b"")
            result = await exchange.step(first)
        client.set_server_first(unb64(result))
        result = await exchange.step(b64(client.get_client_final()))
        if not isinstance(result, sasl.Challenge):
            return result
        client.set_server_final(unb64(result))  # raises if the signature is wrong
        return await exchange.step(b"")

    return run(converse()), client


@pytest.mark.parametrize("initial", [True, False])
def test_scram_login_proves_both_sides(h: Harness, initial: bool) -> None:
    result, _client = scram_login(h, ALICE, "s3cret", initial=initial)
    assert result == Principal(7, ALICE)
    assert h.sleeps == []
    assert h.hasher.verifications == []  # no argon2: SCRAM checks the proof itself


def test_scram_username_is_case_insensitive(h: Harness) -> None:
    assert scram_login(h, "Alice@Example.ORG", "s3cret")[0] == Principal(7, ALICE)


@pytest.mark.parametrize("username", [ALICE, "mallory@example.org"])
def test_wrong_password_and_unknown_user_fail_alike(h: Harness, username: str) -> None:
    result, _client = scram_login(h, username, "wrong")
    assert result is SaslOutcome.REJECTED
    assert h.sleeps == [0.5]  # a failed login for the throttle, like a wrong password


def test_account_without_secrets_fails_like_a_wrong_password(h: Harness) -> None:
    h.add("old@example.org", "pw", user_id=8)  # made before SCRAM secrets existed
    assert scram_login(h, "old@example.org", "pw")[0] is SaslOutcome.REJECTED
    assert h.sleeps == [0.5]


def test_first_password_login_adds_secrets_once(h: Harness) -> None:
    h.add("old@example.org", "pw", user_id=8)
    assert h.login("old@example.org", "pw") == Principal(8, "old@example.org")
    assert h.login("old@example.org", "pw") is not None  # cached: nothing derived again
    assert h.accounts.filled == ["old@example.org"]
    assert scram_login(h, "old@example.org", "pw")[0] == Principal(8, "old@example.org")
    assert h.login(ALICE, "s3cret") is not None  # has secrets: none derived
    assert h.accounts.filled == ["old@example.org"]


def test_a_password_saslprep_refuses_gets_no_secrets(h: Harness) -> None:
    h.add("odd@example.org", "pass\u0007word", user_id=9)  # a control character
    assert h.login("odd@example.org", "pass\u0007word") is not None
    assert h.accounts.filled == []


def test_refused_source_gets_no_server_signature() -> None:
    """While the throttle refuses a source, even the right password fails at the proof, so
    the server-final message cannot tell a guess was right."""
    h = Harness(max_failures=2, lockout=60)
    h.add(ALICE, "s3cret", user_id=7)
    h.accounts.users[ALICE] = dataclasses.replace(
        h.accounts.users[ALICE], scram_secrets=scram_secrets_for("s3cret"))
    scram_login(h, ALICE, "x")
    scram_login(h, ALICE, "x")
    assert h.auth.refused_for(IP) == 60
    assert scram_login(h, ALICE, "s3cret")[0] is SaslOutcome.REJECTED
    h.clock.mono += 61
    assert scram_login(h, ALICE, "s3cret")[0] == Principal(7, ALICE)


def test_tampered_server_signature_is_caught_by_the_client(h: Harness) -> None:
    client = ScramClient(["SCRAM-SHA-256"], ALICE, "s3cret")
    exchange = SaslExchange(h.auth, remote_ip=IP, allowed=ALL)

    async def converse() -> None:
        client.set_server_first(unb64(await exchange.start("SCRAM-SHA-256",
                                                           b64(client.get_client_first()))))
        final = unb64(await exchange.step(b64(client.get_client_final())))
        with pytest.raises(ScramException):
            client.set_server_final(final[:-4] + "AAA=")

    run(converse())


@pytest.mark.parametrize(("mechanism", "initial", "outcome"), [
    ("PLAIN", b"*", SaslOutcome.CANCELLED),
    ("PLAIN", b"AGE", SaslOutcome.BAD_BASE64),
    ("PLAIN", b"!!!!", SaslOutcome.BAD_BASE64),
    ("PLAIN", b"=", SaslOutcome.MALFORMED),  # empty: no PLAIN message
    ("PLAIN", b64("bob@example.org\0alice@example.org\0s3cret"), SaslOutcome.REJECTED),
    ("SCRAM-SHA-256", b64("p=tls-unique,,n=alice@example.org,r=abc"), SaslOutcome.MALFORMED),
    ("SCRAM-SHA-256", b64("n,,n=alice@example.org"), SaslOutcome.MALFORMED),
])
def test_mechanism_failures_map_to_outcomes(h: Harness, mechanism: str, initial: bytes,
                                            outcome: SaslOutcome) -> None:
    exchange = SaslExchange(h.auth, remote_ip=IP, allowed=ALL)
    assert run(exchange.start(mechanism, initial)) is outcome
    assert h.sleeps == []  # only wrong credentials or proofs count for the throttle
    assert exchange.failure is not None


def test_plain_and_login_verify_the_password(h: Harness) -> None:
    exchange = SaslExchange(h.auth, remote_ip=IP, allowed=ALL)
    assert run(exchange.start("PLAIN", b64(f"\0{ALICE}\0s3cret"))) == Principal(7, ALICE)
    exchange = SaslExchange(h.auth, remote_ip=IP, allowed=ALL)
    assert run(exchange.start("LOGIN", None)) == sasl.Challenge(b"Username:")
    assert run(exchange.step(b64(ALICE))) == sasl.Challenge(b"Password:")
    assert run(exchange.step(b64("nope"))) is SaslOutcome.REJECTED
    assert h.sleeps == [0.5]


def test_mechanisms_outside_allowed_are_refused(h: Harness) -> None:
    exchange = SaslExchange(h.auth, remote_ip=IP, allowed=sasl.mechanisms(secure=False))
    with pytest.raises(sasl.MechanismNotAllowed):
        run(exchange.start("SCRAM-SHA-256", None))
    with pytest.raises(sasl.UnknownMechanism):
        run(exchange.start("SCRAM-SHA-256-PLUS", None))
