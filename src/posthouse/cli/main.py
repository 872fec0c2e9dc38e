"""``posthouse`` command line: one subcommand module per noun."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from posthouse.admin.operations import AdminError
from posthouse.cli import (
    acme,
    alias,
    backup,
    dns,
    domain,
    exporting,
    import_imap,
    importing,
    init,
    metadata,
    queue,
    serve,
    status,
    store,
    tlsrpt,
    user,
    verify,
)
from posthouse.config import ConfigError
from posthouse.net.listeners import ListenError
from posthouse.net.tls import TlsSetupError
from posthouse.provision import PRIVATE_UMASK
from posthouse.store.errors import StoreError


def build_parser() -> argparse.ArgumentParser:
    """The whole argument tree."""
    parser = argparse.ArgumentParser(
        prog="posthouse",
        description="posthouse: a complete mail server (SMTP, submission, IMAP, POP3, queue).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (init, serve, domain, user, alias, dns, status, queue, tlsrpt, metadata,
                   importing, exporting, backup, verify, store, acme):
        module.register(sub)
    import_imap.register_imap(import_imap.import_group(sub))  # `import imap`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every expected failure is one line on stderr."""
    args = build_parser().parse_args(argv)
    # Before any command creates a file: the data dir is private. Given back afterwards, so a
    # caller that runs commands in its own process (tests, tools) keeps its umask.
    umask_before = os.umask(PRIVATE_UMASK)
    try:
        result = args.run(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except (AdminError, ConfigError, ListenError, TlsSetupError) as exc:
        print(f"posthouse: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"posthouse: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        os.umask(umask_before)
