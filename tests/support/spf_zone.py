"""The SPF test zones: RFC 7208 Appendix A, and a corpus zone for the limit cases and the
cross-check against pyspf. Plain dicts in the format of tests/support/dnsserver.py."""

from __future__ import annotations

from tests.support.dnsserver import Records, txt_rdata


def spf(*records: str) -> list[str]:
    """TXT rdata for each record text."""
    return [txt_rdata(r) for r in records]


def appendix_a(record: str) -> Records:
    """RFC 7208 Appendix A's example.com zone, with ``record`` as example.com's SPF record."""
    return {
        "example.com": {"MX": ["10 mail-a.example.com.", "20 mail-b.example.com."],
                        "A": ["192.0.2.10"], "TXT": spf(record)},
        "amy.example.com": {"A": ["192.0.2.65"]},
        "bob.example.com": {"A": ["192.0.2.66"]},
        "mail-a.example.com": {"A": ["192.0.2.129"]},
        "mail-b.example.com": {"A": ["192.0.2.130"]},
        "mail-c.example.com": {"A": ["192.0.2.140"]},
        "example.org": {"MX": ["10 mail-c.example.com."]},
        "10.2.0.192.in-addr.arpa": {"PTR": ["example.com."]},
        "65.2.0.192.in-addr.arpa": {"PTR": ["amy.example.com."]},
        "66.2.0.192.in-addr.arpa": {"PTR": ["bob.example.com."]},
        "129.2.0.192.in-addr.arpa": {"PTR": ["mail-a.example.com."]},
        "130.2.0.192.in-addr.arpa": {"PTR": ["mail-b.example.com."]},
        "140.2.0.192.in-addr.arpa": {"PTR": ["mail-c.example.com."]},
        # A.3: mobile and remote users listed by exists: lookups
        "mobile-users._spf.example.com": {"TXT": spf("v=spf1 exists:%{l1r+}.%{d}")},
        "remote-users._spf.example.com": {"TXT": spf("v=spf1 exists:%{ir}.%{l1r+}.%{d}")},
        "mary.mobile-users._spf.example.com": {"A": ["127.0.0.2"]},
        "fred.mobile-users._spf.example.com": {"A": ["127.0.0.2"]},
        "15.15.168.192.joel.remote-users._spf.example.com": {"A": ["127.0.0.2"]},
        "16.15.168.192.joel.remote-users._spf.example.com": {"A": ["127.0.0.2"]},
        # A.4: two requirements through negated includes
        "ip4._spf.example.com": {"TXT": spf("v=spf1 -ip4:192.0.2.0/24 +all")},
        # A bare "ptr" here would compare names with ptr._spf.example.com, the domain being
        # evaluated (RFC 7208 5.5), and match nothing; the target is named to keep the intent.
        "ptr._spf.example.com": {"TXT": spf("v=spf1 -ptr:example.com +all")},
    }


def _names(prefix: str, count: int, address: str) -> Records:
    return {f"{prefix}{n}.many.test": {"A": [address]} for n in range(1, count + 1)}


def corpus_zone() -> Records:
    """Domains covering every mechanism, modifier, limit and error the evaluator knows."""
    zone: Records = {
        "pass-all.test": {"TXT": spf("v=spf1 +all")},
        "fail-all.test": {"TXT": spf("v=spf1 -all")},
        "soft.test": {"TXT": spf("v=spf1 ~all")},
        "neutral.test": {"TXT": spf("v=spf1 ?all")},
        "empty.test": {"TXT": spf("v=spf1")},
        "other-txt.test": {"TXT": ['"google-site-verification=abc"', '"v=spf10 -all"']},
        "upper.test": {"TXT": spf("V=SPF1 IP4:192.0.2.1 -ALL")},
        "ip4.test": {"TXT": spf("v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 -all")},
        "ip6.test": {"TXT": spf("v=spf1 ip6:2001:db8::/32 ip4:192.0.2.1 -all")},
        "a.test": {"A": ["192.0.2.10"], "AAAA": ["2001:db8:a::10"],
                   "TXT": spf("v=spf1 a a:host.a.test/24 -all")},
        "host.a.test": {"A": ["203.0.113.5"], "AAAA": ["2001:db8:b::5"]},
        "dual.test": {"TXT": spf("v=spf1 a:host.a.test/28//64 -all")},
        "mx.test": {"MX": ["10 mx1.mx.test.", "20 mx2.mx.test."],
                    "TXT": spf("v=spf1 mx -all")},
        "mx1.mx.test": {"A": ["192.0.2.20"]},
        "mx2.mx.test": {"A": ["192.0.2.21"], "AAAA": ["2001:db8::21"]},
        "mxcidr.test": {"TXT": spf("v=spf1 mx:mx.test/30 ~all")},
        "mxvoid.test": {"TXT": spf("v=spf1 mx ?all")},
        "null-mx.test": {"MX": ["0 ."], "TXT": spf("v=spf1 mx -all")},
        "ptr.test": {"TXT": spf("v=spf1 ptr -all")},
        "amy.ptr.test": {"A": ["192.0.2.65"]},
        "liar.ptr.test": {"A": ["192.0.2.99"]},
        "65.2.0.192.in-addr.arpa": {"PTR": ["amy.ptr.test."]},
        "66.2.0.192.in-addr.arpa": {"PTR": ["liar.ptr.test."]},
        "include.test": {"TXT": spf("v=spf1 include:ip4.test ~all")},
        "include-fail.test": {"TXT": spf("v=spf1 include:fail-all.test ?all")},
        "include-none.test": {"TXT": spf("v=spf1 include:nospf.test -all")},
        "include-nx.test": {"TXT": spf("v=spf1 include:nowhere.test -all")},
        "nospf.test": {"A": ["192.0.2.1"]},
        "redirect.test": {"TXT": spf("v=spf1 redirect=ip4.test")},
        "redirect-none.test": {"TXT": spf("v=spf1 redirect=nospf.test")},
        "redirect-all.test": {"TXT": spf("v=spf1 -all redirect=pass-all.test")},
        "redirect-after.test": {"TXT": spf("v=spf1 ip4:203.0.113.0/24 redirect=soft.test")},
        "exists.test": {"TXT": spf("v=spf1 exists:%{ir}.list.exists.test -all")},
        "10.2.0.192.list.exists.test": {"A": ["127.0.0.2"]},
        "macro.test": {"TXT": spf("v=spf1 exists:%{l}.users.macro.test ~all")},
        "alice.users.macro.test": {"A": ["127.0.0.2"]},
        "helo-macro.test": {"TXT": spf("v=spf1 exists:%{h}.helos.macro.test -all")},
        "mail.good.test.helos.macro.test": {"A": ["127.0.0.2"]},
        "two.test": {"TXT": spf("v=spf1 +all", "v=spf1 -all")},
        "syntax.test": {"TXT": spf("v=spf1 foo:bar -all")},
        "bad-ip.test": {"TXT": spf("v=spf1 ip4:300.1.1.1 -all")},
        "bad-cidr.test": {"TXT": spf("v=spf1 ip4:192.0.2.0/33 -all")},
        "bad-macro.test": {"TXT": spf("v=spf1 exists:%{x}.bad.test -all")},
        "two-redirects.test": {"TXT": spf("v=spf1 redirect=a.test redirect=b.test")},
        "unknown-mod.test": {"TXT": spf("v=spf1 foo=bar ip4:192.0.2.0/24 -all")},
        "many.test": {"TXT": spf("v=spf1 " + " ".join(f"a:x{n}.many.test" for n in
                                                       range(1, 12)) + " +all")},
        "ten.test": {"TXT": spf("v=spf1 " + " ".join(f"a:x{n}.many.test" for n in
                                                      range(1, 11)) + " +all")},
        "voids.test": {"TXT": spf("v=spf1 a:n1.voids.test a:n2.voids.test a:n3.voids.test"
                                  " +all")},
        "two-voids.test": {"TXT": spf("v=spf1 a:n1.voids.test a:n2.voids.test +all")},
        "servfail-a.test": {"TXT": spf("v=spf1 a:broken.test -all")},
        "include-servfail.test": {"TXT": spf("v=spf1 include:broken.test -all")},
        "mx-many.test": {"MX": [f"{n} m{n}.many.test." for n in range(1, 12)],
                         "TXT": spf("v=spf1 mx -all")},
        "exp.test": {"TXT": spf("v=spf1 ip4:192.0.2.1 -all exp=why.exp.test")},
        "why.exp.test": {"TXT": spf("%{i} is not one of %{d}'s designated mail servers.")},
        "redir-exp.test": {"TXT": spf("v=spf1 redirect=exp.test exp=other.exp.test")},
        "other.exp.test": {"TXT": spf("the redirecting record's explanation")},
        # harder cases, for the cross-check above all
        "mx-hostless.test": {"MX": ["10 h1.nohost.test.", "20 h2.nohost.test.",
                                    "30 h3.nohost.test."], "TXT": spf("v=spf1 mx -all")},
        "ptr-many.test": {"TXT": spf("v=spf1 ptr:ptr-many.test -all")},
        "77.2.0.192.in-addr.arpa": {"PTR": [f"p{n}.ptr-many.test." for n in range(1, 13)]},
        # the first ten names do not point back; the two that do are past the limit
        **{f"p{n}.ptr-many.test": {"A": ["192.0.2.78"]} for n in range(1, 11)},
        **{f"p{n}.ptr-many.test": {"A": ["192.0.2.77"]} for n in range(11, 13)},
        "ptr-macro.test": {"TXT": spf("v=spf1 exists:%{p}.names.ptr-macro.test -all")},
        "amy.ptr.test.names.ptr-macro.test": {"A": ["127.0.0.2"]},
        "self-include.test": {"TXT": spf("v=spf1 include:self-include.test -all")},
        "self-redirect.test": {"TXT": spf("v=spf1 redirect=self-redirect.test")},
        "dot.test": {"TXT": spf("v=spf1 a:host.a.test. -all")},
        "zero.test": {"TXT": spf("v=spf1 a:host.a.test/0//0 -all")},
        "bad-target.test": {"TXT": spf("v=spf1 a:foo..test ?all")},
        "upper-macro.test": {"TXT": spf("v=spf1 exists:%{L}.up.upper-macro.test -all")},
        "a%2bb.up.upper-macro.test": {"A": ["127.0.0.2"]},
        "exists6.test": {"TXT": spf("v=spf1 exists:%{ir}.%{v}.exists6.test -all")},
        "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.exists6.test":
            {"A": ["127.0.0.2"]},
        "ptr-arg.test": {"TXT": spf("v=spf1 ?ptr:ptr.test ~all")},
        "bad-exp.test": {"TXT": spf("v=spf1 -all exp=badexp.exp.test")},
        "badexp.exp.test": {"TXT": spf("bad %{x} macro")},
        "exp-letters.test": {"TXT": spf("v=spf1 -all exp=letters.exp.test")},
        "letters.exp.test": {"TXT": spf("%{c} %{s} %{l} %{o} %{d} %{h} %{v} %{ir} %{d1r}")},
        "bad-unknown-mod.test": {"TXT": spf("v=spf1 foo=%{x} -all")},
        "redirect-macro.test": {"TXT": spf("v=spf1 redirect=%{l}.r.redirect-macro.test")},
        "alice.r.redirect-macro.test": {"TXT": spf("v=spf1 +all")},
        "empty-txt.test": {"TXT": ['""', '"v=spf1 ip4:192.0.2.10 -all"']},
        "spf-prefix.test": {"TXT": spf("v=spf1x +all", "v=spf1 -all")},
        "include-macro.test": {"TXT": spf("v=spf1 include:%{o} -all")},
        "split.test": {"TXT": ['"v=spf1 ip4:192.0.2.10" " -all"']},
        "nonascii.test": {"TXT": spf("v=spf1 a:caf\u00e9.test -all")},
    }
    for n in range(1, 12):  # inc1 reaches +all through 10 includes; inc0 needs 11
        chain = f"v=spf1 include:inc{n + 1}.test ?all" if n < 11 else "v=spf1 +all"
        zone[f"inc{n}.test"] = {"TXT": spf(chain)}
    zone["inc0.test"] = {"TXT": spf("v=spf1 include:inc1.test -all")}  # 11 includes in all
    zone.update(_names("x", 11, "198.18.0.1"))
    zone.update(_names("m", 11, "198.18.0.2"))
    return zone


# Names that answer SERVFAIL in the corpus zone.
CORPUS_SERVFAIL = {"broken.test"}
