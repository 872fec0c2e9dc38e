"""ESMTP parameters (RFC 1870, 6152, 6531, 4954 5, 3461 4, 3030) and xtext."""

from __future__ import annotations

import pytest

from posthouse.smtp.params import (
    MailParams,
    Offered,
    Orcpt,
    ParamError,
    RcptParams,
    parse_mail_params,
    parse_rcpt_params,
    split_params,
    xtext_decode,
    xtext_encode,
)

ALL = Offered(size=True, eightbitmime=True, binarymime=True, smtputf8=True, dsn=True,
              auth=True, max_size=1000)
NONE = Offered()


def mail_error(text: str, offered: Offered = ALL) -> tuple[int, str | None]:
    with pytest.raises(ParamError) as info:
        parse_mail_params(text, offered)
    return info.value.reply.code, info.value.reply.enhanced


def rcpt_error(text: str, offered: Offered = ALL) -> tuple[int, str | None]:
    with pytest.raises(ParamError) as info:
        parse_rcpt_params(text, offered)
    return info.value.reply.code, info.value.reply.enhanced


def test_no_params() -> None:
    assert parse_mail_params("", NONE) == MailParams()
    assert parse_rcpt_params("", NONE) == RcptParams()


def test_all_mail_params() -> None:
    got = parse_mail_params(
        " SIZE=1000 BODY=8bitmime SMTPUTF8 AUTH=<> RET=hdrs ENVID=QQ+2Bx", ALL)
    assert got == MailParams(size=1000, body="8BITMIME", smtputf8=True, auth="<>", ret="HDRS",
                             envid="QQ+x")


def test_keywords_are_case_insensitive_and_extra_spaces_tolerated() -> None:
    assert parse_mail_params("  size=5   body=7bit ", ALL) == MailParams(size=5, body="7BIT")


def test_auth_param_is_xtext() -> None:
    assert parse_mail_params(" AUTH=e+3Dmc2@example.com", ALL).auth == "e=mc2@example.com"


def test_size_over_limit_is_552() -> None:
    # RFC 1870 6.1: the server refuses at MAIL when the declared size is too big.
    assert mail_error(" SIZE=1001") == (552, "5.3.4")


@pytest.mark.parametrize("value", ["SIZE", "SIZE=", "SIZE=-1", "SIZE=1x", "SIZE=" + "9" * 21,
                                   "SIZE=\uff11\uff12"])
def test_bad_size(value: str) -> None:
    assert mail_error(" " + value) == (501, "5.5.4")


def test_body_values() -> None:
    assert parse_mail_params(" BODY=BINARYMIME", ALL).body == "BINARYMIME"
    assert mail_error(" BODY=QUOTED") == (501, "5.5.4")
    only8 = Offered(eightbitmime=True)
    assert mail_error(" BODY=BINARYMIME", only8) == (501, "5.5.4")
    assert parse_mail_params(" BODY=7BIT", only8).body == "7BIT"


def test_smtputf8_takes_no_value() -> None:
    assert mail_error(" SMTPUTF8=yes") == (501, "5.5.4")


@pytest.mark.parametrize("value", ["RET=ALL", "RET", "ENVID=" + "a" * 101, "ENVID=a+zz",
                                   "ENVID=a+2b", "ENVID=+FF"])
def test_bad_dsn_mail_values(value: str) -> None:
    assert mail_error(" " + value) == (501, "5.5.4")


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        (" SIZE=1", NONE),
        (" BODY=8BITMIME", NONE),
        (" SMTPUTF8", NONE),
        (" AUTH=<>", NONE),
        (" RET=FULL", NONE),
        (" ENVID=x", NONE),
        (" FOO=bar", ALL),
        (" SIZE=1 SIZE=2", ALL),  # duplicated
        (" size=1 SIZE=1", ALL),
    ],
)
def test_unknown_unoffered_or_repeated_mail_params_are_555(text: str, offered: Offered) -> None:
    assert mail_error(text, offered) == (555, "5.5.4")


@pytest.mark.parametrize("text", [" =x", " -A=1", " A=b=c", " A=", " A\x7f=1", " A=ü"])
def test_param_syntax(text: str) -> None:
    assert mail_error(text)[0] == 501


def test_too_many_params() -> None:
    text = "".join(f" X{i}=1" for i in range(17))
    assert mail_error(text) == (501, "5.5.4")
    assert mail_error(" " * 200 + "SIZE=1")[0] == 501  # the split is bounded


def test_rcpt_dsn_params() -> None:
    got = parse_rcpt_params(" NOTIFY=success,DELAY ORCPT=RFC822;a+2Bb@example.org", ALL)
    assert got == RcptParams(notify=("SUCCESS", "DELAY"),
                             orcpt=Orcpt("rfc822", "a+b@example.org"))
    assert got.orcpt is not None
    assert got.orcpt.text == "rfc822;a+b@example.org"
    assert parse_rcpt_params(" NOTIFY=NEVER", ALL).notify == ("NEVER",)


@pytest.mark.parametrize(
    "value",
    ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SUCCESS,SUCCESS", "NOTIFY=", "NOTIFY=MAYBE",
     "NOTIFY=SUCCESS,FAILURE,DELAY,NEVER,X", "ORCPT=rfc822", "ORCPT=;a@b", "ORCPT=rfc822;",
     "ORCPT=rfc822;" + "a" * 500, "ORCPT=rfc 822;a"],
)
def test_bad_rcpt_values(value: str) -> None:
    assert rcpt_error(" " + value) == (501, "5.5.4")


def test_rcpt_params_need_dsn() -> None:
    assert rcpt_error(" NOTIFY=NEVER", NONE) == (555, "5.5.4")
    assert rcpt_error(" SIZE=1", ALL) == (555, "5.5.4")


@pytest.mark.parametrize(
    ("plain", "encoded"),
    [("abc", "abc"), ("a+b", "a+2Bb"), ("a=b", "a+3Db"), ("a b", "a+20b"), ("", ""),
     ("é", "+C3+A9"), ("~!", "~!")],
)
def test_xtext_round_trip(plain: str, encoded: str) -> None:
    assert xtext_encode(plain) == encoded
    assert xtext_decode(encoded) == plain


@pytest.mark.parametrize("bad", ["a+", "a+2", "+2g", "a=b", "a b", "+ff", "+C3"])
def test_bad_xtext(bad: str) -> None:
    with pytest.raises(ParamError):
        xtext_decode(bad)


def test_split_params_keeps_raw_values() -> None:
    assert split_params(" A=1 b c=Zz") == [("A", "1"), ("B", None), ("C", "Zz")]
