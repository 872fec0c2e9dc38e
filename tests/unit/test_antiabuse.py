"""The [antiabuse] section and the mechanisms under it: DNSBL query names (RFC 5782 2.1,
2.4), the IPv6 /64 rate key, the fixed rate window, and greylist timing (RFC 6647) on a
stepped clock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from posthouse.config import ConfigError, config_from_dict
from posthouse.delivery.blocklists import ip_query_name
from posthouse.delivery.greylist import Greylist, GreylistTimes
from posthouse.delivery.rates import Limit, RateLimiter, ip_key
from posthouse.delivery.rspamd import RspamdError, parse_verdict


def test_defaults_filter_nothing_but_pause_the_greeting() -> None:
    ab = config_from_dict({}).antiabuse
    assert (ab.ip_blocklists, ab.domain_blocklists, ab.greylist, ab.rspamd_url) == (
        [], [], False, "")
    assert ab.greet_pause_ms == 1000
    assert ab.ip_messages_per_window >= 1000


@pytest.mark.parametrize(("raw", "why"), [
    ({"ip_blocklists": ["zen.test"], "blocklist_actions": {"other.test": "reject"}},
     "no such blocklist"),
    ({"ip_blocklists": ["zen.test"], "blocklist_actions": {"zen.test": "drop"}},
     "reject|junk|ignore"),
    ({"ip_blocklists": ["zen.test"], "blocklist_actions": {"zen.test:10.0.0.2": "junk"}},
     "127.0.0.0/8"),
    ({"ip_blocklists": [".zen.test"]}, "not a domain name"),
    ({"greylist_delay_seconds": 600, "greylist_retry_seconds": 300}, "must exceed"),
    ({"rate_window_seconds": 0}, "must be positive"),
    ({"ip_messages_per_window": -1}, "must not be negative"),
    ({"rspamd_url": "https://127.0.0.1:11333"}, "http://"),
    ({"greet_pause_ms": 0.5}, "an integer"),
])
def test_antiabuse_errors(raw: dict[str, object], why: str) -> None:
    with pytest.raises(ConfigError, match=r"\[antiabuse\].*" + why.replace("|", r"\|")):
        config_from_dict({"antiabuse": raw})


def test_dnsbl_query_names() -> None:
    assert ip_query_name("192.0.2.99", "zen.test") == "99.2.0.192.zen.test"
    assert ip_query_name("::ffff:192.0.2.99", "zen.test") == "99.2.0.192.zen.test"
    # RFC 5782 2.4: every nibble of the address, reversed
    assert ip_query_name("2001:db8:1:2:3:4:567:89ab", "v6.test") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.v6.test")


def test_rate_keys_fold_ipv6_to_its_64() -> None:
    assert ip_key("2001:db8::1") == ip_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert ip_key("192.0.2.7") == "192.0.2.7/32"
    assert ip_key("192.0.2.7", v4_prefix=24) == "192.0.2.0/24"


def test_rate_window_resets() -> None:
    now = [0.0]
    rates = RateLimiter(60, now=lambda: now[0])
    keys = {"ip:a": Limit(messages=2, recipients=2)}
    for _ in range(2):
        assert rates.message_allowed(keys)
        rates.count_message(keys)
    assert not rates.message_allowed(keys)
    assert rates.take_recipient(keys)
    assert rates.take_recipient(keys)
    assert not rates.take_recipient(keys)
    assert rates.seconds_left(keys) == 61
    now[0] = 60.0
    assert rates.message_allowed(keys)
    assert rates.take_recipient(keys)


def test_greylist_timing_and_file(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "greylist.json"

    async def run() -> list[float]:
        grey = Greylist(path, GreylistTimes(delay=300, retry=3600, passed=86400),
                        now=lambda: now[0])
        waits = [await grey.check("192.0.2.0/24", "a@x.test", "b@y.test")]
        now[0] += 100
        waits.append(await grey.check("192.0.2.0/24", "a@x.test", "b@y.test"))
        now[0] += 250
        waits.append(await grey.check("192.0.2.0/24", "A@x.test", "b@y.test"))
        waits.append(await grey.check("192.0.2.0/24", "new@x.test", "c@y.test"))
        now[0] += 7200  # a first sight whose retry never came in its window is new again
        waits.append(await grey.check("198.51.100.0/24", "a@x.test", "b@y.test"))
        await grey.flush()
        return waits

    assert asyncio.run(run()) == [300, 200, 0, 0, 300]
    saved = json.loads(path.read_text())
    assert "192.0.2.0/24" in saved["clients"]
    assert path.stat().st_mode & 0o077 == 0


def test_unreadable_rspamd_answers_raise() -> None:
    with pytest.raises(RspamdError):
        parse_verdict(b"<html>")
    with pytest.raises(RspamdError):
        parse_verdict(b'{"score": 1}')
    verdict = parse_verdict(b'{"action": "add header", "score": 7.5, "required_score": 15,'
                            b' "symbols": {"B": {"score": 2}, "A": {"score": 5.5}}}')
    assert verdict.is_spam
    assert verdict.symbols == ("A(5.50)", "B(2.00)")
    assert verdict.fields().startswith(b"X-Spam: Yes\r\nX-Spam-Score: 7.50 / 15.00\r\n")
