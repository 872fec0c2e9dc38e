"""MTA-STS record and policy parsing (RFC 8461 3.1, 3.2), MX patterns (4.1), the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posthouse.net.certs import name_matches
from posthouse.queue.mta_sts import PolicyCache, PolicyError, parse_policy, parse_txt
from posthouse.queue.tlsrpt_report import parse_tlsrpt_record

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_txt_record_id() -> None:
    assert parse_txt(("v=STSv1; id=20160831085700Z;",)) == "20160831085700Z"
    assert parse_txt(("v=STSv1;id=abc",)) == "abc"
    assert parse_txt(("something else", "v=STSv1; id=1")) == "1"  # others discarded


@pytest.mark.parametrize("records", [(), ("v=spf1 -all",),
                                     ("v=STSv1; id=1", "v=STSv1; id=2")])
def test_not_exactly_one_record_means_no_policy(records: tuple[str, ...]) -> None:
    assert parse_txt(records) is None


@pytest.mark.parametrize("record", ["v=STSv1; id=", "v=STSv1; id=has-dash",
                                    "v=STSv1; id=" + "a" * 33, "v=STSv1;"])
def test_bad_id_is_an_error(record: str) -> None:
    with pytest.raises(PolicyError):
        parse_txt((record,))


def test_policy_fields() -> None:
    text = ("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
            "mx: backupmx.example.com\r\nmax_age: 604800\r\nextension: ignored\r\n")
    p = parse_policy(text, policy_id="x", fetched=NOW)
    assert (p.mode, p.max_age, p.policy_id) == ("enforce", 604800, "x")
    assert p.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert p.matches("MAIL.example.com")
    assert p.matches("a.example.net")
    assert not p.matches("a.b.example.net")  # the wildcard is one label only
    assert not p.matches("example.net")
    assert not p.expired(NOW + timedelta(seconds=604799))
    assert p.expired(NOW + timedelta(seconds=604800))


def test_policy_with_lf_only_and_max_age_capped() -> None:
    p = parse_policy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 9999999999\n",
                     policy_id="1", fetched=NOW)
    assert p.mode == "testing"
    assert p.max_age == 31557600  # RFC 8461 3.2: at most a year


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 1\n", policy_id="1",
                        fetched=NOW).mx == ()


@pytest.mark.parametrize("text", [
    "mode: enforce\nmx: a.test\nmax_age: 1\n",  # no version
    "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
    "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmax_age: 1\n",  # no mx
    "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: soon\n",
    "version: STSv1\nmode: enforce\nmx: a.test\n",  # no max_age
])
def test_invalid_policies(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text, policy_id="1", fetched=NOW)


def test_name_matches() -> None:
    assert name_matches("*.example.com", "mx.example.com")
    assert not name_matches("*.example.com", "example.com")
    assert not name_matches("*.example.com", "a.mx.example.com")
    assert name_matches("MX.Example.com.", "mx.example.com")
    assert not name_matches("mx.example.com", "mx2.example.com")


def test_cache_round_trip_and_damaged_file(tmp_path: Path) -> None:
    cache = PolicyCache(tmp_path / "sts")
    assert cache.get("peer.test") is None
    p = parse_policy("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 60\n",
                     policy_id="7", fetched=NOW)
    cache.put("peer.test", p)
    assert cache.get("PEER.test") == p
    (tmp_path / "sts" / "peer.test.json").write_text("{not json")
    assert cache.get("peer.test") is None


def test_tlsrpt_record() -> None:
    assert parse_tlsrpt_record(("v=TLSRPTv1; rua=mailto:a@x.test,mailto:b@y.test",)) == [
        "a@x.test", "b@y.test"]
    assert parse_tlsrpt_record(("v=TLSRPTv1;rua=https://r.test/x,mailto:c@z.test",)) == [
        "c@z.test"]  # https reporting is not supported: skipped
    assert parse_tlsrpt_record(("v=TLSRPTv1; rua=mailto:a@x.test",
                                "v=TLSRPTv1; rua=mailto:b@x.test")) == []
    assert parse_tlsrpt_record(("v=spf1 -all",)) == []
