"""RFC 5321 section 5 routing: MX order, implicit MX, null MX, overrides, IDN."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from posthouse.config import QueueConfig
from posthouse.dns.idn import canonical_address, to_alabel
from posthouse.dns.resolver import (
    AddressAnswer,
    MxAnswer,
    MxHost,
    NoRecords,
    NullMx,
    TempFail,
    TxtAnswer,
)
from posthouse.queue.mx import (
    Hop,
    MxRoute,
    RouteFailure,
    Routing,
    Target,
    TlsMode,
    drop_self,
    order_mx,
)


@dataclass
class FakeResolver:
    mx_answers: dict[str, MxAnswer] = field(default_factory=dict)
    addresses: dict[str, AddressAnswer] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def mx(self, domain: str) -> MxAnswer:
        self.asked.append(domain)
        return self.mx_answers.get(domain, NoRecords(nxdomain=True))

    async def a_aaaa(self, host: str) -> AddressAnswer:
        self.asked.append(host)
        return self.addresses.get(host, NoRecords(nxdomain=True))

    async def txt(self, name: str) -> TxtAnswer:
        return NoRecords()


def route(resolver: FakeResolver, domain: str, **cfg: object) -> MxRoute | RouteFailure:
    routing = Routing(QueueConfig(**cfg), resolver, "mx.example.test",  # type: ignore[arg-type]
                      random.Random(1))
    return asyncio.run(routing.route(domain))


def test_order_by_preference() -> None:
    records = (MxHost(30, "c"), MxHost(10, "a"), MxHost(20, "b"))
    assert [r.host for r in order_mx(records, random.Random(0))] == ["a", "b", "c"]


def test_equal_preferences_are_shuffled() -> None:
    """RFC 5321 5.1: random order among equal preferences spreads the load."""
    records = (MxHost(10, "a"), MxHost(10, "b"), MxHost(10, "c"), MxHost(5, "first"))
    seen = set()
    for seed in range(50):
        ordered = [r.host for r in order_mx(records, random.Random(seed))]
        assert ordered[0] == "first"
        seen.add(tuple(ordered[1:]))
    assert len(seen) == 6  # every permutation of the three turns up


def test_own_host_and_worse_are_dropped() -> None:
    """RFC 5321 5.1: only MX hosts better than ourselves are tried."""
    records = [MxHost(5, "better"), MxHost(10, "mx.example.test"), MxHost(20, "worse")]
    assert drop_self(records, "MX.example.test") == [MxHost(5, "better")]
    assert drop_self(records[1:], "mx.example.test") is None
    assert drop_self(records, "other") == records


def test_mx_route() -> None:
    res = FakeResolver({"peer.test": (MxHost(20, "mx2.peer.test"), MxHost(10, "mx1.peer.test"))})
    assert route(res, "peer.test") == MxRoute(
        (Hop("mx1.peer.test", 25), Hop("mx2.peer.test", 25)), policy_domain="peer.test")


def test_null_mx_is_permanent() -> None:
    """RFC 7505 3: 5.1.10 without any connection."""
    got = route(FakeResolver({"null.test": NullMx()}), "null.test")
    assert isinstance(got, RouteFailure)
    assert (got.permanent, got.status) == (True, "5.1.10")


def test_nxdomain_is_permanent_tempfail_is_not() -> None:
    got = route(FakeResolver(), "nowhere.test")
    assert isinstance(got, RouteFailure)
    assert got.permanent
    assert got.status == "5.1.2"
    got = route(FakeResolver({"flaky.test": TempFail("timeout")}), "flaky.test")
    assert isinstance(got, RouteFailure)
    assert not got.permanent
    assert got.status == "4.4.3"


def test_no_mx_means_implicit_mx() -> None:
    """RFC 5321 5.1: no MX records -> the domain itself, preference 0."""
    got = route(FakeResolver({"plain.test": NoRecords()}), "plain.test", outbound_port=2525)
    assert got == MxRoute((Hop("plain.test", 2525, implicit=True),), policy_domain="plain.test")


def test_loop_to_ourselves_is_permanent() -> None:
    res = FakeResolver({"self.test": (MxHost(10, "mx.example.test"),)})
    got = route(res, "self.test")
    assert isinstance(got, RouteFailure)
    assert got.status == "5.4.6"


def test_transport_map_and_smarthost_override_dns() -> None:
    res = FakeResolver()
    assert route(res, "peer.test", transport={"peer.test": "127.0.0.1:2526"}) == MxRoute(
        (Hop("127.0.0.1", 2526),))
    got = route(res, "peer.test", smarthost="relay.test:587", smarthost_user="u",
                smarthost_password="p", smarthost_tls="starttls")
    assert got == MxRoute((Hop("relay.test", 587),), TlsMode.REQUIRED, ("u", "p"))
    got = route(res, "peer.test", smarthost="relay.test:465", smarthost_tls="implicit")
    assert got == MxRoute((Hop("relay.test", 465),), TlsMode.IMPLICIT, None)
    assert res.asked == []


def test_no_domain_at_all() -> None:
    got = route(FakeResolver(), "")
    assert isinstance(got, RouteFailure)
    assert (got.permanent, got.status) == (True, "5.1.3")


def test_address_literals() -> None:
    res = FakeResolver()
    assert route(res, "[127.0.0.1]") == MxRoute((Hop("127.0.0.1", 25),))
    assert route(res, "[IPv6:::1]") == MxRoute((Hop("::1", 25),))
    got = route(res, "[bogus]")
    assert isinstance(got, RouteFailure)
    assert got.permanent


def test_idn_domain_is_looked_up_as_a_label() -> None:
    res = FakeResolver({"xn--bcher-kva.test": (MxHost(10, "mx.xn--bcher-kva.test"),)})
    assert route(res, "Bücher.test") == MxRoute((Hop("mx.xn--bcher-kva.test", 25),),
                                                policy_domain="xn--bcher-kva.test")
    assert res.asked == ["xn--bcher-kva.test"]


@pytest.mark.parametrize(("given", "expected"), [
    ("Example.TEST.", "example.test"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("日本.test", "xn--wgv71a.test"),
    ("faß.de", "xn--fa-hia.de"),  # IDNA 2008 keeps ß (IDNA 2003 mapped it to "fass.de")
    ("_dmarc.Example.test", "_dmarc.example.test"),  # ASCII: lower-cased, never refused
])
def test_to_alabel(given: str, expected: str) -> None:
    assert to_alabel(given) == expected


def test_to_alabel_refuses_invalid_idns() -> None:
    with pytest.raises(ValueError, match="A-labels"):
        to_alabel("a" * 70 + "ü.test")  # label longer than 63 octets
    with pytest.raises(ValueError, match="A-labels"):
        to_alabel("☃.test")  # a symbol: IDNA 2008 disallows it (IDNA 2003 allowed it)


def test_canonical_address() -> None:
    assert canonical_address("Ann@Bücher.Example") == "ann@xn--bcher-kva.example"
    assert canonical_address("ann@☃.test") == "ann@☃.test"  # no IDN: compared as given


async def _targets(routing: Routing, r: MxRoute) -> tuple[list[Target], list[RouteFailure]]:
    problems: list[RouteFailure] = []
    found = [t async for t in routing.targets(r, problems)]
    return found, problems


def test_targets_in_order_with_problems_noted() -> None:
    res = FakeResolver(addresses={"a.test": ("127.0.0.1", "::1"), "c.test": ("127.0.0.3",),
                                  "b.test": TempFail("servfail")})
    routing = Routing(QueueConfig(), res, "me.test")
    r = MxRoute((Hop("a.test", 25), Hop("b.test", 25), Hop("192.0.2.1", 26), Hop("c.test", 25)))
    found, problems = asyncio.run(_targets(routing, r))
    assert [(t.host, t.address, t.port) for t in found] == [
        ("a.test", "127.0.0.1", 25), ("a.test", "::1", 25), ("192.0.2.1", "192.0.2.1", 26),
        ("c.test", "127.0.0.3", 25)]
    assert [(p.permanent, p.status) for p in problems] == [(False, "4.4.3")]


def test_implicit_mx_without_address_is_permanent() -> None:
    routing = Routing(QueueConfig(), FakeResolver(), "me.test")
    found, problems = asyncio.run(_targets(routing, MxRoute((Hop("x.test", 25, implicit=True),))))
    assert found == []
    assert [(p.permanent, p.status) for p in problems] == [(True, "5.1.2")]
    found, problems = asyncio.run(_targets(routing, MxRoute((Hop("mx.x.test", 25),))))
    assert [(p.permanent, p.status) for p in problems] == [(False, "4.4.4")]
