"""``posthouse dns DOMAIN``: the DNS records to publish."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
from posthouse.cli.common import add_location_args, resolve_config


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
    for line in ops.domain_dns_records(resolve_config(args), args.domain):
        print(line)
    return 0
