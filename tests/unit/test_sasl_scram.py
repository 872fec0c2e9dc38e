"""SCRAM-SHA-256 (RFC 5802, RFC 7677) with the RFC 7677 section 3 example exchange."""

from __future__ import annotations

import base64

import pytest

from posthouse import sasl
from posthouse.sasl import Challenge, Failure, FailureReason, NeedSecrets, Verified
from posthouse.sasl.scram import ScramSecrets, derive_secrets, saslprep

CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def secrets_for(password: str) -> ScramSecrets:
    return derive_secrets(password, salt=SALT, iterations=4096)


def first_round(mech: sasl.ScramSha256, client_first: bytes) -> sasl.Step:
    return mech.step(b64(client_first))


def test_rfc7677_example() -> None:
    mech = sasl.ScramSha256(nonce=SERVER_NONCE)
    assert first_round(mech, b"n,,n=user,r=" + CLIENT_NONCE.encode()) == NeedSecrets("user")
    server_first = mech.provide_secrets(secrets_for("pencil"))
    assert server_first.data == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert mech.step(b64(CLIENT_FINAL)) == Challenge(
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    )
    assert mech.step(b"") == Verified("user")
    assert mech.done


def test_wrong_password_fails_proof() -> None:
    mech = sasl.ScramSha256(nonce=SERVER_NONCE)
    first_round(mech, b"n,,n=user,r=" + CLIENT_NONCE.encode())
    mech.provide_secrets(secrets_for("not pencil"))
    result = mech.step(b64(CLIENT_FINAL))
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.INVALID_PROOF


def test_unknown_user_gets_stable_fake_salt_and_fails() -> None:
    salts = []
    for _ in range(2):
        mech = sasl.ScramSha256(nonce=SERVER_NONCE)
        first_round(mech, b"n,,n=nobody,r=" + CLIENT_NONCE.encode())
        salts.append(mech.provide_secrets(None).data.split(b",")[1])
        result = mech.step(b64(CLIENT_FINAL))
        assert isinstance(result, Failure)
        assert result.reason in (FailureReason.INVALID_PROOF, FailureReason.MALFORMED)
    assert salts[0] == salts[1]


def test_without_initial_response_sends_empty_challenge() -> None:
    mech = sasl.ScramSha256()
    assert mech.step(None) == Challenge(b"")
    assert isinstance(mech.step(b64(b"n,,n=user,r=abc")), NeedSecrets)


@pytest.mark.parametrize(
    ("client_first", "reason"),
    [
        (b"p=tls-unique,,n=user,r=abc", FailureReason.UNSUPPORTED),
        (b"n,,m=ext,n=user,r=abc", FailureReason.UNSUPPORTED),
        (b"n,a=admin,n=user,r=abc", FailureReason.AUTHZID_MISMATCH),
        (b"x,,n=user,r=abc", FailureReason.MALFORMED),
        (b"n,,n=user", FailureReason.MALFORMED),
        (b"n,,n=us=41er,r=abc", FailureReason.MALFORMED),
        (b"n,,n=,r=abc", FailureReason.MALFORMED),
        (b"n,,r=abc,n=user", FailureReason.MALFORMED),
        (b"n,,n=user,r=", FailureReason.MALFORMED),
        (b"n,b,n=user,r=abc", FailureReason.MALFORMED),
        (b"n,,n=\xff,r=abc", FailureReason.MALFORMED),
    ],
)
def test_bad_client_first(client_first: bytes, reason: FailureReason) -> None:
    result = sasl.ScramSha256().step(b64(client_first))
    assert isinstance(result, Failure)
    assert result.reason is reason


def test_saslname_escapes_and_matching_authzid() -> None:
    result = sasl.ScramSha256().step(b64(b"y,a=a=2Cb=3Dc,n=A=2Cb=3Dc,r=abc"))
    assert result == NeedSecrets("A,b=c", "a,b=c")


@pytest.mark.parametrize(
    "client_final",
    [
        b"c=eSws,r=" + CLIENT_NONCE.encode() + SERVER_NONCE.encode() + b",p=AAAA",  # cb "y,,"
        b"c=biws,r=wrongnonce,p=" + b64(bytes(32)),
        b"c=biws,r=" + CLIENT_NONCE.encode() + SERVER_NONCE.encode() + b",p=!!",
        b"c=biws,r=" + CLIENT_NONCE.encode() + SERVER_NONCE.encode() + b",p=" + b64(b"short"),
        b"c=biws,p=" + b64(bytes(32)),
    ],
)
def test_bad_client_final(client_final: bytes) -> None:
    mech = sasl.ScramSha256(nonce=SERVER_NONCE)
    first_round(mech, b"n,,n=user,r=" + CLIENT_NONCE.encode())
    mech.provide_secrets(secrets_for("pencil"))
    result = mech.step(b64(client_final))
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


def test_non_empty_final_ack_fails() -> None:
    mech = sasl.ScramSha256(nonce=SERVER_NONCE)
    first_round(mech, b"n,,n=user,r=" + CLIENT_NONCE.encode())
    mech.provide_secrets(secrets_for("pencil"))
    mech.step(b64(CLIENT_FINAL))
    assert isinstance(mech.step(b64(b"extra")), Failure)


def test_secrets_text_roundtrip() -> None:
    stored = secrets_for("pencil")
    text = stored.to_string()
    assert text.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    assert ScramSecrets.parse(text) == stored


@pytest.mark.parametrize(
    "text", ["", "SCRAM-SHA-1$4096:AA==$AA==:AA==", "SCRAM-SHA-256$x:AA==$AA==:AA==",
             "SCRAM-SHA-256$4096:AA==$AA==:AA=="],
)
def test_secrets_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        ScramSecrets.parse(text)


def test_saslprep() -> None:
    assert saslprep("I\u00adX") == "IX"  # soft hyphen mapped to nothing
    assert saslprep("a\u00a0b") == "a b"  # non-ASCII space mapped to space
    assert saslprep("\u2168") == "IX"  # NFKC
    with pytest.raises(ValueError, match="prohibits"):
        saslprep("a\x07b")
