"""PLAIN (RFC 4616) and LOGIN step machines, the registry, and the shared line decoding."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse import sasl
from posthouse.sasl import Challenge, Credentials, Failure, FailureReason
from posthouse.wire import LocalProtocolError


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# --- PLAIN -------------------------------------------------------------------------------


def test_plain_initial_response() -> None:
    mech = sasl.start("PLAIN")
    result = mech.step(b64(b"\x00alice@example.org\x00s3cret"))
    assert result == Credentials("alice@example.org", "s3cret", None)
    assert mech.done


def test_plain_without_initial_response_sends_empty_challenge() -> None:
    mech = sasl.start(b"plain")
    first = mech.step(None)
    assert first == Challenge(b"")
    assert first.encoded() == b""
    assert mech.step(b64(b"\x00bob\x00pw")) == Credentials("bob", "pw", None)


@pytest.mark.parametrize(
    ("authzid", "expected"),
    [
        (b"alice@example.org", "alice@example.org"),
        (b"ALICE@Example.org", "ALICE@Example.org"),  # same user, other case
    ],
)
def test_plain_authzid_equal_to_authcid_is_accepted(authzid: bytes, expected: str) -> None:
    result = sasl.start("PLAIN").step(b64(authzid + b"\x00alice@example.org\x00pw"))
    assert result == Credentials("alice@example.org", "pw", expected)


def test_plain_authzid_mismatch_fails() -> None:
    result = sasl.start("PLAIN").step(b64(b"root\x00alice@example.org\x00pw"))
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.AUTHZID_MISMATCH


@pytest.mark.parametrize(
    "message",
    [
        b"alice\x00pw",  # one NUL
        b"\x00alice\x00pw\x00",  # three NULs
        b"\x00\x00pw",  # empty authcid
        b"\x00alice\x00",  # empty password
        b"\x00al\xffice\x00pw",  # not UTF-8
        b"",
    ],
)
def test_plain_malformed_messages(message: bytes) -> None:
    result = sasl.start("PLAIN").step(b64(message))
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


def test_plain_password_may_contain_spaces_and_utf8() -> None:
    result = sasl.start("PLAIN").step(b64("\x00jörg@example.org\x00pass wörd ".encode()))
    assert result == Credentials("jörg@example.org", "pass wörd ", None)


def test_plain_empty_initial_response_then_message() -> None:
    """RFC 4954 4: "=" is an empty initial response; PLAIN then fails on the empty message."""
    result = sasl.start("PLAIN").step(b"=")
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


def test_plain_repr_hides_password() -> None:
    result = sasl.start("PLAIN").step(b64(b"\x00a\x00hunter2"))
    assert "hunter2" not in repr(result)


# --- LOGIN -------------------------------------------------------------------------------


def test_login_happy_path() -> None:
    mech = sasl.start("LOGIN")
    assert mech.step(None) == Challenge(b"Username:")
    assert mech.step(b64(b"alice@example.org")) == Challenge(b"Password:")
    assert mech.step(b64(b"s3cret")) == Credentials("alice@example.org", "s3cret", None)
    assert mech.done


def test_login_with_initial_response_skips_username_prompt() -> None:
    mech = sasl.start("LOGIN")
    assert mech.step(b64(b"alice")) == Challenge(b"Password:")
    assert mech.step(b64(b"pw")) == Credentials("alice", "pw", None)


def test_login_empty_initial_response_asks_for_username() -> None:
    mech = sasl.start("LOGIN")
    assert mech.step(b"=") == Challenge(b"Username:")
    assert mech.step(b64(b"alice")) == Challenge(b"Password:")


def test_login_challenge_encoding() -> None:
    assert sasl.start("LOGIN").step(None).encoded() == b"VXNlcm5hbWU6"  # type: ignore[union-attr]


@pytest.mark.parametrize("line", [b"", b64(b"al\xffice"), b64(b"a\x00b")])
def test_login_rejects_bad_username(line: bytes) -> None:
    mech = sasl.start("LOGIN")
    mech.step(None)
    result = mech.step(line)
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


def test_login_rejects_empty_password() -> None:
    mech = sasl.start("LOGIN")
    mech.step(b64(b"alice"))
    result = mech.step(b"")
    assert isinstance(result, Failure)


# --- shared line handling ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
@pytest.mark.parametrize("initial", [True, False])
def test_cancellation(name: str, initial: bool) -> None:
    mech = sasl.start(name)
    if not initial:
        assert isinstance(mech.step(None), Challenge)
    result = mech.step(b"*")
    assert result == Failure(FailureReason.CANCELLED, "authentication cancelled")
    assert mech.done


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
@pytest.mark.parametrize("line", [b"not base64!", b"QUJD=", b"QQ", b"Q\x00==", b"=="])
def test_bad_base64(name: str, line: bytes) -> None:
    result = sasl.start(name).step(line)
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


def test_equals_is_only_special_for_the_initial_response() -> None:
    mech = sasl.start("LOGIN")
    mech.step(None)
    result = mech.step(b"=")
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.MALFORMED


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN"])
def test_overlong_response_is_bounded(name: str) -> None:
    result = sasl.start(name).step(b"QUFB" * (sasl.MAX_RESPONSE_OCTETS // 4 + 1))
    assert isinstance(result, Failure)
    assert result.reason is FailureReason.TOO_LONG


def test_surrounding_blanks_are_tolerated() -> None:
    result = sasl.start("PLAIN").step(b"  " + b64(b"\x00a\x00b") + b" ")
    assert result == Credentials("a", "b", None)


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN"])
def test_step_after_done_is_a_local_error(name: str) -> None:
    mech = sasl.start(name)
    mech.step(b"*")
    with pytest.raises(LocalProtocolError):
        mech.step(b"")


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN"])
def test_none_after_first_step_is_a_local_error(name: str) -> None:
    mech = sasl.start(name)
    mech.step(None)
    with pytest.raises(LocalProtocolError):
        mech.step(None)


# --- registry ----------------------------------------------------------------------------


def test_mechanisms_depend_on_channel_security() -> None:
    assert sasl.mechanisms(secure=False) == ()
    assert sasl.mechanisms(secure=True) == ("PLAIN", "LOGIN")
    assert sasl.mechanisms(secure=False, scram=True) == ("SCRAM-SHA-256",)
    assert sasl.mechanisms(secure=True, scram=True) == ("SCRAM-SHA-256", "PLAIN", "LOGIN")


@pytest.mark.parametrize("name", ["CRAM-MD5", "XOAUTH2", "", "X" * 21, b"PL\xc3\x84IN"])
def test_unknown_mechanism(name: str | bytes) -> None:
    with pytest.raises(sasl.UnknownMechanism):
        sasl.start(name)


def test_mechanism_not_allowed_on_insecure_channel() -> None:
    with pytest.raises(sasl.MechanismNotAllowed):
        sasl.start("plain", allowed=sasl.mechanisms(secure=False))
    assert isinstance(sasl.start("plain", allowed=("PLAIN",)), sasl.PlainMechanism)


def test_errors_share_a_base_class() -> None:
    assert issubclass(sasl.UnknownMechanism, sasl.SaslError)
    assert issubclass(sasl.MechanismNotAllowed, sasl.SaslError)


# --- properties --------------------------------------------------------------------------


@given(name=st.sampled_from(["PLAIN", "LOGIN", "SCRAM-SHA-256"]),
       lines=st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_any_input_gives_a_step_result(name: str, lines: list[bytes]) -> None:
    """Arbitrary client lines only ever produce step results, never an exception."""
    mech = sasl.start(name)
    for line in lines:
        if mech.done:
            break
        result = mech.step(line)
        if isinstance(result, sasl.NeedSecrets):
            assert isinstance(mech, sasl.ScramSha256)
            mech.provide_secrets(None)
        else:
            assert isinstance(result, (Challenge, Credentials, Failure, sasl.Verified))


@given(authcid=st.text(min_size=1).filter(lambda s: "\x00" not in s),
       password=st.text(min_size=1).filter(lambda s: "\x00" not in s))
def test_plain_roundtrip(authcid: str, password: str) -> None:
    message = b"\x00" + authcid.encode() + b"\x00" + password.encode()
    assert sasl.start("PLAIN").step(b64(message)) == Credentials(authcid, password, None)
