"""``posthouse tlsrpt send``: queue the TLS-RPT reports (RFC 8460) that are due now."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import add_location_args, open_store, resolve_config
from posthouse.clock import SystemClock


def register(sub: Any) -> None:
    """Add the tlsrpt command."""
    p = sub.add_parser("tlsrpt", help="TLS reporting (RFC 8460)",
                       description="TLS reporting (RFC 8460).")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser("send", help="queue the reports of past days now",
                        description="Queue the aggregate reports of every past day whose "
                                    "results are not sent yet; a running server relays them.")
    c.add_argument("--today", action="store_true", help="include today's results so far")
    add_location_args(c)
    c.set_defaults(run=_send)


async def _send(args: argparse.Namespace) -> int:
    from posthouse.app import build_resolver, build_tls_reporter

    cfg = resolve_config(args)
    async with open_store(cfg) as store:
        reporter = build_tls_reporter(cfg, store, build_resolver(cfg), SystemClock())
        queued = await reporter.send_due(include_today=args.today)
    print(f"{len(queued)} report(s) queued" + (f": {' '.join(map(str, queued))}"
                                               if queued else ""))
    return 0
