"""``posthouse init``: create a data directory with config, certificate, DKIM key and store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posthouse.cli.common import add_location_args, open_store, resolve_config, with_server
from posthouse.cli.privileges import ensure_service_user
from posthouse.config import Config, DataPaths, dkim_key_path, load_config
from posthouse.provision import (
    dkim_public_record,
    dns_records,
    ensure_dkim_key,
    ensure_tls,
    write_config,
)


def register(sub: Any) -> None:
    """Add the init command."""
    p = sub.add_parser("init", help="create a data directory (config, TLS cert, DKIM key)",
                       description="Create a data directory with a config file, a "
                       "self-signed TLS certificate, a DKIM key and the store, add the first "
                       "domain, and print the DNS records to publish.")
    p.add_argument("--hostname", help="this server's public host name")
    p.add_argument("--domain", help="the first mail domain")
    add_location_args(p)
    p.set_defaults(run=run)


async def initialize(cfg: Config, *, domain: str) -> Config:
    """Make sure the data dir holds everything; return the config as written on disk."""
    root = cfg.data_path.resolve()
    root.mkdir(parents=True, exist_ok=True)
    paths = DataPaths(root)
    if not paths.config.exists():
        write_config(paths.config, data_dir=root, hostname=cfg.server.hostname, domain=domain)
        cfg = with_server(load_config(paths.config), data_dir=str(root))
    ensure_tls(cfg)
    ensure_dkim_key(dkim_key_path(cfg))
    async with open_store(cfg) as store:
        if domain not in await store.list_domains():
            await store.add_domain(domain)
    return cfg


async def run(args: argparse.Namespace) -> int:
    """Initialise and print what to publish."""
    cfg = resolve_config(args)
    if args.hostname:
        cfg = with_server(cfg, hostname=args.hostname)
    domain = (args.domain or cfg.server.default_domain).lower()
    cfg = await initialize(cfg, domain=domain)
    print(f"data directory ready: {cfg.data_path}")
    user = ensure_service_user(cfg)  # root only: the server drops to it after binding
    if user is not None:
        print(f"service user: {user.name} (uid {user.uid}), owner of the data directory")
    print(f"config: {Path(cfg.data_path) / 'posthouse.toml'}")
    print(f"add a user:  posthouse user add someone@{domain} --data-dir {cfg.data_path}")
    print("publish these DNS records:")
    key = dkim_key_path(cfg)
    for line in dns_records(domain=domain, hostname=cfg.server.hostname,
                            selector=cfg.dkim.selector, dkim_record=dkim_public_record(key)):
        print(f"  {line}")
    return 0
