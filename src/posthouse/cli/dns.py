"""``posthouse dns DOMAIN``: the DNS records to publish."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import CliError, add_location_args, resolve_config
from posthouse.config import dkim_key_path
from posthouse.mailauth.dkim import ED25519_SUFFIX, DkimKeyError, ed25519_public_record, load_keys
from posthouse.provision import (
    dkim_public_record,
    dns_records,
    ensure_dkim_key,
    transport_security_records,
)


def register(sub: Any) -> None:
    """Add the dns command."""
    p = sub.add_parser("dns", help="print the DNS records to publish for a domain",
                       description="Print MX, SPF, DKIM, DMARC, autoconfig SRV, MTA-STS and "
                                   "TLS-RPT records, and the MTA-STS policy file.")
    p.add_argument("domain")
    add_location_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the records."""
    cfg = resolve_config(args)
    key = dkim_key_path(cfg)
    ensure_dkim_key(key)
    for line in dns_records(domain=args.domain.lower(), hostname=cfg.server.hostname,
                            selector=cfg.dkim.selector, dkim_record=dkim_public_record(key)):
        print(line)
    try:
        keys = load_keys(cfg)
    except DkimKeyError as exc:
        raise CliError(str(exc)) from None
    if keys is not None and keys.ed25519 is not None:  # RFC 8463: a second selector
        print(f"{cfg.dkim.selector}{ED25519_SUFFIX}._domainkey.{args.domain.lower()}. TXT "
              f'"{ed25519_public_record(keys.ed25519)}"')
    for line in transport_security_records(domain=args.domain.lower(),
                                           hostname=cfg.server.hostname,
                                           mode=cfg.http.mta_sts_mode,
                                           max_age=cfg.http.mta_sts_max_age):
        print(line)
    return 0
