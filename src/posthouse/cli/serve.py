"""``posthouse serve``: run the server; on an empty data dir, set it up first."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import pwd
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.cli.init import initialize
from posthouse.cli.privileges import (
    clear_capabilities,
    drop_privileges,
    ensure_service_user,
    plan_drop,
    set_no_new_privs,
)
from posthouse.config import (
    PROTOCOLS,
    STANDARD_PORTS,
    Config,
    DataPaths,
    parse_hostport,
    tls_paths,
)
from posthouse.log import setup_logging


def register(sub: Any) -> None:
    """Add the serve command."""
    p = sub.add_parser(
        "serve", help="run the mail server",
        description="Run every enabled listener (SMTP 25, submission 587/465, IMAP 143/993, "
        "POP3 110/995) until SIGTERM. On an empty data directory it first creates the config, "
        "a self-signed certificate, the store, the default domain and a first user.")
    add_location_args(p)
    p.add_argument("--hostname", help="this server's host name (first run only)")
    p.add_argument("--bind", metavar="ADDR", help="listen on ADDR instead of 0.0.0.0")
    p.add_argument("--port-base", type=int, metavar="N",
                   help="listen on N + the standard port (e.g. 10000: 10025, 10143, ...)")
    p.add_argument("--listen", action="append", default=[], metavar="PROTO=HOST:PORT",
                   help="override one listener (repeatable; PROTO=off disables it); PROTO is "
                   + ", ".join(PROTOCOLS))
    p.add_argument("--allow-plaintext-loopback", action="store_true",
                   help="allow passwords without TLS from 127.0.0.0/8 and ::1")
    p.add_argument("--allow-root", action="store_true",
                   help="started as root, keep running as root instead of dropping to the "
                   "service user ([server] allow_root)")
    p.set_defaults(run=run_sync)


def apply_listen_overrides(cfg: Config, args: argparse.Namespace) -> Config:
    """--bind, --port-base and --listen applied to the [listen] section."""
    listen = cfg.listen
    if args.bind or args.port_base is not None:
        changes = {}
        for proto in PROTOCOLS:
            new = []
            for addr in getattr(listen, proto):
                host, port = parse_hostport(addr)
                host = args.bind or host
                if args.port_base is not None:
                    port = args.port_base + STANDARD_PORTS[proto]
                new.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            changes[proto] = new
        listen = dataclasses.replace(listen, **changes)
    for item in args.listen:
        proto, eq, addr = item.partition("=")
        if not eq or proto not in PROTOCOLS:
            raise CliError(f"--listen {item!r}: expected PROTO=HOST:PORT with PROTO one of "
                           + ", ".join(PROTOCOLS))
        if addr == "off":
            listen = dataclasses.replace(listen, **{proto: []})
            continue
        try:
            parse_hostport(addr)
        except ValueError as exc:
            raise CliError(f"--listen {item!r}: {exc}") from None
        listen = dataclasses.replace(listen, **{proto: [addr]})
    auth = cfg.auth
    if args.allow_plaintext_loopback:
        auth = dataclasses.replace(auth, allow_plaintext_on_loopback=True)
    server = cfg.server
    if getattr(args, "allow_root", False):
        server = dataclasses.replace(server, allow_root=True)
    return dataclasses.replace(cfg, listen=listen, auth=auth, server=server)


def privilege_drop(cfg: Config) -> Callable[[], None]:
    """What App.start runs once the listeners are bound and before anything is accepted or
    the store opens: started as root, become the service user; otherwise give up any
    capability the process was started with (CAP_NET_BIND_SERVICE)."""

    def after_bind() -> None:
        user = plan_drop(cfg)
        if user is not None:
            drop_privileges(user, cfg, tls_paths(cfg))
        elif os.geteuid() != 0:
            clear_capabilities()

    return after_bind


async def _first_run(cfg: Config, hostname: str | None) -> tuple[Config, str | None]:
    """Set up an empty data dir; returns the config and a first user's password line."""
    if hostname:
        cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, hostname=hostname))
    domain = cfg.server.default_domain
    cfg = await initialize(cfg, domain=domain)
    # As `init` does: started as root on a fresh machine, the server needs its service user
    # to drop to after binding (the README's one command must work there).
    ensure_service_user(cfg)
    from posthouse.app import build_hasher
    from posthouse.auth.passwords import scram_secrets_for

    address = f"postmaster@{domain}"
    password = secrets.token_urlsafe(12)
    async with open_store(cfg) as store:
        if await store.get_user(address) is None:
            await store.add_user(address, build_hasher(cfg).hash(password),
                                 scram_secrets=scram_secrets_for(password))
            return cfg, f"first user: {address}  password: {password}  (shown once)"
    return cfg, None


async def prepare(args: argparse.Namespace) -> tuple[Config, str | None]:
    """The config to serve with (an empty data dir set up first) and the first user's
    password line when it was just made."""
    cfg = resolve_config(args)
    first_user = None
    if args.config is None and not DataPaths(cfg.data_path).config.exists():
        cfg, first_user = await _first_run(cfg, args.hostname)
        cfg = resolve_config(argparse.Namespace(config=None, data_dir=cfg.data_path))
    cfg = apply_listen_overrides(cfg, args)
    setup_logging(cfg.log.level, cfg.log.format)
    return cfg, first_user


def print_banner(cfg: Config, bound: dict[str, list[tuple[str, int]]],
                 first_user: str | None, workers: int = 1) -> None:
    """What serve prints once it listens (before "ready")."""
    print(f"posthouse serving {cfg.server.hostname}, data in {cfg.data_path}", flush=True)
    for proto, addrs in bound.items():
        for host, port in addrs:
            print(f"  {proto:12} {host}:{port}", flush=True)
    print(f"  running as user {pwd.getpwuid(os.geteuid()).pw_name}", flush=True)
    if workers > 1:
        print(f"  {workers} worker processes", flush=True)
    if first_user:
        print(f"  {first_user}", flush=True)
    print("  add users: posthouse user add NAME@DOMAIN --data-dir "
          f"{cfg.data_path}", flush=True)


async def run(args: argparse.Namespace) -> int:
    """Serve until signalled, in this one process."""
    cfg, first_user = await prepare(args)
    return await serve_one(cfg, first_user)


async def serve_one(cfg: Config, first_user: str | None) -> int:
    """Run one App (the whole server) until signalled."""
    from posthouse.app import App

    app = App(cfg)
    await app.start(after_bind=privilege_drop(cfg))
    assert app.listeners is not None
    print_banner(cfg, app.listeners.bound, first_user)
    await app.run_until_signalled(on_ready=lambda: print("ready", flush=True))
    return 0


def run_sync(args: argparse.Namespace) -> int:
    """Entry used by main(): run under uvloop when it is installed; with ``[server]
    workers`` other than 1, as a parent of worker processes (cli/workers.py)."""
    set_no_new_privs()  # before the loop and any thread: every thread inherits it
    cfg, first_user = asyncio.run(prepare(args))
    from posthouse.cli.workers import run_workers, worker_count

    count = worker_count(cfg)
    if count > 1:
        return run_workers(cfg, count, first_user, privilege_drop(cfg))
    return run_in_loop(serve_one(cfg, first_user))


def run_in_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on a new event loop: uvloop's when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
