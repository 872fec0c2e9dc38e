"""``posthouse import imap``: copy a mailbox in from another IMAP server (migrate/engine.py).

Resumable and idempotent: what was copied is recorded in the data dir (migrate/state.py), so
a second run copies only what is new and carries over changed flags. Works while the server
runs: the store is opened as every admin command opens it, and SQLite serialises the writers.
The password comes from --password-file or POSTHOUSE_IMPORT_PASSWORD, never from argv.
A progress bar (rich) is drawn on a terminal only; one summary line ends every run.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.migrate.engine import (
    ImapMigration,
    MigrationOptions,
    MigrationReport,
)
from posthouse.migrate.response import ResponseError
from posthouse.migrate.source import ImapSourceClient, SourceError
from posthouse.migrate.state import MigrationState, StateError

PASSWORD_ENV = "POSTHOUSE_IMPORT_PASSWORD"  # noqa: S105 (a variable name)


def import_group(sub: Any) -> Any:
    """The subparsers of the ``import`` command, made here if no other module made it."""
    parser = sub.choices.get("import")
    if parser is None:
        parser = sub.add_parser("import", help="import mail from elsewhere",
                                description="Import mail from another server or from files.")
        return parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the import command has no subcommands")


def register_imap(cmds: Any) -> None:
    """Add ``imap`` to the import group's subcommands."""
    c = cmds.add_parser(
        "imap", help="copy a mailbox from another IMAP server",
        description="Copy every folder of an account on another IMAP server (messages, "
        "flags, keywords, internal dates, subscriptions) into a local user. Run it again "
        "to copy only what is new and carry over changed flags. The source is read only.")
    c.add_argument("--host", required=True, help="the source server")
    c.add_argument("--port", type=int, help="default: 993 with --tls, else 143")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--tls", dest="security", action="store_const", const="tls",
                     help="implicit TLS (the default)")
    how.add_argument("--starttls", dest="security", action="store_const", const="starttls",
                     help="plain connection upgraded with STARTTLS")
    how.add_argument("--plain", dest="security", action="store_const", const="plain",
                     help="no TLS at all (only for a source on a trusted network)")
    c.add_argument("--cafile", type=Path, help="trust the CA certificates in this PEM file")
    c.add_argument("--insecure", action="store_true",
                   help="do not verify the source's certificate (tests only)")
    c.add_argument("--user", required=True, help="the login on the source")
    c.add_argument("--password-file", type=Path,
                   help=f"read the source password from this file (else ${PASSWORD_ENV})")
    c.add_argument("--to", required=True, metavar="LOCALUSER",
                   help="the local account that receives the mail")
    c.add_argument("--folders", nargs="+", action="extend", default=[], metavar="PATTERN",
                   help="copy only folders matching these shell patterns (e.g. 'Archive/*'; "
                   "names with '/' as delimiter)")
    c.add_argument("--exclude", nargs="+", action="extend", default=[], metavar="PATTERN",
                   help="skip folders matching these patterns")
    c.add_argument("--no-subscriptions", action="store_true",
                   help="do not carry over the source's subscriptions")
    c.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for the source before giving up (default 120)")
    add_location_args(c)
    c.set_defaults(run=_run, security=None)


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            text = args.password_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {args.password_file}: {exc}") from None
        return text.splitlines()[0] if text else ""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise CliError(f"give the source password with --password-file or ${PASSWORD_ENV}")
    return password


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.security == "plain":
        return None
    try:
        ctx = ssl.create_default_context(
            cafile=str(args.cafile) if args.cafile is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot load {args.cafile}: {exc}") from None
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _run(args: argparse.Namespace) -> int:
    args.security = args.security or "tls"
    port = args.port or (993 if args.security == "tls" else 143)
    password = _password(args)
    tls = _tls_context(args)
    cfg = resolve_config(args)

    async def connect() -> ImapSourceClient:
        client = await ImapSourceClient.connect(args.host, port, security=args.security,
                                                tls=tls, io_timeout=args.timeout)
        try:
            await client.login(args.user, password)
        except BaseException:
            await client.close()
            raise
        return client

    async with open_store(cfg) as store:
        user = await store.get_user(args.to)
        if user is None:
            raise CliError(f"no local user {args.to}")
        state = MigrationState(
            MigrationState.path_for(cfg.data_path, host=args.host, user=args.user,
                                    to=user.address),
            host=args.host, user=args.user, to=user.address)
        try:
            state.open()
        except StateError as exc:
            raise CliError(str(exc)) from None
        options = MigrationOptions(include=args.folders, exclude=args.exclude,
                                   subscriptions=not args.no_subscriptions)
        try:
            with _Progress() as progress:
                report = await ImapMigration(store, user, state, connect, progress,
                                             options).run()
        except (SourceError, ResponseError) as exc:
            raise CliError(f"{args.host}: {exc}") from None
        except StateError as exc:
            raise CliError(str(exc)) from None
        finally:
            state.close()
    print(summary(args.host, report))
    return 0 if report.ok else 1


def summary(host: str, report: MigrationReport) -> str:
    """The one line that ends a run."""
    line = (f"import from {host}: {report.folders} folders, {report.copied} messages "
            f"copied, {report.skipped} skipped, {report.failed} failed, "
            f"{report.flags_updated} flag updates, {report.bytes / 1e6:.1f} MB")
    if report.vanished:
        line += f", {report.vanished} expunged on the source meanwhile"
    if report.aborted:
        line += f"; stopped: {report.aborted}"
    elif report.problems:
        line += f"; {len(report.problems)} problems (run again to retry)"
    return line


class _Progress:
    """The engine's progress as a rich bar on a terminal; problems as lines on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 DownloadColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True),
                                 transient=True)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def folder(self, name: str, messages: int, size: int) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(f"{name} ({messages} messages)", total=max(size, 1))

    def copied(self, size: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, size)

    def problem(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(f"posthouse: {line}", markup=False, highlight=False)
        else:
            print(f"posthouse: {line}", file=sys.stderr, flush=True)
