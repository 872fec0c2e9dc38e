"""``posthouse acme status`` and ``posthouse acme renew``: the ACME certificate of [tls] acme.

``renew`` only leaves a request in the data dir: the running server owns the challenge
answers (its listeners), so it renews at its next check; SIGHUP makes that check now.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from posthouse.acme.files import AcmeFiles
from posthouse.cli.common import CliError, add_location_args, resolve_config
from posthouse.config import Config, DataPaths


def register(sub: Any) -> None:
    """Add the acme command."""
    p = sub.add_parser(
        "acme",
        help="the ACME certificate (RFC 8555)",
        description="The certificate [tls] acme obtains and renews.",
    )
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser(
        "status",
        help="show the certificate and the account",
        description="Show the ACME certificate (names, issuer, expiry) and the account.",
    )
    add_location_args(c)
    c.set_defaults(run=_status)
    c = cmds.add_parser(
        "renew",
        help="renew at the server's next check, due or not",
        description="Ask the running server to renew the certificate at its "
        "next check even if it is not due; send it SIGHUP "
        "(systemctl reload posthouse) to check now.",
    )
    add_location_args(c)
    c.set_defaults(run=_renew)


def _files(cfg: Config) -> AcmeFiles:
    paths = DataPaths(cfg.data_path)
    return AcmeFiles(paths.acme, paths.acme_live)


def _status(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    files = _files(cfg)
    print(f"acme: {'on' if cfg.tls.acme else 'off'} ([tls] acme in {cfg.source})")
    print(f"directory: {cfg.tls.acme_directory}")
    print(f"account: {files.account_url(cfg.tls.acme_directory) or 'not registered yet'}")
    cert = files.current()
    if cert is None:
        print("certificate: none yet")
    else:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        left = cert.not_valid_after_utc - datetime.now(UTC)
        print(f"certificate: {', '.join(san.get_values_for_type(x509.DNSName))}")
        print(f"issuer: {cert.issuer.rfc4514_string()}")
        print(
            f"valid until: {cert.not_valid_after_utc.isoformat()} ({left.days} days left; "
            f"renewed below {cfg.tls.acme_renew_days})"
        )
    if files.renewal_requested():
        print("renewal requested: at the server's next check")
    return 0


def _renew(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    if not cfg.tls.acme:
        raise CliError(f"[tls] acme is off in {cfg.source}: nothing renews the certificate")
    if not cfg.data_path.is_dir():
        raise CliError(f"data directory {cfg.data_path} does not exist: run 'posthouse init'")
    _files(cfg).request_renewal()
    print(
        "renewal requested: the server renews at its next check; "
        "send it SIGHUP (systemctl reload posthouse) to check now"
    )
    return 0
